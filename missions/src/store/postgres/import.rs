//! Bulk import into the PostgreSQL store, for `sortie store copy`: missions with their
//! event logs as another store wrote them (the same ids, records, sequence numbers and
//! timestamps), schedules and the models cache; and the counts a copy checks at the end.
//!
//! - One transaction per mission: its row and all its events, or nothing. A copy that
//!   stopped half way leaves whole missions only; running it again completes it.
//! - A mission already there is compared, never written: the same record and number of
//!   events is an earlier copy of it ([`Found::Same`]); anything else is another mission
//!   under the same id, or one changed since ([`Found::Different`]), which the copy
//!   refuses. Events go in with `ON CONFLICT DO NOTHING`: never twice.
//! - Schedules and cached model lists already there are left as they are: a daemon on the
//!   target may have moved a schedule on since an earlier copy.
//! - Events go in by batches (at most [`BATCH_EVENTS`] events or [`BATCH_BYTES`] bytes per
//!   statement), so a long log costs a few round trips, not one per event.

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;

use super::PgStore;
use crate::scheduler::Schedule;
use crate::store::CachedModels;
use crate::{Mission, MissionId, StoreError};

/// The most events one statement inserts.
const BATCH_EVENTS: usize = 500;
/// The most bytes of events one statement carries (one larger event goes alone).
const BATCH_BYTES: usize = 4 << 20;

/// What the target held of a mission before an import (or a check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Nothing under its id: an import copies it.
    Absent,
    /// The same record and number of events: an earlier copy of it. Nothing is written.
    Same,
    /// Another mission under its id, or the same one changed since: why. Nothing is written.
    Different(String),
}

/// What the target holds of a set of missions: how many of them, and how many events
/// their logs have (rows counted, not the records' counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Census {
    pub missions: u64,
    pub events: u64,
}

const INSERT_MISSION: &str =
    "INSERT INTO missions (id, status, created_at, updated_at, event_count, record)
     VALUES ($1, $2, $3, $4, $5, $6::text::json)
     ON CONFLICT (id) DO NOTHING";

const INSERT_EVENTS: &str = "INSERT INTO events (mission_id, seq, at, event)
     SELECT $1, t.seq, t.at, t.event::json
     FROM unnest($2::bigint[], $3::timestamptz[], $4::text[]) AS t(seq, at, event)
     ON CONFLICT (mission_id, seq) DO NOTHING";

/// The time an encoded event was stored at.
#[derive(serde::Deserialize)]
struct At {
    at: DateTime<Utc>,
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn encode<T: serde::Serialize>(value: &T, what: &str) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        id: what.to_string(),
        error: format!("cannot encode: {e}"),
    })
}

/// How the target's record of a mission compares with `mission`.
fn compare(mission: &Mission, theirs_count: i64, theirs: &str) -> Found {
    let ours = serde_json::to_value(mission).ok();
    let parsed = serde_json::from_str::<serde_json::Value>(theirs).ok();
    if theirs_count == as_i64(mission.event_count) && ours.is_some() && ours == parsed {
        return Found::Same;
    }
    let there = serde_json::from_str::<Mission>(theirs).ok();
    Found::Different(match there {
        Some(t) if t.created_at != mission.created_at || t.prompt != mission.prompt => {
            format!(
                "the target holds another mission under this id (created {}, here {})",
                t.created_at.to_rfc3339(),
                mission.created_at.to_rfc3339()
            )
        }
        Some(_) if theirs_count != as_i64(mission.event_count) => format!(
            "the target's copy has {theirs_count} events and this store's {} (it changed on one side since it was copied)",
            mission.event_count
        ),
        Some(t) => format!(
            "the target's record differs (status {} there, {} here; updated {} there, {} here)",
            t.status.as_str(),
            mission.status.as_str(),
            t.updated_at.to_rfc3339(),
            mission.updated_at.to_rfc3339()
        ),
        None => "the target's record of it cannot be read".to_string(),
    })
}

/// Checks that `events` are the whole log of `mission`: sequence numbers 0, 1, ... up to
/// its event count.
fn check_log(mission: &Mission, events: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
    let gap = events
        .iter()
        .enumerate()
        .find(|(i, (seq, _))| *seq != *i as u64);
    if let Some((i, (seq, _))) = gap {
        return Err(StoreError::Corrupt {
            id: mission.id.to_string(),
            error: format!("its log skips from event {} to {seq}", i.saturating_sub(1)),
        });
    }
    if events.len() as u64 != mission.event_count {
        return Err(StoreError::Corrupt {
            id: mission.id.to_string(),
            error: format!(
                "its record counts {} events and its log holds {}",
                mission.event_count,
                events.len()
            ),
        });
    }
    Ok(())
}

impl PgStore {
    /// What the target holds of each of `missions`, in their order; writes nothing.
    pub async fn check_import(&self, missions: &[Mission]) -> Result<Vec<Found>, StoreError> {
        let ids: Vec<uuid::Uuid> = missions.iter().map(|m| m.id.0).collect();
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, event_count, record::text FROM missions WHERE id = ANY($1)",
                &[&ids],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        let mut there = std::collections::HashMap::new();
        for row in &rows {
            let id: uuid::Uuid = row.get(0);
            there.insert(id, (row.get::<_, i64>(1), row.get::<_, &str>(2)));
        }
        Ok(missions
            .iter()
            .map(|m| match there.get(&m.id.0) {
                None => Found::Absent,
                Some((count, record)) => compare(m, *count, record),
            })
            .collect())
    }

    /// Imports `mission` with its whole log `events` (sequence number and stored JSON, as
    /// the other store wrote them), in one transaction: returns what was there before
    /// (only [`Found::Absent`] writes anything). A log that does not match the record's
    /// event count is refused.
    pub async fn import_mission(
        &self,
        mission: &Mission,
        events: &[(u64, Vec<u8>)],
    ) -> Result<Found, StoreError> {
        check_log(mission, events)?;
        let id = mission.id.to_string();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.failed(&e))?;
        let inserted = tx
            .execute(
                INSERT_MISSION,
                &[
                    &mission.id.0,
                    &mission.status.as_str(),
                    &mission.created_at,
                    &mission.updated_at,
                    &as_i64(mission.event_count),
                    &encode(mission, &id)?,
                ],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        if inserted == 0 {
            let row = tx
                .query_one(
                    "SELECT event_count, record::text FROM missions WHERE id = $1",
                    &[&mission.id.0],
                )
                .await
                .map_err(|e| self.failed(&e))?;
            return Ok(compare(mission, row.get(0), row.get(1)));
        }
        let mut start = 0;
        while start < events.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < events.len() && end - start < BATCH_EVENTS {
                bytes += events[end].1.len();
                if end > start && bytes > BATCH_BYTES {
                    break;
                }
                end += 1;
            }
            self.insert_events(&tx, mission, &events[start..end])
                .await?;
            start = end;
        }
        tx.commit().await.map_err(|e| self.failed(&e))?;
        Ok(Found::Absent)
    }

    /// One batch of a mission's events, inside its import's transaction.
    async fn insert_events(
        &self,
        tx: &Transaction<'_>,
        mission: &Mission,
        batch: &[(u64, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let mut seqs = Vec::with_capacity(batch.len());
        let mut ats = Vec::with_capacity(batch.len());
        let mut texts = Vec::with_capacity(batch.len());
        for (seq, raw) in batch {
            let at = serde_json::from_slice::<At>(raw)
                .map(|a| a.at)
                .unwrap_or(mission.updated_at);
            let text = std::str::from_utf8(raw).map_err(|e| StoreError::Corrupt {
                id: mission.id.to_string(),
                error: format!("event {seq} is not UTF-8: {e}"),
            })?;
            seqs.push(as_i64(*seq));
            ats.push(at);
            texts.push(text);
        }
        tx.execute(INSERT_EVENTS, &[&mission.id.0, &seqs, &ats, &texts])
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(())
    }

    /// How many of `ids` the target holds, and how many events their logs have.
    pub async fn census(&self, ids: &[MissionId]) -> Result<Census, StoreError> {
        let ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM missions WHERE id = ANY($1)),
                        (SELECT count(*) FROM events WHERE mission_id = ANY($1))",
                &[&ids],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(Census {
            missions: row.get::<_, i64>(0) as u64,
            events: row.get::<_, i64>(1) as u64,
        })
    }

    /// Stores a schedule as it is, unless one with its id is there (left as it is):
    /// whether it was written.
    pub async fn import_schedule(&self, s: &Schedule) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "INSERT INTO schedules (id, version, record)
                 VALUES ($1, nextval('schedules_generation'), $2::text::json)
                 ON CONFLICT (id) DO NOTHING",
                &[&s.id, &encode(s, &s.id)?],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(n == 1)
    }

    /// How many of the schedules `ids` the target holds.
    pub async fn schedules_present(&self, ids: &[String]) -> Result<u64, StoreError> {
        self.count_present("SELECT count(*) FROM schedules WHERE id = ANY($1)", ids)
            .await
    }

    /// Stores a provider's cached model list as fetched (its time kept), unless the
    /// target has one: whether it was written.
    pub async fn import_models(
        &self,
        provider: &str,
        cached: &CachedModels,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "INSERT INTO models (provider, record) VALUES ($1, $2::text::json)
                 ON CONFLICT (provider) DO NOTHING",
                &[
                    &provider,
                    &encode(cached, &format!("models of {provider}"))?,
                ],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(n == 1)
    }

    /// How many of the providers' model lists the target holds.
    pub async fn models_present(&self, providers: &[String]) -> Result<u64, StoreError> {
        self.count_present(
            "SELECT count(*) FROM models WHERE provider = ANY($1)",
            providers,
        )
        .await
    }

    async fn count_present(&self, sql: &str, keys: &[String]) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(sql, &[&keys])
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// The schema version the database is at, without changing it: 0 for a database
    /// no sortie has migrated yet.
    pub async fn found_schema_version(&self) -> Result<i64, StoreError> {
        let client = self.client().await?;
        let exists: bool = client
            .query_one("SELECT to_regclass('sortie_migrations') IS NOT NULL", &[])
            .await
            .map_err(|e| self.failed(&e))?
            .get(0);
        if !exists {
            return Ok(0);
        }
        drop(client);
        self.schema_version().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MissionSpec;

    fn mission(events: u64) -> Mission {
        let mut m = Mission::new(
            MissionId::new(),
            MissionSpec::for_tests("copy me"),
            Utc::now(),
        );
        m.event_count = events;
        m
    }

    fn log(seqs: &[u64]) -> Vec<(u64, Vec<u8>)> {
        seqs.iter().map(|s| (*s, b"{}".to_vec())).collect()
    }

    #[test]
    fn only_the_same_record_and_event_count_is_an_earlier_copy() {
        let m = mission(3);
        let same = serde_json::to_string(&m).expect("encode");
        assert_eq!(compare(&m, 3, &same), Found::Same);

        let Found::Different(why) = compare(&m, 4, &same) else {
            panic!("another event count is another mission");
        };
        assert!(why.contains("4 events") && why.contains("changed"), "{why}");

        let mut other = mission(3);
        other.id = m.id;
        other.prompt = "someone else's".into();
        let theirs = serde_json::to_string(&other).expect("encode");
        let Found::Different(why) = compare(&m, 3, &theirs) else {
            panic!("another prompt is another mission");
        };
        assert!(why.contains("another mission under this id"), "{why}");

        let mut moved = m.clone();
        moved.status = crate::MissionStatus::Failed;
        let theirs = serde_json::to_string(&moved).expect("encode");
        let Found::Different(why) = compare(&m, 3, &theirs) else {
            panic!("another status is a change");
        };
        assert!(why.contains("status failed there"), "{why}");
        assert!(matches!(compare(&m, 3, "not json"), Found::Different(_)));
    }

    #[test]
    fn a_log_must_hold_every_event_its_record_counts() {
        let m = mission(3);
        assert!(check_log(&m, &log(&[0, 1, 2])).is_ok());
        let gap = check_log(&m, &log(&[0, 2, 3])).expect_err("a gap");
        assert!(gap.to_string().contains("skips from event 0 to 2"), "{gap}");
        let short = check_log(&m, &log(&[0, 1])).expect_err("short");
        assert!(
            short
                .to_string()
                .contains("counts 3 events and its log holds 2"),
            "{short}"
        );
    }
}
