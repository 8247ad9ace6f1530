//! Steering a running mission: `sortie send` queues a message that the mission takes at
//! its next turn boundary (after the results of the tool calls in flight), several in
//! order and bounded; `--now` cuts the answer being streamed short and sends the message
//! at once; a message to a mission that has ended resumes it; without a daemon, a message
//! cannot reach a mission another process runs, and says so.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use sortie_tests::daemon::{ended, statuses, DaemonProc};
use sortie_tests::{run_to_end, text, MockProvider, Reply};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::daemon::{count, local_setup, new_mission};

/// A shell call that waits until the test creates `go` in the working directory: the
/// mission is held mid-tool for as long as the test needs, with no timing guess.
fn waiting_tool() -> Reply {
    Reply::tool_call(
        "call_wait",
        "shell",
        json!({"command": "while [ ! -f go ]; do sleep 0.05; done; echo released"}),
    )
}

/// `sortie ARGS` through the daemon of `home`, run to its end.
async fn sortie(home: &Path, cwd: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = sortie_tests::sortie(home);
    cmd.args(args).current_dir(cwd);
    run_to_end(cmd).await
}

/// The roles and texts of a request's messages after the system prompt.
fn conversation(request: &Value) -> Vec<(String, String)> {
    request["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .skip(1)
        .map(|m| {
            let content = match &m["content"] {
                Value::String(s) => s.clone(),
                Value::Null => format!("tool_calls {}", m["tool_calls"][0]["id"]),
                other => other.to_string(),
            };
            (m["role"].as_str().unwrap_or_default().to_string(), content)
        })
        .collect()
}

/// Waits until the tool call is running (its call is stored and the model said nothing
/// more).
async fn wait_tool_running(d: &DaemonProc, id: &str) {
    d.wait_events(id, |e| count(e, "assistant_message") == 1)
        .await;
}

#[tokio::test]
async fn messages_sent_while_a_tool_runs_reach_the_next_request_after_its_result_in_order() {
    let (mock, home, cwd) = local_setup("").await;
    mock.push(waiting_tool());
    mock.push(Reply::text("Done, changelog too."));
    let d = DaemonProc::start(home.path()).await;
    let id = new_mission(&d, cwd.path(), "fix the bug").await;
    wait_tool_running(&d, &id).await;

    let first = sortie(
        home.path(),
        cwd.path(),
        &["send", &id, "also update the changelog"],
    )
    .await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stdout).contains("queued for mission"),
        "{}",
        text(&first.stdout)
    );
    let second = sortie(
        home.path(),
        cwd.path(),
        &["send", &id[..8], "and bump the version", "--json"],
    )
    .await;
    assert!(second.status.success(), "{}", text(&second.stderr));
    let answer: Value = serde_json::from_slice(&second.stdout).expect("json");
    assert_eq!(answer["queued"]["pending"], 2, "{answer}");
    // Stored at once, not yet in the conversation.
    let (_, events) = d.get(&format!("/missions/{id}/events")).await;
    assert_eq!(
        count(events.as_array().expect("events"), "message_queued"),
        2
    );
    assert_eq!(mock.hits(), 1, "nothing is sent before the tool's result");

    std::fs::write(cwd.path().join("go"), "").expect("release the tool");
    let events = d.wait_events(&id, ended).await;
    assert_eq!(
        statuses(&events).last().map(String::as_str),
        Some("completed")
    );
    assert_eq!(mock.hits(), 2);
    let sent = conversation(&mock.requests()[1]);
    let roles: Vec<&str> = sent.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        roles,
        ["user", "assistant", "tool", "user", "user"],
        "{sent:#?}"
    );
    assert!(sent[2].1.contains("released"), "{sent:#?}");
    assert_eq!(sent[3].1, "also update the changelog");
    assert_eq!(sent[4].1, "and bump the version");
    // Each message was stored as the user's before the request that carried it.
    let users: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "user_message")
        .collect();
    assert_eq!(users.len(), 3);
    let turn2 = events
        .iter()
        .find(|e| e["type"] == "turn_started" && e["turn"] == 2)
        .expect("turn 2");
    assert!(users[2]["seq"].as_u64() < turn2["seq"].as_u64());
}

#[tokio::test]
async fn the_queue_is_bounded_and_says_so() {
    let (mock, home, cwd) = local_setup("").await;
    mock.push(waiting_tool());
    mock.push(Reply::text("All taken."));
    let d = DaemonProc::start(home.path()).await;
    let id = new_mission(&d, cwd.path(), "work").await;
    wait_tool_running(&d, &id).await;
    let path = format!("/missions/{id}/messages");
    for n in 1..=16 {
        let (status, body) = d.post(&path, json!({"text": format!("message {n}")})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["queued"]["pending"], n, "{body}");
    }
    let (status, body) = d.post(&path, json!({"text": "one too many"})).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "messages_full");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("already has 16 messages waiting"),
        "{body}"
    );
    let (status, body) = d.post(&path, json!({"text": "  "})).await;
    assert_eq!(status, 400, "{body}");

    std::fs::write(cwd.path().join("go"), "").expect("release the tool");
    d.wait_events(&id, ended).await;
    let sent = conversation(&mock.requests()[1]);
    let texts: Vec<&str> = sent[3..].iter().map(|(_, t)| t.as_str()).collect();
    let expected: Vec<String> = (1..=16).map(|n| format!("message {n}")).collect();
    assert_eq!(texts, expected);
}

#[tokio::test]
async fn now_cuts_the_stream_and_the_next_request_carries_the_partial_answer_and_the_message() {
    let (mock, home, cwd) = local_setup("").await;
    mock.push(Reply::stall_after("I will rewrite the whole"));
    mock.push(Reply::text("Understood: only the parser."));
    let d = DaemonProc::start(home.path()).await;
    let id = new_mission(&d, cwd.path(), "refactor").await;
    d.stream_until(&id, "rewrite the whole").await;

    let out = sortie(
        home.path(),
        cwd.path(),
        &["send", &id, "--now", "no, only the parser"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let events = d.wait_events(&id, ended).await;
    assert_eq!(
        statuses(&events).last().map(String::as_str),
        Some("completed")
    );
    let partial = events
        .iter()
        .find(|e| e["type"] == "assistant_message")
        .expect("the partial answer");
    assert_eq!(partial["stop_reason"], "interrupted", "{partial}");
    assert_eq!(partial["content"][0]["text"], "I will rewrite the whole");
    assert_eq!(mock.hits(), 2);
    let sent = conversation(&mock.requests()[1]);
    assert_eq!(
        sent,
        [
            ("user".to_string(), "refactor".to_string()),
            ("assistant".into(), "I will rewrite the whole".into()),
            ("user".into(), "no, only the parser".into()),
        ]
    );
}

#[tokio::test]
async fn a_message_to_a_mission_that_ended_resumes_it() {
    let (mock, home, cwd) = local_setup("").await;
    mock.push(Reply::text("Done."));
    mock.push(Reply::text("Docs added."));
    let d = DaemonProc::start(home.path()).await;
    let id = new_mission(&d, cwd.path(), "do it").await;
    d.wait_events(&id, ended).await;

    let out = sortie(home.path(), cwd.path(), &["send", &id, "now the docs"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("resumed with the message"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("Docs added."),
        "{}",
        text(&out.stdout)
    );
    let sent = conversation(&mock.requests()[1]);
    assert_eq!(sent.last().map(|(_, t)| t.as_str()), Some("now the docs"));
}

#[tokio::test]
async fn without_a_daemon_a_running_mission_cannot_be_reached_and_an_ended_one_resumes_here() {
    let mock = MockProvider::start().await;
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    sortie_tests::write_local_config(home.path(), &mock.base_url(), "");
    mock.push(Reply::stall_after("thinking it over"));
    let mut run = tokio::process::Command::from({
        let mut c = sortie_tests::sortie(home.path());
        c.args(["run", "--json", "work"]).current_dir(cwd.path());
        c
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .kill_on_drop(true)
    .spawn()
    .expect("sortie run");
    let mut lines = BufReader::new(run.stdout.take().expect("stdout")).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("a first event in time")
        .expect("read")
        .expect("a line");
    let id = serde_json::from_str::<Value>(&first).expect("json")["mission_id"]
        .as_str()
        .expect("mission_id")
        .to_string();

    // The run is mid-answer once the provider has its request.
    let asked = std::time::Instant::now();
    while mock.hits() == 0 {
        assert!(
            asked.elapsed() < Duration::from_secs(60),
            "the run never asked the model"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = sortie(home.path(), cwd.path(), &["send", &id, "hello?"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("without a daemon a message cannot reach a running mission"),
        "{err}"
    );
    run.kill().await.expect("stop the run");
    let _ = run.wait().await;

    // Nothing runs it now: the message resumes it in this process.
    mock.push(Reply::text("Here I am."));
    let out = sortie(home.path(), cwd.path(), &["send", &id, "hello?"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Here I am."),
        "{}",
        text(&out.stdout)
    );
    let sent = conversation(&mock.requests()[1]);
    assert_eq!(sent.last().map(|(_, t)| t.as_str()), Some("hello?"));
}

#[tokio::test]
async fn without_a_daemon_an_empty_message_is_refused_and_nothing_is_sent() {
    let mock = MockProvider::start().await;
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    sortie_tests::write_local_config(home.path(), &mock.base_url(), "");
    mock.push(Reply::text("Done."));
    let out = sortie(home.path(), cwd.path(), &["run", "work"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = sortie(home.path(), cwd.path(), &["missions", "--json"]).await;
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("missions --json");
    let id = listed[0]["id"].as_str().expect("id").to_string();
    for args in [
        vec!["send", id.as_str(), ""],
        vec!["send", id.as_str(), "   "],
        vec!["resume", id.as_str(), " "],
    ] {
        let out = sortie(home.path(), cwd.path(), &args).await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stdout)
        );
        assert!(
            text(&out.stderr).contains("the message is empty"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(mock.hits(), 1, "no request for an empty message");
    let shown = sortie(home.path(), cwd.path(), &["show", &id, "--json"]).await;
    let shown: Value = serde_json::from_slice(&shown.stdout).expect("show --json");
    assert_eq!(shown["mission"]["status"], "completed");
    let users = shown["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "user_message")
        .count();
    assert_eq!(users, 1, "{shown:#}");
}

/// A run that ends other than by completing (here: the provider refuses for good) closes
/// its inbox too: a message sent after its last status, before the daemon lets go of the
/// mission, is told that the run ended (and so resumes it) rather than "queued" for a run
/// that will take nothing more.
#[tokio::test]
async fn a_run_that_fails_closes_its_inbox_so_a_late_message_resumes_the_mission() {
    use std::sync::Arc;

    use sortie_missions::steering::{Inbox, SendError};
    use sortie_missions::MissionStatus;
    use tokio_util::sync::CancellationToken;

    let mock = MockProvider::start().await;
    mock.push(Reply::error(
        400,
        r#"{"error":{"message":"bad request: no such parameter","type":"invalid_request_error"}}"#,
    ));
    let w = super::support::World::new();
    let mission = w
        .store
        .create_mission(super::support::spec(w.cwd.path(), "go"))
        .expect("create");
    let inbox = Arc::new(Inbox::new());
    let done = w
        .runner(super::support::transport(&mock.base_url()))
        .with_inbox(inbox.clone())
        .run(mission.id, CancellationToken::new())
        .await
        .expect("the runner works");
    assert_eq!(done.status, MissionStatus::Failed);
    let late = inbox
        .queue(&w.store, &mission.id, "try again".into(), false)
        .await;
    assert!(matches!(late, Err(SendError::Closed)), "{late:?}");
}
