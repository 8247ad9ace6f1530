//! `sortie run` and `sortie resume`: a mission followed live at the terminal, run in this
//! process or by the daemon, and how its updates and its outcome are shown.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sortie_missions::{Mission, MissionStatus, Observer, Update};
use tokio_util::sync::CancellationToken;

use super::approve::TtyApprover;
use super::render::{self, Live, Style};
use super::{ResumeArgs, RunArgs};
use crate::api::{self, NewMission, ResumeRequest};
use crate::handle::{Sortie, Started};

impl From<RunArgs> for NewMission {
    fn from(a: RunArgs) -> Self {
        Self {
            prompt: a.prompt,
            provider: a.provider,
            model: a.model,
            cwd: a.cwd,
            permission: a.permission,
            max_turns: a.max_turns,
            sandbox: a.sandbox,
            no_instructions: a.no_instructions,
            mcp: a.mcp.selection(),
            max_cost: a.budget.max_cost,
            max_tokens: a.budget.max_tokens,
            max_duration: a.budget.max_duration,
            notify: a.notify.choice(),
            worktree: a.worktree,
            labels: a.labels,
        }
    }
}

impl From<&ResumeArgs> for ResumeRequest {
    fn from(a: &ResumeArgs) -> Self {
        Self {
            message: a.message.clone(),
            provider: a.provider.clone(),
            model: a.model.clone(),
            default_model: a.default_model,
            max_turns: a.max_turns,
            sandbox: a.sandbox,
            no_instructions: a.no_instructions,
            mcp: a.mcp.selection(),
            max_cost: a.budget.max_cost,
            max_tokens: a.budget.max_tokens,
            max_duration: a.budget.max_duration.clone(),
            notify: a.notify.choice(),
        }
    }
}

/// Ctrl-C while a mission is followed: the first prints that it cancels (`where_it_goes`
/// ends the note) and runs `cancel`; a second quits at once with 130. Abort the returned
/// task once the mission has ended.
fn on_ctrl_c<F>(
    where_it_goes: &'static str,
    cancel: impl FnOnce() -> F + Send + 'static,
) -> tokio::task::JoinHandle<()>
where
    F: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ncancelling… (Ctrl-C again to quit at once{where_it_goes})");
            cancel().await;
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    })
}

/// How a mission's updates are shown: one JSON line each, or the live view (after a header).
pub(crate) fn observer_for(mission: &Mission, json: bool) -> Observer {
    if json {
        return Arc::new(|u: &Update| render::print_json_line(&api::update_json(u)));
    }
    let style = Style::detect();
    println!(
        "{}",
        style.dim(&format!(
            "mission {} · {}/{} · {}",
            mission.id,
            mission.provider,
            mission.model,
            mission.cwd.display()
        ))
    );
    let live = Live::new(style);
    Arc::new(move |u: &Update| live.show(u))
}

/// The summary after a run (a JSON line, or the summary line and what to do next), and
/// the exit code of its outcome.
pub(crate) fn conclude(done: &Mission, json: bool, took: Duration) -> ExitCode {
    if json {
        render::print_json_line(&serde_json::json!({"type": "summary", "mission": done}));
    } else {
        let style = Style::detect();
        println!(
            "\n{}",
            render::summary_line(&style, done, took.as_secs_f64())
        );
        println!(
            "{}",
            style.dim(&format!("   inspect it: sortie show {}", done.id))
        );
        if done.status == MissionStatus::BudgetReached {
            if let Some(reason) = &done.error {
                eprintln!("{}", style.yellow(reason));
            }
        }
        if done.status == MissionStatus::NeedsReauth {
            if let Some(reason) = &done.error {
                eprintln!(
                    "{}",
                    style.yellow(&format!("waiting for a login: {reason}"))
                );
            }
        }
    }
    match done.status {
        MissionStatus::Completed => ExitCode::SUCCESS,
        MissionStatus::Cancelled | MissionStatus::Paused => ExitCode::from(130),
        MissionStatus::BudgetReached => ExitCode::from(3),
        _ => ExitCode::from(1),
    }
}

/// `sortie run`: starts the mission and follows it.
pub(crate) async fn run(sortie: &Sortie, args: RunArgs) -> anyhow::Result<ExitCode> {
    let json = args.json;
    let started = sortie.start(args.into()).await?;
    if let Some(n) = started.queue_position {
        if !json && n > 1 {
            eprintln!("queued: {} missions ahead of this one", n - 1);
        }
    }
    follow(sortie, started, json, 0).await
}

/// `sortie resume`: records the resume and follows the mission again.
pub(crate) async fn resume(sortie: &Sortie, args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let (started, before) = sortie.resume(&args.id, (&args).into()).await?;
    // The live view starts at the resume; --json replays the whole log.
    let from = if args.json { 0 } else { before };
    follow(sortie, started, args.json, from).await
}

/// Shows a started mission until it ends (Ctrl-C cancels it; a person at this terminal
/// answers an `ask` mission's questions, and with no terminal the answer is no at once);
/// returns the exit code of its outcome.
pub(crate) async fn follow(
    sortie: &Sortie,
    started: Started,
    json: bool,
    from: u64,
) -> anyhow::Result<ExitCode> {
    let observer = observer_for(&started.mission, json);
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    let signal = on_ctrl_c(
        sortie.cancel_note(),
        move || async move { on_signal.cancel() },
    );
    let began = Instant::now();
    let done = started
        .follow(from, observer, Arc::new(TtyApprover), cancel)
        .await;
    signal.abort();
    Ok(conclude(&done?, json, began.elapsed()))
}
