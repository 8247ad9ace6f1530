//! The turn loop against a scripted provider: text, tools, policy, history.

use serde_json::json;
use sortie_missions::{MissionEvent, MissionStatus, PermissionPolicy, ToolOutcome};
use sortie_tests::{MockProvider, Reply};
use sortie_transports::ContentBlock;

use super::support::{kinds, spec, transport, World};

#[tokio::test]
async fn a_text_only_mission_completes_and_stores_the_answer() {
    let mock = MockProvider::start().await;
    mock.push(Reply::text("All done: nothing to change."));
    let w = World::new();
    let (m, events) = w
        .run(
            transport(&mock.base_url()),
            spec(w.cwd.path(), "check things"),
        )
        .await;

    assert_eq!(m.status, MissionStatus::Completed);
    assert_eq!(m.turns, 1);
    assert_eq!((m.usage.input_tokens, m.usage.output_tokens), (10, 5));
    assert_eq!(
        kinds(&events),
        [
            "created",
            "user_message",
            "status",
            "turn_started",
            "assistant_message",
            "usage",
            "status"
        ]
    );
    let answer = events.iter().find_map(|e| match &e.event {
        MissionEvent::AssistantMessage { content, .. } => Some(content.clone()),
        _ => None,
    });
    assert_eq!(
        answer,
        Some(vec![ContentBlock::Text {
            text: "All done: nothing to change.".into()
        }])
    );
    let request = &mock.requests()[0];
    assert_eq!(request["model"], "mock-model");
    assert_eq!(request["stream"], true);
    assert_eq!(request["messages"][0]["role"], "system");
    assert!(request["messages"][0]["content"]
        .as_str()
        .expect("system")
        .contains(
            &w.cwd
                .path()
                .canonicalize()
                .expect("c")
                .display()
                .to_string()
        ));
    assert_eq!(
        request["messages"][1],
        json!({"role": "user", "content": "check things"})
    );
    assert_eq!(request["tools"].as_array().expect("tools").len(), 6);
}

#[tokio::test]
async fn a_tool_call_runs_and_its_result_goes_back_under_the_same_id() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "call_w1",
        "write_file",
        json!({"path": "hello.txt", "content": "hi there\n"}),
    ));
    mock.push(Reply::text("Wrote hello.txt."));
    let w = World::new();
    let (m, events) = w
        .run(
            transport(&mock.base_url()),
            spec(w.cwd.path(), "write hello"),
        )
        .await;

    assert_eq!(m.status, MissionStatus::Completed);
    assert_eq!(
        std::fs::read_to_string(w.cwd.path().join("hello.txt")).expect("file"),
        "hi there\n"
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    let msgs = requests[1]["messages"].as_array().expect("messages");
    let assistant = &msgs[2];
    assert_eq!(assistant["tool_calls"][0]["id"], "call_w1");
    assert_eq!(
        assistant["tool_calls"][0]["function"]["arguments"],
        json!({"path": "hello.txt", "content": "hi there\n"}).to_string()
    );
    let tool = &msgs[3];
    assert_eq!(tool["role"], "tool");
    assert_eq!(tool["tool_call_id"], "call_w1");
    assert_eq!(tool["content"], "wrote 9 bytes to hello.txt");
    // The call was stored before the tool ran, the result after.
    let call_at = events
        .iter()
        .position(|e| matches!(e.event, MissionEvent::AssistantMessage { .. }))
        .expect("call");
    let result_at = events
        .iter()
        .position(|e| matches!(e.event, MissionEvent::ToolResult { .. }))
        .expect("result");
    assert!(call_at < result_at);
}

#[tokio::test]
async fn parallel_tool_calls_with_interleaved_deltas_all_run_in_order() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_calls(&[
        (
            "c1",
            "write_file",
            json!({"path": "a.txt", "content": "alpha"}),
        ),
        (
            "c2",
            "write_file",
            json!({"path": "b/b.txt", "content": "beta"}),
        ),
        ("c3", "list_dir", json!({})),
    ]));
    mock.push(Reply::text("ok"));
    let w = World::new();
    let (m, events) = w
        .run(transport(&mock.base_url()), spec(w.cwd.path(), "three"))
        .await;

    assert_eq!(m.status, MissionStatus::Completed);
    let results: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| match &e.event {
            MissionEvent::ToolResult {
                call_id, output, ..
            } => Some((call_id.clone(), output.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].0, "c1");
    assert_eq!(results[1].0, "c2");
    assert_eq!(
        results[2],
        ("c3".to_string(), "a.txt  (5 bytes)\nb/".to_string())
    );
    let tool_ids: Vec<String> = mock.requests()[1]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["tool_call_id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(tool_ids, ["c1", "c2", "c3"]);
}

#[tokio::test]
async fn a_denied_write_goes_back_to_the_model_and_the_mission_goes_on() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "c1",
        "write_file",
        json!({"path": "x.txt", "content": "no"}),
    ));
    mock.push(Reply::text(
        "I was not allowed to write; here is the plan instead.",
    ));
    let w = World::new();
    let mut s = spec(w.cwd.path(), "try to write");
    s.policy = PermissionPolicy::ReadOnly;
    let (m, events) = w.run(transport(&mock.base_url()), s).await;

    assert_eq!(m.status, MissionStatus::Completed);
    assert!(!w.cwd.path().join("x.txt").exists());
    let outcome = events.iter().find_map(|e| match &e.event {
        MissionEvent::ToolResult { outcome, .. } => Some(*outcome),
        _ => None,
    });
    assert_eq!(outcome, Some(ToolOutcome::Denied));
    let tool_msg = mock.requests()[1]["messages"][3]["content"]
        .as_str()
        .expect("content")
        .to_string();
    assert!(tool_msg.contains("permission denied"), "{tool_msg}");
}

#[tokio::test]
async fn a_tool_that_times_out_returns_its_error_to_the_model() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "c1",
        "shell",
        json!({"command": "sleep 20", "timeout_secs": 1}),
    ));
    mock.push(Reply::text("The command hung; moving on."));
    let w = World::new();
    let (m, events) = w
        .run(transport(&mock.base_url()), spec(w.cwd.path(), "run it"))
        .await;

    assert_eq!(m.status, MissionStatus::Completed);
    let outcome = events.iter().find_map(|e| match &e.event {
        MissionEvent::ToolResult {
            outcome, output, ..
        } => Some((*outcome, output.clone())),
        _ => None,
    });
    let (outcome, output) = outcome.expect("a result");
    assert_eq!(outcome, ToolOutcome::TimedOut);
    assert!(output.contains("timed out after 1s"));
    assert!(mock.requests()[1]["messages"][3]["content"]
        .as_str()
        .expect("c")
        .contains("timed out"));
}

#[tokio::test]
async fn a_path_outside_the_working_directory_is_refused_to_the_model() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "c1",
        "read_file",
        json!({"path": "../../etc/passwd"}),
    ));
    mock.push(Reply::text("ok"));
    let w = World::new();
    let (m, _) = w
        .run(transport(&mock.base_url()), spec(w.cwd.path(), "peek"))
        .await;
    assert_eq!(m.status, MissionStatus::Completed);
    let content = mock.requests()[1]["messages"][3]["content"]
        .as_str()
        .expect("c")
        .to_string();
    assert!(
        content.contains("outside the working directory"),
        "{content}"
    );
}

#[tokio::test]
async fn max_turns_stops_a_model_that_never_finishes() {
    let mock = MockProvider::start().await;
    mock.repeat(Reply::tool_call("c", "list_dir", json!({})));
    let w = World::new();
    let mut s = spec(w.cwd.path(), "loop");
    s.max_turns = 3;
    let (m, events) = w.run(transport(&mock.base_url()), s).await;
    assert_eq!(m.status, MissionStatus::Failed);
    assert_eq!(m.turns, 3);
    assert_eq!(mock.hits(), 3);
    assert!(m.error.expect("error").contains("limit of 3 turns"));
    assert_eq!(kinds(&events).last().map(String::as_str), Some("status"));
}

#[tokio::test]
async fn a_whole_answer_is_used_when_streaming_is_off() {
    let mock = MockProvider::start().await;
    mock.push(Reply::whole_text("whole"));
    let w = World::new();
    let mut config = transport(&mock.base_url());
    config.stream = false;
    let (m, events) = w.run(config, spec(w.cwd.path(), "hi")).await;
    assert_eq!(m.status, MissionStatus::Completed);
    assert_eq!(mock.requests()[0]["stream"], false);
    assert!(events.iter().any(|e| matches!(&e.event, MissionEvent::AssistantMessage { content, .. } if content == &vec![ContentBlock::Text { text: "whole".into() }])));
}

#[tokio::test]
async fn an_endpoint_that_refuses_streaming_gets_whole_requests_from_then_on() {
    let mock = MockProvider::start().await;
    mock.push(Reply::error(400, r#"{"error":{"message":"Streaming is not supported for this model","type":"invalid_request_error"}}"#));
    mock.push(Reply::whole_text("fine"));
    let w = World::new();
    let (m, _) = w
        .run(transport(&mock.base_url()), spec(w.cwd.path(), "hi"))
        .await;
    assert_eq!(m.status, MissionStatus::Completed);
    let streams: Vec<bool> = mock
        .requests()
        .iter()
        .map(|r| r["stream"] == true)
        .collect();
    assert_eq!(streams, [true, false]);
}

#[tokio::test]
async fn the_key_is_sent_as_a_bearer_and_never_stored() {
    let mock = MockProvider::start().await;
    mock.push(Reply::error(401, r#"{"error":{"message":"Incorrect API key provided: sk-test-SECRET123456","type":"invalid_request_error","code":"invalid_api_key"}}"#));
    let w = World::new();
    let mut config = transport(&mock.base_url());
    config.api_key = Some(sortie_transports::Secret::new("sk-test-SECRET123456"));
    let (m, events) = w.run(config, spec(w.cwd.path(), "hi")).await;
    assert_eq!(m.status, MissionStatus::Failed);
    assert_eq!(
        mock.request_headers()[0]["authorization"],
        "Bearer sk-test-SECRET123456"
    );
    let log = serde_json::to_string(&events).expect("json");
    assert!(
        !log.contains("SECRET123456"),
        "the key leaked into the log: {log}"
    );
    assert!(!serde_json::to_string(&m)
        .expect("json")
        .contains("SECRET123456"));
}

#[tokio::test]
async fn a_keyless_endpoint_gets_no_authorization_header() {
    let mock = MockProvider::start().await;
    mock.push(Reply::text("hi"));
    let w = World::new();
    let (m, _) = w
        .run(transport(&mock.base_url()), spec(w.cwd.path(), "hi"))
        .await;
    assert_eq!(m.status, MissionStatus::Completed);
    assert!(mock.request_headers()[0].get("authorization").is_none());
}

#[tokio::test]
async fn calls_cut_short_by_a_crash_are_settled_on_resume_read_only_ones_run_again() {
    let mock = MockProvider::start().await;
    mock.push(Reply::text("carrying on"));
    let w = World::new();
    std::fs::write(w.cwd.path().join("notes.txt"), "remember the milk\n").expect("write");
    let m = w
        .store
        .create_mission(spec(w.cwd.path(), "read and change"))
        .expect("create");
    // What a daemon killed between storing the calls and storing their results leaves.
    for event in [
        MissionEvent::TurnStarted {
            turn: 1,
            model: "mock-model".into(),
        },
        MissionEvent::AssistantMessage {
            turn: 1,
            content: vec![
                ContentBlock::ToolUse {
                    id: "c1".into(),
                    name: "read_file".into(),
                    arguments: json!({"path": "notes.txt"}).to_string(),
                },
                ContentBlock::ToolUse {
                    id: "c2".into(),
                    name: "shell".into(),
                    arguments: json!({"command": "echo again >> effects.txt"}).to_string(),
                },
            ],
            stop_reason: sortie_transports::StopReason::ToolUse,
        },
    ] {
        w.store.append(&m.id, event).expect("append");
    }
    let done = w
        .runner(transport(&mock.base_url()))
        .run(m.id, tokio_util::sync::CancellationToken::new())
        .await
        .expect("run");
    assert_eq!(done.status, MissionStatus::Completed);
    let events = w.store.events(&m.id).expect("events");
    let results: Vec<(String, ToolOutcome, String)> = events
        .iter()
        .filter_map(|e| match &e.event {
            MissionEvent::ToolResult {
                name,
                outcome,
                output,
                ..
            } => Some((name.clone(), *outcome, output.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 2, "{results:?}");
    assert_eq!(
        (results[0].0.as_str(), results[0].1),
        ("read_file", ToolOutcome::Ok)
    );
    assert!(results[0].2.contains("remember the milk"));
    assert_eq!(
        (results[1].0.as_str(), results[1].1),
        ("shell", ToolOutcome::Error)
    );
    assert!(results[1].2.contains("was not run again"));
    assert!(
        !w.cwd.path().join("effects.txt").exists(),
        "the shell call ran again"
    );
    // Both results reached the model before it went on.
    let sent = mock.requests()[0].to_string();
    assert!(sent.contains("remember the milk") && sent.contains("was not run again"));
}
