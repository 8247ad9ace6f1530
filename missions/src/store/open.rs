//! Opening the store: the data dir, the trees and the schema version.

use std::path::Path;
use std::sync::Arc;

use super::records::Shared;
use super::{durable, home, restrict, Store, StoreError, SCHEMA_VERSION};

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
        // The schema version is durable before anything else is written; this also sets up
        // sled's lazily built internals (tens of MB) now rather than in the first mission's
        // turn. Records that lag their events (a crash) are caught up as they are read.
        store.db.flush()?;
        Ok(store)
    }
}
