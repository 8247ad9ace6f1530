//! Opening the store: the data dir, the trees, the schema version, and the repair of the
//! records a crash left behind their events.

use std::path::Path;
use std::sync::Arc;

use super::records::encode_record;
use super::records::Shared;
use super::{durable, home, restrict, Store, StoreError, SCHEMA_VERSION};
use crate::Mission;

const TREES: &[&str] = &[
    "missions",
    "events",
    "credentials",
    "oauth_sessions",
    "schedules",
    "models",
    "meta",
];

impl Store {
    /// Opens (or creates) the store in `home`, which is created owner-only.
    pub fn open(home: &Path) -> Result<Self, StoreError> {
        home::prepare_data_dir(home)?;
        let path = home.join("store");
        let fresh = !path.exists();
        let db = sled::Config::new().path(&path).open().map_err(|source| {
            let text = source.to_string().to_lowercase();
            if text.contains("lock") || text.contains("temporarily unavailable") {
                StoreError::Locked { path: path.clone() }
            } else {
                StoreError::Open {
                    path: path.clone(),
                    source,
                }
            }
        })?;
        if fresh {
            restrict(&path);
        }
        crate::owner_only::restrict_files(&path);
        for tree in TREES {
            db.open_tree(tree)?;
        }
        let meta = db.open_tree("meta")?;
        match meta.get("schema_version")? {
            None => {
                meta.insert("schema_version", &SCHEMA_VERSION.to_be_bytes())?;
            }
            Some(raw) => {
                let bytes: [u8; 4] = raw
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::BadSchema(raw.to_vec()))?;
                let found = u32::from_be_bytes(bytes);
                if found > SCHEMA_VERSION {
                    return Err(StoreError::TooNew { path, found });
                }
            }
        }
        let missions = db.open_tree("missions")?;
        let log_file = durable::open(&path);
        let store = Self {
            missions: missions.clone(),
            events: db.open_tree("events")?,
            models: db.open_tree("models")?,
            schedules: db.open_tree("schedules")?,
            db,
            path,
            shared: Arc::new(Shared::new(missions, log_file)),
        };
        store.repair()?;
        // The schema version and any repair are durable before anything else is written;
        // this also sets up sled's lazily built internals (tens of MB) now rather than in
        // the first mission's turn.
        store.db.flush()?;
        Ok(store)
    }

    /// Brings each mission record up to its event log: events a crash left unsummarised
    /// are applied to the record.
    fn repair(&self) -> Result<(), StoreError> {
        for entry in self.missions.iter() {
            let (key, raw) = entry?;
            let Ok(mut mission) = serde_json::from_slice::<Mission>(&raw) else {
                continue; // reported by `missions()`
            };
            let later = self.events_from(&mission.id, mission.event_count)?;
            if later.is_empty() {
                continue;
            }
            for stored in &later {
                mission.updated_at = stored.at;
                stored.event.apply(&mut mission);
                mission.event_count = stored.seq + 1;
            }
            tracing::warn!(
                "mission {}: {} event(s) were stored without their summary (a crash); repaired",
                mission.id,
                later.len()
            );
            self.missions.insert(key, encode_record(&mission)?)?;
        }
        Ok(())
    }
}
