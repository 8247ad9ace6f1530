//! Notices (`[notify]`): a mission that ends or needs someone, and a schedule that skips a
//! run, are told to a webhook (a signed JSON POST, retried within bounds) and/or a command
//! (the notice on stdin). Sent in the background: a mission never waits for a notice, and
//! each try is recorded (an event of the mission; a log line for a schedule).

pub mod deliver;
mod notice;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sortie_missions::scheduler::Schedule;
use sortie_missions::{
    Mission, MissionEvent, MissionId, MissionStore, Observer, SharedStore, Update,
};
use sortie_sandbox::{Sandbox, SandboxMode};

pub use notice::{kind_of, MissionBrief, Notice, NoticeKind, ScheduleBrief};

use crate::config::{Config, NotifyConfig};

/// Records a notice's try as an event of its mission.
pub type Recorder =
    Arc<dyn Fn(MissionId, MissionEvent) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

/// Whether notices go out for a mission or schedule that chose `choice` (`--notify`: true,
/// `--no-notify`: false, neither: `[notify] missions`).
pub fn wanted(config: &NotifyConfig, choice: Option<bool>) -> bool {
    config.is_set() && choice.unwrap_or(config.missions)
}

/// Refuses `--notify` where no `[notify]` says where notices go.
pub fn check_choice(config: &Config, choice: Option<bool>) -> anyhow::Result<()> {
    if choice == Some(true) && !config.notify.is_set() {
        anyhow::bail!(
            "--notify needs somewhere to send notices: add [notify] with `webhook = \"https://...\"` or `command = [...]` to {}",
            config.path.display()
        );
    }
    Ok(())
}

/// What the notify command runs in: not confined (it may need the desktop), with the
/// sandbox's clean environment, through its launcher when there is one.
fn command_sandbox(home: &Path, config: &Config) -> Sandbox {
    let mut sandbox = crate::service::sandboxing::template(home, config);
    sandbox.policy.mode = SandboxMode::Off;
    sandbox.cwd = home.to_path_buf();
    sandbox
}

/// Sends `notice` to every channel of `config`, reporting each try to `report`.
async fn deliver_all(
    config: &NotifyConfig,
    sandbox: &Sandbox,
    notice: &Notice,
    report: &deliver::Report<'_>,
) {
    let body = notice.body();
    if let Some(url) = &config.webhook {
        deliver::webhook(config, url, &notice.id, &body, report).await;
    }
    if !config.command.is_empty() {
        deliver::command(config, sandbox, &body, report).await;
    }
}

/// The longest a notice may take, every channel and wait included (and a margin).
fn bound(config: &NotifyConfig) -> Duration {
    Duration::from_secs(config.max_secs + config.timeout_secs + 5)
}

/// The notices of one mission.
#[derive(Clone)]
pub struct MissionNotices {
    inner: Arc<Inner>,
}

struct Inner {
    config: NotifyConfig,
    sandbox: Sandbox,
    store: SharedStore,
    id: MissionId,
    record: Recorder,
    tasks: tokio_util::task::TaskTracker,
}

impl MissionNotices {
    /// The notices of `mission`, or `None` when it sends none (no `[notify]`, or
    /// `--no-notify`). Tries are recorded with `record`, else appended to the store.
    pub fn new(
        home: &Path,
        config: &Config,
        store: &SharedStore,
        mission: &Mission,
        record: Option<Recorder>,
    ) -> Option<Self> {
        if !wanted(&config.notify, mission.notify) {
            return None;
        }
        let record = record.unwrap_or_else(|| {
            let store = store.clone();
            Arc::new(move |id: MissionId, event: MissionEvent| {
                let store = store.clone();
                Box::pin(async move {
                    if let Err(e) = store.append(&id, event).await {
                        tracing::warn!("cannot record a notice of mission {id}: {e}");
                    }
                })
            })
        });
        Some(Self {
            inner: Arc::new(Inner {
                config: config.notify.clone(),
                sandbox: command_sandbox(home, config),
                store: store.clone(),
                id: mission.id,
                record,
                tasks: tokio_util::task::TaskTracker::new(),
            }),
        })
    }

    /// The same, its notices tracked by `tasks` (a daemon's, which it waits for before it
    /// exits: see [`settle_all`]) rather than by its own.
    pub fn tracked_by(mut self, tasks: &tokio_util::task::TaskTracker) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.tasks = tasks.clone();
        }
        self
    }

    /// Sends a notice of `kind` about the mission, in the background.
    pub fn send(&self, kind: NoticeKind, message: String) {
        let inner = self.inner.clone();
        let mut notice = Notice::new(kind, message);
        self.inner.tasks.spawn(async move {
            notice.mission = inner
                .store
                .mission(&inner.id)
                .await
                .ok()
                .map(|m| (&m).into());
            let report = |a: deliver::Attempt| {
                (inner.record)(
                    inner.id,
                    MissionEvent::Notice {
                        kind: kind.as_str().into(),
                        channel: a.channel.into(),
                        attempt: a.attempt,
                        delivered: a.delivered,
                        outcome: a.outcome,
                    },
                )
            };
            deliver_all(&inner.config, &inner.sandbox, &notice, &report).await;
        });
    }

    /// `observer`, and a notice for each update that calls for one (see [`kind_of`]).
    pub fn observer(&self, observer: Observer) -> Observer {
        let me = self.clone();
        Arc::new(move |u: &Update| {
            observer(u);
            if let Update::Event { event, .. } = u {
                if let Some((kind, message)) = kind_of(&event.event) {
                    me.send(kind, message);
                }
            }
        })
    }

    /// Waits (bounded) for the notices in flight: before a process that ran the mission
    /// itself exits.
    pub async fn settle(&self) {
        self.inner.tasks.close();
        let _ = tokio::time::timeout(bound(&self.inner.config), self.inner.tasks.wait()).await;
    }
}

/// Waits (bounded by `config`'s longest notice) for the notices `tasks` tracks: before a
/// daemon exits, so that a notice in flight (a retry waiting) is not dropped with it.
pub async fn settle_all(tasks: &tokio_util::task::TaskTracker, config: &NotifyConfig) {
    tasks.close();
    let _ = tokio::time::timeout(bound(config), tasks.wait()).await;
}

/// Tells that schedule `s` skipped its run for `scheduled_for`, in the background (tracked
/// by `tasks`); each try is a log line.
pub fn schedule_skipped(
    tasks: &tokio_util::task::TaskTracker,
    home: &Path,
    config: &Config,
    s: &Schedule,
    scheduled_for: DateTime<Utc>,
    reason: &str,
) {
    if !wanted(&config.notify, s.mission.notify) {
        return;
    }
    let mut notice = Notice::new(
        NoticeKind::ScheduleSkipped,
        format!("schedule skipped a run: {reason}"),
    );
    notice.schedule = Some(ScheduleBrief {
        id: s.id.clone(),
        name: s.name.clone(),
        scheduled_for,
    });
    let notify = config.notify.clone();
    let sandbox = command_sandbox(home, config);
    let id = s.id.clone();
    tasks.spawn(async move {
        let report = |a: deliver::Attempt| -> futures::future::BoxFuture<'static, ()> {
            if a.delivered {
                tracing::info!(
                    "schedule {id}: notice schedule_skipped, {} try {}: {}",
                    a.channel,
                    a.attempt,
                    a.outcome
                );
            } else {
                tracing::warn!(
                    "schedule {id}: notice schedule_skipped, {} try {}: {}",
                    a.channel,
                    a.attempt,
                    a.outcome
                );
            }
            Box::pin(async {})
        };
        let _ = tokio::time::timeout(
            bound(&notify),
            deliver_all(&notify, &sandbox, &notice, &report),
        )
        .await;
    });
}
