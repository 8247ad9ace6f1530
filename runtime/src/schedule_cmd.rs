//! Schedules: `sortie schedule add | ls | rm | pause | resume | run-now`, the same
//! operations behind the daemon's `/schedules` routes, and the daemon's loop that fires them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sortie_missions::scheduler::{
    Decision, Missed, MissionTemplate, Overlap, RunOutcome, Schedule, ScheduleRun, Timing,
};
use sortie_missions::{PermissionPolicy, Store};

use crate::client::Client;
use crate::config::Config;
use crate::daemon::Daemon;
use crate::render::Style;
use crate::run_cmd::{self, NewMission};

/// A new schedule: the flags of `sortie schedule add`, and the body of `POST /schedules`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    pub prompt: String,
    /// Absolute working directory of the missions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// The cron expression's time zone (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<PermissionPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<sortie_missions::SandboxMode>,
    /// No project instructions (`AGENTS.md` ...) in the system prompt.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_instructions: bool,
    /// The MCP servers of its missions (`[]`: none); default: every enabled one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed: Option<Missed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<Overlap>,
    /// Random delay of each run, at most this long (`90s`, `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<String>,
}

/// Checks a new schedule (timing, provider, directory) and builds it.
pub fn build(config: &Config, req: NewSchedule, now: DateTime<Utc>) -> anyhow::Result<Schedule> {
    run_cmd::check_max_turns(req.max_turns)?;
    let timing = match (&req.cron, &req.every, &req.at) {
        (Some(expr), None, None) => Timing::cron(expr, req.tz.as_deref().unwrap_or("UTC"))?,
        (None, Some(every), None) => Timing::every(every)?,
        (None, None, Some(at)) => Timing::at(at, now)?,
        (None, None, None) => bail!(
            "say when: --cron \"<expr>\" [--tz <zone>], --every <interval> or --at <RFC 3339 time>"
        ),
        _ => bail!("give only one of --cron, --every and --at"),
    };
    if req.tz.is_some() && req.cron.is_none() {
        bail!("--tz applies to --cron only");
    }
    if req.prompt.trim().is_empty() {
        bail!("the prompt is empty; say what each mission should do");
    }
    let cwd = req
        .cwd
        .context("cwd is required: the missions' working directory")?;
    let cwd = cwd
        .canonicalize()
        .with_context(|| format!("the working directory {} does not exist", cwd.display()))?;
    // The provider must exist now, not only when the schedule first fires.
    let provider = config.provider(req.provider.as_deref())?;
    if req.model.is_none() && provider.model.is_none() {
        bail!(
            "provider `{}` has no default model; pass --model",
            provider.name
        );
    }
    crate::mcp_cmd::check_selection(config, &req.mcp)?;
    let mut schedule = Schedule::new(
        req.name,
        timing,
        MissionTemplate {
            prompt: req.prompt,
            provider: req.provider,
            model: req.model,
            cwd,
            permission: req.permission,
            max_turns: req.max_turns,
            // Fixed when added, as a mission's is when it is created.
            sandbox: Some(req.sandbox.unwrap_or(config.sandbox.mode)),
            no_instructions: req.no_instructions,
            mcp: req.mcp,
        },
        now,
    );
    schedule.missed = req.missed.unwrap_or_default();
    schedule.overlap = req.overlap.unwrap_or_default();
    if let Some(j) = &req.jitter {
        schedule.jitter_secs = sortie_missions::scheduler::parse_interval(j)?.as_secs();
        schedule.plan_after(now);
    }
    Ok(schedule)
}

/// Pauses or resumes a schedule; a resumed one plans its next time from now.
pub fn set_paused(store: &Store, id: &str, paused: bool) -> anyhow::Result<Schedule> {
    let id = store.schedule(id)?.id;
    let now = Utc::now();
    let (s, ()) = store
        .update_schedule(&id, |s| {
            s.paused = paused;
            if !paused {
                s.plan_after(now);
            }
            Some(())
        })?
        .with_context(|| format!("schedule {id} was deleted meanwhile"))?;
    Ok(s)
}

/// A schedule as JSON, with the words a person reads.
pub fn schedule_json(s: &Schedule) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    v["when"] = json!(s.timing.describe());
    // The sandbox of its missions (null: added before sandboxes; the config's mode applies).
    v["sandbox"] = json!(s.mission.sandbox);
    v
}

/// Starts the schedule's mission now: created and queued under the supervisor.
fn start(daemon: &Daemon, s: &Schedule) -> RunOutcome {
    if let Some(reason) = daemon.supervisor.queue_full() {
        return RunOutcome::Skipped { reason };
    }
    let t = &s.mission;
    let req = NewMission {
        prompt: t.prompt.clone(),
        provider: t.provider.clone(),
        model: t.model.clone(),
        cwd: Some(t.cwd.clone()),
        permission: t.permission,
        max_turns: t.max_turns,
        sandbox: t.sandbox,
        no_instructions: t.no_instructions,
        mcp: t.mcp.clone(),
    };
    let made = Config::load(&daemon.home)
        .map_err(anyhow::Error::from)
        .and_then(|config| run_cmd::create_mission(&daemon.store, &config, &daemon.pool, req));
    match made {
        Ok(mission) => {
            let id = mission.id;
            match daemon.supervisor.submit(mission) {
                Ok(()) => RunOutcome::Started { mission: id },
                Err(e) => RunOutcome::Failed {
                    error: e.to_string(),
                },
            }
        }
        Err(e) => RunOutcome::Failed {
            error: format!("{e:#}"),
        },
    }
}

/// Fires a schedule now, whatever its timing (`run-now`).
pub fn run_now(daemon: &Daemon, id: &str) -> anyhow::Result<Schedule> {
    let s = daemon.store.schedule(id)?;
    let now = Utc::now();
    let outcome = start(daemon, &s);
    let run = ScheduleRun {
        at: now,
        scheduled_for: now,
        outcome,
    };
    let (s, ()) = daemon
        .store
        .update_schedule(&s.id, |s| {
            s.record(run.clone());
            Some(())
        })?
        .with_context(|| format!("schedule {} was deleted while its mission started", s.id))?;
    Ok(s)
}

/// Fires what is due at `now` and records every decision. Each schedule is claimed by a
/// compare-and-swap before its mission starts, and the run recorded by another: a pause,
/// resume or delete made in between is kept.
/// Returns when the next run is due (the earliest next run of the schedules not paused).
pub fn tick(daemon: &Daemon, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let (all, _) = match daemon.store.schedules() {
        Ok(found) => found,
        Err(e) => {
            tracing::error!("cannot read the schedules: {e}");
            return None;
        }
    };
    let mut earliest: Option<DateTime<Utc>> = None;
    let note = |earliest: &mut Option<DateTime<Utc>>, next: Option<DateTime<Utc>>| {
        if let Some(next) = next {
            *earliest = Some(earliest.map_or(next, |e| e.min(next)));
        }
    };
    let next_of = |s: &Schedule| s.next_run.filter(|_| !s.paused);
    for s in all {
        let claimed = daemon.store.update_schedule(&s.id, |s| {
            let running = s
                .last_mission()
                .is_some_and(|m| daemon.supervisor.is_active(&m));
            let decision = match s.due(now, running)? {
                Decision::Fire { scheduled_for, .. } if queue_cap(daemon, s).is_some() => {
                    Decision::Skip {
                        scheduled_for,
                        reason: queue_cap(daemon, s).unwrap_or_default(),
                    }
                }
                decision => decision,
            };
            if let Decision::Skip {
                scheduled_for,
                reason,
            } = &decision
            {
                s.record(ScheduleRun {
                    at: now,
                    scheduled_for: *scheduled_for,
                    outcome: RunOutcome::Skipped {
                        reason: reason.clone(),
                    },
                });
            }
            Some(decision)
        });
        let (s, scheduled_for, missed) = match claimed {
            Ok(Some((
                s,
                Decision::Fire {
                    scheduled_for,
                    missed,
                },
            ))) => (s, scheduled_for, missed),
            Ok(Some((s, Decision::Skip { .. }))) => {
                note(&mut earliest, next_of(&s));
                continue;
            }
            Ok(None) => {
                note(&mut earliest, next_of(&s));
                continue;
            }
            Err(e) => {
                tracing::error!("cannot update schedule {}: {e}", s.id);
                // Looked at again in a second.
                note(&mut earliest, Some(now + chrono::Duration::seconds(1)));
                continue;
            }
        };
        if missed > 0 {
            tracing::info!(
                "schedule {}: {missed} missed runs not run (missed = run-once)",
                s.id
            );
        }
        let run = ScheduleRun {
            at: now,
            scheduled_for,
            outcome: start(daemon, &s),
        };
        let recorded = daemon.store.update_schedule(&s.id, |s| {
            s.record(run.clone());
            Some(())
        });
        if let Err(e) = recorded {
            tracing::error!("cannot record a run of schedule {}: {e}", s.id);
        }
        note(&mut earliest, next_of(&s));
    }
    earliest
}

/// Why a run of `s` may not queue now: the schedule's own runs fill its share of the queue
/// (`max_queued_per_schedule`), or the queue is full.
fn queue_cap(daemon: &Daemon, s: &Schedule) -> Option<String> {
    let cap = daemon.supervisor.max_queued_per_schedule();
    let waiting = s
        .runs
        .iter()
        .filter_map(|r| match &r.outcome {
            RunOutcome::Started { mission } => Some(*mission),
            _ => None,
        })
        .filter(|m| daemon.supervisor.queue_position(m).is_some())
        .count();
    if waiting >= cap {
        return Some(format!(
            "{waiting} runs of this schedule already wait in the queue ([daemon.limits] max_queued_per_schedule = {cap})"
        ));
    }
    daemon.supervisor.queue_full()
}

/// The daemon's scheduler: a tick every quarter second until `stop`.
pub async fn run(daemon: Arc<Daemon>, stop: tokio_util::sync::CancellationToken) {
    if let Ok((_, problems)) = daemon.store.schedules() {
        for p in problems {
            eprintln!("warning: {p}");
        }
    }
    // The schedules are scanned only when one changed or one is due: between, the tick
    // compares a counter and a time.
    let mut known: Option<(u64, Option<DateTime<Utc>>)> = None;
    loop {
        let now = Utc::now();
        let generation = daemon.store.schedules_generation();
        let quiet =
            matches!(known, Some((g, next)) if g == generation && next.is_none_or(|n| n > now));
        if !quiet {
            let next = tick(&daemon, now);
            known = Some((daemon.store.schedules_generation(), next));
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

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
    #[arg(long, value_name = "MODE", value_parser = crate::cli::parse_sandbox)]
    sandbox: Option<sortie_missions::SandboxMode>,
    /// No project instructions (AGENTS.md, CLAUDE.md) in the missions' system prompt.
    #[arg(long)]
    no_instructions: bool,
    #[command(flatten)]
    mcp: crate::mcp_cmd::McpArgs,
    /// Runs missed while the daemon was down: skip (default) or run-once.
    #[arg(long, value_parser = ["skip", "run-once"])]
    missed: Option<String>,
    /// A run due while the previous one still goes: skip (default) or allow.
    #[arg(long, value_parser = ["skip", "allow"])]
    overlap: Option<String>,
    /// Delay each run by a random time up to this (90s, 5m).
    #[arg(long)]
    jitter: Option<String>,
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
        })
    }
}

/// `sortie schedule ...` on the store, when no daemon runs (one started by the command
/// goes through [`through_daemon`]).
pub async fn on_store(home: &Path, cmd: ScheduleCommand) -> anyhow::Result<ExitCode> {
    let store = crate::cli::open_store(home)?;
    let hint = "note: the daemon is not running (autostart is off); schedules fire only while `sortie serve` runs";
    match cmd {
        ScheduleCommand::Add(args) => {
            let config = Config::load(home)?;
            let s = build(&config, args.request()?, Utc::now())?;
            store.put_schedule(&s)?;
            show_one(&s, args.json);
            eprintln!("{hint}");
        }
        ScheduleCommand::Ls { json } => {
            let (all, problems) = store.schedules()?;
            for p in &problems {
                eprintln!("warning: {p}");
            }
            list(&all, json);
            if !json && !all.is_empty() {
                eprintln!("{hint}");
            }
        }
        ScheduleCommand::Rm { id } => {
            let s = store.schedule(&id)?;
            store.delete_schedule(&s.id)?;
            println!("deleted schedule {}", s.id);
        }
        ScheduleCommand::Pause { id } => {
            let s = set_paused(&store, &id, true)?;
            println!("paused schedule {}", s.id);
        }
        ScheduleCommand::Resume { id } => {
            let s = set_paused(&store, &id, false)?;
            println!("resumed schedule {}; next run {}", s.id, next_text(&s));
        }
        ScheduleCommand::RunNow { .. } => {
            bail!("run-now starts a mission under the daemon, which is not running; start it with `sortie serve`")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `sortie schedule ...` through the daemon's API.
pub async fn through_daemon(client: &Client, cmd: ScheduleCommand) -> anyhow::Result<ExitCode> {
    let one = |v: &Value| -> anyhow::Result<Schedule> {
        serde_json::from_value(v.clone())
            .context("the daemon sent a schedule this sortie cannot read")
    };
    match cmd {
        ScheduleCommand::Add(args) => {
            let v = client
                .post("/schedules", &serde_json::to_value(args.request()?)?)
                .await?;
            show_one(&one(&v)?, args.json);
        }
        ScheduleCommand::Ls { json } => {
            let v = client.get("/schedules").await?;
            let all: Vec<Schedule> = serde_json::from_value(v["schedules"].clone())
                .context("the daemon sent schedules this sortie cannot read")?;
            for p in v["problems"].as_array().into_iter().flatten() {
                eprintln!("warning: {}", p.as_str().unwrap_or_default());
            }
            list(&all, json);
        }
        ScheduleCommand::Rm { id } => {
            let v = client.delete(&format!("/schedules/{id}")).await?;
            println!(
                "deleted schedule {}",
                v["deleted"].as_str().unwrap_or_default()
            );
        }
        ScheduleCommand::Pause { id } => {
            let s = one(&client
                .post(&format!("/schedules/{id}/pause"), &Value::Null)
                .await?)?;
            println!("paused schedule {}", s.id);
        }
        ScheduleCommand::Resume { id } => {
            let s = one(&client
                .post(&format!("/schedules/{id}/resume"), &Value::Null)
                .await?)?;
            println!("resumed schedule {}; next run {}", s.id, next_text(&s));
        }
        ScheduleCommand::RunNow { id } => {
            let s = one(&client
                .post(&format!("/schedules/{id}/run-now"), &Value::Null)
                .await?)?;
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
