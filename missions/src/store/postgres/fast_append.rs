//! Appends by the process that has the mission's record in memory (the one running it):
//! one statement, one round trip, in place of a transaction of four. The statement checks
//! what the transaction would (the record is still at the remembered event count, and no
//! other live daemon holds the mission's lease) and does nothing otherwise; the append
//! then takes the full path, which reads the record again and says why it refuses.
//! Concurrent appends to one mission meet on its row lock: the second finds the count
//! moved and takes the full path.

use std::collections::HashMap;

use super::missions::{as_i64, encode, next_event};
use super::PgStore;
use crate::{Mission, MissionEvent, MissionId, StoreError, StoredEvent};

/// The most records remembered; past it the memory starts afresh.
const MAX_RECORDS: usize = 4096;

const FAST_APPEND: &str = "WITH m AS (
        SELECT id FROM missions
        WHERE id = $1 AND event_count = $2
          AND CASE WHEN $10 THEN leased_by = $9 AND lease_instance IS NOT DISTINCT FROM $11
                   ELSE leased_by IS NULL OR lease_until IS NULL OR lease_until <= now()
                        OR leased_by = $9 END
        FOR UPDATE
    ), e AS (
        INSERT INTO events (mission_id, seq, at, event) SELECT $1, $2, $3, $4::text::json FROM m
    )
    UPDATE missions SET record = $5::text::json, status = $6, updated_at = $3, event_count = $7
    FROM m WHERE missions.id = m.id
    RETURNING pg_notify('sortie_events', $8)";

/// The records of the missions this process appended to, as last written, and the
/// missions this daemon runs (see [`PgStore::run_here`]).
#[derive(Default)]
pub(super) struct Records(
    std::sync::Mutex<HashMap<MissionId, Mission>>,
    std::sync::Mutex<std::collections::HashSet<MissionId>>,
);

impl Records {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<MissionId, Mission>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn running(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<MissionId>> {
        self.1.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl PgStore {
    /// Marks a mission this daemon now runs under its lease: until [`PgStore::done_here`],
    /// this handle writes its log only while the lease is still this daemon's (a daemon
    /// that stalled past its lease writes nothing, even once the mission's new daemon has
    /// let it go).
    pub fn run_here(&self, id: &MissionId) {
        self.records.running().insert(*id);
        self.behind.add(id);
    }

    /// The mission no longer runs here.
    pub fn done_here(&self, id: &MissionId) {
        self.records.running().remove(id);
        self.behind.remove(id);
    }

    pub(super) fn runs_here(&self, id: &MissionId) -> bool {
        self.records.running().contains(id)
    }

    /// Remembers a record just written (a final one is forgotten: nothing runs it).
    pub(super) fn remember(&self, mission: &Mission) {
        let mut records = self.records.lock();
        if mission.status.is_final() {
            records.remove(&mission.id);
            return;
        }
        if records
            .get(&mission.id)
            .is_some_and(|known| known.event_count >= mission.event_count)
        {
            return;
        }
        if records.len() >= MAX_RECORDS {
            records.clear();
        }
        records.insert(mission.id, mission.clone());
    }

    /// The append in one statement, when the record is remembered and still current:
    /// `Ok(Err(event))` gives the event back for the full path.
    pub(super) async fn append_fast(
        &self,
        id: &MissionId,
        event: MissionEvent,
    ) -> Result<Result<StoredEvent, MissionEvent>, StoreError> {
        let Some(mut mission) = self.records.lock().get(id).cloned() else {
            return Ok(Err(event));
        };
        let seq = mission.event_count;
        let (stored, value) = next_event(&mut mission, event)?;
        let client = self.client().await?;
        let statement = client
            .prepare_cached(FAST_APPEND)
            .await
            .map_err(|e| self.failed(&e))?;
        let written = client
            .query(
                &statement,
                &[
                    &id.0,
                    &as_i64(seq),
                    &stored.at,
                    &value,
                    &encode(&mission, &id.to_string())?,
                    &mission.status.as_str(),
                    &as_i64(mission.event_count),
                    &format!("{id}:{seq}"),
                    &self.owner_name(),
                    &self.runs_here(id),
                    &self.owner_instance(),
                ],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        if written.is_empty() {
            self.records.lock().remove(id);
            return Ok(Err(stored.event));
        }
        self.remember(&mission);
        Ok(Ok(stored))
    }
}
