//! Keeps every tool path inside the mission's working directory.
//!
//! The decision is made on what the path really names: each component is looked at with
//! `symlink_metadata`, and a symlink is followed by hand (relative or absolute, dangling or
//! not), so a link whose target does not exist yet cannot carry a write outside the tree.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

/// Symlinks followed for one path before giving up, as the kernel's own limit.
const MAX_HOPS: usize = 40;

/// Resolves `raw` against `cwd` to the path it really names (every symlink followed, the
/// part that does not exist yet kept as written) and refuses anything that lands outside
/// the working directory, by `..`, by an absolute path, or through a symlink.
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
    let real = real_path(&joined).map_err(|e| format!("cannot resolve `{raw}`: {e}"))?;
    if !real.starts_with(&root) {
        return Err(format!(
            "`{raw}` is outside the working directory {}",
            root.display()
        ));
    }
    Ok(real)
}

/// One step of a path still to walk.
enum Step {
    Root,
    Up,
    Name(OsString),
}

fn steps(path: &Path) -> Vec<Step> {
    path.components()
        .filter_map(|c| match c {
            Component::RootDir | Component::Prefix(_) => Some(Step::Root),
            Component::CurDir => None,
            Component::ParentDir => Some(Step::Up),
            Component::Normal(n) => Some(Step::Name(n.to_os_string())),
        })
        .collect()
}

/// `path` (absolute) with every symlink resolved, component by component, as the kernel
/// would; from the first component that does not exist on, the rest is taken as written.
fn real_path(path: &Path) -> Result<PathBuf, String> {
    // A stack: the next step to take is at the end.
    let mut todo: Vec<Step> = steps(path);
    todo.reverse();
    let mut out = PathBuf::from("/");
    let mut hops = 0;
    let mut missing = false;
    while let Some(step) = todo.pop() {
        let name = match step {
            Step::Root => {
                out = PathBuf::from("/");
                continue;
            }
            Step::Up => {
                out.pop();
                continue;
            }
            Step::Name(name) => name,
        };
        out.push(&name);
        if missing {
            continue;
        }
        let meta = match std::fs::symlink_metadata(&out) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                missing = true;
                continue;
            }
            Err(e) => return Err(e.to_string()),
        };
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > MAX_HOPS {
                return Err(format!("too many symlinks (more than {MAX_HOPS})"));
            }
            let target = std::fs::read_link(&out).map_err(|e| e.to_string())?;
            out.pop();
            let mut next = steps(&target);
            next.reverse();
            todo.extend(next);
        }
    }
    Ok(out)
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

    #[cfg(unix)]
    #[test]
    fn a_dangling_symlink_that_leads_outside_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        let target = outside.path().join("new.txt");
        std::os::unix::fs::symlink(&target, dir.path().join("link")).expect("symlink");
        let err = resolve_in(dir.path(), "link").expect_err("must refuse");
        assert!(err.contains("outside the working directory"), "{err}");
        let err = resolve_in(dir.path(), "link/under").expect_err("must refuse");
        assert!(err.contains("outside the working directory"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_relative_symlink_that_leads_outside_is_refused() {
        let parent = tempfile::tempdir().expect("tempdir");
        let cwd = parent.path().join("work");
        std::fs::create_dir(&cwd).expect("mkdir");
        std::fs::create_dir(parent.path().join("elsewhere")).expect("mkdir");
        std::os::unix::fs::symlink("../elsewhere/new.txt", cwd.join("link")).expect("symlink");
        std::os::unix::fs::symlink("../elsewhere", cwd.join("dir")).expect("symlink");
        for raw in ["link", "dir/x.txt", "dir"] {
            let err = resolve_in(&cwd, raw).expect_err(raw);
            assert!(
                err.contains("outside the working directory"),
                "{raw}: {err}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_that_stay_inside_resolve_to_their_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canon");
        std::fs::create_dir(root.join("real")).expect("mkdir");
        std::os::unix::fs::symlink("real", root.join("alias")).expect("symlink");
        std::os::unix::fs::symlink("real/new.txt", root.join("pending")).expect("symlink");
        assert_eq!(
            resolve_in(&root, "alias/a.txt").expect("inside"),
            root.join("real/a.txt")
        );
        assert_eq!(
            resolve_in(&root, "pending").expect("dangling but inside"),
            root.join("real/new.txt")
        );
        std::os::unix::fs::symlink("loop", root.join("loop")).expect("symlink");
        let err = resolve_in(&root, "loop").expect_err("a loop");
        assert!(err.contains("too many symlinks"), "{err}");
    }
}
