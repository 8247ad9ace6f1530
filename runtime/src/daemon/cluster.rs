//! A daemon among several on one PostgreSQL store (see README "Running several daemons").
//!
//! - At start it registers its name (`[daemon] name`, default the host name); a name a
//!   live daemon holds is refused. Leases its last run left behind run out at once, so its
//!   missions are resumed (here or elsewhere) as after a restart.
//! - Missions submitted here go to the shared queue. A claim loop takes the oldest queued
//!   mission this daemon can run (its labels, its `cwd` here, `[cluster] per_provider`)
//!   whenever it has a free slot, or one a dead daemon left running (its lease ran out):
//!   that one is resumed from its last stored event, as a restart resumes it.
//! - A heartbeat every third of `lease_secs` renews its registration and leases, and
//!   carries the stops other daemons asked for. A mission whose lease it lost (another
//!   daemon took it) stops here without writing: the store refuses the log of a mission
//!   another live daemon holds.
//! - On stop it frees its name and leases: the missions it interrupted are resumed by the
//!   other daemons (with `resume_interrupted`, the default), as a restart resumes them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sortie_missions::postgres::{ClaimRules, DaemonInfo, PgStore};
use sortie_missions::{Mission, MissionEvent, MissionId, MissionStatus, StoreError};
use tokio::sync::Notify;

use super::Daemon;
use crate::config::Config;

/// How often the claim loop looks at the queue when nothing woke it.
const POLL: Duration = Duration::from_millis(500);

/// The most missions remembered as not runnable here (their `cwd` is elsewhere); the list
/// is forgotten every [`FORGET_SKIPS`] so a directory made later is noticed.
const MAX_SKIPS: usize = 1024;
const FORGET_SKIPS: Duration = Duration::from_secs(60);

/// This daemon's membership of the cluster.
pub struct Link {
    pub pg: PgStore,
    pub info: DaemonInfo,
    pub lease: Duration,
    rules: Mutex<ClaimRules>,
    /// Rung when a mission was queued here or a slot came free.
    wake: Notify,
    /// Ends the heartbeat, once the daemon's missions have stopped (it beats on while
    /// they wind down, so no other daemon takes one that still runs here).
    pub stopped: tokio_util::sync::CancellationToken,
}

impl Link {
    /// Registers this daemon on the shared store; refuses a name a live daemon holds.
    pub async fn join(pg: &PgStore, config: &Config, instance: &str) -> anyhow::Result<Arc<Self>> {
        let lease = Duration::from_secs(config.daemon.lease_secs);
        let info = DaemonInfo {
            name: crate::config::cluster::daemon_name(&config.daemon),
            instance: instance.to_string(),
            host: crate::config::cluster::host_name(),
            pid: i32::try_from(std::process::id()).unwrap_or(i32::MAX),
            labels: config.daemon.labels.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        };
        pg.register_daemon(&info, lease).await?;
        let rules = ClaimRules {
            labels: info.labels.clone(),
            lease,
            skip: Vec::new(),
            per_provider: config.cluster.per_provider.clone().into_iter().collect(),
            resume_interrupted: config.daemon.resume_interrupted,
        };
        Ok(Arc::new(Self {
            pg: pg.clone(),
            info,
            lease,
            rules: Mutex::new(rules),
            wake: Notify::new(),
            stopped: Default::default(),
        }))
    }

    /// Wakes the claim loop (a mission was queued, or a slot came free).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn rules(&self) -> std::sync::MutexGuard<'_, ClaimRules> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Puts a mission submitted here on the shared queue: queued, held by no one, the claim
/// loops woken.
pub async fn enqueue(link: &Link, store: &dyn sortie_missions::MissionStore, mission: &Mission) {
    let id = mission.id;
    if mission.status != MissionStatus::Queued {
        let queued = MissionEvent::Status {
            status: MissionStatus::Queued,
            reason: None,
        };
        if let Err(e) = store.append(&id, queued).await {
            tracing::error!("cannot queue mission {id}: {e}");
            return;
        }
    }
    if let Err(e) = link.pg.offer(&id).await {
        // Held here until the lease runs out, then claimable by any daemon.
        tracing::warn!("mission {id}: cannot offer it to the queue yet: {e}");
    }
    link.wake();
}

/// The claim loop and the heartbeat: claims stop when the daemon starts stopping, the
/// heartbeat once its missions have stopped (`Link::stopped`).
pub async fn run(daemon: Arc<Daemon>, link: Arc<Link>) {
    let beat_every = link.lease / 3;
    let mut next_beat = Instant::now() + beat_every;
    let mut skips_since = Instant::now();
    loop {
        if Instant::now() >= next_beat {
            if !beat(&daemon, &link).await {
                return;
            }
            next_beat = Instant::now() + beat_every;
        }
        if skips_since.elapsed() >= FORGET_SKIPS {
            link.rules().skip.clear();
            skips_since = Instant::now();
        }
        if !daemon.shutdown.is_cancelled() {
            claim_while_free(&daemon, &link).await;
        }
        tokio::select! {
            _ = link.stopped.cancelled() => return,
            _ = link.wake.notified() => {}
            _ = tokio::time::sleep(POLL.min(next_beat.saturating_duration_since(Instant::now()))) => {}
        }
    }
}

/// Claims queued missions while this daemon has free slots.
async fn claim_while_free(daemon: &Daemon, link: &Link) {
    let global = daemon.supervisor.max_running();
    loop {
        let (running, queued) = daemon.supervisor.counts();
        if running + queued >= global {
            return;
        }
        let mut rules = link.rules().clone();
        // What runs here is never claimed again (its lease may have lapsed meanwhile).
        rules.skip.extend(daemon.supervisor.active_ids());
        let can_run = |m: &Mission| m.cwd.is_dir();
        let claimed = match link.pg.claim(&link.info.name, &rules, &can_run).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("cannot claim from the shared queue: {e}");
                return;
            }
        };
        {
            let mut rules = link.rules();
            for id in claimed.cannot_run {
                if rules.skip.len() < MAX_SKIPS {
                    rules.skip.push(id);
                }
            }
        }
        let Some(claim) = claimed.claim else { return };
        let id = claim.mission.id;
        if claim.was_running {
            let reason = match &claim.taken_from {
                Some(from) => format!(
                    "daemon `{from}` stopped answering while the mission ran (its lease ran out); resumed by daemon `{}` from the last stored event",
                    link.info.name
                ),
                None => format!(
                    "no daemon held the mission while it was marked running (its daemon stopped before recording its end); resumed by daemon `{}` from the last stored event",
                    link.info.name
                ),
            };
            let interrupted = MissionEvent::Status {
                status: MissionStatus::Interrupted,
                reason: Some(reason),
            };
            if let Err(e) = daemon.store.append(&id, interrupted).await {
                tracing::error!("mission {id}: cannot record its interruption: {e}");
            }
        }
        let mission = match daemon.store.mission(&id).await {
            Ok(m) => m,
            Err(e) => {
                tracing::error!("cannot read claimed mission {id}: {e}");
                let _ = link.pg.offer(&id).await;
                return;
            }
        };
        if let Err(e) = daemon.supervisor.admit(mission).await {
            tracing::warn!("{e}");
        }
    }
}

/// One heartbeat: renews the registration and the leases, stops what others asked to
/// stop and what this daemon no longer holds. False when the daemon lost its name (it
/// stops).
async fn beat(daemon: &Daemon, link: &Link) -> bool {
    let active = daemon.supervisor.active_ids();
    let held = match link.pg.beat(&link.info, link.lease, &active).await {
        Ok(held) => held,
        Err(StoreError::DaemonNameTaken { .. }) => {
            eprintln!(
                "sortie daemon `{}`: its registration ran out and another daemon took the name; stopping",
                link.info.name
            );
            daemon.shutdown.cancel();
            return false;
        }
        Err(e) => {
            tracing::warn!("heartbeat failed (the leases run out unless the next one passes): {e}");
            return true;
        }
    };
    for id in active {
        match held.iter().find(|(m, _)| *m == id) {
            None => {
                tracing::warn!("mission {id}: this daemon no longer holds it; stopping it here");
                daemon.supervisor.stop(
                    &id,
                    MissionStatus::Interrupted,
                    "this daemon lost the mission's lease; another daemon resumes it",
                );
            }
            Some((_, Some(request))) => {
                let (status, reason) = parse_request(request);
                daemon.supervisor.stop(&id, status, &reason);
            }
            Some((_, None)) => {}
        }
    }
    true
}

/// `STATUS:REASON` as asked by [`stop_elsewhere`].
fn parse_request(request: &str) -> (MissionStatus, String) {
    let (status, reason) = request.split_once(':').unwrap_or((request, ""));
    let status = match status {
        "paused" => MissionStatus::Paused,
        _ => MissionStatus::Cancelled,
    };
    (status, reason.to_string())
}

/// Stops a mission this daemon does not run: one waiting in the shared queue is stopped
/// here (after taking it, so no daemon starts it meanwhile); one another daemon runs is
/// asked of that daemon. `None` when there is no cluster or the mission is not active.
pub async fn stop_elsewhere(
    d: &Daemon,
    id: &MissionId,
    status: MissionStatus,
    reason: &str,
) -> Result<Option<Value>, StoreError> {
    let Some(link) = d.supervisor.cluster() else {
        return Ok(None);
    };
    let mission = d.store.mission(id).await?;
    if !matches!(
        mission.status,
        MissionStatus::Queued | MissionStatus::Running
    ) {
        return Ok(None);
    }
    if link.pg.hold(id).await? {
        let event = MissionEvent::Status {
            status,
            reason: Some(reason.to_string()),
        };
        let stored = d.store.append(id, event).await;
        link.pg.offer(id).await?;
        stored?;
        return Ok(Some(json!({"mission": id, "stopping": status})));
    }
    let request = format!("{}:{reason}", status.as_str());
    Ok(link
        .pg
        .request_stop(id, &request)
        .await?
        .map(|daemon| json!({"mission": id, "stopping": status, "daemon": daemon})))
}

/// After the supervisor interrupted this daemon's missions as it stops: frees the name
/// and every lease, so the other daemons resume those missions (`resume_interrupted`).
pub async fn leave(link: &Link) {
    link.stopped.cancel();
    if let Err(e) = link.pg.unregister(&link.info).await {
        eprintln!(
            "sortie daemon stopping: cannot free its leases ({e}); they run out in {}s",
            link.lease.as_secs()
        );
    }
}

/// Where these missions run: the daemon holding each one's live lease (empty without a
/// cluster, or when the store cannot say).
pub async fn placements(d: &Daemon, ids: &[MissionId]) -> HashMap<MissionId, String> {
    let Some(link) = d.supervisor.cluster() else {
        return HashMap::new();
    };
    link.pg.placements(ids).await.unwrap_or_else(|e| {
        tracing::warn!("cannot read where missions run: {e}");
        HashMap::new()
    })
}

/// The cluster as `GET /health` shows it: this daemon's name and labels, the store, and
/// every daemon with the missions it holds. `null` without a shared store.
pub async fn view(d: &Daemon) -> Value {
    let Some(link) = d.supervisor.cluster() else {
        return Value::Null;
    };
    let daemons = match link.pg.daemons().await {
        Ok(list) => json!(list),
        Err(e) => json!({"error": e.to_string()}),
    };
    json!({
        "daemon": link.info.name,
        "labels": link.info.labels,
        "lease_secs": link.lease.as_secs(),
        "store": link.pg.url(),
        "daemons": daemons,
    })
}
