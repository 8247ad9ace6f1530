//! The daemon under faults and bad input: a panicking mission, a turn cut by a crash,
//! numbers that overflow, bodies too large. Each answer is JSON and the daemon stays up.

use std::time::Duration;

use serde_json::{json, Value};
use sortie_tests::daemon::{ended, statuses, DaemonProc};
use sortie_tests::Reply;

use super::daemon::{error_message, local_setup, new_mission};

#[tokio::test]
async fn a_crash_interrupted_turn_does_not_count_against_max_turns() {
    let (mock, home, cwd) = local_setup("").await;
    mock.push(Reply::stall_after("half an ans"));
    mock.push(Reply::text("the whole answer"));
    let d = DaemonProc::start(home.path()).await;
    let (status, m) = d
        .post(
            "/missions",
            json!({"prompt": "answer once", "cwd": cwd.path(), "max_turns": 1}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_str().expect("id").to_string();
    while mock.hits() < 1 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d.kill9();

    let d = DaemonProc::start(home.path()).await;
    let events = d.wait_events(&id, ended).await;
    assert_eq!(
        statuses(&events).last().map(String::as_str),
        Some("completed"),
        "{events:#?}"
    );
    assert_eq!(mock.hits(), 2, "the interrupted turn was run again");
    let (_, m) = d.get(&format!("/missions/{id}")).await;
    assert_eq!(m["turns"], 1, "{m}");
}

#[tokio::test]
async fn a_panicking_mission_fails_with_the_message_and_frees_its_slot() {
    let (mock, home, cwd) = local_setup("\n[daemon]\nmax_concurrent = 1\n").await;
    mock.push(Reply::text("the second one ran"));
    let d = DaemonProc::start_with_env(
        home.path(),
        &[("SORTIE_FAULT_PANIC_PROMPT", "panic in this mission")],
    )
    .await;
    let first = new_mission(&d, cwd.path(), "panic in this mission").await;
    let events = d.wait_events(&first, ended).await;
    let (_, m) = d.get(&format!("/missions/{first}")).await;
    assert_eq!(m["status"], "failed", "{events:#?}");
    let error = m["error"].as_str().unwrap_or_default();
    assert!(error.contains("panicked"), "{error}");
    assert!(error.contains("injected fault"), "{error}");

    let second = new_mission(&d, cwd.path(), "run after it").await;
    let events = d.wait_events(&second, ended).await;
    assert_eq!(
        statuses(&events).last().map(String::as_str),
        Some("completed")
    );
    let (_, health) = d.get("/health").await;
    assert_eq!(health["missions"], json!({"running": 0, "queued": 0}));
}

#[tokio::test]
async fn max_turns_zero_is_refused_with_a_json_400() {
    let (mock, home, cwd) = local_setup("").await;
    let d = DaemonProc::start(home.path()).await;
    let (status, body) = d
        .post(
            "/missions",
            json!({"prompt": "x", "cwd": cwd.path(), "max_turns": 0}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(error_message(&body).contains("max_turns"), "{body}");

    mock.push(Reply::text("done"));
    let id = new_mission(&d, cwd.path(), "once").await;
    d.wait_events(&id, ended).await;
    let (status, body) = d
        .post(
            &format!("/missions/{id}/resume"),
            json!({"message": "again", "max_turns": 0}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(error_message(&body).contains("max_turns"), "{body}");
    let (status, body) = d
        .post(
            "/schedules",
            json!({"prompt": "x", "cwd": cwd.path(), "every": "1h", "max_turns": 0}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn a_body_too_large_gets_a_json_413() {
    let (_mock, home, cwd) = local_setup("").await;
    let d = DaemonProc::start(home.path()).await;
    let prompt = "x".repeat(3 * 1024 * 1024);
    let (status, body) = d
        .post("/missions", json!({"prompt": prompt, "cwd": cwd.path()}))
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    assert!(error_message(&body).contains("MiB"), "{body}");
}

#[tokio::test]
async fn schedule_numbers_that_overflow_get_a_400_and_the_daemon_stays_up() {
    let (_mock, home, cwd) = local_setup("").await;
    let d = DaemonProc::start(home.path()).await;
    let bad: [Value; 4] = [
        json!({"every": "999999999999d"}),
        json!({"every": "1h", "jitter": "99999999999d"}),
        json!({"every": "18446744073709551615s"}),
        json!({"every": "3651d"}),
    ];
    for fields in bad {
        let mut req = json!({"prompt": "x", "cwd": cwd.path()});
        for (k, v) in fields.as_object().expect("object") {
            req[k] = v.clone();
        }
        let (status, body) = d.post("/schedules", req).await;
        assert_eq!(status, 400, "{fields}: {body}\n{}", d.log());
        assert!(error_message(&body).contains("at most"), "{body}");
    }
    assert_eq!(d.get("/health").await.0, 200);
    let (_, list) = d.get("/schedules").await;
    assert_eq!(list["schedules"], json!([]));
    // The CLI says the same, without a daemon in between.
    let out = sortie_tests::sortie(home.path())
        .args(["schedule", "add", "--every", "999999999999d", "x"])
        .current_dir(cwd.path())
        .output()
        .expect("run sortie");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("at most"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn sortie_run_reattaches_to_a_restarted_daemon_and_follows_the_mission_to_its_end() {
    let (mock, home, cwd) = local_setup("").await;
    mock.push(Reply::stall_after("half an ans"));
    mock.push(Reply::text("the whole answer"));
    let d = DaemonProc::start(home.path()).await;
    let mut run = sortie_tests::sortie(home.path())
        .args(["run", "answer across a restart"])
        .current_dir(cwd.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start sortie run");
    while mock.hits() < 1 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d.kill9();
    let _d = DaemonProc::start(home.path()).await;
    let out = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        while run.try_wait().expect("wait").is_none() {
            if started.elapsed() > Duration::from_secs(90) {
                let _ = run.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        run.wait_with_output().expect("output")
    })
    .await
    .expect("join");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("the whole answer"), "{stdout}\n{stderr}");
    assert!(stderr.contains("reattached"), "{stderr}");
}
