//! Messages for missions (`sortie send`) and forks (`sortie fork`), here or in the daemon.
//!
//! Without a daemon, a mission runs in the one process that holds the store (a `sortie run`
//! in the foreground): another process can neither open the store nor reach that run, so a
//! message for it is refused with what to do instead. A mission that is not running is
//! resumed with the message, in this process, as `sortie resume` does.

use anyhow::Context;
use sortie_missions::{Mission, StoreError};

use super::{Run, Sortie, Started};
use crate::api::{ForkRequest, ResumeRequest, SendMessage};
use crate::client;
use crate::config::Config;
use crate::service::{accounts, forks, missions, open_store};

/// What became of a message.
pub enum Sent {
    /// Queued for the running mission's next turn: its event, and how many wait.
    Queued {
        mission: Mission,
        seq: u64,
        pending: u64,
    },
    /// The mission had stopped: it resumed with the message. Also how many events it had.
    Resumed(Started, u64),
}

impl Sortie {
    /// Sends `text` to mission `id` (`now`: cut its current answer short).
    pub async fn send(&self, id: &str, msg: SendMessage) -> anyhow::Result<Sent> {
        match self {
            Self::Here(home) => {
                let resume = ResumeRequest {
                    message: Some(msg.text),
                    ..Default::default()
                };
                let store = match open_store(home) {
                    Err(e) if is_locked(&e) => return Err(e.context(format!(
                        "cannot reach mission {id}: it (or another) runs in another sortie process, and without a daemon a message cannot reach a running mission; wait for it to end and `sortie send` again (it resumes), or stop it (Ctrl-C) and `sortie resume {id} \"...\"`; to steer running missions, run them through the daemon (`sortie serve`, or leave `[daemon] autostart` on)"
                    ))),
                    other => other?,
                };
                drop(store);
                let (started, before) = self.resume(id, resume).await?;
                Ok(Sent::Resumed(started, before))
            }
            Self::Daemon(c) => {
                let before = client::mission_of(&c.get(&format!("/missions/{id}")).await?)?;
                let path = format!("/missions/{}/messages", before.id);
                let v = c.post(&path, &serde_json::to_value(&msg)?).await?;
                let mission = client::mission_of(&v)?;
                if let Some(q) = v.get("queued") {
                    return Ok(Sent::Queued {
                        mission,
                        seq: q["seq"].as_u64().unwrap_or_default(),
                        pending: q["pending"].as_u64().unwrap_or(1),
                    });
                }
                let started = Started {
                    mission,
                    queue_position: None,
                    run: Run::Daemon(c.clone()),
                };
                Ok(Sent::Resumed(started, before.event_count))
            }
        }
    }

    /// Forks mission `id` (see `service::forks`) and starts the fork.
    pub async fn fork(&self, id: &str, req: ForkRequest) -> anyhow::Result<Started> {
        match self {
            Self::Here(home) => {
                let config = Config::load(home)?;
                let crate::service::HereStores {
                    local,
                    missions: store,
                } = crate::service::open_here_with(home, &config).await?;
                crate::service::missions::check_runs_here(&store)?;
                let parent = store.resolve(id).await?;
                let pool = accounts::pool_for(&local, &store, &config).await?;
                let fork = forks::create_fork(&store, &config, &pool, parent, req).await?;
                let runner = missions::runner_for(home, &store, &config, &pool, &fork).await?;
                Ok(Started::here(fork, store, runner, None))
            }
            Self::Daemon(c) => {
                let parent = client::mission_of(&c.get(&format!("/missions/{id}")).await?)?;
                let path = format!("/missions/{}/fork", parent.id);
                let created = c.post(&path, &serde_json::to_value(&req)?).await?;
                Ok(Started {
                    mission: client::mission_of(&created).context("the fork")?,
                    queue_position: created["queue_position"].as_u64(),
                    run: Run::Daemon(c.clone()),
                })
            }
        }
    }
}

fn is_locked(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<StoreError>(),
        Some(StoreError::Locked { .. })
    )
}
