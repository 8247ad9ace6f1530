//! Keeps every tool path inside the mission's working directory.

use std::path::{Component, Path, PathBuf};

/// Resolves `raw` against `cwd` and refuses anything that would land outside it, by
/// `..`, by an absolute path, or through a symlink.
pub fn resolve_in(cwd: &Path, raw: &str) -> Result<PathBuf, String> {
    let root = cwd
        .canonicalize()
        .map_err(|e| format!("the working directory {} is not usable: {e}", cwd.display()))?;
    let candidate = Path::new(raw);
    let joined = if candidate.is_absolute() {
        candidate.to_path_buf()
    } else {
        root.join(candidate)
    };
    let mut normal = PathBuf::new();
    for part in joined.components() {
        match part {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other.as_os_str()),
        }
    }
    let outside = || {
        format!(
            "`{raw}` is outside the working directory {}",
            root.display()
        )
    };
    if !normal.starts_with(&root) {
        return Err(outside());
    }
    // A symlink inside the tree may still point out of it: check the deepest part that exists.
    let mut existing = normal.as_path();
    while !existing.exists() {
        match existing.parent() {
            Some(parent) => existing = parent,
            None => break,
        }
    }
    let real = existing
        .canonicalize()
        .map_err(|e| format!("cannot resolve `{raw}`: {e}"))?;
    if !real.starts_with(&root) {
        return Err(outside());
    }
    Ok(normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_working_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canon");
        assert_eq!(
            resolve_in(&root, "a/b.txt").expect("inside"),
            root.join("a/b.txt")
        );
        assert_eq!(resolve_in(&root, "a/../c").expect("inside"), root.join("c"));
        assert!(resolve_in(&root, "../escape").is_err());
        assert!(resolve_in(&root, "/etc/passwd").is_err());
        assert_eq!(
            resolve_in(&root, root.join("x").to_str().expect("utf8")).expect("absolute inside"),
            root.join("x")
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_tree_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).expect("symlink");
        let err = resolve_in(dir.path(), "link/secret").expect_err("must refuse");
        assert!(err.contains("outside the working directory"), "{err}");
    }
}
