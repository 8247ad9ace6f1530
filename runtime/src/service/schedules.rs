//! Schedules on a data dir: checking and building a new one, pausing and resuming. (The
//! tick that fires them runs in the daemon, beside its supervisor: `daemon::scheduler`.)

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use sortie_missions::scheduler::{MissionTemplate, Schedule, Timing};
use sortie_missions::MissionStore;

use crate::api::NewSchedule;
use crate::config::Config;
use crate::service::missions;

/// Checks a new schedule (timing, provider, directory) and builds it.
pub fn build(config: &Config, req: NewSchedule, now: DateTime<Utc>) -> anyhow::Result<Schedule> {
    missions::check_max_turns(req.max_turns)?;
    let budget =
        super::budgets::requested(req.max_cost, req.max_tokens, req.max_duration.as_deref())?;
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
    super::mcp::check_selection(config, &req.mcp)?;
    let model = req
        .model
        .clone()
        .or(provider.model.clone())
        .unwrap_or_default();
    super::budgets::check_priced(
        config,
        &super::budgets::for_new(config, budget),
        &model,
        provider.kind.as_str(),
    )?;
    super::notify::check_choice(config, req.notify)?;
    crate::config::cluster::check_labels(&req.labels).map_err(anyhow::Error::msg)?;
    if req.worktree {
        super::worktree::check_repo(&cwd)?;
    }
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
            budget,
            notify: req.notify,
            worktree: req.worktree,
            labels: req.labels,
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
pub async fn set_paused(
    store: &dyn MissionStore,
    id: &str,
    paused: bool,
) -> anyhow::Result<Schedule> {
    let id = store.schedule(id).await?.id;
    let now = Utc::now();
    let (s, ()) = sortie_missions::update_schedule(store, &id, |s| {
        s.paused = paused;
        if !paused {
            s.plan_after(now);
        }
        Some(())
    })
    .await?
    .with_context(|| format!("schedule {id} was deleted meanwhile"))?;
    Ok(s)
}
