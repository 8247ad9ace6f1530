//! read_file, write_file, edit_file and list_dir.

use std::path::Path;

use serde_json::Value;

use super::{opt_u64, path_arg, str_arg, ToolError};

/// Largest file `read_file` returns whole; larger ones need a line range.
const MAX_READ: u64 = 2 * 1024 * 1024;
const MAX_ENTRIES: usize = 500;

fn rel(cwd: &Path, path: &Path) -> String {
    let root = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
    path.strip_prefix(&root)
        .map(|p| {
            if p.as_os_str().is_empty() {
                ".".into()
            } else {
                p.display().to_string()
            }
        })
        .unwrap_or_else(|_| path.display().to_string())
}

async fn read_text(cwd: &Path, path: &Path) -> Result<String, ToolError> {
    let shown = rel(cwd, path);
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    if meta.is_dir() {
        return Err(format!("`{shown}` is a directory; use list_dir"));
    }
    if meta.len() > MAX_READ * 8 {
        return Err(format!(
            "`{shown}` is {} bytes, too large to read",
            meta.len()
        ));
    }
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    if bytes.iter().take(8192).any(|b| *b == 0) {
        return Err(format!("`{shown}` looks like a binary file"));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

pub(super) async fn read(cwd: &Path, args: &Value) -> Result<String, ToolError> {
    let path = path_arg(cwd, args, "path", false)?;
    let text = read_text(cwd, &path).await?;
    let start = opt_u64(args, "start_line")?;
    let end = opt_u64(args, "end_line")?;
    if start.is_none() && end.is_none() {
        return Ok(text);
    }
    let total = text.lines().count() as u64;
    let start = start.unwrap_or(1).max(1);
    let end = end.unwrap_or(total).min(total);
    if start > end {
        return Err(format!(
            "line range {start}..={end} is empty; `{}` has {total} lines",
            rel(cwd, &path)
        ));
    }
    let body: Vec<&str> = text
        .lines()
        .skip((start - 1) as usize)
        .take((end - start + 1) as usize)
        .collect();
    Ok(format!(
        "[lines {start}-{end} of {total}]\n{}",
        body.join("\n")
    ))
}

pub(super) async fn write(cwd: &Path, args: &Value) -> Result<String, ToolError> {
    let path = path_arg(cwd, args, "path", false)?;
    let content = str_arg(args, "content")?;
    let shown = rel(cwd, &path);
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| format!("cannot create the directories for `{shown}`: {e}"))?;
    }
    tokio::fs::write(&path, content)
        .await
        .map_err(|e| format!("cannot write `{shown}`: {e}"))?;
    Ok(format!("wrote {} bytes to {shown}", content.len()))
}

pub(super) async fn edit(cwd: &Path, args: &Value) -> Result<String, ToolError> {
    let path = path_arg(cwd, args, "path", false)?;
    let old = str_arg(args, "old_text")?;
    let new = str_arg(args, "new_text")?;
    let shown = rel(cwd, &path);
    if old.is_empty() {
        return Err("old_text is empty; give the exact text to replace".into());
    }
    let text = read_text(cwd, &path).await?;
    match text.matches(old).count() {
        0 => Err(format!(
            "old_text was not found in `{shown}`; read the file again and copy the text exactly (whitespace included)"
        )),
        1 => {
            let updated = text.replacen(old, new, 1);
            tokio::fs::write(&path, &updated)
                .await
                .map_err(|e| format!("cannot write `{shown}`: {e}"))?;
            Ok(format!("edited {shown}: replaced 1 occurrence"))
        }
        n => Err(format!(
            "old_text occurs {n} times in `{shown}`; include more surrounding text so it is unique"
        )),
    }
}

pub(super) async fn list(cwd: &Path, args: &Value) -> Result<String, ToolError> {
    let path = path_arg(cwd, args, "path", true)?;
    let shown = rel(cwd, &path);
    // One trip to the blocking pool for the whole listing (not one per entry and per
    // metadata call, as tokio::fs would make).
    let listed = {
        let (path, shown) = (path.clone(), shown.clone());
        tokio::task::spawn_blocking(move || -> Result<Vec<String>, String> {
            let cannot = |e: std::io::Error| format!("cannot list `{shown}`: {e}");
            let mut entries = Vec::new();
            for entry in std::fs::read_dir(&path).map_err(cannot)? {
                let entry = entry.map_err(cannot)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                entries.push(match entry.metadata() {
                    Ok(m) if m.is_dir() => format!("{name}/"),
                    Ok(m) => format!("{name}  ({} bytes)", m.len()),
                    Err(_) => name,
                });
            }
            Ok(entries)
        })
        .await
    };
    let mut entries = listed.map_err(|e| format!("cannot list `{shown}`: {e}"))??;
    entries.sort();
    let total = entries.len();
    if total == 0 {
        return Ok(format!("{shown} is empty"));
    }
    entries.truncate(MAX_ENTRIES);
    let mut out = entries.join("\n");
    if total > MAX_ENTRIES {
        out.push_str(&format!(
            "\n[... {} more entries not shown ...]",
            total - MAX_ENTRIES
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn edit_needs_exactly_one_occurrence() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("f.txt"), "one two two").expect("write");
        let missing = edit(
            dir.path(),
            &json!({"path":"f.txt","old_text":"three","new_text":"x"}),
        )
        .await;
        assert!(missing.expect_err("missing").contains("not found"));
        let twice = edit(
            dir.path(),
            &json!({"path":"f.txt","old_text":"two","new_text":"x"}),
        )
        .await;
        assert!(twice.expect_err("twice").contains("occurs 2 times"));
        edit(
            dir.path(),
            &json!({"path":"f.txt","old_text":"one","new_text":"1"}),
        )
        .await
        .expect("once");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("f.txt")).expect("read"),
            "1 two two"
        );
    }

    #[tokio::test]
    async fn read_honours_line_ranges() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("f.txt"), "a\nb\nc\nd\n").expect("write");
        let out = read(
            dir.path(),
            &json!({"path":"f.txt","start_line":2,"end_line":3}),
        )
        .await
        .expect("read");
        assert_eq!(out, "[lines 2-3 of 4]\nb\nc");
        let err = read(dir.path(), &json!({"path":"f.txt","start_line":9}))
            .await
            .expect_err("empty range");
        assert!(err.contains("has 4 lines"), "{err}");
    }

    #[tokio::test]
    async fn write_creates_parents_and_list_shows_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), &json!({"path":"sub/new.txt","content":"hey"}))
            .await
            .expect("write");
        let out = list(dir.path(), &json!({})).await.expect("list");
        assert_eq!(out, "sub/");
        let out = list(dir.path(), &json!({"path":"sub"}))
            .await
            .expect("list");
        assert_eq!(out, "new.txt  (3 bytes)");
    }
}
