//! The `missions` tree: one record per mission, the summary of its event log.

use chrono::Utc;

use super::events::event_key;
use super::records::encode_record;
use super::records::Record;
use super::{Store, StoreError};
use crate::{Mission, MissionEvent, MissionId, MissionSpec};

impl Store {
    /// Creates a mission and writes its `Created` and first `UserMessage` events.
    pub fn create_mission(&self, spec: MissionSpec) -> Result<Mission, StoreError> {
        self.create_mission_with_id(MissionId::new(), spec)
    }

    /// Stores a new mission under an id made beforehand (its worktree's branch is named
    /// after it).
    pub fn create_mission_with_id(
        &self,
        id: MissionId,
        spec: MissionSpec,
    ) -> Result<Mission, StoreError> {
        let mission = Mission::new(id, spec.clone(), Utc::now());
        self.put_mission(&mission)?;
        self.append(&id, MissionEvent::Created { spec: spec.clone() })?;
        self.append(&id, MissionEvent::UserMessage { text: spec.prompt })?;
        self.mission(&id)
    }

    pub(super) fn put_mission(&self, mission: &Mission) -> Result<(), StoreError> {
        let mut records = self.stripe(&mission.id);
        records.remove(&mission.id);
        self.missions
            .insert(mission.id.as_bytes(), encode_record(mission)?)?;
        if !mission.status.is_final() {
            records.insert(
                mission.id,
                Record {
                    mission: mission.clone(),
                    dirty: false,
                },
            );
        }
        drop(records);
        self.wrote();
        Ok(())
    }

    /// One mission's record.
    pub fn mission(&self, id: &MissionId) -> Result<Mission, StoreError> {
        if let Some(record) = self.stripe(id).get(id) {
            return Ok(record.mission.clone());
        }
        self.stored_record(id)
    }

    /// One mission's record as written, brought up to its events (see [`Store::caught_up`]).
    pub(super) fn stored_record(&self, id: &MissionId) -> Result<Mission, StoreError> {
        let raw = self
            .missions
            .get(id.as_bytes())?
            .ok_or_else(|| StoreError::UnknownMission(id.to_string()))?;
        let written = serde_json::from_slice(&raw).map_err(|e| StoreError::Corrupt {
            id: id.to_string(),
            error: e.to_string(),
        })?;
        self.caught_up(written, &raw)
    }

    /// A record read from the `missions` tree (`raw`, decoded as `mission`), with the
    /// events stored after it applied. Records are written behind their events (at
    /// flushes, every `RECORDS_EVERY`, and when the store closes), so after a crash a record
    /// can lag its log. Every read of a written record catches it up here, one seek past
    /// its last event when it does not lag, instead of a pass over every mission at each
    /// open, which made opening a store of a thousand missions slow. A record that lagged
    /// is written back caught up, unless it changed since it was read.
    pub(super) fn caught_up(
        &self,
        mut mission: Mission,
        raw: &[u8],
    ) -> Result<Mission, StoreError> {
        let later = self.events_from(&mission.id, mission.event_count)?;
        if later.is_empty() {
            return Ok(mission);
        }
        for stored in &later {
            mission.updated_at = stored.at;
            stored.event.apply(&mut mission);
            mission.event_count = stored.seq + 1;
        }
        tracing::warn!(
            "mission {}: {} event(s) were stored without their summary (a crash); replayed",
            mission.id,
            later.len()
        );
        let caught_up = encode_record(&mission)?;
        // Another writer got there first: its record is at least as far along.
        let _ =
            self.missions
                .compare_and_swap(mission.id.as_bytes(), Some(raw), Some(caught_up))?;
        Ok(mission)
    }

    /// Finds a mission by its full id or a unique prefix of it.
    pub fn resolve(&self, text: &str) -> Result<MissionId, StoreError> {
        let text = text.trim();
        if let Ok(id) = text.parse::<MissionId>() {
            self.mission(&id)?;
            return Ok(id);
        }
        let wanted = text.to_lowercase();
        if wanted.len() < 4 || !wanted.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(StoreError::UnknownMission(text.to_string()));
        }
        let mut found = Vec::new();
        for key in self.missions.iter().keys() {
            let key = key?;
            if let Ok(uuid) = uuid::Uuid::from_slice(&key) {
                if uuid.to_string().starts_with(&wanted) {
                    found.push(MissionId(uuid));
                }
            }
        }
        match found.len() {
            1 => Ok(found[0]),
            0 => Err(StoreError::UnknownMission(text.to_string())),
            count => Err(StoreError::AmbiguousMission {
                prefix: text.to_string(),
                count,
            }),
        }
    }

    /// Every mission, oldest first, and a description of each record that could not be read.
    pub fn missions(&self) -> Result<(Vec<Mission>, Vec<String>), StoreError> {
        let mut in_memory = std::collections::HashMap::new();
        for stripe in &self.shared.stripes {
            let stripe = stripe.lock().unwrap_or_else(|p| p.into_inner());
            in_memory.extend(stripe.iter().map(|(id, r)| (*id, r.mission.clone())));
        }
        let mut missions = Vec::new();
        let mut problems = Vec::new();
        for entry in self.missions.iter() {
            let (key, raw) = entry?;
            match serde_json::from_slice::<Mission>(&raw) {
                // A flush may have written a record after the ones in memory were
                // copied: the one further along wins.
                Ok(m) => missions.push(match in_memory.remove(&m.id) {
                    // Current: every event of it went through memory.
                    Some(p) if p.event_count >= m.event_count => p,
                    _ => self.caught_up(m, &raw)?,
                }),
                Err(e) => {
                    let id = uuid::Uuid::from_slice(&key)
                        .map(|u| u.to_string())
                        .unwrap_or_else(|_| format!("{key:?}"));
                    problems.push(format!("mission {id}: unreadable record ({e}); skipped"));
                }
            }
        }
        Ok((missions, problems))
    }

    /// Deletes a mission and its whole event log.
    pub fn delete_mission(&self, id: &MissionId) -> Result<(), StoreError> {
        self.mission(id)?;
        let mut records = self.stripe(id);
        records.remove(id);
        let mut batch = sled::Batch::default();
        for entry in self
            .events
            .range(event_key(id, 0)..=event_key(id, u64::MAX))
        {
            batch.remove(entry?.0);
        }
        self.events.apply_batch(batch)?;
        self.missions.remove(id.as_bytes())?;
        drop(records);
        self.wrote();
        Ok(())
    }
}
