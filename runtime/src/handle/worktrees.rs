//! The worktree operations of a `--worktree` mission (`sortie diff`, `sortie worktree
//! rm`), here or through the daemon.

use serde_json::Value;
use sortie_missions::MissionEvent;

use super::Sortie;
use crate::client::segment;
use crate::service::worktree;

impl Sortie {
    /// What mission `id` changed in its worktree against the commit it started from (a
    /// unified diff, or a summary with `stat`).
    pub async fn diff(&self, id: &str, stat: bool) -> anyhow::Result<String> {
        match self {
            Self::Here(home) => {
                let crate::service::HereStores {
                    local: _,
                    missions: store,
                } = crate::service::open_here(home).await?;
                let mission = store.mission(&store.resolve(id).await?).await?;
                worktree::diff(home, &mission, stat)
            }
            Self::Daemon(c) => {
                let path = format!("/missions/{}/diff", segment(id));
                let v = c.get_query(&path, &[("stat", stat.to_string())]).await?;
                Ok(v["diff"].as_str().unwrap_or_default().to_string())
            }
        }
    }

    /// Removes mission `id`'s worktree (and its branch with `branch`); refused while the
    /// mission runs. Returns what was done, one line each.
    pub async fn remove_worktree(&self, id: &str, branch: bool) -> anyhow::Result<Vec<String>> {
        match self {
            Self::Here(home) => {
                let crate::service::HereStores {
                    local: _,
                    missions: store,
                } = crate::service::open_here(home).await?;
                let mission = store.mission(&store.resolve(id).await?).await?;
                let done = worktree::remove(&mission, false, branch)?;
                store
                    .append(
                        &mission.id,
                        MissionEvent::Warning {
                            message: format!("worktree: {}", done.join("; ")),
                        },
                    )
                    .await?;
                Ok(done)
            }
            Self::Daemon(c) => {
                let path = format!("/missions/{}/worktree?branch={branch}", segment(id));
                let v = c.delete(&path).await?;
                Ok(v["done"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default())
            }
        }
    }
}
