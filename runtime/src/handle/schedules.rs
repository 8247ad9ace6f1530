//! Schedules, here or in the daemon: add, list, delete, pause, resume, run now.

use anyhow::{bail, Context};
use chrono::Utc;
use serde_json::Value;
use sortie_missions::scheduler::Schedule;

use super::Sortie;
use crate::client::{segment, Client};
use crate::config::Config;
use crate::service::schedules;

impl Sortie {
    /// Checks and stores a new schedule.
    pub async fn add_schedule(&self, req: crate::api::NewSchedule) -> anyhow::Result<Schedule> {
        match self {
            Self::Here(home) => {
                let config = Config::load(home)?;
                let crate::service::HereStores {
                    local: _,
                    missions: store,
                } = crate::service::open_here_with(home, &config).await?;
                let s = schedules::build(&config, req, Utc::now())?;
                store.put_schedule(&s).await?;
                Ok(s)
            }
            Self::Daemon(c) => one(&c.post("/schedules", &serde_json::to_value(req)?).await?),
        }
    }

    /// Every schedule, and the records that could not be read.
    pub async fn schedules(&self) -> anyhow::Result<(Vec<Schedule>, Vec<String>)> {
        match self {
            Self::Here(home) => Ok(crate::service::open_here(home)
                .await?
                .missions
                .schedules()
                .await?),
            Self::Daemon(c) => {
                let v = c.get("/schedules").await?;
                let all = serde_json::from_value(v["schedules"].clone())
                    .context("the daemon sent schedules this sortie cannot read")?;
                let problems = v["problems"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.as_str().map(str::to_string))
                    .collect();
                Ok((all, problems))
            }
        }
    }

    /// Deletes a schedule (by id or unique prefix); returns its whole id.
    pub async fn delete_schedule(&self, id: &str) -> anyhow::Result<String> {
        match self {
            Self::Here(home) => {
                let crate::service::HereStores {
                    local: _,
                    missions: store,
                } = crate::service::open_here(home).await?;
                let s = store.schedule(id).await?;
                store.delete_schedule(&s.id).await?;
                Ok(s.id)
            }
            Self::Daemon(c) => {
                let v = c.delete(&format!("/schedules/{}", segment(id))).await?;
                Ok(v["deleted"].as_str().unwrap_or(id).to_string())
            }
        }
    }

    /// Pauses a schedule, or resumes it (its next time planned from now).
    pub async fn pause_schedule(&self, id: &str, paused: bool) -> anyhow::Result<Schedule> {
        match self {
            Self::Here(home) => {
                schedules::set_paused(
                    &*crate::service::open_here(home).await?.missions,
                    id,
                    paused,
                )
                .await
            }
            Self::Daemon(c) => {
                let verb = if paused { "pause" } else { "resume" };
                one(&schedule_post(c, id, verb).await?)
            }
        }
    }

    /// Starts the schedule's mission now; the schedule comes back with the run recorded.
    /// Only the daemon runs schedules.
    pub async fn run_schedule_now(&self, id: &str) -> anyhow::Result<Schedule> {
        match self {
            Self::Here(_) => bail!(
                "run-now starts a mission under the daemon, which is not running; start it with `sortie serve`"
            ),
            Self::Daemon(c) => one(&schedule_post(c, id, "run-now").await?),
        }
    }
}

async fn schedule_post(c: &Client, id: &str, verb: &str) -> anyhow::Result<Value> {
    c.post(&format!("/schedules/{}/{verb}", segment(id)), &Value::Null)
        .await
}

fn one(v: &Value) -> anyhow::Result<Schedule> {
    serde_json::from_value(v.clone()).context("the daemon sent a schedule this sortie cannot read")
}
