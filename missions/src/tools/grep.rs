//! grep: a regular expression over the files under a path.

use std::path::Path;

use serde_json::Value;

use super::{path_arg, str_arg, ToolError};

const MAX_MATCHES: usize = 200;
const MAX_FILE: u64 = 4 * 1024 * 1024;
const SKIP_DIRS: &[&str] = &[".git", "target", "node_modules", ".hg", ".svn"];

/// Searches under the path; directories in `skip` (the sandbox's denied ones) are passed by.
pub(super) async fn run(
    cwd: &Path,
    args: &Value,
    skip: Vec<std::path::PathBuf>,
) -> Result<String, ToolError> {
    let pattern = str_arg(args, "pattern")?.to_string();
    let regex = regex::Regex::new(&pattern).map_err(|e| format!("invalid pattern: {e}"))?;
    let root = path_arg(cwd, args, "path", true)?;
    let base = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
    tokio::task::spawn_blocking(move || search(&regex, &root, &base, &skip))
        .await
        .map_err(|e| format!("grep stopped: {e}"))?
}

fn search(
    regex: &regex::Regex,
    root: &Path,
    base: &Path,
    skip: &[std::path::PathBuf],
) -> Result<String, ToolError> {
    if !root.exists() {
        return Err(format!("`{}` does not exist", root.display()));
    }
    let mut lines = Vec::new();
    let mut more = 0usize;
    let walker = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            !(e.file_type().is_dir()
                && (SKIP_DIRS.contains(&e.file_name().to_string_lossy().as_ref())
                    || skip.iter().any(|d| e.path() == d)))
        });
    for entry in walker.filter_map(Result::ok) {
        if !entry.file_type().is_file() || entry.metadata().map_or(true, |m| m.len() > MAX_FILE) {
            continue;
        }
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        if bytes.iter().take(8192).any(|b| *b == 0) {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        let shown = entry
            .path()
            .strip_prefix(base)
            .unwrap_or(entry.path())
            .display()
            .to_string();
        for (n, line) in text.lines().enumerate() {
            if regex.is_match(line) {
                if lines.len() < MAX_MATCHES {
                    let line: String = line.chars().take(300).collect();
                    lines.push(format!("{shown}:{}: {line}", n + 1));
                } else {
                    more += 1;
                }
            }
        }
    }
    if lines.is_empty() {
        return Ok("no matches".into());
    }
    let mut out = lines.join("\n");
    if more > 0 {
        out.push_str(&format!(
            "\n[... {more} more matches not shown; narrow the pattern or path ...]"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn finds_matches_with_paths_and_line_numbers_and_skips_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("src")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("target")).expect("mkdir");
        std::fs::write(dir.path().join("src/a.rs"), "fn main() {}\n// TODO: x\n").expect("write");
        std::fs::write(dir.path().join("target/b.rs"), "// TODO: built\n").expect("write");
        let out = run(dir.path(), &json!({"pattern":"TODO"}), Vec::new())
            .await
            .expect("grep");
        assert_eq!(out, "src/a.rs:2: // TODO: x");
        let err = run(dir.path(), &json!({"pattern":"("}), Vec::new())
            .await
            .expect_err("bad regex");
        assert!(err.contains("invalid pattern"));
    }
}
