//! The daemon's scheduler: fires the schedules that are due into the supervisor's queue,
//! and `run-now`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sortie_missions::scheduler::{Decision, RunOutcome, Schedule, ScheduleRun};

use super::Daemon;
use crate::api::NewMission;
use crate::service::{missions, notify};

/// Starts the schedule's mission now: created and queued under the supervisor.
async fn start(daemon: &Daemon, s: &Schedule) -> RunOutcome {
    if let Some(reason) = daemon.supervisor.queue_full() {
        skipped_notice(daemon, s, Utc::now(), &reason);
        return RunOutcome::Skipped { reason };
    }
    let req = request_of(s);
    let made = match daemon.supervisor.config() {
        Ok(config) => {
            match missions::create_mission(&*daemon.store, &config, &daemon.pool, req).await {
                // Durable before it is run (a store that writes behind reports a failed
                // write here).
                Ok(mission) => match daemon.store.flush_mission(&mission.id).await {
                    Ok(()) => Ok(mission),
                    Err(e) => Err(e.into()),
                },
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e.into()),
    };
    match made {
        Ok(mission) => {
            let id = mission.id;
            match daemon.supervisor.submit(mission).await {
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

/// The new-mission request of a schedule's template.
pub(super) fn request_of(s: &Schedule) -> NewMission {
    let t = &s.mission;
    NewMission {
        prompt: t.prompt.clone(),
        provider: t.provider.clone(),
        model: t.model.clone(),
        cwd: Some(t.cwd.clone()),
        permission: t.permission,
        max_turns: t.max_turns,
        sandbox: t.sandbox,
        no_instructions: t.no_instructions,
        mcp: t.mcp.clone(),
        max_cost: t.budget.max_cost_usd,
        max_tokens: t.budget.max_tokens,
        max_duration: t.budget.max_duration_secs.map(|s| format!("{s}s")),
        notify: t.notify,
        worktree: t.worktree,
        labels: t.labels.clone(),
    }
}

/// Fires a schedule now, whatever its timing (`run-now`).
pub async fn run_now(daemon: &Daemon, id: &str) -> anyhow::Result<Schedule> {
    let s = daemon.store.schedule(id).await?;
    let now = Utc::now();
    let outcome = start(daemon, &s).await;
    let run = ScheduleRun {
        at: now,
        scheduled_for: now,
        outcome,
    };
    let (s, ()) = sortie_missions::update_schedule(&*daemon.store, &s.id, |s| {
        s.record(run.clone());
        Some(())
    })
    .await?
    .with_context(|| format!("schedule {} was deleted while its mission started", s.id))?;
    Ok(s)
}

/// Fires what is due at `now` and records every decision. Each schedule is claimed by a
/// compare-and-swap before its mission starts, and the run recorded by another: a pause,
/// resume or delete made in between is kept.
/// Returns when the next run is due (the earliest next run of the schedules not paused).
pub async fn tick(daemon: &Daemon, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let (all, _) = match daemon.store.schedules().await {
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
        let last_active = last_mission_active(daemon, &s).await;
        if let Some(pg) = daemon.store.as_postgres().filter(|_| !s.mission.worktree) {
            let next = super::schedule_fire::fire(daemon, pg, &s, now, last_active).await;
            note(&mut earliest, next);
            continue;
        }
        let claimed = sortie_missions::update_schedule(&*daemon.store, &s.id, |s| {
            decide(daemon, s, now, last_active)
        })
        .await;
        let (s, scheduled_for, missed) = match claimed {
            Ok(Some((
                s,
                Decision::Fire {
                    scheduled_for,
                    missed,
                },
            ))) => (s, scheduled_for, missed),
            Ok(Some((
                s,
                Decision::Skip {
                    scheduled_for,
                    reason,
                },
            ))) => {
                skipped_notice(daemon, &s, scheduled_for, &reason);
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
            outcome: start(daemon, &s).await,
        };
        let recorded = sortie_missions::update_schedule(&*daemon.store, &s.id, |s| {
            s.record(run.clone());
            Some(())
        })
        .await;
        if let Err(e) = recorded {
            tracing::error!("cannot record a run of schedule {}: {e}", s.id);
        }
        note(&mut earliest, next_of(&s));
    }
    earliest
}

/// Whether schedule `s` fires at `now` (its last mission `last_active` still runs, the
/// queue has room), with a skipped run recorded on it.
pub(super) fn decide(
    daemon: &Daemon,
    s: &mut Schedule,
    now: DateTime<Utc>,
    last_active: Option<sortie_missions::MissionId>,
) -> Option<Decision> {
    let running = s.last_mission().is_some_and(|m| Some(m) == last_active);
    let decision = match s.due(now, running)? {
        Decision::Fire { scheduled_for, .. } if queue_cap(daemon, s).is_some() => Decision::Skip {
            scheduled_for,
            reason: queue_cap(daemon, s).unwrap_or_default(),
        },
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
}

/// The schedule's last mission if it is still queued or running: here, or with a shared
/// store on any daemon.
pub(super) async fn last_mission_active(
    daemon: &Daemon,
    s: &Schedule,
) -> Option<sortie_missions::MissionId> {
    let last = s.last_mission()?;
    if daemon.supervisor.is_active(&last) {
        return Some(last);
    }
    daemon.supervisor.cluster()?;
    let mission = daemon.store.mission(&last).await.ok()?;
    matches!(
        mission.status,
        sortie_missions::MissionStatus::Queued | sortie_missions::MissionStatus::Running
    )
    .then_some(last)
}

/// Tells `[notify]` that schedule `s` skipped its run for `scheduled_for` (in the
/// background).
pub(super) fn skipped_notice(
    daemon: &Daemon,
    s: &Schedule,
    scheduled_for: DateTime<Utc>,
    reason: &str,
) {
    match daemon.supervisor.config() {
        Ok(config) => notify::schedule_skipped(
            daemon.supervisor.notices(),
            &daemon.home,
            &config,
            s,
            scheduled_for,
            reason,
        ),
        Err(e) => tracing::warn!("schedule {}: no notice of a skipped run: {e}", s.id),
    }
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
    if let Ok((_, problems)) = daemon.store.schedules().await {
        for p in problems {
            eprintln!("warning: {p}");
        }
    }
    // The schedules are scanned only when one changed or one is due: between, the tick
    // compares a counter and a time.
    let mut known: Option<(Option<u64>, Option<DateTime<Utc>>)> = None;
    loop {
        let now = Utc::now();
        // Unknown (the store unreachable): a full tick, which says what failed.
        let generation = daemon.store.schedules_generation().await.ok();
        let quiet = matches!(known, Some((Some(g), next)) if Some(g) == generation && next.is_none_or(|n| n > now));
        if !quiet {
            let next = tick(&daemon, now).await;
            known = Some((daemon.store.schedules_generation().await.ok(), next));
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}
