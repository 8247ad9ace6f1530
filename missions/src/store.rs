//! The mission store: one sled database under the data dir.
//!
//! Trees: `missions` (id -> record), `events` (id ++ big-endian seq -> event), and `meta`
//! (schema version); `credentials`, `oauth_sessions`, `schedules`, `models`.
//!
//! The event log is the truth; a mission's record is a summary of it. An append writes the
//! event and brings the record up to date in memory (one writer per mission at a time, in
//! this process), where it stays until the mission is final and written. Readers in this
//! process see the in-memory record. [`Store::flush`] makes the events durable; it writes
//! the records of missions that ended, and the others at most once per [`RECORDS_EVERY`]
//! (and the last handle writes what is left), so a record on disk may lag its events, never
//! lead them: sled recovers a prefix of the writes after a crash, and [`Store::open`]
//! replays the events past a record into it.
//! (sled transactions would make the two writes atomic, but each one takes a global lock
//! that waits for every flush in progress: with many missions they serialise everything.)

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;

mod cap;
mod durable;
mod home;
mod paging;
mod redact;
mod schedules;
mod space;

use home::restrict;
pub use home::{check_data_dir, prepare_data_dir};
pub use paging::{MissionFilter, MissionPage};

use crate::{Mission, MissionEvent, MissionId, MissionSpec, StoredEvent};

/// The schema this build writes. A store from a newer build is refused.
pub const SCHEMA_VERSION: u32 = 1;

const TREES: &[&str] = &[
    "missions",
    "events",
    "credentials",
    "oauth_sessions",
    "schedules",
    "models",
    "meta",
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data dir {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the store at {path} is in use by another sortie process (one sortie command at a time can use a data dir); wait for it to finish, or set SORTIE_HOME to another directory")]
    Locked { path: PathBuf },
    #[error("cannot open the store at {path}: {source}")]
    Open { path: PathBuf, source: sled::Error },
    #[error("the store at {path} was written by a newer sortie (schema {found}, this build reads up to {SCHEMA_VERSION}); upgrade sortie or point SORTIE_HOME elsewhere")]
    TooNew { path: PathBuf, found: u32 },
    #[error("the store's schema version is unreadable ({0:?}); the store may be damaged")]
    BadSchema(Vec<u8>),
    #[error("no mission matches `{0}` (see `sortie missions`)")]
    UnknownMission(String),
    #[error("`{prefix}` matches {count} missions; give more of the id")]
    AmbiguousMission { prefix: String, count: usize },
    #[error("the record of mission {id} is corrupt: {error}")]
    Corrupt { id: String, error: String },
    #[error("no schedule matches `{0}` (see `sortie schedule ls`)")]
    UnknownSchedule(String),
    #[error(
        "`{prefix}` matches {count} schedules; give more of the id (see `sortie schedule ls`)"
    )]
    AmbiguousSchedule { prefix: String, count: usize },
    #[error("refusing the data dir {path}: {reason}")]
    UnsafeDataDir { path: PathBuf, reason: String },
    #[error("store I/O failed: {0}")]
    Sled(sled::Error),
    #[error("disk full: the data dir's file system has no room left ({detail}); free some space: until then running missions stop and new ones are refused")]
    DiskFull { detail: String },
    #[error("the store did not finish writing within {0}s (is the disk failing or full?)")]
    FlushTimeout(u64),
    #[error("{0} changed too often while being updated; try again")]
    Contended(String),
}

/// A handle on the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    missions: sled::Tree,
    events: sled::Tree,
    models: sled::Tree,
    schedules: sled::Tree,
    path: PathBuf,
    shared: Arc<Shared>,
}

/// What the clones of one store share: append locks, the records in memory, and the group
/// commit.
struct Shared {
    /// One mission's appends are serialised by the lock its id hashes to, which also guards
    /// the records in memory of its missions.
    stripes: Vec<Mutex<Records>>,
    /// The `missions` tree, to write the dirty records when the last handle goes.
    missions: sled::Tree,
    /// Appends so far, and the count the last finished flush covered.
    written: AtomicU64,
    flushed: AtomicU64,
    /// One flush at a time (holding when the records were last all written); callers
    /// whose writes it covered do not flush again.
    flushing: tokio::sync::Mutex<std::time::Instant>,
    /// sled's log file, `fsync`ed at each flush (see `durable`).
    log_file: Option<Arc<std::fs::File>>,
}

/// How often a flush writes every dirty record; in between, only the records of missions
/// that ended. (A record on disk may lag its events: [`Store::open`] replays them.)
const RECORDS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

const STRIPES: usize = 64;

/// The longest a flush may take: a disk that stopped answering fails it rather than
/// holding every writer (and the daemon's stop) for ever.
const FLUSH_BOUND: std::time::Duration = std::time::Duration::from_secs(30);

/// The records of the missions this process works on: changed since the last flush and
/// not yet written (dirty), or as written. An append needs its mission's record; reading
/// it back from sled and decoding it at every turn cost more than the append. A record
/// leaves memory once written with its mission final, or when the mission is deleted.
type Records = std::collections::HashMap<MissionId, Record>;

struct Record {
    mission: Mission,
    dirty: bool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        for stripe in &self.stripes {
            let mut records = stripe.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = write_records(&self.missions, &mut records, true) {
                // The next open replays the events into the record.
                tracing::warn!("cannot write mission records on close: {e}");
            }
        }
    }
}

/// Writes the dirty records (`all`), or those of missions that ended, and forgets the
/// records of final missions once written; one that cannot be written stays dirty (and
/// the first error is returned).
fn write_records(
    missions: &sled::Tree,
    records: &mut Records,
    all: bool,
) -> Result<(), StoreError> {
    let mut result = Ok(());
    records.retain(|id, record| {
        let ended = record.mission.status.is_final();
        if record.dirty && (all || ended) && result.is_ok() {
            let written = encode_record(&record.mission)
                .and_then(|encoded| Ok(missions.insert(id.as_bytes(), encoded)?));
            match written {
                Ok(_) => record.dirty = false,
                Err(e) => result = Err(e),
            }
        }
        record.dirty || !ended
    });
    result
}

fn encode_record(mission: &Mission) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(mission).map_err(|e| StoreError::Corrupt {
        id: mission.id.to_string(),
        error: e.to_string(),
    })
}

/// A provider's model list as last fetched.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CachedModels {
    pub fetched_at: chrono::DateTime<Utc>,
    pub models: Vec<sortie_transports::ModelInfo>,
}

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
            shared: Arc::new(Shared {
                stripes: (0..STRIPES).map(|_| Mutex::default()).collect(),
                missions,
                written: AtomicU64::new(0),
                flushed: AtomicU64::new(0),
                flushing: tokio::sync::Mutex::new(std::time::Instant::now()),
                log_file,
            }),
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
                stored.event.apply(&mut mission);
                mission.event_count = stored.seq + 1;
                mission.updated_at = stored.at;
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

    /// Counts a write for the group commit of [`Store::flush`].
    fn wrote(&self) {
        self.shared.written.fetch_add(1, Ordering::SeqCst);
    }

    fn stripe(&self, id: &MissionId) -> std::sync::MutexGuard<'_, Records> {
        let i = id
            .as_bytes()
            .iter()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(*b as usize));
        self.shared.stripes[i % STRIPES]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw database, for the trees later capabilities own.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Creates a mission and writes its `Created` and first `UserMessage` events.
    pub fn create_mission(&self, spec: MissionSpec) -> Result<Mission, StoreError> {
        let id = MissionId::new();
        let mission = Mission::new(id, spec.clone(), Utc::now());
        self.put_mission(&mission)?;
        self.append(&id, MissionEvent::Created { spec: spec.clone() })?;
        self.append(&id, MissionEvent::UserMessage { text: spec.prompt })?;
        self.mission(&id)
    }

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
        stored.event.apply(mission);
        mission.event_count = seq + 1;
        mission.updated_at = now;
        record.dirty = true;
        drop(records);
        self.wrote();
        Ok(stored)
    }

    /// Makes everything appended so far durable on disk. Concurrent callers share flushes
    /// (group commit): one whose appends an earlier flush already covered returns at once.
    /// Then refuses to go on when the disk is (nearly) full: what was written is on disk,
    /// the caller stops adding to it.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.flush_records(false).await?;
        self.check_space()
    }

    /// Writes every changed record, then flushes: on disk each record then matches its
    /// events (what the daemon does before it stops, so the next start has nothing to
    /// replay).
    pub async fn flush_all(&self) -> Result<(), StoreError> {
        self.flush_records(true).await
    }

    async fn flush_records(&self, every: bool) -> Result<(), StoreError> {
        let mine = self.shared.written.load(Ordering::SeqCst);
        let mut records_written = self.shared.flushing.lock().await;
        if !every && self.shared.flushed.load(Ordering::SeqCst) >= mine && mine > 0 {
            return Ok(());
        }
        let covers = self.shared.written.load(Ordering::SeqCst);
        // Records changed by the appends counted so far are dirty by now (an append counts
        // itself after it updated the record). Each flush used to write all of them: with
        // many missions that made every flush, which they all wait for, long.
        let all = every || records_written.elapsed() >= RECORDS_EVERY;
        for stripe in &self.shared.stripes {
            let mut records = stripe.lock().unwrap_or_else(|p| p.into_inner());
            write_records(&self.missions, &mut records, all)?;
        }
        if all {
            *records_written = std::time::Instant::now();
        }
        tokio::time::timeout(FLUSH_BOUND, self.db.flush_async())
            .await
            .map_err(|_| StoreError::FlushTimeout(FLUSH_BOUND.as_secs()))??;
        durable::sync(self.shared.log_file.clone()).await?;
        self.shared.flushed.fetch_max(covers, Ordering::SeqCst);
        Ok(())
    }

    fn put_mission(&self, mission: &Mission) -> Result<(), StoreError> {
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

    /// The cached model list of a provider, if any (an unreadable entry counts as none).
    pub fn cached_models(&self, provider: &str) -> Result<Option<CachedModels>, StoreError> {
        Ok(self
            .models
            .get(provider.as_bytes())?
            .and_then(|raw| serde_json::from_slice(&raw).ok()))
    }

    /// Caches a provider's model list, stamped now.
    pub fn cache_models(
        &self,
        provider: &str,
        models: Vec<sortie_transports::ModelInfo>,
    ) -> Result<CachedModels, StoreError> {
        let cached = CachedModels {
            fetched_at: Utc::now(),
            models,
        };
        let encoded = serde_json::to_vec(&cached).map_err(|e| StoreError::Corrupt {
            id: format!("models of {provider}"),
            error: e.to_string(),
        })?;
        self.models.insert(provider.as_bytes(), encoded)?;
        // A cache: the next flush writes it; a crash before only means fetching again.
        self.wrote();
        Ok(cached)
    }

    /// One mission's record.
    pub fn mission(&self, id: &MissionId) -> Result<Mission, StoreError> {
        if let Some(record) = self.stripe(id).get(id) {
            return Ok(record.mission.clone());
        }
        self.stored_record(id)
    }

    /// One mission's record as written.
    fn stored_record(&self, id: &MissionId) -> Result<Mission, StoreError> {
        let raw = self
            .missions
            .get(id.as_bytes())?
            .ok_or_else(|| StoreError::UnknownMission(id.to_string()))?;
        serde_json::from_slice(&raw).map_err(|e| StoreError::Corrupt {
            id: id.to_string(),
            error: e.to_string(),
        })
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
                    Some(p) if p.event_count > m.event_count => p,
                    _ => m,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MissionStatus, PermissionPolicy};

    fn spec() -> MissionSpec {
        MissionSpec {
            prompt: "hello".into(),
            provider: "local".into(),
            model: "m".into(),
            transport: "openai-compatible".into(),
            cwd: "/tmp".into(),
            policy: PermissionPolicy::Auto,
            max_turns: 5,
            sandbox: None,
        }
    }

    #[test]
    fn an_event_stored_without_its_summary_is_replayed_into_the_record_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let id = {
            let store = Store::open(dir.path()).expect("open");
            let m = store.create_mission(spec()).expect("create");
            // What a crash between the two writes of an append leaves: the event only.
            let stored = StoredEvent {
                seq: m.event_count,
                at: Utc::now(),
                event: MissionEvent::Status {
                    status: MissionStatus::Running,
                    reason: None,
                },
            };
            store
                .events
                .insert(
                    event_key(&m.id, m.event_count).as_slice(),
                    serde_json::to_vec(&stored).expect("json"),
                )
                .expect("insert");
            store.db.flush().expect("flush");
            m.id
        };
        let store = reopen(dir.path()).expect("reopen");
        let m = store.mission(&id).expect("mission");
        assert_eq!((m.event_count, m.status), (3, MissionStatus::Running));
        let next = store
            .append(
                &id,
                MissionEvent::UserMessage {
                    text: "more".into(),
                },
            )
            .expect("append");
        assert_eq!(next.seq, 3, "the repaired event must not be overwritten");
    }

    /// Opens the store again after a handle on it dropped. sled lets go of its file lock
    /// a moment after the last handle drops (its flusher thread ends on its own), so a
    /// reopen at once can meet `Locked` on a loaded machine: wait that out, bounded.
    pub(crate) fn reopen(dir: &Path) -> Result<Store, StoreError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Store::open(dir) {
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    /// A record as written in the `missions` tree, opened without the store.
    fn written_record(store_dir: &Path, id: &MissionId) -> Mission {
        // As in `reopen`: the store's own handle may still hold the lock for a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let db = loop {
            match sled::Config::new().path(store_dir).open() {
                Ok(db) => break db,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("sled: {e}"),
            }
        };
        let raw = db.open_tree("missions").expect("tree").get(id.as_bytes());
        serde_json::from_slice(&raw.expect("get").expect("record")).expect("decode")
    }

    #[tokio::test]
    async fn records_are_read_from_memory_and_written_at_flush_and_close() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let m = store.create_mission(spec()).expect("create");
        let running = MissionEvent::Status {
            status: MissionStatus::Running,
            reason: None,
        };
        store.append(&m.id, running).expect("append");
        let written = |store: &Store| -> u64 {
            let raw = store.missions.get(m.id.as_bytes()).expect("get");
            serde_json::from_slice::<Mission>(&raw.expect("record"))
                .expect("decode")
                .event_count
        };
        assert_eq!(
            written(&store),
            0,
            "written when created, then only at a flush"
        );
        let seen = store.mission(&m.id).expect("mission");
        assert_eq!((seen.event_count, seen.status), (3, MissionStatus::Running));
        let (listed, problems) = store.missions().expect("missions");
        assert!(problems.is_empty());
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].event_count, 3);
        store.flush().await.expect("flush");
        assert_eq!(
            written(&store),
            0,
            "a running mission's record is not written at every flush"
        );
        let warning = || MissionEvent::Warning {
            message: "w".into(),
        };
        age_records(&store).await;
        store.append(&m.id, warning()).expect("append");
        store.flush().await.expect("flush");
        assert_eq!(written(&store), 4, "written once RECORDS_EVERY has passed");
        store.append(&m.id, warning()).expect("append");
        store.flush().await.expect("flush");
        assert_eq!(written(&store), 4);
        store.flush_all().await.expect("flush all");
        assert_eq!(written(&store), 5, "flush_all writes every record");
        store.append(&m.id, warning()).expect("append");
        drop(store);
        let on_disk = written_record(&dir.path().join("store"), &m.id);
        assert_eq!(
            (on_disk.event_count, on_disk.status),
            (6, MissionStatus::Running),
            "the last handle writes what is dirty"
        );
    }

    /// Makes the next flush write every dirty record, as if RECORDS_EVERY had passed.
    async fn age_records(store: &Store) {
        let mut last = store.shared.flushing.lock().await;
        *last = std::time::Instant::now()
            .checked_sub(RECORDS_EVERY)
            .expect("an instant a second ago");
    }

    #[tokio::test]
    async fn an_unfinished_missions_record_stays_in_memory_past_a_flush_and_a_final_one_leaves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let m = store.create_mission(spec()).expect("create");
        let in_memory = |store: &Store| store.stripe(&m.id).get(&m.id).map(|r| r.dirty);
        assert_eq!(
            in_memory(&store),
            Some(true),
            "its first events are not written yet"
        );
        let status = |status| MissionEvent::Status {
            status,
            reason: None,
        };
        store
            .append(&m.id, status(MissionStatus::Running))
            .expect("append");
        assert_eq!(in_memory(&store), Some(true));
        store.flush().await.expect("flush");
        assert_eq!(in_memory(&store), Some(true), "not written at every flush");
        age_records(&store).await;
        let warning = MissionEvent::Warning {
            message: "w".into(),
        };
        store.append(&m.id, warning).expect("append");
        store.flush().await.expect("flush");
        assert_eq!(in_memory(&store), Some(false), "written, and still held");
        // The next append works from memory: the copy on disk is not read again.
        store
            .missions
            .insert(m.id.as_bytes(), b"not a record".to_vec())
            .expect("overwrite");
        store
            .append(&m.id, status(MissionStatus::Completed))
            .expect("append without reading the record back");
        store.flush().await.expect("flush");
        assert_eq!(
            in_memory(&store),
            None,
            "a final mission's record leaves memory"
        );
        let raw = store.missions.get(m.id.as_bytes()).expect("get");
        let on_disk: Mission = serde_json::from_slice(&raw.expect("record")).expect("decode");
        assert_eq!(
            (on_disk.event_count, on_disk.status),
            (5, MissionStatus::Completed)
        );
        let read = store.mission(&m.id).expect("read from disk");
        assert_eq!(
            (read.event_count, read.status),
            (5, MissionStatus::Completed)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_flushes_all_return_with_their_records_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let ids: Vec<MissionId> = (0..50)
            .map(|_| store.create_mission(spec()).expect("create").id)
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        for (i, id) in ids.iter().enumerate() {
            let (store, id) = (store.clone(), *id);
            tasks.spawn(async move {
                for round in 0..5 {
                    let message = format!("{i}/{round}");
                    store
                        .append(&id, MissionEvent::Warning { message })
                        .expect("append");
                    store.flush().await.expect("flush");
                }
                let done = MissionEvent::Status {
                    status: MissionStatus::Completed,
                    reason: None,
                };
                store.append(&id, done).expect("append");
                store.flush().await.expect("flush");
            });
        }
        let all = async {
            while let Some(done) = tasks.join_next().await {
                done.expect("task");
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), all)
            .await
            .expect("every flush returns (no waiter is left without a wake-up)");
        for id in &ids {
            let raw = store.missions.get(id.as_bytes()).expect("get");
            let written: Mission = serde_json::from_slice(&raw.expect("record")).expect("decode");
            assert_eq!(
                (written.event_count, written.status),
                (8, MissionStatus::Completed),
                "a final record is written by the flush after it"
            );
        }
    }

    #[test]
    fn concurrent_appends_keep_every_log_contiguous() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let ids: Vec<MissionId> = (0..4)
            .map(|_| store.create_mission(spec()).expect("create").id)
            .collect();
        std::thread::scope(|scope| {
            for t in 0..8 {
                let (store, ids) = (&store, &ids);
                scope.spawn(move || {
                    for i in 0..100 {
                        store
                            .append(
                                &ids[(t + i) % ids.len()],
                                MissionEvent::Warning {
                                    message: format!("{t}/{i}"),
                                },
                            )
                            .expect("append");
                    }
                });
            }
        });
        let mut total = 0;
        for id in &ids {
            let events = store.events(id).expect("events");
            let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
            assert_eq!(seqs, (0..events.len() as u64).collect::<Vec<_>>());
            assert_eq!(
                store.mission(id).expect("m").event_count,
                events.len() as u64
            );
            total += events.len() - 2;
        }
        assert_eq!(total, 800);
    }

    #[test]
    fn events_are_ordered_and_update_the_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let m = store.create_mission(spec()).expect("create");
        for status in [MissionStatus::Running, MissionStatus::Completed] {
            store
                .append(
                    &m.id,
                    MissionEvent::Status {
                        status,
                        reason: None,
                    },
                )
                .expect("append");
        }
        let events = store.events(&m.id).expect("events");
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [0, 1, 2, 3]);
        let m = store.mission(&m.id).expect("mission");
        assert_eq!(m.status, MissionStatus::Completed);
        assert_eq!(m.event_count, 4);
    }

    #[test]
    fn a_newer_schema_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("open");
            let meta = store.db().open_tree("meta").expect("meta");
            meta.insert("schema_version", &(SCHEMA_VERSION + 1).to_be_bytes())
                .expect("insert");
            store.db().flush().expect("flush");
        }
        let err = reopen(dir.path()).err().expect("must refuse");
        assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
        assert!(err.to_string().contains("newer sortie"), "{err}");
    }

    #[test]
    fn a_corrupt_event_is_reported_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let m = store.create_mission(spec()).expect("create");
        store
            .events
            .insert(event_key(&m.id, 1), b"{not json".to_vec())
            .expect("insert");
        let events = store.events(&m.id).expect("events");
        assert_eq!(events.len(), 2);
        assert!(matches!(events[0].event, MissionEvent::Created { .. }));
        assert!(
            matches!(&events[1].event, MissionEvent::Unreadable { error } if error.contains("event 1"))
        );
    }

    #[test]
    fn prefixes_resolve_when_unique() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let m = store.create_mission(spec()).expect("create");
        let text = m.id.to_string();
        assert_eq!(store.resolve(&text[..13]).expect("prefix"), m.id);
        assert!(matches!(
            store.resolve("ffffffff"),
            Err(StoreError::UnknownMission(_))
        ));
        assert!(matches!(
            store.resolve("zz"),
            Err(StoreError::UnknownMission(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn the_data_dir_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        Store::open(&home).expect("open");
        let mode = std::fs::metadata(&home).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
