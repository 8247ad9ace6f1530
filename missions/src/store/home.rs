//! The data dir holds prompts, outputs, tokens and `config.toml` (which says where keys
//! are sent), so only its owner may write it. An existing one that another user owns, or
//! that group or others can write, is refused rather than trusted; its mode is left as it
//! is. Only a directory Sortie creates is made owner-only (0700).

use std::path::Path;

use super::StoreError;

/// Refuses a data dir that another user owns or that others can write. A missing one is
/// fine (it is created owner-only when first needed).
pub fn check_data_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = match std::fs::metadata(dir) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(StoreError::CreateDir {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        };
        let unsafe_dir = |reason: String| StoreError::UnsafeDataDir {
            path: dir.to_path_buf(),
            reason,
        };
        if !meta.is_dir() {
            return Err(unsafe_dir("it is not a directory".into()));
        }
        let me = nix::unistd::geteuid().as_raw();
        if meta.uid() != me {
            return Err(unsafe_dir(format!(
                "it belongs to user id {}, not to you (user id {me}); its config.toml could send your keys anywhere",
                meta.uid()
            )));
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(unsafe_dir(format!(
                "its mode {mode:04o} lets {} write in it; run `chmod go-w {}` (or 700), or use another directory",
                if mode & 0o002 != 0 { "every user" } else { "its group" },
                dir.display()
            )));
        }
    }
    Ok(())
}

/// Checks `dir` if it exists, else creates it (and its parents) owner-only.
pub fn prepare_data_dir(dir: &Path) -> Result<(), StoreError> {
    if dir.exists() {
        return check_data_dir(dir);
    }
    create_private_dir(dir)
}

/// Creates `dir` and makes it owner-only (it is Sortie's own).
pub(super) fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    restrict(dir);
    Ok(())
}

/// Makes a directory Sortie created owner-only.
pub(super) fn restrict(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
            tracing::warn!("cannot make {} owner-only: {e}", dir.display());
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(dir: &Path) -> u32 {
        std::fs::metadata(dir).expect("meta").permissions().mode() & 0o7777
    }

    #[test]
    fn a_home_others_can_write_is_refused_and_left_as_it_is() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777))
            .expect("chmod");
        let e = super::super::Store::open(dir.path())
            .err()
            .expect("refused");
        assert!(e.to_string().contains("every user"), "{e}");
        assert_eq!(mode(dir.path()), 0o1777);
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o770))
            .expect("chmod");
        let e = check_data_dir(dir.path()).expect_err("group-writable");
        assert!(e.to_string().contains("its group"), "{e}");
    }

    #[test]
    fn an_existing_private_enough_home_keeps_its_mode() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o750))
            .expect("chmod");
        super::super::Store::open(dir.path()).expect("open");
        assert_eq!(mode(dir.path()), 0o750);
    }
}
