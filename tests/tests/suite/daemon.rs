//! `sortie serve`: the API and its token, the CLI going through a running daemon, the queue,
//! pause and cancel, and crash safety: kill -9 mid-stream and mid-tool, restart, and the
//! mission completes with no event lost or duplicated.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use sortie_tests::daemon::{ended, statuses, DaemonProc};
use sortie_tests::{write_local_config, MockProvider, Reply};

pub(crate) async fn new_mission(d: &DaemonProc, cwd: &Path, prompt: &str) -> String {
    let (status, m) = d
        .post("/missions", json!({"prompt": prompt, "cwd": cwd}))
        .await;
    assert_eq!(status, 201, "{m}\n{}", d.log());
    m["id"].as_str().expect("id").to_string()
}

/// Every event once, in order: sequence numbers 0, 1, 2 ...
pub(crate) fn assert_contiguous(events: &[Value]) {
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    let expected: Vec<u64> = (0..seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "events lost or duplicated");
}

/// The message of an API error body.
pub(crate) fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

pub(crate) fn count(events: &[Value], kind: &str) -> usize {
    events.iter().filter(|e| e["type"] == kind).count()
}

/// A mock provider, a data dir whose config points at it (with `extra` lines), and a
/// working directory.
pub(crate) async fn local_setup(
    extra: &str,
) -> (MockProvider, tempfile::TempDir, tempfile::TempDir) {
    let mock = MockProvider::start().await;
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(home.path(), &mock.base_url(), extra);
    (mock, home, cwd)
}

pub(crate) fn run_cli(home: &Path, cwd: &Path, args: &[&str]) -> std::process::Output {
    sortie_tests::sortie(home)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run sortie")
}

#[tokio::test]
async fn the_api_wants_its_token_and_says_what_is_wrong() {
    let mock = MockProvider::start().await;
    let home = tempfile::tempdir().expect("home");
    write_local_config(home.path(), &mock.base_url(), "");
    let d = DaemonProc::start(home.path()).await;

    let (status, body) = d.get_with_token("/missions", None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(
        d.get_with_token("/health", Some("not-the-token")).await.0,
        401
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.path().join("daemon.token"))
            .expect("token file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let (status, body) = d.get("/missions/0123456789").await;
    assert_eq!(status, 404);
    assert!(error_message(&body).contains("no mission matches"));
    let (status, body) = d.post("/missions", json!({"prompt": "x"})).await;
    assert_eq!(status, 400);
    assert!(error_message(&body).contains("cwd is required"));
    let (status, body) = d
        .post(
            "/missions",
            json!({"prompt": "x", "cwd": home.path(), "provider": "nope"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        error_message(&body).contains("unknown provider `nope`"),
        "{body}"
    );
    let (status, body) = d
        .post(
            "/missions",
            json!({"prompt": "x", "cwd": home.path(), "colour": "red"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(d.get("/no/such/route").await.0, 404);
    // A known route with a method it does not take: JSON that says so.
    let (status, body) = d.post("/health", json!({})).await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(body["error"]["code"], "method_not_allowed");

    let (status, doc) = d.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/missions",
        "/missions/{id}/stream",
        "/missions/{id}/resume",
        "/credentials",
        "/credentials/{id}/logout",
        "/auth/logins",
        "/auth/logins/{id}/code",
        "/models",
        "/missions/{id}/approvals/{approval}",
        "/health",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }
    assert_eq!(mock.hits(), 0);
}

#[tokio::test]
async fn serving_on_a_public_address_is_refused_unless_forced() {
    let home = tempfile::tempdir().expect("home");
    let out = tokio::task::spawn_blocking({
        let home = home.path().to_path_buf();
        move || run_cli(&home, &home, &["serve", "--bind", "0.0.0.0"])
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to serve on 0.0.0.0") && stderr.contains("--force-bind"),
        "{stderr}"
    );
    assert!(!home.path().join("daemon.json").exists());
}

#[tokio::test]
async fn the_cli_goes_through_a_running_daemon() {
    let (mock, home, cwd) = local_setup("").await;
    let mut d = DaemonProc::start(home.path()).await;
    mock.push(Reply::text("answered by the daemon"));
    let (h, c) = (home.path().to_path_buf(), cwd.path().to_path_buf());
    let (run, list, status) = tokio::task::spawn_blocking(move || {
        (
            run_cli(&h, &c, &["run", "hello"]),
            run_cli(&h, &c, &["missions", "--json"]),
            run_cli(&h, &c, &["status", "--json"]),
        )
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("answered by the daemon"), "{stdout}");
    // The daemon holds the store, and `missions` still works: through the API.
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let missions: Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(missions[0]["status"], "completed");
    assert_eq!(
        missions[0]["cwd"],
        json!(cwd.path().canonicalize().expect("cwd"))
    );
    let status: Value = serde_json::from_slice(&status.stdout).expect("status json");
    assert_eq!(status["running"], true);

    let h = home.path().to_path_buf();
    let stop = tokio::task::spawn_blocking(move || run_cli(&h, &h, &["serve", "--stop"]))
        .await
        .expect("join");
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    let exited = tokio::task::spawn_blocking(move || d.child.wait())
        .await
        .expect("join");
    assert!(exited.expect("wait").success());
    assert!(!home.path().join("daemon.json").exists());
}

#[tokio::test]
async fn kill_9_while_streaming_then_restart_completes_the_mission() {
    let (mock, home, cwd) = local_setup("").await;
    mock.push(Reply::stall_after("half an ans"));
    mock.push(Reply::text("the whole answer"));
    let d = DaemonProc::start(home.path()).await;
    let id = new_mission(&d, cwd.path(), "answer slowly").await;
    d.wait_events(&id, |e| count(e, "turn_started") == 1).await;
    // The stream is open and stalled: the daemon dies mid-turn.
    while mock.hits() < 1 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d.kill9();

    let d = DaemonProc::start(home.path()).await;
    let events = d
        .wait_events(&id, |e| ended(e) && count(e, "assistant_message") == 1)
        .await;
    assert_contiguous(&events);
    assert_eq!(
        statuses(&events),
        ["running", "interrupted", "queued", "running", "completed"]
    );
    assert_eq!(count(&events, "user_message"), 1);
    assert_eq!(count(&events, "assistant_message"), 1);
    assert_eq!(mock.hits(), 2);
    let (_, m) = d.get(&format!("/missions/{id}")).await;
    assert_eq!(m["status"], "completed");
}

#[tokio::test]
async fn kill_9_while_a_tool_runs_never_runs_the_tool_twice() {
    let (mock, home, cwd) = local_setup("").await;
    mock.push(Reply::tool_call(
        "call_1",
        "shell",
        json!({"command": "echo started >> runs.txt; sleep 2; echo finished >> runs.txt"}),
    ));
    mock.push(Reply::text("I will check what the interrupted command did"));
    let d = DaemonProc::start(home.path()).await;
    let id = new_mission(&d, cwd.path(), "run the slow command").await;
    d.wait_events(&id, |e| count(e, "assistant_message") == 1)
        .await;
    let runs = cwd.path().join("runs.txt");
    while !runs.exists() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d.kill9();

    let d = DaemonProc::start(home.path()).await;
    let events = d
        .wait_events(&id, |e| ended(e) && count(e, "assistant_message") == 2)
        .await;
    assert_contiguous(&events);
    assert_eq!(
        statuses(&events).last().map(String::as_str),
        Some("completed")
    );
    let results: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "tool_result")
        .collect();
    assert_eq!(results.len(), 1, "{results:#?}");
    assert_eq!(results[0]["outcome"], "error");
    assert!(results[0]["output"]
        .as_str()
        .unwrap_or_default()
        .contains("was not run again"));
    // The model was told.
    assert!(mock.requests()[1].to_string().contains("was not run again"));
    // The command started once, and died with the daemon: it never finished behind the
    // back of the resumed mission.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let text = std::fs::read_to_string(&runs).expect("runs.txt");
    assert_eq!(text.matches("started").count(), 1, "{text}");
    assert_eq!(
        text.matches("finished").count(),
        0,
        "the orphan ran on: {text}"
    );
}

#[tokio::test]
async fn the_queue_shows_positions_and_missions_can_be_paused_cancelled_and_resumed() {
    let (mock, home, cwd) = local_setup("\n[daemon]\nmax_concurrent = 1\n").await;
    mock.push(Reply::stall_after("working on it"));
    let d = DaemonProc::start(home.path()).await;
    let first = new_mission(&d, cwd.path(), "first").await;
    d.wait_events(&first, |e| count(e, "turn_started") == 1)
        .await;
    let second = new_mission(&d, cwd.path(), "second").await;
    let third = new_mission(&d, cwd.path(), "third").await;
    let (_, m2) = d.get(&format!("/missions/{second}")).await;
    let (_, m3) = d.get(&format!("/missions/{third}")).await;
    assert_eq!(
        (m2["queue_position"].as_u64(), m3["queue_position"].as_u64()),
        (Some(1), Some(2))
    );
    let (_, health) = d.get("/health").await;
    assert_eq!(health["missions"], json!({"running": 1, "queued": 2}));

    // Cancel the third while it waits; pause the first while it streams.
    assert_eq!(
        d.post(&format!("/missions/{third}/cancel"), Value::Null)
            .await
            .0,
        200
    );
    let e3 = d.wait_events(&third, ended).await;
    assert_eq!(statuses(&e3).last().map(String::as_str), Some("cancelled"));
    mock.push(Reply::text("second done"));
    let started = std::time::Instant::now();
    assert_eq!(
        d.post(&format!("/missions/{first}/pause"), Value::Null)
            .await
            .0,
        200
    );
    let e1 = d.wait_events(&first, ended).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "pausing took {:?}",
        started.elapsed()
    );
    assert_eq!(statuses(&e1).last().map(String::as_str), Some("paused"));
    // The second gets the slot and completes.
    let e2 = d.wait_events(&second, ended).await;
    // (A new mission is queued from its creation: no status event until it runs.)
    assert_eq!(statuses(&e2), ["running", "completed"]);
    // Pausing a mission that is not running says so.
    let (status, body) = d
        .post(&format!("/missions/{second}/pause"), Value::Null)
        .await;
    assert_eq!(status, 409, "{body}");

    // Resume the paused one with a next message; the stream replays and ends with it.
    mock.push(Reply::text("first done"));
    let (status, body) = d
        .post(
            &format!("/missions/{first}/messages"),
            json!({"text": "go on"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let e1 = d
        .wait_events(&first, |e| {
            ended(e) && statuses(e).last().map(String::as_str) == Some("completed")
        })
        .await;
    assert_contiguous(&e1);
    let stream = reqwest::Client::new()
        .get(format!("{}/missions/{first}/stream?from=0", d.base))
        .bearer_auth(&d.token)
        .send()
        .await
        .expect("stream")
        .text()
        .await
        .expect("body");
    assert_eq!(stream.matches("event: event").count(), e1.len());
    assert!(stream.contains("event: end"), "{stream}");

    // Deleting: refused while active, done when not; then 404.
    assert_eq!(d.delete(&format!("/missions/{third}")).await.0, 200);
    assert_eq!(d.get(&format!("/missions/{third}")).await.0, 404);
}

#[tokio::test]
async fn schedules_fire_skip_overlaps_and_name_a_bad_cron_field() {
    let (mock, home, cwd) = local_setup("").await;
    // The first scheduled mission hangs, so the next due runs overlap it.
    mock.push(Reply::stall_after("still working"));
    let d = DaemonProc::start(home.path()).await;

    let (status, body) = d
        .post(
            "/schedules",
            json!({"prompt": "x", "cwd": cwd.path(), "cron": "0 9 * * MON-XYZ"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        error_message(&body).contains("day-of-week field `MON-XYZ`"),
        "{body}"
    );

    let (status, s) = d
        .post(
            "/schedules",
            json!({"prompt": "check the build", "cwd": cwd.path(), "every": "1s", "name": "build"}),
        )
        .await;
    assert_eq!(status, 201, "{s}");
    let id = s["id"].as_str().expect("id").to_string();
    assert_eq!(s["when"], "every 1s");
    assert!(s["next_run"].is_string());
    // Wait for a start and, while that mission hangs, a skipped overlap.
    let (runs, skipped) = d.wait_skipped_runs(&id, 1).await;
    assert_eq!(runs[0]["outcome"], "started");
    let first_mission = runs[0]["mission"].as_str().expect("mission").to_string();
    assert!(
        skipped["reason"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("mission {first_mission}")),
        "{skipped}"
    );
    assert_eq!(
        runs.iter().filter(|r| r["outcome"] == "started").count(),
        1,
        "{runs:#?}"
    );
    let (_, m) = d.get(&format!("/missions/{first_mission}")).await;
    assert_eq!(m["prompt"], "check the build");

    // Pause it; a paused schedule has nothing more to say until resumed.
    let (_, paused) = d.post(&format!("/schedules/{id}/pause"), Value::Null).await;
    assert_eq!(paused["paused"], true);
    let before = paused["runs"].as_array().map_or(0, Vec::len);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, later) = d.get(&format!("/schedules/{id}")).await;
    assert_eq!(later["runs"].as_array().map_or(0, Vec::len), before);

    // A one-shot a second from now starts its mission, which completes.
    mock.push(Reply::text("release notes ready"));
    let at = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let (status, once) = d
        .post(
            "/schedules",
            json!({"prompt": "release notes", "cwd": cwd.path(), "at": at}),
        )
        .await;
    assert_eq!(status, 201, "{once}");
    let once_id = once["id"].as_str().expect("id").to_string();
    let started = std::time::Instant::now();
    let mission = loop {
        let (_, s) = d.get(&format!("/schedules/{once_id}")).await;
        if let Some(m) = s["runs"][0]["mission"].as_str() {
            assert!(s["next_run"].is_null(), "a one-shot has no next run: {s}");
            break m.to_string();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{s:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let events = d.wait_events(&mission, ended).await;
    assert_eq!(
        statuses(&events).last().map(String::as_str),
        Some("completed")
    );
    assert_eq!(d.delete(&format!("/schedules/{id}")).await.0, 200);
    assert_eq!(d.get(&format!("/schedules/{id}")).await.0, 404);
}

#[tokio::test]
async fn the_schedule_cli_works_without_the_daemon_and_names_bad_fields() {
    let home = tempfile::tempdir().expect("home");
    let mock = MockProvider::start().await;
    write_local_config(home.path(), &mock.base_url(), "");
    let h = home.path().to_path_buf();
    let (bad, added, listed) = tokio::task::spawn_blocking(move || {
        (
            run_cli(
                &h,
                &h,
                &["schedule", "add", "--cron", "0 9 * 13 *", "report"],
            ),
            run_cli(
                &h,
                &h,
                &[
                    "schedule",
                    "add",
                    "--cron",
                    "30 8 * * 1-5",
                    "--tz",
                    "Europe/Paris",
                    "report",
                ],
            ),
            run_cli(&h, &h, &["schedule", "ls", "--json"]),
        )
    })
    .await
    .expect("join");
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("month field `13` is not valid"), "{stderr}");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let list: Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["when"], "cron `30 8 * * 1-5` (Europe/Paris)");
    let next = chrono::DateTime::parse_from_rfc3339(list[0]["next_run"].as_str().expect("next"))
        .expect("time");
    // 08:30 in Paris is 07:30 UTC in winter, 06:30 in summer.
    assert!(matches!(
        chrono::Timelike::hour(&next.with_timezone(&chrono::Utc)),
        6 | 7
    ));
}

#[tokio::test]
async fn a_corrupt_record_is_reported_and_skipped_and_the_daemon_serves_the_rest() {
    let (_mock, home, cwd) = local_setup("").await;
    {
        let store = sortie_missions::Store::open(home.path()).expect("store");
        let good = store
            .create_mission(sortie_missions::MissionSpec {
                prompt: "fine".into(),
                provider: "local".into(),
                model: "mock-model".into(),
                transport: "openai-compatible".into(),
                cwd: cwd.path().to_path_buf(),
                policy: sortie_missions::PermissionPolicy::Auto,
                max_turns: 3,
                sandbox: None,
                labels: Vec::new(),
            })
            .expect("create");
        store
            .append(
                &good.id,
                sortie_missions::MissionEvent::Status {
                    status: sortie_missions::MissionStatus::Completed,
                    reason: None,
                },
            )
            .expect("status");
        let missions = store.db().open_tree("missions").expect("tree");
        missions
            .insert(uuid::Uuid::now_v7().as_bytes(), &b"{not a mission"[..])
            .expect("insert");
        let schedules = store.db().open_tree("schedules").expect("tree");
        schedules.insert(b"broken", &b"[]"[..]).expect("insert");
        store.db().flush().expect("flush");
    }
    let d = DaemonProc::start(home.path()).await;
    let (status, body) = d.get("/missions").await;
    assert_eq!(status, 200);
    assert_eq!(body["missions"].as_array().map(Vec::len), Some(1));
    assert!(
        body["problems"][0]
            .as_str()
            .unwrap_or_default()
            .contains("unreadable record"),
        "{body}"
    );
    let (status, body) = d.get("/schedules").await;
    assert_eq!(status, 200);
    assert!(
        body["problems"][0]
            .as_str()
            .unwrap_or_default()
            .contains("schedule broken"),
        "{body}"
    );
    assert!(d.log().contains("unreadable record"), "{}", d.log());
}

/// True while the process runs (a zombie waiting to be reaped has ended).
pub(crate) fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .is_ok_and(|status| !status.contains("State:\tZ"))
}

/// `ask` in the daemon: each tool call waits for an answer given over the API; the stream
/// shows the question (also to a client that connects after it was asked); a no is
/// recorded as denied and the tool does not run; a yes runs it.
#[tokio::test]
async fn ask_missions_wait_for_answers_given_over_the_api() {
    let (mock, home, cwd) = local_setup("").await;
    mock.push(Reply::tool_call(
        "call_1",
        "write_file",
        json!({"path": "denied.txt", "content": "no"}),
    ));
    mock.push(Reply::tool_call(
        "call_2",
        "write_file",
        json!({"path": "allowed.txt", "content": "yes"}),
    ));
    mock.push(Reply::text("one of two written"));
    let d = DaemonProc::start(home.path()).await;
    let (status, m) = d
        .post(
            "/missions",
            json!({"prompt": "write two files", "cwd": cwd.path(), "permission": "ask"}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_str().expect("id").to_string();

    for (answer, file) in [(false, "denied.txt"), (true, "allowed.txt")] {
        let question = wait_question(&d, &id).await;
        assert!(
            question["summary"]
                .as_str()
                .unwrap_or_default()
                .contains(file),
            "{question}"
        );
        let approval = question["approval"].as_str().expect("approval").to_string();
        // A client that connects now still sees the question on the stream.
        let stream = d.stream_until(&id, "approval_requested").await;
        assert!(stream.contains(&approval), "{stream}");
        let (status, v) = d
            .post(
                &format!("/missions/{id}/approvals/{approval}"),
                json!({"approve": answer}),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        // Answered once: a second answer finds nothing waiting.
        let (status, v) = d
            .post(
                &format!("/missions/{id}/approvals/{approval}"),
                json!({"approve": true}),
            )
            .await;
        assert_eq!(status, 404, "{v}");
    }
    let events = d.wait_events(&id, ended).await;
    assert_eq!(
        statuses(&events).last().map(String::as_str),
        Some("completed")
    );
    let outcomes: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "tool_result")
        .map(|e| e["outcome"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(outcomes, ["denied", "ok"]);
    assert!(!cwd.path().join("denied.txt").exists());
    assert_eq!(
        std::fs::read_to_string(cwd.path().join("allowed.txt")).expect("written"),
        "yes"
    );
}

async fn wait_question(d: &DaemonProc, id: &str) -> Value {
    for _ in 0..300 {
        let (status, v) = d.get(&format!("/missions/{id}/approvals")).await;
        assert_eq!(status, 200, "{v}");
        if let Some(q) = v["approvals"].as_array().and_then(|a| a.first()) {
            return q.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no question from mission {id}:\n{}", d.log());
}

/// `sortie run --permission ask` with no terminal, through the daemon: denied at once, as
/// in the command's own process (a script never waits for an answer nobody can give).
#[tokio::test]
async fn ask_without_a_terminal_is_denied_at_once_through_the_daemon() {
    let (mock, home, cwd) = local_setup("").await;
    mock.push(Reply::tool_call(
        "call_1",
        "write_file",
        json!({"path": "nope.txt", "content": "x"}),
    ));
    mock.push(Reply::text("it was denied"));
    let _d = DaemonProc::start(home.path()).await;
    let (h, c) = (home.path().to_path_buf(), cwd.path().to_path_buf());
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        sortie_tests::sortie(&h)
            .args(["run", "--json", "--permission", "ask", "write it"])
            .current_dir(&c)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        lines.iter().any(|l| l["type"] == "approval_requested"),
        "the daemon asked"
    );
    let result = lines
        .iter()
        .find(|l| l["type"] == "tool_result")
        .expect("a tool result");
    assert_eq!(result["outcome"], "denied", "{result}");
    assert!(!cwd.path().join("nope.txt").exists());
}
