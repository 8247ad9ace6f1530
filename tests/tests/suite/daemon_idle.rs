//! The daemon's idle exit: a daemon that a command started leaves once nothing is left
//! to do (no mission, no schedule that will fire, no login, no request), and not before.

use std::time::Duration;

use serde_json::Value;
use sortie_tests::daemon::DaemonProc;
use sortie_tests::Reply;

use super::daemon::{alive, local_setup, run_cli};

#[tokio::test]
async fn a_mission_command_starts_the_daemon_which_exits_when_idle() {
    let (mock, home, cwd) = local_setup("\n[daemon]\nidle_exit_secs = 2\n").await;
    mock.push(Reply::text("from a daemon nobody started by hand"));
    let (h, c) = (home.path().to_path_buf(), cwd.path().to_path_buf());
    let (run, list) = tokio::task::spawn_blocking(move || {
        let run = sortie_tests::sortie(&h)
            .args(["run", "hello"])
            .current_dir(&c)
            .env("SORTIE_AUTOSTART", "1")
            .output()
            .expect("run");
        (run, run_cli(&h, &c, &["missions", "--json"]))
    })
    .await
    .expect("join");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
    );
    assert!(run.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("from a daemon nobody started by hand"),
        "{stdout}"
    );
    assert!(stderr.contains("started the sortie daemon"), "{stderr}");
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(home.path().join("daemon.json")).expect("daemon.json"),
    )
    .expect("json");
    let pid = info["pid"].as_u64().expect("pid");
    // The daemon holds the store and the next command goes through it.
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let missions: Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(missions[0]["status"], "completed");
    // Account commands go through it too (it stays up) ...
    let h = home.path().to_path_buf();
    let auth = tokio::task::spawn_blocking(move || run_cli(&h, &h, &["auth", "list"]))
        .await
        .expect("join");
    assert!(
        auth.status.success(),
        "{}",
        String::from_utf8_lossy(&auth.stderr)
    );
    assert!(alive(pid), "auth list stopped the daemon");
    // ... and the demo, whose scripted model the daemon hosts.
    let h = home.path().to_path_buf();
    let demo =
        tokio::task::spawn_blocking(move || run_cli(&h, &h, &["demo", "--pace-ms", "0", "--json"]))
            .await
            .expect("join");
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let summary: Value = String::from_utf8_lossy(&demo.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "summary")
        .expect("a summary line");
    assert_eq!(summary["mission"]["status"], "completed", "{summary}");
    assert_eq!(summary["mission"]["provider"], "demo");
    assert!(alive(pid), "the demo stopped the daemon");
    let h = home.path().to_path_buf();
    let stop = tokio::task::spawn_blocking(move || run_cli(&h, &h, &["serve", "--stop"]))
        .await
        .expect("join");
    assert!(stop.status.success());
    let started = std::time::Instant::now();
    while home.path().join("daemon.json").exists() || alive(pid) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "serve --stop did not stop it"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The next mission command starts it again.
    mock.push(Reply::text("again"));
    let (h, c) = (home.path().to_path_buf(), cwd.path().to_path_buf());
    let again = tokio::task::spawn_blocking(move || {
        sortie_tests::sortie(&h)
            .args(["run", "again"])
            .current_dir(&c)
            .env("SORTIE_AUTOSTART", "1")
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(home.path().join("daemon.json")).expect("daemon.json"),
    )
    .expect("json");
    let pid = info["pid"].as_u64().expect("pid");
    // Idle for 2 s: it exits by itself and cleans up after itself.
    let started = std::time::Instant::now();
    while home.path().join("daemon.json").exists() || alive(pid) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the idle daemon did not exit: {}",
            std::fs::read_to_string(home.path().join("daemon.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(home.path().join("daemon.log")).unwrap_or_default();
    assert!(log.contains("idle for 2s"), "{log}");
}

/// An idle daemon stays up while a schedule will fire, and exits once the last one is
/// paused (the idle check reads the schedules again only when they change).
#[tokio::test]
async fn an_idle_daemon_waits_for_its_schedules_and_exits_once_they_are_paused() {
    let (_mock, home, cwd) = local_setup("").await;
    let d = DaemonProc::start_with(home.path(), &["--idle-exit", "2"], &[]).await;
    let (h, c) = (home.path().to_path_buf(), cwd.path().to_path_buf());
    let added = tokio::task::spawn_blocking(move || {
        run_cli(
            &h,
            &c,
            &[
                "schedule",
                "add",
                "--cron",
                "0 3 * * *",
                "--json",
                "nightly",
            ],
        )
    })
    .await
    .expect("join");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let id = serde_json::from_slice::<Value>(&added.stdout).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let pid = u64::from(d.child.id());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(alive(pid), "the daemon left although a schedule will fire");
    let h = home.path().to_path_buf();
    let paused = tokio::task::spawn_blocking(move || run_cli(&h, &h, &["schedule", "pause", &id]))
        .await
        .expect("join");
    assert!(
        paused.status.success(),
        "{}",
        String::from_utf8_lossy(&paused.stderr)
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon stayed up with nothing to do: {}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(d.log().contains("idle for 2s"), "{}", d.log());
}
