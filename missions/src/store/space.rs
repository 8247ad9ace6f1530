//! A full disk under the data dir. sled writes into segments it allocated ahead, so a full
//! file system shows late, and a failed write can leave a mission half-recorded. The store
//! therefore keeps a margin: below [`MIN_FREE_BYTES`] free it refuses new work
//! ([`StoreError::DiskFull`], 507 over the API) while the margin still holds what running
//! missions need to record how they ended. A write that fails with ENOSPC anyway is the
//! same error.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Store, StoreError};

/// Set once sled failed a write for want of space. sled 0.34 keeps that error and fails
/// every later write with it, space or not, until the database is opened again.
static WRITE_FAILED: AtomicBool = AtomicBool::new(false);

/// Free space kept for running missions to record their end.
pub const MIN_FREE_BYTES: u64 = 4 * 1024 * 1024;

/// Bytes free for this user on the file system holding `path`.
fn free_bytes(path: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        let s = nix::sys::statvfs::statvfs(path).ok()?;
        Some(s.blocks_available() as u64 * s.fragment_size() as u64)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// True for an I/O error that says the disk is full.
pub(super) fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}

impl Store {
    /// True once a write failed for want of space: the store must be opened again (the
    /// daemon restarts itself once there is room).
    pub fn write_failed(&self) -> bool {
        WRITE_FAILED.load(Ordering::SeqCst)
    }

    /// Refuses new work when the data dir's file system has less than
    /// [`MIN_FREE_BYTES`] free.
    pub fn check_space(&self) -> Result<(), StoreError> {
        match free_bytes(&self.path) {
            Some(free) if free < MIN_FREE_BYTES => Err(StoreError::DiskFull {
                detail: format!(
                    "{} KiB free, {} MiB needed",
                    free / 1024,
                    MIN_FREE_BYTES / (1024 * 1024)
                ),
            }),
            _ => Ok(()),
        }
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        match &e {
            sled::Error::Io(io) if is_disk_full(io) => {
                WRITE_FAILED.store(true, Ordering::SeqCst);
                StoreError::DiskFull {
                    detail: "a write failed: no space left on the device".into(),
                }
            }
            _ => StoreError::Sled(e),
        }
    }
}
