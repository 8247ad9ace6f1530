//! The file-system half of the sandbox: Landlock rules that allow reading everything but
//! the denied paths, and writing only the writable ones.
//!
//! Landlock only grants, so "everything but X" is built by granting every sibling along
//! the path to X: `/` minus `/home/me/.sortie` becomes `/bin`, `/etc`, ..., `/home/other`,
//! `/home/me/code`, ... Directories on the way to a denied path can be walked through but
//! not listed.

use std::path::{Path, PathBuf};

use landlock::{
    path_beneath_rules, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetError,
    RulesetStatus, Scope, ABI,
};

use super::FsRules;
use crate::probe::Outcome;

/// The newest file-system rights whose meaning this sandbox was written for.
const ABI_FS: ABI = ABI::V5;

/// Devices any program may write to. Not `/dev/tty`: a command could push keystrokes into
/// the terminal of whoever started Sortie (TIOCSTI).
const DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full"];

/// Confines this process (and what it starts) to `rules`.
pub(super) fn restrict(rules: &FsRules) -> Outcome {
    match apply(rules) {
        Ok(RulesetStatus::FullyEnforced) => Outcome::Enforced,
        Ok(RulesetStatus::PartiallyEnforced) => Outcome::Partial {
            reason: "this kernel's Landlock lacks some of the rights asked for".into(),
        },
        Ok(RulesetStatus::NotEnforced) => Outcome::Missing {
            reason: "Landlock is not enabled in this kernel".into(),
        },
        Err(e) => Outcome::Missing {
            reason: format!("Landlock: {e}"),
        },
    }
}

fn apply(rules: &FsRules) -> Result<RulesetStatus, RulesetError> {
    let all = AccessFs::from_all(ABI_FS);
    let read = AccessFs::from_read(ABI_FS);
    let deny: Vec<PathBuf> = rules
        .deny_read
        .iter()
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    let mut readable = Vec::new();
    grant(Path::new("/"), &deny, &mut readable);
    let mut writable = Vec::new();
    for root in &rules.writable {
        if let Ok(real) = root.canonicalize() {
            grant(&real, &deny, &mut writable);
        }
    }
    // Signals and abstract unix sockets stop at the sandbox's edge (Landlock ABI 6, where
    // the kernel has it): a command cannot stop its owner or talk to a session bus or X.
    let status = Ruleset::default()
        .handle_access(all)?
        .scope(Scope::Signal)?
        .scope(Scope::AbstractUnixSocket)?
        .create()?
        .add_rules(path_beneath_rules(readable, read))?
        .add_rules(path_beneath_rules(writable, all))?
        .add_rules(path_beneath_rules(DEVICES, all))?
        .restrict_self()?;
    Ok(status.ruleset)
}

/// Adds `root` to `out`, or, when a denied path lies below it, each of its entries but
/// the denied ones (symlinks are skipped: their targets are granted or not on their own).
fn grant(root: &Path, deny: &[PathBuf], out: &mut Vec<PathBuf>) {
    if deny.iter().any(|d| d == root) {
        return;
    }
    if !deny.iter().any(|d| d.starts_with(root)) {
        out.push(root.to_path_buf());
        return;
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| !t.is_symlink()) {
            grant(&entry.path(), deny, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_but_the_denied_path_is_granted_sibling_by_sibling() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canon");
        for d in ["a/secret/x", "a/open", "b"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        std::fs::write(root.join("a/file"), "x").expect("write");
        std::os::unix::fs::symlink(root.join("a/secret"), root.join("a/link")).expect("ln");
        let mut out = Vec::new();
        grant(&root, &[root.join("a/secret")], &mut out);
        out.sort();
        assert_eq!(
            out,
            [root.join("a/file"), root.join("a/open"), root.join("b")]
        );
        let mut whole = Vec::new();
        grant(&root.join("b"), &[root.join("a/secret")], &mut whole);
        assert_eq!(whole, [root.join("b")]);
        let mut none = Vec::new();
        grant(&root.join("a/secret"), &[root.join("a/secret")], &mut none);
        assert!(none.is_empty());
    }
}
