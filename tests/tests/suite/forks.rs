//! `sortie fork`: a new mission with another's history up to one of its events, on any
//! model, linked to its parent; the parent is unchanged; a sequence that does not exist
//! or falls between a tool call and its result is refused with the events to use instead.

use std::path::Path;

use serde_json::{json, Value};
use sortie_tests::daemon::{ended, DaemonProc};
use sortie_tests::{run_to_end, text, write_local_config, MockProvider, Reply};

use super::daemon::count;

/// Two providers on two mocks: `local` (mock-model) and `other` (other-model).
async fn two_providers() -> (
    MockProvider,
    MockProvider,
    tempfile::TempDir,
    tempfile::TempDir,
) {
    let (first, second) = (MockProvider::start().await, MockProvider::start().await);
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    std::fs::write(cwd.path().join("notes.txt"), "remember the milk").expect("file");
    let other = format!(
        "\n[providers.other]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\nmodel = \"other-model\"\n",
        second.base_url()
    );
    write_local_config(home.path(), &first.base_url(), &other);
    (first, second, home, cwd)
}

async fn sortie(home: &Path, cwd: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = sortie_tests::sortie(home);
    cmd.args(args).current_dir(cwd);
    run_to_end(cmd).await
}

/// A request's messages after the system prompt (which names each mission's own temp dir).
fn after_system(request: &Value) -> Vec<Value> {
    let messages = request["messages"].as_array().expect("messages");
    assert_eq!(messages[0]["role"], "system");
    messages[1..].to_vec()
}

/// The seq of the first event of `kind`.
fn seq_of(events: &[Value], kind: &str) -> u64 {
    events
        .iter()
        .find(|e| e["type"] == kind)
        .and_then(|e| e["seq"].as_u64())
        .unwrap_or_else(|| panic!("no {kind} in {events:#?}"))
}

/// A parent mission: it reads a file, then answers.
fn script_parent(mock: &MockProvider) {
    mock.push(Reply::tool_call(
        "call_read",
        "read_file",
        json!({"path": "notes.txt"}),
    ));
    mock.push(Reply::text("The note says: remember the milk."));
}

#[tokio::test]
async fn a_fork_at_a_middle_event_continues_on_another_model_with_exactly_the_earlier_history() {
    let (first, second, home, cwd) = two_providers().await;
    script_parent(&first);
    let d = DaemonProc::start(home.path()).await;
    let (status, m) = d
        .post(
            "/missions",
            json!({"prompt": "read my notes", "cwd": cwd.path()}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let parent = m["id"].as_str().expect("id").to_string();
    let parent_events = d.wait_events(&parent, ended).await;
    let at = seq_of(&parent_events, "tool_result");

    second.push(Reply::text("On the other model: milk."));
    let out = sortie(
        home.path(),
        cwd.path(),
        &[
            "fork",
            &parent[..8],
            "--at",
            &at.to_string(),
            "--provider",
            "other",
            "--json",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The fork's request is the parent's second one: the same conversation, word for word.
    assert_eq!(second.hits(), 1);
    let forked = &second.requests()[0];
    assert_eq!(forked["model"], "other-model");
    assert_eq!(after_system(forked), after_system(&first.requests()[1]));
    assert_eq!(after_system(forked).len(), 3, "prompt, call, result");
    assert_eq!(
        first.hits(),
        2,
        "the parent's provider heard nothing of the fork"
    );

    let summary: Value = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "summary")
        .expect("summary");
    let fork = summary["mission"]["id"]
        .as_str()
        .expect("fork id")
        .to_string();
    assert_eq!(summary["mission"]["parent_id"], parent.as_str());
    assert_eq!(summary["mission"]["status"], "completed");

    // `show` links them; the parent is unchanged.
    let shown = sortie(home.path(), cwd.path(), &["show", &fork, "--json"]).await;
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let shown: Value = serde_json::from_slice(&shown.stdout).expect("show json");
    assert_eq!(shown["mission"]["parent_id"], parent.as_str());
    let events = shown["events"].as_array().expect("events");
    assert_eq!(events[1]["type"], "forked");
    assert_eq!(events[1]["parent_seq"], at);
    let text_show = sortie(home.path(), cwd.path(), &["show", &fork]).await;
    assert!(text(&text_show.stdout).contains(&format!("forked    from {parent}")));
    let (_, after) = d.get(&format!("/missions/{parent}/events")).await;
    assert_eq!(after.as_array().expect("events"), &parent_events);
    let (_, p) = d.get(&format!("/missions/{parent}")).await;
    assert_eq!(p["parent_id"], Value::Null);
}

#[tokio::test]
async fn a_fork_between_a_call_and_its_result_or_past_the_end_is_refused() {
    let (first, _second, home, cwd) = two_providers().await;
    script_parent(&first);
    let d = DaemonProc::start(home.path()).await;
    let (_, m) = d
        .post(
            "/missions",
            json!({"prompt": "read my notes", "cwd": cwd.path()}),
        )
        .await;
    let parent = m["id"].as_str().expect("id").to_string();
    let events = d.wait_events(&parent, ended).await;
    let called = seq_of(&events, "assistant_message");
    let result = seq_of(&events, "tool_result");
    let last = events.last().and_then(|e| e["seq"].as_u64()).expect("last");

    let out = sortie(
        home.path(),
        cwd.path(),
        &["fork", &parent, "--at", &called.to_string()],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("in the middle of a tool call"), "{err}");
    assert!(
        err.contains(&format!(
            "fork at {} (before the call) or at {result} (after its results)",
            called - 1
        )),
        "{err}"
    );
    let (status, body) = d
        .post(&format!("/missions/{parent}/fork"), json!({"at": 999}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("has no event 999: its events are 0 to {last}")),
        "{body}"
    );
    // At the end, the history is the model's answer: the fork needs its next message.
    let (status, body) = d.post(&format!("/missions/{parent}/fork"), json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("give the fork its next message"),
        "{body}"
    );
    let (_, missions) = d.get("/missions").await;
    assert_eq!(
        missions["missions"].as_array().map(Vec::len),
        Some(1),
        "nothing was created"
    );
    assert_eq!(count(&events, "forked"), 0);
}

#[tokio::test]
async fn a_fork_runs_in_this_process_without_a_daemon() {
    let (first, second, home, cwd) = two_providers().await;
    script_parent(&first);
    let out = sortie(home.path(), cwd.path(), &["run", "--json", "read my notes"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let parent = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "summary")
        .expect("summary")["mission"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    second.push(Reply::text("Oat milk, then."));
    let out = sortie(
        home.path(),
        cwd.path(),
        &["fork", &parent, "--provider", "other", "and which milk?"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Oat milk, then."));
    let sent = after_system(&second.requests()[0]);
    // The whole parent conversation, its answer, then the fork's message.
    assert_eq!(&sent[..3], after_system(&first.requests()[1]).as_slice());
    assert_eq!(sent[3]["content"], "The note says: remember the milk.");
    assert_eq!(
        sent[4],
        json!({"role": "user", "content": "and which milk?"})
    );
    assert_eq!(sent.len(), 5);
}

#[tokio::test]
async fn a_fork_keeps_its_parents_budget() {
    let (first, second, home, cwd) = two_providers().await;
    script_parent(&first);
    let out = sortie(
        home.path(),
        cwd.path(),
        &["run", "--json", "--max-tokens", "900000", "read my notes"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let parent = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "summary")
        .expect("summary")["mission"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    second.push(Reply::text("Oat milk, then."));
    let out = sortie(
        home.path(),
        cwd.path(),
        &[
            "fork",
            &parent,
            "--provider",
            "other",
            "--json",
            "and which milk?",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let fork = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "summary")
        .expect("summary")["mission"]
        .clone();
    assert_eq!(fork["parent_id"], parent.as_str());
    assert_eq!(fork["budget"]["max_tokens"], 900000, "{fork:#}");
}
