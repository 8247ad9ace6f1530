//! One way in for the command line: the mission operations, the same whether the work runs
//! in this process (on the store) or in the daemon that serves the data dir (over its
//! API). The command line picks the variant once; nothing after that asks where the work
//! runs.

mod credentials;
mod models;
mod schedules;

pub use credentials::{LoginFor, Stored};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};
use sortie_missions::{
    Approver, Mission, MissionRunner, Observer, PermissionPolicy, StoredEvent, Update,
};
use tokio_util::sync::CancellationToken;

use crate::api::{NewMission, ResumeRequest};
use crate::client::{self, Client};
use crate::config::Config;
use crate::service::notify::MissionNotices;
use crate::service::{accounts, demo, missions};

mod steering;
mod worktrees;
pub use steering::Sent;

/// Where the work runs.
pub enum Sortie {
    /// In this process, on the data dir at this path.
    Here(PathBuf),
    /// In the daemon serving the data dir.
    Daemon(Client),
}

/// A mission started (or resumed) and not yet followed.
pub struct Started {
    pub mission: Mission,
    /// Its place in the daemon's queue (1: next), when the daemon says.
    pub queue_position: Option<u64>,
    run: Run,
}

/// How a started mission runs: its runner here, or the daemon that runs it.
enum Run {
    Here {
        store: sortie_missions::SharedStore,
        runner: Box<MissionRunner>,
        /// What the runner talks to, kept running until the mission ends (the demo).
        _model: Option<demo::DemoModel>,
        /// Its notices (`[notify]`), waited for before this process lets go of it.
        notices: Option<MissionNotices>,
    },
    Daemon(Client),
}

/// The demo mission, started: where its files are and what its model runs in.
pub struct Demo {
    pub started: Started,
    /// Where its files are (the daemon may not say).
    pub dir: Option<PathBuf>,
    /// `on http://127.0.0.1:PORT`, or `in the sortie daemon`.
    pub serving: String,
}

impl Sortie {
    /// The data dir the work is on.
    pub fn home(&self) -> &std::path::Path {
        match self {
            Self::Here(home) => home,
            Self::Daemon(c) => &c.home,
        }
    }

    /// What happens to the mission when the person stops following it with Ctrl-C (ends
    /// the "cancelling…" note).
    pub fn cancel_note(&self) -> &'static str {
        match self {
            Self::Here(_) => "",
            Self::Daemon(_) => "; the daemon keeps the mission",
        }
    }

    /// Every mission, oldest first, and the records that could not be read.
    pub async fn missions(&self) -> anyhow::Result<(Vec<Mission>, Vec<String>)> {
        match self {
            Self::Here(home) => Ok(crate::service::open_here(home)
                .await?
                .missions
                .missions()
                .await?),
            Self::Daemon(c) => client::missions(c).await,
        }
    }

    /// A mission (by id or unique prefix) and its whole event log.
    pub async fn show(&self, id: &str) -> anyhow::Result<(Mission, Vec<StoredEvent>)> {
        match self {
            Self::Here(home) => {
                let crate::service::HereStores {
                    local: _,
                    missions: store,
                } = crate::service::open_here(home).await?;
                let id = store.resolve(id).await?;
                Ok((store.mission(&id).await?, store.events(&id).await?))
            }
            Self::Daemon(c) => client::show(c, id).await,
        }
    }

    /// Checks and stores a new mission, ready to follow.
    pub async fn start(&self, mut req: NewMission) -> anyhow::Result<Started> {
        match self {
            Self::Here(home) => {
                let config = Config::load(home)?;
                let crate::service::HereStores {
                    local,
                    missions: store,
                } = crate::service::open_here_with(home, &config).await?;
                missions::check_runs_here(&store)?;
                let pool = accounts::pool_for(&local, &store, &config).await?;
                let mission = missions::create_mission(&store, &config, &pool, req).await?;
                let runner = missions::runner_for(home, &store, &config, &pool, &mission).await?;
                let notices = MissionNotices::new(home, &config, &store, &mission, None);
                Ok(Started::here(mission, store, runner, None).with_notices(notices))
            }
            Self::Daemon(c) => {
                let cwd = match req.cwd.take() {
                    Some(dir) => dir,
                    None => std::env::current_dir().context("cannot read the current directory")?,
                };
                req.cwd = Some(cwd.canonicalize().with_context(|| {
                    format!("the working directory {} does not exist", cwd.display())
                })?);
                let created = c.post("/missions", &serde_json::to_value(&req)?).await?;
                Ok(Started {
                    mission: client::mission_of(&created)?,
                    queue_position: created["queue_position"].as_u64(),
                    run: Run::Daemon(c.clone()),
                })
            }
        }
    }

    /// Records a resume of mission `id`; also returns how many events it had before.
    pub async fn resume(&self, id: &str, req: ResumeRequest) -> anyhow::Result<(Started, u64)> {
        match self {
            Self::Here(home) => {
                let config = Config::load(home)?;
                let crate::service::HereStores {
                    local,
                    missions: store,
                } = crate::service::open_here_with(home, &config).await?;
                missions::check_runs_here(&store)?;
                let id = store.resolve(id).await?;
                let pool = accounts::pool_for(&local, &store, &config).await?;
                let before = store.mission(&id).await?.event_count;
                let mission = missions::prepare_resume(&store, &config, &pool, id, req).await?;
                let runner = missions::runner_for(home, &store, &config, &pool, &mission).await?;
                let notices = MissionNotices::new(home, &config, &store, &mission, None);
                let started = Started::here(mission, store, runner, None).with_notices(notices);
                Ok((started, before))
            }
            Self::Daemon(c) => {
                let before = client::mission_of(&c.get(&format!("/missions/{id}")).await?)?;
                let path = format!("/missions/{}/resume", before.id);
                let after = c.post(&path, &serde_json::to_value(&req)?).await?;
                let started = Started {
                    mission: client::mission_of(&after)?,
                    queue_position: None,
                    run: Run::Daemon(c.clone()),
                };
                Ok((started, before.event_count))
            }
        }
    }

    /// Starts the demo mission against the built-in scripted model (streaming a word every
    /// `pace`), with its files in a fresh directory.
    pub async fn start_demo(
        &self,
        pace: Duration,
        policy: PermissionPolicy,
    ) -> anyhow::Result<Demo> {
        match self {
            Self::Here(home) => {
                let crate::service::HereStores {
                    local: _,
                    missions: store,
                } = crate::service::open_here(home).await?;
                missions::check_runs_here(&store)?;
                let model = demo::DemoModel::start(pace)
                    .await
                    .context("cannot start the demo model on 127.0.0.1")?;
                let (dir, spec) = demo::prepare(home, policy)?;
                let serving = format!("on {}", model.base_url());
                let runner = demo::runner(&store, home, model.base_url())?;
                let mission = store.create_mission(spec).await?;
                let started = Started::here(mission, store, runner, Some(model));
                Ok(Demo {
                    started,
                    dir: Some(dir),
                    serving,
                })
            }
            Self::Daemon(c) => {
                let body = json!({"pace_ms": pace.as_millis() as u64, "permission": policy});
                let created = c.post("/demo", &body).await?;
                let started = Started {
                    mission: client::mission_of(&created)?,
                    queue_position: None,
                    run: Run::Daemon(c.clone()),
                };
                Ok(Demo {
                    started,
                    dir: created["dir"].as_str().map(PathBuf::from),
                    serving: "in the sortie daemon".into(),
                })
            }
        }
    }
}

impl Started {
    fn here(
        mission: Mission,
        store: sortie_missions::SharedStore,
        runner: MissionRunner,
        model: Option<demo::DemoModel>,
    ) -> Self {
        Self {
            mission,
            queue_position: None,
            run: Run::Here {
                store,
                runner: Box::new(runner),
                _model: model,
                notices: None,
            },
        }
    }

    /// The same, sending `notices` as it runs.
    fn with_notices(mut self, notices: Option<MissionNotices>) -> Self {
        if let Run::Here { notices: n, .. } = &mut self.run {
            *n = notices;
        }
        self
    }

    /// Follows the mission until it ends: every update from stored event `from` on goes to
    /// `observer`, `approver` answers an `ask` mission's questions, and `cancel` stops it.
    /// Returns the mission as it ended.
    pub async fn follow(
        self,
        from: u64,
        observer: Observer,
        approver: Arc<dyn Approver>,
        cancel: CancellationToken,
    ) -> anyhow::Result<Mission> {
        let id = self.mission.id;
        match self.run {
            Run::Here {
                store,
                runner,
                notices,
                ..
            } => {
                // Events stored before anyone followed (creation, a resume) are shown too.
                for event in store.events_from(&id, from).await? {
                    observer(&Update::Event { mission: id, event });
                }
                let observer = match &notices {
                    Some(n) => n.observer(observer),
                    None => observer,
                };
                let runner = (*runner).with_observer(observer).with_approver(approver);
                let done = runner.run(id, cancel).await;
                if let Some(n) = notices {
                    n.settle().await;
                }
                Ok(done?)
            }
            Run::Daemon(c) => {
                let on_cancel = c.clone();
                let cancelling = tokio::spawn(async move {
                    cancel.cancelled().await;
                    let _ = on_cancel
                        .post(&format!("/missions/{id}/cancel"), &Value::Null)
                        .await;
                });
                let done = client::reattach::follow(&c, &id, from, |u| {
                    observer(&u);
                    if let Update::ApprovalRequested {
                        approval, summary, ..
                    } = &u
                    {
                        answer(&c, &id, approval, summary, approver.clone());
                    }
                })
                .await;
                cancelling.abort();
                done
            }
        }
    }
}

/// Asks `approver` the daemon's question and sends the answer back, in the background.
fn answer(
    c: &Client,
    id: &sortie_missions::MissionId,
    approval: &str,
    summary: &str,
    approver: Arc<dyn Approver>,
) {
    let (c, summary) = (c.clone(), summary.to_string());
    let path = format!("/missions/{id}/approvals/{approval}");
    tokio::spawn(async move {
        let yes = approver.approve(&summary).await;
        if let Err(e) = c.post(&path, &json!({"approve": yes})).await {
            eprintln!("warning: the answer did not reach the daemon: {e:#}");
        }
    });
}

impl Sortie {
    /// What missions spent since `since` (`7d`, `24h`, a date), by day, provider and
    /// schedule.
    pub async fn usage(&self, since: &str) -> anyhow::Result<crate::api::UsageReport> {
        match self {
            Self::Here(home) => {
                crate::service::usage::report_since(
                    &*crate::service::open_here(home).await?.missions,
                    since,
                )
                .await
            }
            Self::Daemon(c) => {
                let v = c
                    .get_query("/usage", &[("since", since.to_string())])
                    .await?;
                serde_json::from_value(v).context("the daemon sent usage this sortie cannot read")
            }
        }
    }
}
