//! Starting the daemon on demand: commands that find none start one, together.

use serde_json::Value;
use sortie_tests::{write_local_config, MockProvider, Reply};

#[tokio::test]
async fn five_runs_started_at_once_with_no_daemon_all_succeed_through_one_daemon() {
    let mock = MockProvider::start().await;
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(
        home.path(),
        &mock.base_url(),
        "\n[daemon]\nidle_exit_secs = 5\n",
    );
    mock.repeat(Reply::text("done together"));
    let mut runs = Vec::new();
    for n in 0..5 {
        let (h, c) = (home.path().to_path_buf(), cwd.path().to_path_buf());
        runs.push(tokio::task::spawn_blocking(move || {
            sortie_tests::sortie(&h)
                .args(["run", &format!("mission {n}")])
                .current_dir(&c)
                .env("SORTIE_AUTOSTART", "1")
                .output()
                .expect("run")
        }));
    }
    let mut started = 0;
    for run in runs {
        let out = run.await.expect("join");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("done together"), "{stdout}\n{stderr}");
        assert!(!stderr.contains("running here"), "{stderr}");
        started += usize::from(stderr.contains("started the sortie daemon"));
    }
    assert_eq!(started, 1, "one daemon started for the five");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let log = std::fs::metadata(home.path().join("daemon.log")).expect("daemon.log");
        assert_eq!(
            log.permissions().mode() & 0o777,
            0o600,
            "daemon.log is owner-only"
        );
    }
    let h = home.path().to_path_buf();
    let list = tokio::task::spawn_blocking(move || {
        sortie_tests::sortie(&h)
            .args(["missions", "--json"])
            .output()
            .expect("missions")
    })
    .await
    .expect("join");
    let missions: Value = serde_json::from_slice(&list.stdout).expect("json");
    let missions = missions.as_array().expect("array");
    assert_eq!(missions.len(), 5);
    assert!(missions.iter().all(|m| m["status"] == "completed"));
    let h = home.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        sortie_tests::sortie(&h)
            .args(["serve", "--stop"])
            .output()
            .expect("stop")
    })
    .await
    .expect("join");
}
