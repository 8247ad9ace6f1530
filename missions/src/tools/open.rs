//! How the file tools open files: never through a symlink at the last component, never
//! waiting on a FIFO, socket or device (they are refused), and never writing a file that
//! has other names (a hard link may be the same file as one outside the working directory).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::ToolError;

/// What a tool does with the file it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    /// Write, creating it when missing.
    Create,
    /// Read, then write back.
    Update,
}

/// What kind of thing a non-regular file is, for the error.
fn kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
    }
    if t.is_symlink() {
        "a symlink"
    } else {
        "not a plain file"
    }
}

/// Refuses anything but a regular file (and, for writing, one with a single name).
fn check(meta: &std::fs::Metadata, shown: &str, access: Access) -> Result<(), ToolError> {
    if meta.is_dir() {
        return Err(format!("`{shown}` is a directory; use list_dir"));
    }
    if !meta.file_type().is_file() {
        return Err(format!(
            "`{shown}` is not a regular file ({}); the file tools only read and write regular files",
            kind(meta)
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if access != Access::Read && meta.nlink() > 1 {
            return Err(format!(
                "`{shown}` has {} hard links: writing through it could change a file outside the working directory, so it is refused (write a new file instead)",
                meta.nlink()
            ));
        }
    }
    Ok(())
}

/// Opens `path` for `access` after the checks above, on the file itself (not its name).
fn open(path: &Path, shown: &str, access: Access) -> Result<File, ToolError> {
    // Looked at before opening, so a FIFO or device is never opened at all; checked again
    // on the open file, so a swap in between changes nothing.
    match std::fs::symlink_metadata(path) {
        Ok(meta) => check(&meta, shown, access)?,
        Err(e) if e.kind() == ErrorKind::NotFound && access == Access::Create => {}
        Err(e) => return Err(format!("cannot open `{shown}`: {e}")),
    }
    let mut options = OpenOptions::new();
    match access {
        Access::Read => options.read(true),
        Access::Create => options.write(true).create(true),
        Access::Update => options.read(true).write(true),
    };
    #[cfg(unix)]
    {
        use nix::fcntl::OFlag;
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY).bits());
    }
    let file = options
        .open(path)
        .map_err(|e| format!("cannot open `{shown}`: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot open `{shown}`: {e}"))?;
    check(&meta, shown, access)?;
    Ok(file)
}

/// Reads a regular file whole, refusing one larger than `max` bytes.
fn read_file(file: &mut File, shown: &str, max: u64) -> Result<Vec<u8>, ToolError> {
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > max {
        return Err(format!("`{shown}` is {len} bytes, too large to read"));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    Ok(bytes)
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ToolError> + Send + 'static,
) -> Result<T, ToolError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| format!("the file operation stopped: {e}"))?
}

/// The bytes of the regular file at `path`, at most `max`.
pub(super) async fn read(path: &Path, shown: &str, max: u64) -> Result<Vec<u8>, ToolError> {
    let (path, shown) = (path.to_path_buf(), shown.to_string());
    blocking(move || read_file(&mut open(&path, &shown, Access::Read)?, &shown, max)).await
}

/// Creates or overwrites the regular file at `path` with `content`.
pub(super) async fn write(path: &Path, shown: &str, content: String) -> Result<(), ToolError> {
    let (path, shown): (PathBuf, String) = (path.to_path_buf(), shown.to_string());
    blocking(move || {
        let mut file = open(&path, &shown, Access::Create)?;
        let cannot = |e: std::io::Error| format!("cannot write `{shown}`: {e}");
        file.set_len(0).map_err(cannot)?;
        file.write_all(content.as_bytes()).map_err(cannot)
    })
    .await
}

/// Reads the regular file at `path` (at most `max` bytes), lets `change` make its new
/// content from the old, and writes that back to the same file.
pub(super) async fn update<T: Send + 'static>(
    path: &Path,
    shown: &str,
    max: u64,
    change: impl FnOnce(Vec<u8>) -> Result<(String, T), ToolError> + Send + 'static,
) -> Result<T, ToolError> {
    let (path, shown) = (path.to_path_buf(), shown.to_string());
    blocking(move || {
        let mut file = open(&path, &shown, Access::Update)?;
        let (content, answer) = change(read_file(&mut file, &shown, max)?)?;
        let cannot = |e: std::io::Error| format!("cannot write `{shown}`: {e}");
        file.set_len(0).map_err(cannot)?;
        file.rewind().map_err(cannot)?;
        file.write_all(content.as_bytes()).map_err(cannot)?;
        Ok(answer)
    })
    .await
}
