//! read_file, write_file, edit_file and list_dir.

use std::path::Path;

use serde_json::Value;

use super::{open, opt_u64, path_arg, str_arg, ToolError};

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

/// The text of a regular file; a binary one is refused.
fn decode(bytes: Vec<u8>, shown: &str) -> Result<String, ToolError> {
    if bytes.iter().take(8192).any(|b| *b == 0) {
        return Err(format!("`{shown}` looks like a binary file"));
    }
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

async fn read_text(cwd: &Path, path: &Path) -> Result<String, ToolError> {
    let shown = rel(cwd, path);
    decode(open::read(path, &shown, MAX_READ * 8).await?, &shown)
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
    open::write(&path, &shown, content.to_string()).await?;
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
    let (old, new) = (old.to_string(), new.to_string());
    let replaced = shown.clone();
    open::update(&path, &shown.clone(), MAX_READ * 8, move |bytes| {
        let text = decode(bytes, &shown)?;
        match text.matches(&old).count() {
            0 => Err(format!(
                "old_text was not found in `{shown}`; read the file again and copy the text exactly (whitespace included)"
            )),
            1 => Ok((text.replacen(&old, &new, 1), ())),
            n => Err(format!(
                "old_text occurs {n} times in `{shown}`; include more surrounding text so it is unique"
            )),
        }
    })
    .await?;
    Ok(format!("edited {replaced}: replaced 1 occurrence"))
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

    #[tokio::test]
    async fn writing_or_editing_through_a_hard_link_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        let secret = outside.path().join("secret.txt");
        std::fs::write(&secret, "keep me").expect("write");
        std::fs::hard_link(&secret, dir.path().join("link.txt")).expect("hard link");
        let err = write(dir.path(), &json!({"path":"link.txt","content":"changed"}))
            .await
            .expect_err("write through a hard link");
        assert!(err.contains("hard link"), "{err}");
        let err = edit(
            dir.path(),
            &json!({"path":"link.txt","old_text":"keep","new_text":"lost"}),
        )
        .await
        .expect_err("edit through a hard link");
        assert!(err.contains("hard link"), "{err}");
        assert_eq!(std::fs::read_to_string(&secret).expect("read"), "keep me");
        // Reading it is harmless.
        let out = read(dir.path(), &json!({"path":"link.txt"}))
            .await
            .expect("read");
        assert_eq!(out, "keep me");
    }

    #[tokio::test]
    async fn a_dangling_symlink_out_of_the_tree_is_not_written_through() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        let target = outside.path().join("new.txt");
        std::os::unix::fs::symlink(&target, dir.path().join("link")).expect("symlink");
        let err = write(dir.path(), &json!({"path":"link","content":"x"}))
            .await
            .expect_err("must refuse");
        assert!(err.contains("outside the working directory"), "{err}");
        assert!(!target.exists(), "wrote outside through a dangling symlink");
    }

    /// Runs a file tool on a FIFO with nobody at its other end; it must answer at once.
    async fn on_fifo(
        dir: &Path,
        call: impl std::future::Future<Output = Result<String, ToolError>>,
    ) -> Result<String, ToolError> {
        let answered = tokio::time::timeout(std::time::Duration::from_secs(5), call).await;
        if answered.is_err() {
            // Release the blocked reader or writer so the test ends, then fail.
            let fifo = dir.join("pipe");
            let _ = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&fifo);
        }
        answered.expect("a FIFO blocked the tool")
    }

    #[tokio::test]
    async fn fifos_and_sockets_are_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let made = std::process::Command::new("mkfifo")
            .arg(dir.path().join("pipe"))
            .status()
            .expect("mkfifo");
        assert!(made.success());
        let _socket =
            std::os::unix::net::UnixListener::bind(dir.path().join("sock")).expect("socket");
        for path in ["pipe", "sock"] {
            let err = on_fifo(dir.path(), read(dir.path(), &json!({ "path": path })))
                .await
                .expect_err("read");
            assert!(err.contains("not a regular file"), "{path}: {err}");
            let err = on_fifo(
                dir.path(),
                write(dir.path(), &json!({"path": path, "content": "x"})),
            )
            .await
            .expect_err("write");
            assert!(err.contains("not a regular file"), "{path}: {err}");
            let args = json!({"path": path, "old_text": "a", "new_text": "b"});
            let err = on_fifo(dir.path(), edit(dir.path(), &args))
                .await
                .expect_err("edit");
            assert!(err.contains("not a regular file"), "{path}: {err}");
        }
    }
}
