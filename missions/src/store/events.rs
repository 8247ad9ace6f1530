//! The `events` tree: each mission's event log, keyed by its id and the sequence number.

use chrono::Utc;

use super::records::Record;
use super::{cap, redact, Store, StoreError};
use crate::{MissionEvent, MissionId, StoredEvent};

impl Store {
    /// Appends one event, then brings the mission record up to date (see the module docs).
    pub fn append(&self, id: &MissionId, event: MissionEvent) -> Result<StoredEvent, StoreError> {
        let mut records = self.stripe(id);
        let record = match records.entry(*id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(Record {
                mission: self.stored_record(id)?,
                dirty: false,
            }),
        };
        let mission = &mut record.mission;
        let now = Utc::now();
        let seq = mission.event_count;
        let stored = StoredEvent {
            seq,
            at: now,
            event,
        };
        let value = serde_json::to_vec(&stored).map_err(|e| StoreError::Corrupt {
            id: id.to_string(),
            error: format!("cannot encode event: {e}"),
        })?;
        let (value, stored) = redact::masked(value, stored);
        let (value, stored) = cap::capped(value, stored);
        self.events.insert(event_key(id, seq).as_slice(), value)?;
        mission.updated_at = now;
        stored.event.apply(mission);
        mission.event_count = seq + 1;
        record.dirty = true;
        drop(records);
        self.wrote();
        Ok(stored)
    }

    /// A mission's whole event log in order. Entries that cannot be decoded come back as
    /// [`MissionEvent::Unreadable`] so nothing around them is lost.
    pub fn events(&self, id: &MissionId) -> Result<Vec<StoredEvent>, StoreError> {
        self.events_from(id, 0)
    }

    /// The event log from `from` on as stored JSON, each entry checked to be a JSON object
    /// (an entry that is not comes back as an [`MissionEvent::Unreadable`] event, encoded).
    /// For replays that send the events on without decoding them.
    pub fn events_json_from(
        &self,
        id: &MissionId,
        from: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for entry in self
            .events
            .range(event_key(id, from)..=event_key(id, u64::MAX))
        {
            let (key, raw) = entry?;
            let seq = seq_of(&key);
            let valid = raw.first() == Some(&b'{')
                && serde_json::from_slice::<serde::de::IgnoredAny>(&raw).is_ok();
            let bytes = if valid {
                raw.to_vec()
            } else {
                serde_json::to_vec(&StoredEvent {
                    seq,
                    at: Utc::now(),
                    event: MissionEvent::Unreadable {
                        error: format!("event {seq} cannot be decoded"),
                    },
                })
                .unwrap_or_default()
            };
            out.push((seq, bytes));
        }
        Ok(out)
    }

    /// The event log from sequence number `from` on.
    pub fn events_from(&self, id: &MissionId, from: u64) -> Result<Vec<StoredEvent>, StoreError> {
        let start = event_key(id, from);
        let end = event_key(id, u64::MAX);
        let mut out = Vec::new();
        for entry in self.events.range(start..=end) {
            let (key, raw) = entry?;
            let seq = seq_of(&key);
            out.push(
                serde_json::from_slice::<StoredEvent>(&raw).unwrap_or_else(|e| StoredEvent {
                    seq,
                    at: Utc::now(),
                    event: MissionEvent::Unreadable {
                        error: format!("event {seq} cannot be decoded: {e}"),
                    },
                }),
            );
        }
        Ok(out)
    }
}

/// The sequence number in an event key.
fn seq_of(key: &[u8]) -> u64 {
    key.get(16..24)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .unwrap_or_default()
}

/// The key of one event: the mission id then the big-endian sequence number, so a
/// mission's events are contiguous and in order.
pub fn event_key(id: &MissionId, seq: u64) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(id.as_bytes());
    key[16..].copy_from_slice(&seq.to_be_bytes());
    key
}
