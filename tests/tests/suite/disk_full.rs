//! A full disk under the data dir: writes fail with a clear "disk full" (507 over the API),
//! a running mission ends instead of staying `running`, new missions work as soon as there
//! is space again, and stop exits within its bound. The data dir is on a small tmpfs,
//! which needs root (CI runs the suite as root); elsewhere the test says why it skips.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use sortie_tests::daemon::{ended, DaemonProc};
use sortie_tests::{write_local_config, MockProvider, Reply};

/// A tmpfs of `mb` MiB mounted on a fresh directory; unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(mb: u32) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mb}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system to the last byte.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut f = std::fs::File::create(&path).expect("filler");
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let small = [0u8; 512];
        while f.write_all(&small).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn is_final(status: &str) -> bool {
    !matches!(status, "running" | "queued")
}

#[tokio::test]
async fn a_full_disk_fails_cleanly_and_the_daemon_recovers_when_space_returns() {
    let fs = match Tmpfs::mount(32) {
        Ok(fs) => fs,
        Err(e) => {
            eprintln!("skipping: cannot mount a tmpfs here ({e}); CI runs this test as root");
            return;
        }
    };
    let home = fs.path().join("home");
    let cwd = tempfile::tempdir().expect("cwd");
    let mock = MockProvider::start().await;
    write_local_config(&home, &mock.base_url(), "");
    mock.push(Reply::tool_call(
        "call_1",
        "shell",
        json!({"command": "sleep 2; echo slept"}),
    ));
    mock.push(Reply::text("never reached"));
    let d = DaemonProc::start(&home).await;

    // A mission runs a tool while the disk fills up; its next turn finds no room.
    let running = super::daemon::new_mission(&d, cwd.path(), "work while the disk fills").await;
    d.wait_events(&running, |e| {
        super::daemon::count(e, "assistant_message") == 1
    })
    .await;
    let filler = fs.fill();

    let started = Instant::now();
    for _ in 0..3 {
        let (status, body) = d
            .post("/missions", json!({"prompt": "no room", "cwd": cwd.path()}))
            .await;
        assert_eq!(status, 507, "{body}\n{}", d.log());
        assert_eq!(body["error"]["code"], "disk_full", "{body}");
        assert!(
            super::daemon::error_message(&body).contains("disk"),
            "{body}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(15));

    // The streaming mission cannot store its answer: it ends, it does not stay running.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, m) = d.get(&format!("/missions/{running}")).await;
        let status = m["status"].as_str().unwrap_or_default().to_string();
        if is_final(&status) && !m.is_null() {
            assert!(
                m["error"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("disk full"),
                "{m}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {status}: {m}\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Space again: new missions work at once (the daemon may restart itself in place to
    // open its store again; the client reads daemon.json again).
    std::fs::remove_file(&filler).expect("free the disk");
    mock.push(Reply::text("there is room again"));
    mock.push(Reply::text("there is room again"));
    let mut d = d;
    let started = Instant::now();
    let body = loop {
        d.reattach().await;
        let (status, body) = d
            .post("/missions", json!({"prompt": "room", "cwd": cwd.path()}))
            .await;
        if status == 201 {
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{status} {body}\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let id = body["id"].as_str().expect("id").to_string();
    let events = d.wait_events(&id, ended).await;
    assert_eq!(
        sortie_tests::daemon::statuses(&events)
            .last()
            .map(String::as_str),
        Some("completed")
    );

    // Stop exits within its bound.
    let (status, _) = d.post("/shutdown", json!({})).await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while d.child.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "the daemon did not stop: {}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
