//! The command line's side of notices and worktrees: `--notify` / `--no-notify`,
//! `--worktree`, `sortie diff`, `sortie worktree rm`, and how their events read in `show`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use sortie_missions::MissionEvent;

use super::render::Style;
use crate::handle::Sortie;

/// `--notify` / `--no-notify`: notices (`[notify]`) for this mission or schedule.
#[derive(Debug, Args, Clone, Copy, Default)]
pub(crate) struct NotifyArgs {
    /// Send notices ([notify]) when it ends or needs someone, whatever `[notify] missions`
    /// says.
    #[arg(long, conflicts_with = "no_notify")]
    notify: bool,
    /// Send no notices for it.
    #[arg(long)]
    no_notify: bool,
}

impl NotifyArgs {
    /// `Some(true)`, `Some(false)`, or `None` (the config decides).
    pub(crate) fn choice(&self) -> Option<bool> {
        match (self.notify, self.no_notify) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum WorktreeCommand {
    /// Remove a mission's worktree (what is not committed in it is lost; `sortie diff`
    /// first). Refused while the mission runs. Its branch stays unless --branch.
    #[command(
        after_help = "Examples:\n  sortie diff 01a2 --stat          # look first: what is not committed is lost\n  sortie worktree rm 01a2          # the branch sortie/<short id> stays\n  sortie worktree rm 01a2 --branch # the branch too"
    )]
    Rm {
        /// Mission id, or a unique prefix of it.
        id: String,
        /// Delete its branch (`sortie/<short id>`) too.
        #[arg(long)]
        branch: bool,
        /// JSON: {"done": [what was done, one line each]}
        #[arg(long)]
        json: bool,
    },
}

/// `sortie diff ID`: what the mission changed in its worktree against the commit it
/// started from.
pub(crate) async fn diff(sortie: &Sortie, id: &str, stat: bool) -> anyhow::Result<ExitCode> {
    let text = sortie.diff(id, stat).await?;
    if text.is_empty() {
        eprintln!("no changes");
    } else {
        println!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `sortie worktree ...`.
pub(crate) async fn worktree(sortie: &Sortie, cmd: WorktreeCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        WorktreeCommand::Rm { id, branch, json } => {
            let done = sortie.remove_worktree(&id, branch).await?;
            if json {
                super::render::print_json_line(&serde_json::json!({"done": done}));
            } else {
                for line in done {
                    println!("{line}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How the notice and worktree events read in `sortie show`.
pub(crate) fn describe(s: &Style, event: &MissionEvent) -> (String, String) {
    match event {
        MissionEvent::NotifySet { enabled } => (
            "notify".into(),
            format!(
                "notices {} from here on",
                if *enabled { "on" } else { "off" }
            ),
        ),
        MissionEvent::Notice {
            kind,
            channel,
            attempt,
            delivered,
            outcome,
        } => {
            let text = format!("{kind} by {channel}, try {attempt}: {outcome}");
            let text = if *delivered { text } else { s.yellow(&text) };
            ("notice".into(), text)
        }
        MissionEvent::Worktree { worktree } => (
            "worktree".into(),
            format!(
                "{} on branch {} from {} (repository {})",
                worktree.path.display(),
                worktree.branch,
                &worktree.base[..worktree.base.len().min(12)],
                worktree.repo.display()
            ),
        ),
        _ => (String::new(), String::new()),
    }
}
