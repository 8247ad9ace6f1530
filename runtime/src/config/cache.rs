//! The daemon's view of `config.toml`: parsed again only when the file changed.

use std::path::{Path, PathBuf};

use super::{Config, ConfigError};

/// `config.toml` as the daemon reads it for every mission it starts: parsed again only when
/// the file changed (its size, times or inode differ), so a thousand missions started at
/// once do not read and parse it a thousand times, and an edit is seen by the next mission.
pub struct ConfigCache {
    home: PathBuf,
    last: std::sync::Mutex<Option<(Option<FileStamp>, std::sync::Arc<Config>)>>,
}

/// What tells one version of a file from another without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    /// Change time and inode (a file replaced through a rename keeps neither).
    changed: (i64, i64),
    inode: u64,
}

/// The stamp of the file at `path`; `None` when there is no file.
fn file_stamp(path: &Path) -> std::io::Result<Option<FileStamp>> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    #[cfg(unix)]
    let (changed, inode) = {
        use std::os::unix::fs::MetadataExt;
        ((meta.ctime(), meta.ctime_nsec()), meta.ino())
    };
    #[cfg(not(unix))]
    let (changed, inode) = ((0, 0), 0);
    Ok(Some(FileStamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        changed,
        inode,
    }))
}

impl ConfigCache {
    pub fn new(home: PathBuf) -> Self {
        Self {
            home,
            last: std::sync::Mutex::new(None),
        }
    }

    /// The config as the file now says; a file that cannot be read or parsed is an error
    /// every time, as with [`Config::load`].
    pub fn load(&self) -> Result<std::sync::Arc<Config>, ConfigError> {
        let path = self.home.join("config.toml");
        // Stamped before reading: a change in between is seen at the next load.
        let Ok(stamp) = file_stamp(&path) else {
            return Config::load(&self.home).map(std::sync::Arc::new);
        };
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, config)) = &*last {
            if *seen == stamp {
                return Ok(config.clone());
            }
        }
        let config = std::sync::Arc::new(Config::load(&self.home)?);
        *last = Some((stamp, config.clone()));
        Ok(config)
    }
}
