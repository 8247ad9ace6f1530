//! The scheduler on a shared store: a due run's claim and its mission in one transaction
//! (`PgStore::fire_schedule`), so however many daemons tick, each run starts one mission,
//! and a daemon that dies between the two leaves neither. (A `--worktree` template makes
//! its worktree on disk first, and takes the two-step path.)

use chrono::{DateTime, Utc};
use sortie_missions::postgres::{Firing, PgStore};
use sortie_missions::scheduler::{Decision, RunOutcome, Schedule, ScheduleRun};
use sortie_missions::MissionId;

use super::scheduler::{decide, request_of, skipped_notice};
use super::Daemon;
use crate::service::missions;

/// Fires schedule `s` if it is due; returns when it is next due (a second from now when
/// the store failed, to look again).
pub(super) async fn fire(
    daemon: &Daemon,
    pg: &PgStore,
    s: &Schedule,
    now: DateTime<Utc>,
    last_active: Option<MissionId>,
) -> Option<DateTime<Utc>> {
    let next_of = |s: &Schedule| s.next_run.filter(|_| !s.paused);
    // Not due as last read (a run is never moved earlier): nothing to lock.
    if s.paused || s.next_run.is_none_or(|next| next > now) {
        return next_of(s);
    }
    // What its mission would be, checked before the row is locked.
    let planned = match daemon.supervisor.config() {
        Ok(config) => {
            missions::plan_mission(&*daemon.store, &config, &daemon.pool, request_of(s)).await
        }
        Err(e) => Err(e.into()),
    };
    let (firing, plan_error) = match planned {
        Ok(p) => (
            Some(Firing {
                spec: p.spec,
                setup: p.setup,
            }),
            None,
        ),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    let fired_for = std::sync::Mutex::new(None::<DateTime<Utc>>);
    let mut decide_here = |s: &mut Schedule| {
        let decision = decide(daemon, s, now, last_active)?;
        let fires = matches!(decision, Decision::Fire { .. });
        if let (Decision::Fire { scheduled_for, .. }, Some(error)) = (&decision, &plan_error) {
            s.record(ScheduleRun {
                at: now,
                scheduled_for: *scheduled_for,
                outcome: RunOutcome::Failed {
                    error: error.clone(),
                },
            });
        }
        if let Decision::Fire { scheduled_for, .. } = &decision {
            *fired_for.lock().unwrap_or_else(|p| p.into_inner()) = Some(*scheduled_for);
        }
        Some((decision, fires))
    };
    let mut started = |s: &mut Schedule, mission: MissionId| {
        let scheduled_for = fired_for
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or(now);
        s.record(ScheduleRun {
            at: now,
            scheduled_for,
            outcome: RunOutcome::Started { mission },
        });
    };
    match pg
        .fire_schedule(&s.id, &mut decide_here, firing, &mut started)
        .await
    {
        Ok(None) => next_of(s),
        Ok(Some((s, decision, made))) => {
            match decision {
                Decision::Skip {
                    scheduled_for,
                    reason,
                } => skipped_notice(daemon, &s, scheduled_for, &reason),
                Decision::Fire { missed, .. } if missed > 0 => tracing::info!(
                    "schedule {}: {missed} missed runs not run (missed = run-once)",
                    s.id
                ),
                Decision::Fire { .. } => {}
            }
            if let Some(mission) = made {
                if let Err(e) = daemon.supervisor.submit(mission).await {
                    tracing::warn!("schedule {}: {e}", s.id);
                }
            }
            next_of(&s)
        }
        Err(e) => {
            tracing::error!("cannot fire schedule {}: {e}", s.id);
            Some(now + chrono::Duration::seconds(1))
        }
    }
}
