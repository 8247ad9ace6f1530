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
//! lead them: sled recovers a prefix of the writes after a crash, and a read of a record
//! replays the events past it into it (and writes it back).
//! (sled transactions would make the two writes atomic, but each one takes a global lock
//! that waits for every flush in progress: with many missions they serialise everything.)

use std::path::{Path, PathBuf};
use std::sync::Arc;

mod backend;
mod cap;
mod durable;
mod events;
mod forks;
mod home;
mod missions;
mod models;
mod open;
mod paging;
#[cfg(feature = "postgres")]
pub mod postgres;
mod records;
mod redact;
mod schedules;
mod space;

pub use backend::{update_schedule, MissionStore};
pub use cap::set_max_event_bytes;

/// A store as the runner and the runtime hold it, whichever backend it is.
pub type SharedStore = std::sync::Arc<dyn MissionStore>;
use home::restrict;
pub use home::{check_data_dir, prepare_data_dir};
pub use models::CachedModels;
pub use paging::{MissionFilter, MissionPage};
use records::Shared;

/// The schema this build writes. A store from a newer build is refused.
pub const SCHEMA_VERSION: u32 = 1;

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
    /// The PostgreSQL store did not answer (`url` never holds the password).
    #[error("cannot reach the PostgreSQL store at {url}: {error}; check that the server runs and the URL is right")]
    Unreachable { url: String, error: String },
    /// A PostgreSQL query failed (`url` never holds the password).
    #[error("the PostgreSQL store at {url} failed: {error}")]
    Database { url: String, error: String },
    #[error("the PostgreSQL store at {url} was written by a newer sortie (schema {found}, this build reads up to {known}); upgrade sortie or use another database")]
    DatabaseTooNew { url: String, found: i64, known: i64 },
    #[error("the store URL is not valid: {0} (expected postgres://USER@HOST:PORT/DATABASE)")]
    BadUrl(String),
    /// Another live daemon holds the mission's lease: only it writes the mission's log.
    #[error("mission {id} runs on daemon `{daemon}`; only that daemon writes its log (see `sortie status` for the daemons)")]
    LeasedElsewhere { id: String, daemon: String },
    /// This daemon ran the mission under a lease it no longer holds (it stalled past the
    /// lease, and another daemon took the mission over): nothing it writes is kept.
    #[error("this daemon no longer holds mission {id}'s lease (it stalled past `lease_secs`, and another daemon took the mission over); what it still had to write is dropped")]
    LeaseLost { id: String },
    /// A live daemon already goes by this name on the shared store.
    #[error("a daemon named `{name}` already runs on this store ({host}, pid {pid}, seen {seen_secs}s ago); give this one another `[daemon] name`, or stop that one")]
    DaemonNameTaken {
        name: String,
        host: String,
        pid: i32,
        seen_secs: i64,
    },
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

impl Store {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw database, for the trees later capabilities own.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }
}

#[cfg(test)]
mod tests;
