//! What a flush guarantees. sled 0.34 makes its writes "stable" on Linux with
//! `sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)`: the data reaches the device, but
//! the file's metadata (its size, newly allocated blocks) is not written and the device's
//! cache is not flushed, so after a power loss the log may end earlier than the last
//! flush. Only its background thread calls `fsync`, every 500 ms. A crash of the process
//! (kill -9, panic) loses nothing that was flushed either way: the kernel has it.
//!
//! [`Store::flush`](super::Store::flush) is called where a step must survive (a turn's
//! start, before a tool acts, a mission's end, a new mission): after sled's flush it
//! `fsync`s the database file, so what it returned for survives a power loss too. The
//! group commit makes concurrent callers share one `fsync`.

use std::path::Path;
use std::sync::Arc;

use super::StoreError;

/// sled's log file, opened to `fsync` it.
pub(super) fn open(store_dir: &Path) -> Option<Arc<std::fs::File>> {
    std::fs::File::open(store_dir.join("db")).ok().map(Arc::new)
}

/// `fsync`s the log file (off the async runtime).
pub(super) async fn sync(file: Option<Arc<std::fs::File>>) -> Result<(), StoreError> {
    let Some(file) = file else {
        return Ok(());
    };
    tokio::task::spawn_blocking(move || file.sync_all())
        .await
        .map_err(|e| StoreError::Sled(sled::Error::Io(std::io::Error::other(e.to_string()))))?
        .map_err(|e| StoreError::Sled(sled::Error::Io(e)).normalised())
}

impl StoreError {
    /// A disk-full I/O error as [`StoreError::DiskFull`].
    fn normalised(self) -> Self {
        match self {
            StoreError::Sled(e) => StoreError::from(e),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_flush_fsyncs_the_file_sled_writes_its_log_to() {
        let dir = tempfile::tempdir().expect("dir");
        let store = super::super::Store::open(dir.path()).expect("open");
        // Were sled to name its log otherwise, the fsync would quietly do nothing.
        let file = store
            .shared
            .log_file
            .clone()
            .expect("sled's log file is store/db");
        let before = file.metadata().expect("meta").len();
        assert!(before > 0, "store/db is where sled writes");
        store.flush().await.expect("flush");
    }
}
