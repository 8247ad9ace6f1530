//! Project instructions: the `AGENTS.md` files (or `CLAUDE.md` where no `AGENTS.md` stands
//! beside it) from the repository root down to the mission's directory, the user's own
//! `$SORTIE_HOME/AGENTS.md`, and any extra files the config names, joined outermost first
//! and capped. A file that cannot be used is skipped with a warning; it never fails the
//! mission.

use std::io::Read;
use std::path::{Path, PathBuf};

/// The most instruction text a system prompt gets.
pub const MAX_INSTRUCTIONS: usize = 32 * 1024;
/// A file larger than this is not read at all.
const MAX_FILE: u64 = 1024 * 1024;

/// Where a runner looks for instructions.
#[derive(Debug, Clone, Default)]
pub struct InstructionSources {
    /// The data dir, for the user's own `AGENTS.md`.
    pub home: Option<PathBuf>,
    /// More files (absolute, or relative to the mission's directory), after the user's own.
    pub extra: Vec<PathBuf>,
}

/// What was gathered for one mission.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Instructions {
    /// The text for the system prompt (empty when no file was used).
    pub text: String,
    /// The files used, in the order joined.
    pub files: Vec<PathBuf>,
    /// True when the text was cut at [`MAX_INSTRUCTIONS`].
    pub cut: bool,
    /// Why files were skipped, one sentence each.
    pub warnings: Vec<String>,
}

/// The repository root above `dir`: the nearest directory holding `.git`; `None` outside
/// a repository.
fn repo_root(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

/// The instruction file of one directory: `AGENTS.md`, else `CLAUDE.md`.
fn file_in(dir: &Path) -> Option<PathBuf> {
    ["AGENTS.md", "CLAUDE.md"]
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.symlink_metadata().is_ok())
}

/// The files to read, outermost first: the user's own, the extra ones, then the
/// repository's from its root down to `cwd` (only `cwd`'s outside a repository). Each with
/// the directory a symlink must stay inside (`None`: no limit).
fn candidates(cwd: &Path, sources: &InstructionSources) -> Vec<(PathBuf, Option<PathBuf>)> {
    let mut out = Vec::new();
    if let Some(home) = &sources.home {
        let own = home.join("AGENTS.md");
        if own.symlink_metadata().is_ok() {
            out.push((own, None));
        }
    }
    for extra in &sources.extra {
        out.push((cwd.join(extra), None));
    }
    let root = repo_root(cwd);
    let top = root.clone().unwrap_or_else(|| cwd.to_path_buf());
    let mut dirs: Vec<&Path> = cwd
        .ancestors()
        .take_while(|d| d.starts_with(&top))
        .collect();
    dirs.reverse();
    for dir in dirs {
        if let Some(file) = file_in(dir) {
            out.push((file, Some(top.clone())));
        }
    }
    out
}

/// Reads one file, or says why it cannot be used.
fn read(path: &Path, inside: Option<&Path>) -> Result<String, String> {
    let shown = path.display();
    let meta = path
        .symlink_metadata()
        .map_err(|e| format!("instructions file {shown} cannot be read: {e}"))?;
    if meta.file_type().is_symlink() {
        let target = path
            .canonicalize()
            .map_err(|e| format!("instructions file {shown} is a broken symlink: {e}"))?;
        let limit = inside.map(|d| d.canonicalize().unwrap_or_else(|_| d.to_path_buf()));
        if let Some(limit) = limit.filter(|l| !target.starts_with(l)) {
            return Err(format!(
                "instructions file {shown} is a symlink to {}, outside the repository {}; skipped",
                target.display(),
                limit.display()
            ));
        }
    }
    let file = std::fs::File::open(path)
        .map_err(|e| format!("instructions file {shown} cannot be read: {e}"))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(format!(
            "instructions file {shown} is not a regular file; skipped"
        ));
    }
    if size > MAX_FILE {
        return Err(format!(
            "instructions file {shown} is {size} bytes, more than the {MAX_FILE} read; skipped"
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("instructions file {shown} cannot be read: {e}"))?;
    if bytes.contains(&0) {
        return Err(format!("instructions file {shown} is binary; skipped"));
    }
    String::from_utf8(bytes)
        .map_err(|_| format!("instructions file {shown} is not UTF-8 text; skipped"))
}

/// Gathers the instructions for a mission working in `cwd`.
pub fn gather(cwd: &Path, sources: &InstructionSources) -> Instructions {
    let mut found = Instructions::default();
    let mut text = String::new();
    for (path, inside) in candidates(cwd, sources) {
        match read(&path, inside.as_deref()) {
            Ok(body) if body.trim().is_empty() => {}
            Ok(body) => {
                text.push_str(&format!(
                    "\n\n## From {}\n\n{}",
                    path.display(),
                    body.trim_end()
                ));
                found.files.push(path);
            }
            Err(warning) => found.warnings.push(warning),
        }
    }
    if text.is_empty() {
        return found;
    }
    if text.len() > MAX_INSTRUCTIONS {
        let end = sortie_transports::text::head(&text, MAX_INSTRUCTIONS).len();
        let dropped = text.len() - end;
        text.truncate(end);
        text.push_str(&format!(
            "\n\n[instructions cut at {} KiB: {dropped} more bytes not shown]",
            MAX_INSTRUCTIONS / 1024
        ));
        found.cut = true;
        found.warnings.push(format!(
            "the project instructions are cut at {} KiB ({dropped} bytes left out)",
            MAX_INSTRUCTIONS / 1024
        ));
    }
    found.text = format!(
        "# Project instructions\n\nThe user and the repository keep these instructions for agents, outermost first (later ones are more specific).{text}"
    );
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn nested_files_join_outermost_first_with_claude_md_only_where_no_agents_md() {
        let home = tempfile::tempdir().expect("home");
        let repo = tempfile::tempdir().expect("repo");
        let root = repo.path().canonicalize().expect("canon");
        std::fs::create_dir(root.join(".git")).expect("git");
        write(&home.path().join("AGENTS.md"), "USER RULES");
        write(&root.join("AGENTS.md"), "ROOT RULES");
        write(&root.join("CLAUDE.md"), "IGNORED CLAUDE");
        write(&root.join("a/CLAUDE.md"), "A CLAUDE RULES");
        write(&root.join("a/b/AGENTS.md"), "B RULES");
        write(&root.join("extra.md"), "EXTRA RULES");
        let cwd = root.join("a/b");
        let sources = InstructionSources {
            home: Some(home.path().to_path_buf()),
            extra: vec![PathBuf::from("../../extra.md")],
        };
        let found = gather(&cwd, &sources);
        let order: Vec<usize> = ["USER", "EXTRA", "ROOT", "A CLAUDE", "B RULES"]
            .iter()
            .map(|s| found.text.find(s).expect(s))
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{}", found.text);
        assert!(!found.text.contains("IGNORED"));
        assert_eq!(found.files.len(), 5);
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
        assert!(!found.cut);
    }

    #[test]
    fn the_text_is_capped_and_says_so() {
        let repo = tempfile::tempdir().expect("repo");
        write(&repo.path().join("AGENTS.md"), &"é".repeat(40 * 1024));
        let found = gather(repo.path(), &InstructionSources::default());
        assert!(found.cut);
        assert!(found.text.contains("[instructions cut at 32 KiB"));
        assert!(found.text.len() < MAX_INSTRUCTIONS + 400);
        assert_eq!(found.warnings.len(), 1);
    }

    #[test]
    fn huge_binary_and_escaping_files_are_skipped_with_a_warning() {
        let repo = tempfile::tempdir().expect("repo");
        let outside = tempfile::tempdir().expect("outside");
        let root = repo.path();
        std::fs::create_dir(root.join(".git")).expect("git");
        write(&root.join("AGENTS.md"), "bin\0ary");
        write(&outside.path().join("secret.md"), "SECRET");
        std::fs::create_dir_all(root.join("a/b")).expect("dirs");
        std::os::unix::fs::symlink(outside.path().join("secret.md"), root.join("a/AGENTS.md"))
            .expect("link");
        let big = std::fs::File::create(root.join("a/b/AGENTS.md")).expect("big");
        big.set_len(MAX_FILE + 1).expect("size");
        let found = gather(&root.join("a/b"), &InstructionSources::default());
        assert!(found.text.is_empty());
        assert!(found.files.is_empty());
        let said = found.warnings.join("\n");
        assert!(said.contains("is binary"), "{said}");
        assert!(said.contains("outside the repository"), "{said}");
        assert!(said.contains("more than the"), "{said}");
        assert!(!said.contains("SECRET"));
    }
}
