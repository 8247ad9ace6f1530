//! Several daemons on one database: each registers under a unique name, claims the queued
//! missions it can run (labels, its `cwd` there, the cluster's per-provider caps) with
//! `FOR UPDATE SKIP LOCKED`, holds them with heartbeats, and hands them back when it
//! stops. A daemon that dies stops beating: its leases run out and another daemon claims
//! its missions and resumes them from their last stored event.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Owner, PgStore};
use crate::{Mission, MissionId, StoreError};

/// What a daemon may claim.
#[derive(Debug, Clone, Default)]
pub struct ClaimRules {
    /// The daemon's labels: a mission's labels must all be among them.
    pub labels: Vec<String>,
    /// How long a claim holds before it must be renewed.
    pub lease: Duration,
    /// Missions this daemon found it cannot run (their `cwd` is not here): not offered.
    pub skip: Vec<MissionId>,
    /// The most missions of a provider leased at once across all daemons.
    pub per_provider: HashMap<String, usize>,
    /// Take interrupted missions too (a daemon stopped while they ran), as a daemon's
    /// start resumes them with `resume_interrupted`.
    pub resume_interrupted: bool,
}

/// A mission a daemon now holds.
#[derive(Debug, Clone)]
pub struct Claim {
    pub mission: Mission,
    pub until: DateTime<Utc>,
    /// The daemon whose lease ran out while it ran the mission (it died or lost the
    /// database): the claimer resumes the mission.
    pub taken_from: Option<String>,
    /// It was left `running` with no live lease (its daemon died, or its last write
    /// failed): the claimer records it interrupted, then resumes it.
    pub was_running: bool,
}

/// The outcome of a claim: the mission claimed, and those looked at but not runnable here.
#[derive(Debug, Default)]
pub struct Claimed {
    pub claim: Option<Claim>,
    pub cannot_run: Vec<MissionId>,
}

/// A daemon as it registers.
#[derive(Debug, Clone)]
pub struct DaemonInfo {
    pub name: String,
    /// This start of it (a new random id each start).
    pub instance: String,
    pub host: String,
    pub pid: i32,
    pub labels: Vec<String>,
    pub version: String,
}

/// A daemon of the cluster as `sortie status` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DaemonEntry {
    pub name: String,
    pub host: String,
    pub pid: i32,
    pub labels: Vec<String>,
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub seen_at: DateTime<Utc>,
    /// Its heartbeat is current (it has not stopped, and its registration has not run out).
    pub alive: bool,
    /// The missions it holds leases on.
    pub missions: Vec<MissionId>,
}

/// How many missions one claim looks at before giving up for this round.
const CLAIM_WINDOW: i64 = 32;

const CANDIDATES: &str = "SELECT id, record::text, CASE WHEN status = 'running' THEN leased_by END,
            status = 'running'
     FROM missions
     WHERE (lease_until IS NULL OR lease_until < now())
       AND (status IN ('queued', 'running') OR (status = 'interrupted' AND $4))
       AND NOT (id = ANY($1))
       AND ARRAY(SELECT json_array_elements_text(coalesce(record->'labels', '[]'::json)))
           <@ $2::text[]
     ORDER BY id LIMIT $3
     FOR UPDATE SKIP LOCKED";

fn corrupt(id: &uuid::Uuid, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        id: id.to_string(),
        error: e.to_string(),
    }
}

impl PgStore {
    /// The daemon name this handle writes for, once registered.
    pub(super) fn owner_name(&self) -> Option<&str> {
        self.owner.get().map(|o| o.name.as_str())
    }

    /// This start of the daemon this handle writes for, once registered.
    pub(super) fn owner_instance(&self) -> Option<&str> {
        self.owner.get().map(|o| o.instance.as_str())
    }

    /// How long this daemon holds a mission it creates, in seconds (0 when it is none).
    pub(super) fn owner_lease_secs(&self) -> f64 {
        self.owner.get().map_or(0.0, |o| o.lease.as_secs_f64())
    }

    /// Registers this process as daemon `info.name` for `lease`, refusing a name a live
    /// daemon holds. From then on this handle writes as that daemon (see the module doc).
    pub async fn register_daemon(
        &self,
        info: &DaemonInfo,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let took = client
            .query_opt(
                "INSERT INTO daemons (name, instance, host, pid, labels, version, started_at,
                                      seen_at, until, stopped_at)
                 VALUES ($1, $2, $3, $4, $5, $6, now(), now(),
                         now() + make_interval(secs => $7), NULL)
                 ON CONFLICT (name) DO UPDATE SET instance = excluded.instance,
                     host = excluded.host, pid = excluded.pid, labels = excluded.labels,
                     version = excluded.version, started_at = excluded.started_at,
                     seen_at = excluded.seen_at, until = excluded.until, stopped_at = NULL
                 WHERE daemons.until < now() OR daemons.stopped_at IS NOT NULL
                 RETURNING name",
                &[
                    &info.name,
                    &info.instance,
                    &info.host,
                    &info.pid,
                    &info.labels,
                    &info.version,
                    &lease.as_secs_f64(),
                ],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        if took.is_none() {
            let row = client
                .query_one(
                    "SELECT host, pid, extract(epoch FROM now() - seen_at)::bigint
                     FROM daemons WHERE name = $1",
                    &[&info.name],
                )
                .await
                .map_err(|e| self.failed(&e))?;
            return Err(StoreError::DaemonNameTaken {
                name: info.name.clone(),
                host: row.get(0),
                pid: row.get(1),
                seen_secs: row.get(2),
            });
        }
        let _ = self.owner.set(Owner {
            name: info.name.clone(),
            instance: info.instance.clone(),
            lease,
        });
        // What this name held before (a daemon that died under it) is free to claim now:
        // resumed as after a restart, here or by another daemon.
        client
            .execute(
                "UPDATE missions SET lease_until = now() - interval '1 second'
                 WHERE leased_by = $1",
                &[&info.name],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(())
    }

    /// Renews the daemon's registration and its leases for another `lease`: on the
    /// missions it runs (`active`), and on those it created within the lease and has not
    /// offered yet. A mission it holds but no longer runs (its task ended while the
    /// database was out of reach) is let go at once, to be resumed like a crashed one.
    /// Returns the missions it still holds, each with the stop another process asked for
    /// (`None`: keep running); an error when the registration is no longer this
    /// instance's (it ran out and another daemon took the name).
    pub async fn beat(
        &self,
        info: &DaemonInfo,
        lease: Duration,
        active: &[MissionId],
    ) -> Result<Vec<(MissionId, Option<String>)>, StoreError> {
        let active: Vec<uuid::Uuid> = active.iter().map(|m| m.0).collect();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.failed(&e))?;
        let ours = tx
            .execute(
                "UPDATE daemons SET seen_at = now(), until = now() + make_interval(secs => $3)
                 WHERE name = $1 AND instance = $2",
                &[&info.name, &info.instance, &lease.as_secs_f64()],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        if ours == 0 {
            return Err(StoreError::DaemonNameTaken {
                name: info.name.clone(),
                host: "another host".into(),
                pid: 0,
                seen_secs: 0,
            });
        }
        // Its missions' rows locked in id order, as a round of writes locks them (see
        // `behind`): the two never wait for each other in a circle.
        tx.execute(
            "SELECT 1 FROM missions WHERE leased_by = $1 AND lease_instance IS NOT DISTINCT FROM $2
             ORDER BY id FOR UPDATE",
            &[&info.name, &info.instance],
        )
        .await
        .map_err(|e| self.failed(&e))?;
        let rows = tx
            .query(
                "UPDATE missions SET lease_until = now() + make_interval(secs => $2)
                 WHERE leased_by = $1 AND lease_instance IS NOT DISTINCT FROM $4
                   AND (id = ANY($3) OR (status = 'queued'
                        AND created_at > now() - make_interval(secs => $2)))
                 RETURNING id, stop_request",
                &[&info.name, &lease.as_secs_f64(), &active, &info.instance],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        let kept: Vec<uuid::Uuid> = rows.iter().map(|r| r.get(0)).collect();
        tx.execute(
            "UPDATE missions SET lease_until = now() - interval '1 second'
             WHERE leased_by = $1 AND lease_instance IS NOT DISTINCT FROM $3
               AND NOT (id = ANY($2)) AND lease_until > now()",
            &[&info.name, &kept, &info.instance],
        )
        .await
        .map_err(|e| self.failed(&e))?;
        tx.commit().await.map_err(|e| self.failed(&e))?;
        Ok(rows
            .iter()
            .map(|r| (MissionId(r.get(0)), r.get(1)))
            .collect())
    }

    /// Marks the daemon stopped (its name is free at once) and lets go of every lease it
    /// still holds.
    pub async fn unregister(&self, info: &DaemonInfo) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.failed(&e))?;
        tx.execute(
            "UPDATE missions SET leased_by = NULL, lease_until = NULL, stop_request = NULL,
                 lease_instance = NULL
             WHERE leased_by = $1 AND lease_instance IS NOT DISTINCT FROM $2",
            &[&info.name, &info.instance],
        )
        .await
        .map_err(|e| self.failed(&e))?;
        tx.execute(
            "UPDATE daemons SET stopped_at = now() WHERE name = $1 AND instance = $2",
            &[&info.name, &info.instance],
        )
        .await
        .map_err(|e| self.failed(&e))?;
        tx.commit().await.map_err(|e| self.failed(&e))
    }

    /// Claims for daemon `daemon` the oldest mission it may run under `rules` and
    /// `can_run` (is its `cwd` here?): queued and held by no live lease, or left running
    /// by a daemon whose lease ran out.
    pub async fn claim(
        &self,
        daemon: &str,
        rules: &ClaimRules,
        can_run: &(dyn Fn(&Mission) -> bool + Send + Sync),
    ) -> Result<Claimed, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.failed(&e))?;
        let skip: Vec<uuid::Uuid> = rules.skip.iter().map(|m| m.0).collect();
        let rows = tx
            .query(
                CANDIDATES,
                &[
                    &skip,
                    &rules.labels,
                    &CLAIM_WINDOW,
                    &rules.resume_interrupted,
                ],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        let mut out = Claimed::default();
        for row in rows {
            let id: uuid::Uuid = row.get(0);
            let mission: Mission = serde_json::from_str(row.get(1)).map_err(|e| corrupt(&id, e))?;
            if !can_run(&mission) {
                out.cannot_run.push(mission.id);
                continue;
            }
            if !self.under_cap(&tx, &mission.provider, rules).await? {
                continue;
            }
            let until: DateTime<Utc> = tx
                .query_one(
                    "UPDATE missions SET leased_by = $2, stop_request = NULL, lease_instance = $4,
                         lease_until = now() + make_interval(secs => $3)
                     WHERE id = $1 RETURNING lease_until",
                    &[
                        &id,
                        &daemon,
                        &rules.lease.as_secs_f64(),
                        &self.owner_instance(),
                    ],
                )
                .await
                .map_err(|e| self.failed(&e))?
                .get(0);
            out.claim = Some(Claim {
                mission,
                until,
                taken_from: row.get(2),
                was_running: row.get(3),
            });
            break;
        }
        tx.commit().await.map_err(|e| self.failed(&e))?;
        Ok(out)
    }

    /// Whether one more mission of `provider` may be leased under the cluster's cap. The
    /// provider's advisory lock, held to the end of the claim's transaction, makes the
    /// count and the claim one step across daemons.
    async fn under_cap(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        provider: &str,
        rules: &ClaimRules,
    ) -> Result<bool, StoreError> {
        let Some(cap) = rules.per_provider.get(provider) else {
            return Ok(true);
        };
        let key = format!("sortie:provider:{provider}");
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&key])
            .await
            .map_err(|e| self.failed(&e))?;
        let leased: i64 = tx
            .query_one(
                "SELECT count(*) FROM missions
                 WHERE leased_by IS NOT NULL AND lease_until > now()
                   AND status IN ('queued', 'running') AND record->>'provider' = $1",
                &[&provider],
            )
            .await
            .map_err(|e| self.failed(&e))?
            .get(0);
        Ok((leased as usize) < *cap)
    }

    /// Offers a mission this daemon holds to the queue: any daemon may claim it now.
    pub async fn offer(&self, id: &MissionId) -> Result<(), StoreError> {
        let Some(me) = self.owner_name() else {
            return Ok(());
        };
        // Its queued events are written under the lease first.
        self.settle_for(id).await?;
        let client = self.client().await?;
        client
            .execute(
                "UPDATE missions SET leased_by = NULL, lease_until = NULL, stop_request = NULL,
                     lease_instance = NULL
                 WHERE id = $1 AND leased_by = $2 AND lease_instance IS NOT DISTINCT FROM $3",
                &[&id.0, &me, &self.owner_instance()],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(())
    }

    /// Takes a mission for this daemon when no live lease holds it (it runs here: a resume
    /// or a run-now): false when another daemon holds it.
    pub async fn hold(&self, id: &MissionId) -> Result<bool, StoreError> {
        let Some(owner) = self.owner.get() else {
            return Ok(true);
        };
        self.settle_for(id).await?;
        let client = self.client().await?;
        let took = client
            .execute(
                "UPDATE missions SET leased_by = $2, lease_instance = $4,
                     lease_until = now() + make_interval(secs => $3)
                 WHERE id = $1 AND (leased_by IS NULL OR lease_until < now()
                       OR (leased_by = $2 AND lease_instance IS NOT DISTINCT FROM $4))",
                &[
                    &id.0,
                    &owner.name,
                    &owner.lease.as_secs_f64(),
                    &owner.instance,
                ],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(took == 1)
    }

    /// Asks the daemon holding mission `id` to stop it (`STATUS:REASON`, taken at its next
    /// heartbeat). The daemon's name, or `None` when no live lease holds the mission.
    pub async fn request_stop(
        &self,
        id: &MissionId,
        request: &str,
    ) -> Result<Option<String>, StoreError> {
        self.settle_for(id).await?;
        let client = self.client().await?;
        let row = client
            .query_opt(
                "UPDATE missions SET stop_request = $2
                 WHERE id = $1 AND leased_by IS NOT NULL AND lease_until > now()
                 RETURNING leased_by",
                &[&id.0, &request],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Where each of these missions runs: the daemon holding a live lease on it.
    pub async fn placements(
        &self,
        ids: &[MissionId],
    ) -> Result<HashMap<MissionId, String>, StoreError> {
        let ids: Vec<uuid::Uuid> = ids.iter().map(|m| m.0).collect();
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, leased_by FROM missions
                 WHERE id = ANY($1) AND leased_by IS NOT NULL AND lease_until > now()",
                &[&ids],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(rows
            .iter()
            .map(|r| (MissionId(r.get(0)), r.get(1)))
            .collect())
    }

    /// The daemons of the cluster, by name, with the missions each holds.
    pub async fn daemons(&self) -> Result<Vec<DaemonEntry>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT d.name, d.host, d.pid, d.labels, d.version, d.started_at, d.seen_at,
                        d.stopped_at IS NULL AND d.until > now(),
                        coalesce(array_agg(m.id ORDER BY m.id)
                                 FILTER (WHERE m.id IS NOT NULL), '{}')
                 FROM daemons d
                 LEFT JOIN missions m ON m.leased_by = d.name AND m.lease_until > now()
                 GROUP BY d.name ORDER BY d.name",
                &[],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(rows
            .iter()
            .map(|r| DaemonEntry {
                name: r.get(0),
                host: r.get(1),
                pid: r.get(2),
                labels: r.get(3),
                version: r.get(4),
                started_at: r.get(5),
                seen_at: r.get(6),
                alive: r.get(7),
                missions: r
                    .get::<_, Vec<uuid::Uuid>>(8)
                    .into_iter()
                    .map(MissionId)
                    .collect(),
            })
            .collect())
    }
}
