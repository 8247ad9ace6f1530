//! Leases: a daemon claims a queued mission for a while and holds it with heartbeats;
//! a lease that runs out (its daemon died) lets another daemon claim the mission. Claims
//! skip the rows another claim holds locked (`FOR UPDATE SKIP LOCKED`), so daemons that
//! claim at once each get a different mission and none waits for another.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::PgStore;
use crate::{Mission, MissionId, StoreError};

/// A mission this daemon holds until `until`.
#[derive(Debug, Clone)]
pub struct Lease {
    pub mission: Mission,
    pub until: DateTime<Utc>,
}

impl PgStore {
    /// Claims, for `lease`, the oldest mission that is queued and no live lease holds, or
    /// that was running under a lease that ran out (its daemon died: the claimer resumes
    /// it); `None` when there is none.
    pub async fn claim_queued(
        &self,
        daemon: &str,
        lease: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        // The queue as this handle wrote it: its new missions are there.
        self.settle().await?;
        let client = self.client().await?;
        let row = client
            .query_opt(
                "UPDATE missions SET leased_by = $1,
                     lease_until = now() + make_interval(secs => $2)
                 WHERE id = (
                     SELECT id FROM missions
                     WHERE (status = 'queued' AND (lease_until IS NULL OR lease_until < now()))
                        OR (status = 'running' AND lease_until < now())
                     ORDER BY id LIMIT 1
                     FOR UPDATE SKIP LOCKED
                 )
                 RETURNING id, record::text, lease_until",
                &[&daemon, &lease.as_secs_f64()],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id: uuid::Uuid = row.get(0);
        let mission = serde_json::from_str(row.get(1)).map_err(|e| StoreError::Corrupt {
            id: id.to_string(),
            error: e.to_string(),
        })?;
        Ok(Some(Lease {
            mission,
            until: row.get(2),
        }))
    }

    /// Extends this daemon's lease on a mission by `lease` from now. `None` when the lease
    /// is no longer this daemon's (it ran out and another daemon claimed the mission, or it
    /// was released): the daemon must stop working on the mission.
    pub async fn heartbeat(
        &self,
        id: &MissionId,
        daemon: &str,
        lease: Duration,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "UPDATE missions SET lease_until = now() + make_interval(secs => $3)
                 WHERE id = $1 AND leased_by = $2
                 RETURNING lease_until",
                &[&id.0, &daemon, &lease.as_secs_f64()],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Gives a lease up (a daemon that stops); false when it was not this daemon's.
    pub async fn release(&self, id: &MissionId, daemon: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let released = client
            .execute(
                "UPDATE missions SET leased_by = NULL, lease_until = NULL
                 WHERE id = $1 AND leased_by = $2",
                &[&id.0, &daemon],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(released == 1)
    }
}
