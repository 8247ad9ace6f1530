//! Directories Sortie creates for itself are its owner's only (0700): they hold records of
//! processes, CLI sessions and mission temp files that other users must not read.

use std::path::Path;

/// Creates `dir` (and its parents) owner-only, and makes it owner-only when it existed.
/// Created with mode 0700 from the start, so it is never readable by others in between.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn a_new_dir_and_an_existing_open_one_end_up_owner_only() {
        let root = tempfile::tempdir().expect("tempdir");
        let new = root.path().join("a/b");
        create_private_dir(&new).expect("create");
        assert_eq!(mode(&new), 0o700);
        let open = root.path().join("open");
        std::fs::create_dir(&open).expect("mkdir");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        create_private_dir(&open).expect("again");
        assert_eq!(mode(&open), 0o700);
    }
}
