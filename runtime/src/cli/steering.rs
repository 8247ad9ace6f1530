//! `sortie send` (a message for a mission: queued while it runs, else it resumes it) and
//! `sortie fork` (a new mission from another's history, on any model).

use std::process::ExitCode;

use clap::Args;

use super::run::follow;
use crate::api::{ForkRequest, SendMessage};
use crate::handle::{Sent, Sortie};

#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// Mission id, or a unique prefix of it.
    id: String,
    /// The message.
    text: String,
    /// Cut the answer being streamed short (it is kept, marked partial) and send the
    /// message at once, instead of at the next turn boundary.
    #[arg(long)]
    now: bool,
    /// JSON: {"queued": {"seq", "pending"}, "mission"}, or the resumed mission's events.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ForkArgs {
    /// Mission id, or a unique prefix of it.
    id: String,
    /// The fork's next message (needed when the history ends with the model's answer).
    message: Option<String>,
    /// The last event of the parent's log the fork keeps (see `sortie show`); default: the
    /// last one.
    #[arg(long, value_name = "SEQ")]
    at: Option<u64>,
    /// Continue on this provider (its default model unless --model).
    #[arg(long, short)]
    provider: Option<String>,
    /// Continue on this model.
    #[arg(long, short)]
    model: Option<String>,
    /// Most model turns for the fork (default: config `max_turns`, else 50).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_turns: Option<u32>,
    /// One JSON event per line on stdout.
    #[arg(long)]
    json: bool,
}

/// `sortie send`.
pub(crate) async fn send(sortie: &Sortie, args: SendArgs) -> anyhow::Result<ExitCode> {
    let msg = SendMessage {
        text: args.text,
        now: args.now,
    };
    match sortie.send(&args.id, msg).await? {
        Sent::Queued {
            mission,
            seq,
            pending,
        } => {
            if args.json {
                super::render::print_json_line(&serde_json::json!({
                    "queued": {"seq": seq, "pending": pending, "now": args.now},
                    "mission": mission,
                }));
            } else if args.now {
                println!(
                    "sent to mission {} now (event {seq}): an answer being streamed is cut short; a tool call that runs finishes first",
                    mission.id
                );
            } else {
                println!(
                    "queued for mission {}'s next turn (event {seq}; {pending} waiting)",
                    mission.id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Sent::Resumed(started, before) => {
            if !args.json {
                eprintln!(
                    "mission {} was {}: resumed with the message",
                    started.mission.id, started.mission.status
                );
            }
            let from = if args.json { 0 } else { before };
            follow(sortie, started, args.json, from).await
        }
    }
}

/// `sortie fork`: creates the fork and follows it.
pub(crate) async fn fork(sortie: &Sortie, args: ForkArgs) -> anyhow::Result<ExitCode> {
    let req = ForkRequest {
        at: args.at,
        provider: args.provider,
        model: args.model,
        message: args.message,
        max_turns: args.max_turns,
    };
    let started = sortie.fork(&args.id, req).await?;
    if !args.json {
        eprintln!(
            "mission {} forked from {}",
            started.mission.id,
            started
                .mission
                .parent_id
                .map(|p| p.to_string())
                .unwrap_or_default()
        );
    }
    follow(sortie, started, args.json, 0).await
}
