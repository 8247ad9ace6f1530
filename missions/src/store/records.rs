//! The records in memory and the group commit: an append updates its mission's record
//! here, and [`Store::flush`] writes the records and makes the events durable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{durable, Store, StoreError};
use crate::{Mission, MissionId};

/// What the clones of one store share: append locks, the records in memory, and the group
/// commit.
pub(super) struct Shared {
    /// One mission's appends are serialised by the lock its id hashes to, which also guards
    /// the records in memory of its missions.
    pub(super) stripes: Vec<Mutex<Records>>,
    /// The `missions` tree, to write the dirty records when the last handle goes.
    pub(super) missions: sled::Tree,
    /// Appends so far, and the count the last finished flush covered.
    pub(super) written: AtomicU64,
    pub(super) flushed: AtomicU64,
    /// One flush at a time (holding when the records were last all written); callers
    /// whose writes it covered do not flush again.
    pub(super) flushing: tokio::sync::Mutex<std::time::Instant>,
    /// sled's log file, `fsync`ed at each flush (see `durable`).
    pub(super) log_file: Option<Arc<std::fs::File>>,
}

/// How often a flush writes every dirty record; in between, only the records of missions
/// that ended. (A record on disk may lag its events: a read of it replays them.)
pub(super) const RECORDS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

const STRIPES: usize = 64;

/// The longest a flush may take: a disk that stopped answering fails it rather than
/// holding every writer (and the daemon's stop) for ever.
const FLUSH_BOUND: std::time::Duration = std::time::Duration::from_secs(30);

/// The records of the missions this process works on: changed since the last flush and
/// not yet written (dirty), or as written. An append needs its mission's record; reading
/// it back from sled and decoding it at every turn cost more than the append. A record
/// leaves memory once written with its mission final, or when the mission is deleted.
pub(super) type Records = std::collections::HashMap<MissionId, Record>;

pub(super) struct Record {
    pub(super) mission: Mission,
    pub(super) dirty: bool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        for stripe in &self.stripes {
            let mut records = stripe.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = write_records(&self.missions, &mut records, true) {
                // The next read of the record replays the events into it.
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

pub(super) fn encode_record(mission: &Mission) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(mission).map_err(|e| StoreError::Corrupt {
        id: mission.id.to_string(),
        error: e.to_string(),
    })
}

impl Shared {
    pub(super) fn new(missions: sled::Tree, log_file: Option<Arc<std::fs::File>>) -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::default()).collect(),
            missions,
            written: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
            flushing: tokio::sync::Mutex::new(std::time::Instant::now()),
            log_file,
        }
    }
}

impl Store {
    /// Counts a write for the group commit of [`Store::flush`].
    pub(super) fn wrote(&self) {
        self.shared.written.fetch_add(1, Ordering::SeqCst);
    }

    pub(super) fn stripe(&self, id: &MissionId) -> std::sync::MutexGuard<'_, Records> {
        let i = id
            .as_bytes()
            .iter()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(*b as usize));
        self.shared.stripes[i % STRIPES]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
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
}
