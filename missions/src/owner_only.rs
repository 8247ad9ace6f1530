//! Files Sortie writes are owner-only (0600, directories 0700): the store holds prompts,
//! outputs and credentials, which other users of the machine must not read.

use std::path::Path;

/// Makes every file under `dir` owner-only (0600) and every directory 0700. Files the
/// store's engine creates with the default mode are fixed here each time it is opened.
pub fn restrict_files(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let mode = if kind.is_dir() {
                restrict_files(&path);
                0o700
            } else if kind.is_file() {
                0o600
            } else {
                continue; // symlinks and the like are left alone
            };
            if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)) {
                tracing::warn!("cannot make {} owner-only: {e}", path.display());
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Opens `path` for appending, created owner-only (and made so when it already existed).
pub fn append_owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn files_and_directories_become_owner_only() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir(dir.path().join("blobs")).expect("mkdir");
        std::fs::write(dir.path().join("db"), "x").expect("write");
        std::fs::write(dir.path().join("blobs/1"), "x").expect("write");
        std::fs::set_permissions(
            dir.path().join("db"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        restrict_files(dir.path());
        let mode = |p: &str| {
            std::fs::metadata(dir.path().join(p))
                .expect("meta")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("db"), 0o600);
        assert_eq!(mode("blobs/1"), 0o600);
        assert_eq!(mode("blobs"), 0o700);
        let log = dir.path().join("daemon.log");
        std::fs::write(&log, "old").expect("write");
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        drop(append_owner_only(&log).expect("open"));
        assert_eq!(mode("daemon.log"), 0o600);
    }
}
