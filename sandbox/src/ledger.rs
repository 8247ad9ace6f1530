//! The record of live launchers: one small file per process under the data dir, written
//! when it starts and removed when it ends, so that a Sortie that starts after its owner
//! died (`kill -9`, a crash, a reboot) kills what that owner left running before it resumes
//! anything.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::tree;

/// Where the records live (`$SORTIE_HOME/processes/`).
#[derive(Debug, Clone)]
pub struct Ledger {
    dir: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    pid: u32,
    start: u64,
    owner: u32,
    owner_start: u64,
    label: String,
}

/// One recorded process; the record goes when this is dropped.
#[derive(Debug)]
pub struct Tracked {
    pid: u32,
    start: Option<u64>,
    file: Option<PathBuf>,
    launched: bool,
}

impl Tracked {
    /// A process that is not recorded anywhere (no ledger), still ended as one.
    pub fn untracked(pid: u32, launched: bool) -> Self {
        Self {
            pid,
            start: tree::start_time(pid),
            file: None,
            launched,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Ends the process and everything below it (see [`tree::terminate_launcher`]); a
    /// process started without the launcher loses its process group at once.
    pub fn terminate(&self) {
        #[cfg(unix)]
        {
            if self.launched {
                tree::terminate_launcher(self.pid, self.start);
            } else if let Some(start) = self.start {
                tree::kill_group(self.pid, start);
            }
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            let _ = std::fs::remove_file(file);
        }
    }
}

impl Ledger {
    /// Opens (creating it owner-only) the directory of records.
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        crate::create_private_dir(&dir)?;
        Ok(Self { dir })
    }

    /// Records the process `pid` (a launcher when `launched`) until the returned guard drops.
    /// A record that cannot be written is logged: the process still runs, and still dies
    /// with its owner through the launcher's parent-death signal.
    pub fn track(&self, pid: u32, label: &str, launched: bool) -> Tracked {
        let mut tracked = Tracked::untracked(pid, launched);
        let me = std::process::id();
        let (Some(start), Some(owner_start)) = (tracked.start, tree::start_time(me)) else {
            return tracked;
        };
        let entry = Entry {
            pid,
            start,
            owner: me,
            owner_start,
            label: label.chars().take(200).collect(),
        };
        let file = self.dir.join(format!("{pid}.json"));
        match write_private(&file, &serde_json::to_vec(&entry).unwrap_or_default()) {
            Ok(()) => tracked.file = Some(file),
            Err(e) => tracing::warn!("cannot record process {pid} in {}: {e}", file.display()),
        }
        tracked
    }

    /// Kills what owners that are gone left running, and forgets their records. Returns one
    /// line per process group killed. Records of an owner that still runs are left alone.
    pub fn sweep(&self) -> Vec<String> {
        let mut killed = Vec::new();
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return killed;
        };
        for file in dir.flatten().map(|e| e.path()) {
            let entry: Option<Entry> = std::fs::read(&file)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let Some(entry) = entry else {
                let _ = std::fs::remove_file(&file);
                continue;
            };
            if entry.owner != std::process::id() && tree::alive(entry.owner, entry.owner_start) {
                continue;
            }
            #[cfg(unix)]
            if tree::kill_group(entry.pid, entry.start) {
                killed.push(format!(
                    "killed process group {} ({}) left by Sortie process {} that ended",
                    entry.pid, entry.label, entry.owner
                ));
            }
            let _ = std::fs::remove_file(&file);
        }
        killed
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_record_lives_as_long_as_its_guard() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::open(dir.path().join("p")).expect("open");
        let guard = ledger.track(std::process::id(), "self", false);
        assert_eq!(std::fs::read_dir(ledger.dir()).expect("dir").count(), 1);
        drop(guard);
        assert_eq!(std::fs::read_dir(ledger.dir()).expect("dir").count(), 0);
    }

    #[test]
    fn a_sweep_kills_the_group_a_dead_owner_left_and_spares_a_reused_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::open(dir.path().join("p")).expect("open");
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c").arg("sleep 300 & sleep 300");
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().expect("sh");
        let pid = child.id();
        let start = tree::start_time(pid).expect("start");
        // As written by an owner that has since died: pid 1's start time is not ours.
        let dead_owner = Entry {
            pid,
            start,
            owner: u32::MAX - 1,
            owner_start: 1,
            label: "shell: sleep".into(),
        };
        write_private(
            &ledger.dir().join(format!("{pid}.json")),
            &serde_json::to_vec(&dead_owner).expect("json"),
        )
        .expect("write");
        // A record whose pid now names another process (start time differs): spared.
        let me = std::process::id();
        let reused = Entry {
            pid: me,
            start: tree::start_time(me).expect("me") + 7,
            owner: u32::MAX - 1,
            owner_start: 1,
            label: "old".into(),
        };
        write_private(
            &ledger.dir().join(format!("{me}.json")),
            &serde_json::to_vec(&reused).expect("json"),
        )
        .expect("write");
        let killed = ledger.sweep();
        assert_eq!(killed.len(), 1, "{killed:?}");
        assert!(killed[0].contains("shell: sleep"), "{killed:?}");
        let deadline = Instant::now() + Duration::from_secs(10);
        // Another test of this process may reap the child first (`kill_descendants` reaps
        // every child of the caller, as the launcher it is written for): gone either way.
        while let Ok(None) = child.try_wait() {
            assert!(Instant::now() < deadline, "the group survived the sweep");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(tree::group_members(pid).is_empty(), "a member survived");
        assert_eq!(std::fs::read_dir(ledger.dir()).expect("dir").count(), 0);
    }
}
