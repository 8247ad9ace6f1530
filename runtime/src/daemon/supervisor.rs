//! The mission supervisor: runs missions as tasks under concurrency limits (global and per
//! provider), keeps the queue, cancels and pauses, and publishes every update to the API's
//! subscribers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sortie_missions::{
    Mission, MissionEvent, MissionId, MissionStatus, Observer, SharedStore, StopStatus, Update,
};
use sortie_transports::auth::Pool;
use tokio::sync::{broadcast, Semaphore};
use tokio_util::sync::CancellationToken;

use sortie_missions::steering::Inbox;

use super::approvals::{ApiApprover, Approvals};
use super::panics::{injected_panic, panic_message, SlotRelease};
use crate::config::ConfigCache;

/// How long a resume, a delete or a worktree removal waits for a mission that recorded its
/// end to let go of its slot.
pub const WIND_DOWN: Duration = Duration::from_secs(5);

/// How many missions may run at once.
#[derive(Debug, Clone)]
pub struct Limits {
    pub global: usize,
    /// Per provider name; providers not listed share only the global limit.
    pub per_provider: HashMap<String, usize>,
    /// Missions waiting for a slot, at most (new ones are refused, scheduled runs skipped).
    pub max_queued: usize,
    /// Missions of one schedule waiting for a slot, at most (more runs are skipped).
    pub max_queued_per_schedule: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            global: 8,
            per_provider: HashMap::new(),
            max_queued: 5000,
            max_queued_per_schedule: 5,
        }
    }
}

/// The longest the daemon waits for its missions to stop.
const STOP_BOUND: Duration = Duration::from_secs(45);

/// A mission the supervisor holds: waiting for a slot, or running.
struct Slot {
    cancel: CancellationToken,
    stop: StopStatus,
    /// Where messages sent to the mission meanwhile arrive.
    inbox: Arc<Inbox>,
    ticket: u64,
    running: bool,
}

/// Why a mission cannot be submitted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("mission {0} is already queued or running")]
    Active(MissionId),
}

/// The supervisor. Cheap to share (`Arc`).
pub struct Supervisor {
    home: PathBuf,
    store: SharedStore,
    pool: Arc<Pool>,
    limits: Limits,
    global: Arc<Semaphore>,
    providers: Mutex<HashMap<String, Arc<Semaphore>>>,
    slots: Mutex<HashMap<MissionId, Slot>>,
    tickets: AtomicU64,
    updates: broadcast::Sender<Update>,
    tasks: tokio_util::task::TaskTracker,
    /// The notices in flight (`[notify]`), waited for before the daemon exits.
    notices: tokio_util::task::TaskTracker,
    /// Questions of `ask` missions waiting for a person.
    pub approvals: Arc<Approvals>,
    /// `config.toml`, read again for a mission only when it changed.
    config: ConfigCache,
    /// The scripted model `sortie demo` missions run against, started on first use.
    demo: tokio::sync::OnceCell<crate::service::demo::DemoModel>,
    /// The pace each demo mission streams at (the default after a restart).
    demo_paces: Mutex<HashMap<MissionId, Duration>>,
    /// This daemon's place among the daemons of a shared store (PostgreSQL only).
    cluster: std::sync::OnceLock<Arc<super::cluster::Link>>,
}

impl Supervisor {
    /// `config.toml` as the file now says, parsed again only when it changed: what the API
    /// handlers read, so a request does not read and parse the file each time.
    pub fn config(&self) -> Result<Arc<crate::config::Config>, crate::config::ConfigError> {
        self.config.load()
    }

    pub fn new(home: PathBuf, store: SharedStore, pool: Arc<Pool>, limits: Limits) -> Arc<Self> {
        let (updates, _) = broadcast::channel(8192);
        Arc::new(Self {
            config: ConfigCache::new(home.clone()),
            home,
            store,
            pool,
            global: Arc::new(Semaphore::new(limits.global.max(1))),
            limits,
            providers: Mutex::new(HashMap::new()),
            slots: Mutex::new(HashMap::new()),
            tickets: AtomicU64::new(0),
            updates,
            tasks: tokio_util::task::TaskTracker::new(),
            notices: tokio_util::task::TaskTracker::new(),
            approvals: Arc::new(Approvals::default()),
            demo: tokio::sync::OnceCell::new(),
            demo_paces: Mutex::new(HashMap::new()),
            cluster: std::sync::OnceLock::new(),
        })
    }

    /// Makes this supervisor one of the daemons sharing the store: submitted missions go
    /// to the shared queue, and the claim loop admits what this daemon takes from it.
    pub fn join(&self, link: Arc<super::cluster::Link>) {
        let _ = self.cluster.set(link);
    }

    /// This daemon's membership of a cluster, if the store is shared.
    pub fn cluster(&self) -> Option<&Arc<super::cluster::Link>> {
        self.cluster.get()
    }

    /// Missions this daemon runs at once, at most.
    pub fn max_running(&self) -> usize {
        self.limits.global.max(1)
    }

    /// The missions queued or running here.
    pub fn active_ids(&self) -> Vec<MissionId> {
        self.slots().keys().copied().collect()
    }

    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// What tracks the notices sent from this daemon.
    pub fn notices(&self) -> &tokio_util::task::TaskTracker {
        &self.notices
    }

    /// Every update of every mission from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.updates.subscribe()
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<MissionId, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn provider_slots(&self, provider: &str) -> Option<Arc<Semaphore>> {
        let limit = *self.limits.per_provider.get(provider)?;
        let mut map = self.providers.lock().unwrap_or_else(|p| p.into_inner());
        Some(
            map.entry(provider.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(limit.max(1))))
                .clone(),
        )
    }

    /// True while the mission is queued or running here.
    pub fn is_active(&self, id: &MissionId) -> bool {
        self.slots().contains_key(id)
    }

    /// True when mission `id` is not queued or running here, or lets go of its slot within
    /// [`WIND_DOWN`] having recorded its end: a mission's task still winds down for a moment
    /// after its last status (its last writes, its notices), and a resume, a delete or a
    /// worktree's removal asked as soon as the end shows must not be refused for that. A
    /// mission still running is not waited for.
    pub async fn let_go(&self, id: &MissionId) -> bool {
        if !self.is_active(id) {
            return true;
        }
        let ended = self
            .store
            .mission(id)
            .await
            .is_ok_and(|m| !matches!(m.status, MissionStatus::Queued | MissionStatus::Running));
        ended && self.released_within(id, WIND_DOWN).await
    }

    /// Waits until mission `id` is no longer queued or running here, at most `bound`; true
    /// when it let go.
    pub async fn released_within(&self, id: &MissionId, bound: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + bound;
        while self.is_active(id) {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Where messages for a queued or running mission go; `None` when it is not active here.
    pub fn inbox(&self, id: &MissionId) -> Option<Arc<Inbox>> {
        self.slots().get(id).map(|s| s.inbox.clone())
    }

    /// The 1-based place of a waiting mission in the queue.
    pub fn queue_position(&self, id: &MissionId) -> Option<usize> {
        let slots = self.slots();
        let mine = slots.get(id).filter(|s| !s.running)?.ticket;
        Some(
            slots
                .values()
                .filter(|s| !s.running && s.ticket < mine)
                .count()
                + 1,
        )
    }

    /// Why no more missions may queue: the queue holds `max_queued`. None while there is
    /// room.
    pub fn queue_full(&self) -> Option<String> {
        let (_, queued) = self.counts();
        (queued >= self.limits.max_queued).then(|| {
            format!(
                "the daemon's queue is full: {queued} missions wait for a slot ([daemon.limits] max_queued = {}); try again when some have run",
                self.limits.max_queued
            )
        })
    }

    /// The most missions of one schedule that may wait for a slot.
    pub fn max_queued_per_schedule(&self) -> usize {
        self.limits.max_queued_per_schedule
    }

    /// (running, queued) counts.
    pub fn counts(&self) -> (usize, usize) {
        let slots = self.slots();
        let running = slots.values().filter(|s| s.running).count();
        (running, slots.len() - running)
    }

    /// How many receivers the updates have (followers, and the relay's own).
    pub(super) fn receivers(&self) -> usize {
        self.updates.receiver_count()
    }

    pub(super) fn publish(&self, update: Update) {
        let _ = self.updates.send(update);
    }

    async fn record(&self, id: &MissionId, event: MissionEvent) {
        match self.store.append(id, event).await {
            Ok(stored) => self.publish(Update::Event {
                mission: *id,
                event: stored,
            }),
            Err(e) => tracing::error!("cannot record an event of mission {id}: {e}"),
        }
    }

    /// Queues a stored mission to run (from where its log stands) as soon as a slot is
    /// free: here, or with a shared store on the cluster's queue, where the first daemon
    /// that can run it takes it.
    pub async fn submit(self: &Arc<Self>, mission: Mission) -> Result<(), SubmitError> {
        let Some(link) = self.cluster.get() else {
            return self.admit(mission).await;
        };
        if self.is_active(&mission.id) {
            return Err(SubmitError::Active(mission.id));
        }
        super::cluster::enqueue(link, &*self.store, &mission).await;
        Ok(())
    }

    /// Runs a stored mission here (from where its log stands) as soon as a slot is free.
    pub(super) async fn admit(self: &Arc<Self>, mission: Mission) -> Result<(), SubmitError> {
        let id = mission.id;
        match (self.cluster.get(), self.store.as_postgres()) {
            (Some(link), _) => link.pg.run_here(&id),
            // Alone on PostgreSQL: its appends are written behind, without a lease.
            (None, Some(pg)) => pg.write_here(&id),
            (None, None) => {}
        }
        let ticket = self.tickets.fetch_add(1, Ordering::SeqCst);
        let (cancel, stop) = (CancellationToken::new(), StopStatus::default());
        let inbox = Arc::new(Inbox::new());
        {
            let mut slots = self.slots();
            if slots.contains_key(&id) {
                return Err(SubmitError::Active(id));
            }
            slots.insert(
                id,
                Slot {
                    cancel: cancel.clone(),
                    stop: stop.clone(),
                    inbox: inbox.clone(),
                    ticket,
                    running: false,
                },
            );
        }
        if mission.status != MissionStatus::Queued {
            self.record(
                &id,
                MissionEvent::Status {
                    status: MissionStatus::Queued,
                    reason: None,
                },
            )
            .await;
        }
        let me = self.clone();
        self.tasks.spawn(async move {
            let _release = SlotRelease {
                supervisor: me.clone(),
                id,
            };
            let run = std::panic::AssertUnwindSafe(me.drive(mission, cancel, stop, inbox));
            if let Err(panic) = futures::FutureExt::catch_unwind(run).await {
                let message = format!(
                    "the mission's task panicked ({}); this is a bug in Sortie, please report it; `sortie resume {id}` continues from the last stored event",
                    panic_message(panic.as_ref())
                );
                me.record_failure(&id, message).await;
            }
        });
        Ok(())
    }

    /// Lets go of a mission: it is no longer queued or running here.
    pub(super) fn release(&self, id: &MissionId) {
        self.slots().remove(id);
        if let (None, Some(pg)) = (self.cluster.get(), self.store.as_postgres()) {
            pg.done_here(id);
        }
        if let Some(link) = self.cluster.get() {
            link.pg.done_here(id);
            // Its lease goes too: an interrupted mission is then resumed by another daemon.
            let (link, id) = (link.clone(), *id);
            tokio::spawn(async move {
                if let Err(e) = link.pg.offer(&id).await {
                    tracing::warn!("mission {id}: cannot give its lease up (it runs out): {e}");
                }
                link.wake();
            });
        }
    }

    /// Records that the mission failed outside its own steps (its task panicked, the store
    /// refused a write): an error and the failed status, with `message`.
    async fn record_failure(&self, id: &MissionId, message: String) {
        tracing::error!("mission {id}: {message}");
        self.record(
            id,
            MissionEvent::Error {
                class: None,
                status: None,
                message: message.clone(),
            },
        )
        .await;
        self.record(
            id,
            MissionEvent::Status {
                status: MissionStatus::Failed,
                reason: Some(message),
            },
        )
        .await;
        let _ = self.store.flush().await;
    }

    /// Waits for a slot, then runs the mission to its end.
    async fn drive(
        self: &Arc<Self>,
        mission: Mission,
        cancel: CancellationToken,
        stop: StopStatus,
        inbox: Arc<Inbox>,
    ) {
        let id = mission.id;
        let provider_slots = self.provider_slots(&mission.provider);
        let permits = async {
            let p = match provider_slots {
                Some(s) => Some(s.acquire_owned().await),
                None => None,
            };
            let g = self.global.clone().acquire_owned().await;
            (p, g)
        };
        let _permits = tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                let (status, reason) = stop.or(MissionStatus::Cancelled, "cancelled while queued");
                self.record(&id, MissionEvent::Status { status, reason: Some(reason) }).await;
                let _ = self.store.flush().await;
                return;
            }
            permits = permits => permits,
        };
        if let Some(slot) = self.slots().get_mut(&id) {
            slot.running = true;
        }
        injected_panic(&mission);
        let mut approval_timeout = Duration::from_secs(900);
        let runner = match self.config.load() {
            Ok(config) => {
                approval_timeout = Duration::from_secs(config.daemon.approval_timeout_secs);
                if mission.provider == "demo" {
                    self.demo_runner(&id).await
                } else {
                    crate::service::missions::runner_for(
                        &self.home,
                        &self.store,
                        &config,
                        &self.pool,
                        &mission,
                    )
                    .await
                }
            }
            Err(e) => Err(e.into()),
        };
        let notices = self.notices_for(&mission);
        let runner = match runner {
            Ok(r) => r,
            Err(e) => {
                let message = format!("cannot start the mission: {e:#}");
                self.record(
                    &id,
                    MissionEvent::Error {
                        class: None,
                        status: None,
                        message: message.clone(),
                    },
                )
                .await;
                self.record(
                    &id,
                    MissionEvent::Status {
                        status: MissionStatus::Failed,
                        reason: Some(message.clone()),
                    },
                )
                .await;
                if let Some(n) = &notices {
                    n.send(
                        crate::service::notify::NoticeKind::Failed,
                        format!("mission failed: {message}"),
                    );
                }
                let _ = self.store.flush().await;
                return;
            }
        };
        let (observer, approver) = self.hooks(id, notices, approval_timeout);
        let runner = runner
            .with_approver(Arc::new(approver))
            .with_observer(observer)
            .with_stop_status(stop)
            .with_inbox(inbox);
        if let Err(e) = runner.run(id, cancel).await {
            // It stopped where the store refused a write (a full disk): it ends failed
            // rather than staying `running`.
            self.record_failure(&id, format!("the mission stopped: {e}"))
                .await;
        }
    }

    /// What a running mission reports to: its observer (updates go to the API's
    /// subscribers, and notices out) and its approver (questions wait for an API answer,
    /// with a notice).
    fn hooks(
        self: &Arc<Self>,
        id: MissionId,
        notices: Option<crate::service::notify::MissionNotices>,
        approval_timeout: Duration,
    ) -> (Observer, ApiApprover) {
        let me = self.clone();
        // Copied only when someone follows (a background mission is not watched).
        let observer: Observer = Arc::new(move |u: &Update| {
            if me.updates.receiver_count() > 0 {
                me.publish(u.clone())
            }
        });
        let observer = match &notices {
            Some(n) => n.observer(observer),
            None => observer,
        };
        let me = self.clone();
        let approver = ApiApprover {
            mission: id,
            approvals: self.approvals.clone(),
            publish: Arc::new(move |u| {
                if let (Some(n), Update::ApprovalRequested { summary, .. }) = (&notices, &u) {
                    n.send(
                        crate::service::notify::NoticeKind::ApprovalWaiting,
                        format!("a tool call waits for your yes or no: {summary}"),
                    );
                }
                me.publish(u)
            }),
            timeout: approval_timeout,
        };
        (observer, approver)
    }

    /// The notices of a mission about to run (`[notify]`), its tries recorded as its events.
    fn notices_for(
        self: &Arc<Self>,
        mission: &Mission,
    ) -> Option<crate::service::notify::MissionNotices> {
        let config = self.config.load().ok()?;
        let me = self.clone();
        let record: crate::service::notify::Recorder =
            Arc::new(move |id: MissionId, event: MissionEvent| {
                let me = me.clone();
                Box::pin(async move { me.record(&id, event).await })
            });
        crate::service::notify::MissionNotices::new(
            &self.home,
            &config,
            &self.store,
            mission,
            Some(record),
        )
        .map(|n| n.tracked_by(&self.notices))
    }

    /// Sets the pace a demo mission streams at (before it is submitted).
    pub fn set_demo_pace(&self, id: MissionId, pace: Duration) {
        self.demo_paces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, pace);
    }

    async fn demo_runner(&self, id: &MissionId) -> anyhow::Result<sortie_missions::MissionRunner> {
        let model = self
            .demo
            .get_or_try_init(|| crate::service::demo::DemoModel::start(Duration::from_millis(25)))
            .await?;
        let pace = self
            .demo_paces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
            .unwrap_or(Duration::from_millis(25));
        crate::service::demo::runner(&self.store, &self.home, model.paced_url(pace))
    }

    /// Stops a queued or running mission, recording `status` (cancelled, paused,
    /// interrupted) with `reason`. False when it is not active here.
    pub fn stop(&self, id: &MissionId, status: MissionStatus, reason: &str) -> bool {
        let slots = self.slots();
        let Some(slot) = slots.get(id) else {
            return false;
        };
        slot.stop.set(status, reason);
        slot.cancel.cancel();
        true
    }

    /// Interrupts every mission (they resume at the next start) and waits for them to stop.
    pub async fn shutdown(&self, reason: &str) {
        let ids: Vec<MissionId> = self.slots().keys().copied().collect();
        for id in ids {
            self.stop(&id, MissionStatus::Interrupted, reason);
        }
        self.tasks.close();
        if tokio::time::timeout(STOP_BOUND, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::error!(
                "missions did not stop within {}s; stopping without them (they resume at the next start)",
                STOP_BOUND.as_secs()
            );
        }
        if let Err(e) = self.store.flush_all().await {
            tracing::error!("cannot flush the store while stopping: {e}");
        }
    }
}
