//! `sortie schedule add | ls | rm | pause | resume | run-now`: on the store, or through the
//! daemon when one serves the data dir.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::Value;
use sortie_missions::scheduler::{Missed, Overlap, RunOutcome, Schedule};
use sortie_missions::PermissionPolicy;

use super::render::Style;
use crate::api::{schedule_json, NewSchedule};
use crate::handle::Sortie;

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Add a schedule that starts a mission from PROMPT at each of its times.
    #[command(
        after_help = "Examples:\n  sortie schedule add --cron \"0 9 * * 1-5\" --tz Europe/Paris \"summarise yesterday's commits\"\n  sortie schedule add --every 30m --overlap allow \"check the build\"\n  sortie schedule add --at 2026-12-01T08:00:00Z --provider claude-code \"prepare the release notes\"\n\nCron: 5 fields (minute hour day-of-month month day-of-week, 0 and 7 = Sunday) or 6 (seconds first).\nSchedules fire while the daemon runs (`sortie serve`)."
    )]
    Add(Box<AddArgs>),
    /// List schedules with their next run and their last runs.
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Delete a schedule (the missions it started stay).
    Rm { id: String },
    /// Stop a schedule from firing until it is resumed.
    Pause { id: String },
    /// Let a paused schedule fire again, from now on.
    Resume { id: String },
    /// Start the schedule's mission now (needs the daemon).
    RunNow { id: String },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// What each mission should do.
    prompt: String,
    /// A cron expression: 5 fields, or 6 with seconds first.
    #[arg(long, group = "when")]
    cron: Option<String>,
    /// The cron expression's time zone (IANA name). Default: UTC.
    #[arg(long, requires = "cron")]
    tz: Option<String>,
    /// An interval: 90s, 30m, 2h, 1d, 1h30m.
    #[arg(long, group = "when")]
    every: Option<String>,
    /// Once, at an RFC 3339 time (2026-12-01T08:00:00Z).
    #[arg(long, group = "when")]
    at: Option<String>,
    /// A name shown in `schedule ls` instead of the prompt.
    #[arg(long)]
    name: Option<String>,
    /// Provider of the missions; default: the default provider.
    #[arg(long, short)]
    provider: Option<String>,
    /// Model of the missions; default: the provider's.
    #[arg(long, short)]
    model: Option<String>,
    /// Working directory of the missions. Default: the current directory.
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// auto, read-only or ask (denied: nobody is there to answer).
    #[arg(long, value_parser = |s: &str| s.parse::<PermissionPolicy>())]
    permission: Option<PermissionPolicy>,
    /// Most model turns per mission. Default: config `max_turns`, else 50.
    #[arg(long, value_name = "N")]
    max_turns: Option<u32>,
    /// The sandbox of the missions: workspace-write, read-only or off (default: `[sandbox]
    /// mode`).
    #[arg(long, value_name = "MODE", value_parser = super::parse_sandbox)]
    sandbox: Option<sortie_missions::SandboxMode>,
    /// No project instructions (AGENTS.md, CLAUDE.md) in the missions' system prompt.
    #[arg(long)]
    no_instructions: bool,
    #[command(flatten)]
    mcp: super::mcp::McpArgs,
    #[command(flatten)]
    budget: super::budget::BudgetArgs,
    /// Runs missed while the daemon was down: skip (default) or run-once.
    #[arg(long, value_parser = ["skip", "run-once"])]
    missed: Option<String>,
    /// A run due while the previous one still goes: skip (default) or allow.
    #[arg(long, value_parser = ["skip", "allow"])]
    overlap: Option<String>,
    /// Delay each run by a random time up to this (90s, 5m).
    #[arg(long)]
    jitter: Option<String>,
    #[command(flatten)]
    notify: super::notices::NotifyArgs,
    /// Each mission works in a new git worktree of the repository holding --cwd.
    #[arg(long)]
    worktree: bool,
    /// Its missions run only on a daemon with this label (repeat for several).
    #[arg(long = "on", value_name = "LABEL")]
    labels: Vec<String>,
    /// Print the schedule as JSON.
    #[arg(long)]
    json: bool,
}

impl AddArgs {
    fn request(&self) -> anyhow::Result<NewSchedule> {
        let cwd = match &self.cwd {
            Some(d) => d.clone(),
            None => std::env::current_dir().context("cannot read the current directory")?,
        };
        Ok(NewSchedule {
            prompt: self.prompt.clone(),
            cwd: Some(cwd.canonicalize().with_context(|| {
                format!("the working directory {} does not exist", cwd.display())
            })?),
            name: self.name.clone(),
            cron: self.cron.clone(),
            tz: self.tz.clone(),
            every: self.every.clone(),
            at: self.at.clone(),
            provider: self.provider.clone(),
            model: self.model.clone(),
            permission: self.permission,
            max_turns: self.max_turns,
            sandbox: self.sandbox,
            no_instructions: self.no_instructions,
            mcp: self.mcp.selection(),
            missed: self.missed.as_deref().map(|m| match m {
                "run-once" => Missed::RunOnce,
                _ => Missed::Skip,
            }),
            overlap: self.overlap.as_deref().map(|o| match o {
                "allow" => Overlap::Allow,
                _ => Overlap::Skip,
            }),
            jitter: self.jitter.clone(),
            max_cost: self.budget.max_cost,
            max_tokens: self.budget.max_tokens,
            max_duration: self.budget.max_duration.clone(),
            notify: self.notify.choice(),
            worktree: self.worktree,
            labels: self.labels.clone(),
        })
    }
}

/// `sortie schedule ...`, here or through the daemon that serves the data dir.
pub async fn schedule(sortie: &Sortie, cmd: ScheduleCommand) -> anyhow::Result<ExitCode> {
    // Without a daemon the schedules are kept, but nothing fires them.
    let hint = || {
        if matches!(sortie, Sortie::Here(_)) {
            eprintln!("note: the daemon is not running (autostart is off); schedules fire only while `sortie serve` runs");
        }
    };
    match cmd {
        ScheduleCommand::Add(args) => {
            let s = sortie.add_schedule(args.request()?).await?;
            show_one(&s, args.json);
            hint();
        }
        ScheduleCommand::Ls { json } => {
            let (all, problems) = sortie.schedules().await?;
            for p in &problems {
                eprintln!("warning: {p}");
            }
            list(&all, json);
            if !json && !all.is_empty() {
                hint();
            }
        }
        ScheduleCommand::Rm { id } => {
            println!("deleted schedule {}", sortie.delete_schedule(&id).await?);
        }
        ScheduleCommand::Pause { id } => {
            let s = sortie.pause_schedule(&id, true).await?;
            println!("paused schedule {}", s.id);
        }
        ScheduleCommand::Resume { id } => {
            let s = sortie.pause_schedule(&id, false).await?;
            println!("resumed schedule {}; next run {}", s.id, next_text(&s));
        }
        ScheduleCommand::RunNow { id } => {
            let s = sortie.run_schedule_now(&id).await?;
            match s.runs.last().map(|r| &r.outcome) {
                Some(RunOutcome::Started { mission }) => {
                    println!("started mission {mission} (watch it: sortie show {mission})")
                }
                Some(RunOutcome::Failed { error }) => bail!("could not start the mission: {error}"),
                _ => bail!("the daemon did not start a mission"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn next_text(s: &Schedule) -> String {
    match (s.paused, s.next_run) {
        (true, _) => "paused".into(),
        (false, Some(t)) => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        (false, None) => "none (done)".into(),
    }
}

fn show_one(s: &Schedule, json: bool) {
    if json {
        println!("{}", schedule_json(s));
    } else {
        println!(
            "added schedule {} ({}); next run {}",
            s.id,
            s.timing.describe(),
            next_text(s)
        );
    }
}

fn list(all: &[Schedule], json: bool) {
    if json {
        let rows: Vec<Value> = all.iter().map(schedule_json).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return;
    }
    if all.is_empty() {
        println!("no schedules; add one with `sortie schedule add --every 1h \"<prompt>\"`");
        return;
    }
    let style = Style::detect();
    println!(
        "{}",
        style.bold(&format!(
            "{:<13} {:<30} {:<23} {:<10} PROMPT",
            "ID", "WHEN", "NEXT RUN", "LAST RUN"
        ))
    );
    for s in all {
        let last = match s.runs.last().map(|r| &r.outcome) {
            Some(RunOutcome::Started { .. }) => "started",
            Some(RunOutcome::Skipped { .. }) => "skipped",
            Some(RunOutcome::Failed { .. }) => "failed",
            None => "-",
        };
        let prompt: String = s
            .name
            .clone()
            .unwrap_or_else(|| s.mission.prompt.clone())
            .chars()
            .take(40)
            .collect();
        // A schedule whose missions are not confined says so before its prompt.
        let prompt = match s.mission.sandbox {
            Some(sortie_missions::SandboxMode::Off) => {
                format!("{} {prompt}", style.yellow("[sandbox off]"))
            }
            _ => prompt,
        };
        println!(
            "{:<13} {:<30} {:<23} {:<10} {}",
            &s.id[..13.min(s.id.len())],
            s.timing.describe().chars().take(30).collect::<String>(),
            next_text(s),
            last,
            prompt
        );
    }
}
