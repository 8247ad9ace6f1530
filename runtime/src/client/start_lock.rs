//! Single-flight daemon start: commands that find no daemon take `daemon.start.lock` in
//! the data dir before starting one, so five commands started together start one daemon
//! and the other four connect to it instead of racing it for the store.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs2::FileExt;

/// Held while one command starts the daemon; released on drop (and by the OS when the
/// holder dies, so a crashed starter never blocks the next one).
pub struct StartLock {
    file: File,
}

/// The lock file of a data dir.
pub fn lock_path(home: &Path) -> PathBuf {
    home.join("daemon.start.lock")
}

impl StartLock {
    /// Takes the lock, waiting at most `wait` for another command that is starting the
    /// daemon (polling: the wait stays bounded and cancellable).
    pub async fn acquire(home: &Path, wait: Duration) -> std::io::Result<Self> {
        let file = open_owner_only(&lock_path(home))?;
        let started = Instant::now();
        loop {
            match file.try_lock_exclusive() {
                Ok(()) => return Ok(Self { file }),
                Err(e) if e.kind() == fs2::lock_contended_error().kind() => {
                    if started.elapsed() >= wait {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!(
                                "another sortie command has been starting the daemon for {}s ({} is locked)",
                                wait.as_secs(),
                                lock_path(home).display()
                            ),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for StartLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.file);
    }
}

fn open_owner_only(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}
