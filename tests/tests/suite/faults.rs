//! What a provider can throw at a mission: each fault is a clear, classified error event,
//! the mission ends in the right state, and nothing before the fault is lost.

use std::time::Duration;

use serde_json::json;
use sortie_missions::{MissionEvent, MissionStatus};
use sortie_tests::{End, Frame};
use sortie_tests::{MockProvider, Reply};
use tokio_util::sync::CancellationToken;

use super::support::{errors, kinds, spec, transport, World};

#[tokio::test]
async fn a_stream_cut_mid_tool_call_fails_without_running_the_tool() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call("c1", "list_dir", json!({})));
    mock.push(Reply::cut_mid_tool_call("write_file"));
    let w = World::new();
    let (m, events) = w
        .run(transport(&mock.base_url()), spec(w.cwd.path(), "go"))
        .await;

    assert_eq!(m.status, MissionStatus::Failed);
    let errs = errors(&events);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].0.as_deref(), Some("network"));
    assert!(
        errs[0]
            .1
            .contains("in the middle of a `write_file` tool call"),
        "{}",
        errs[0].1
    );
    assert!(!w.cwd.path().join("out").exists());
    // The first turn and its tool result are still there.
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e.event, MissionEvent::ToolResult { .. }))
            .count(),
        1
    );
}

#[tokio::test]
async fn malformed_sse_is_a_clear_error() {
    let mock = MockProvider::start().await;
    mock.push(Reply::malformed());
    let w = World::new();
    let (m, events) = w
        .run(transport(&mock.base_url()), spec(w.cwd.path(), "go"))
        .await;
    assert_eq!(m.status, MissionStatus::Failed);
    let errs = errors(&events);
    assert_eq!(errs[0].0.as_deref(), Some("malformed_response"));
    assert!(
        errs[0].1.contains("malformed stream event"),
        "{}",
        errs[0].1
    );
}

#[tokio::test]
async fn http_errors_are_classified_with_the_providers_message() {
    let cases = [
        (
            401,
            r#"{"error":{"message":"Invalid auth","type":"invalid_request_error","code":"invalid_api_key"}}"#,
            "auth_expired",
            "HTTP 401: Invalid auth",
        ),
        (
            404,
            r#"{"error":{"message":"The model `gpt-nope` does not exist","code":"model_not_found"}}"#,
            "not_found",
            "The model `gpt-nope` does not exist",
        ),
        (
            429,
            r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota"}}"#,
            "quota_exhausted",
            "exceeded your current quota",
        ),
        (
            502,
            "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
            "server_error",
            "an HTML error page (502 Bad Gateway)",
        ),
        (503, "", "overloaded", "HTTP 503: (empty body)"),
    ];
    for (status, body, class, message) in cases {
        let mock = MockProvider::start().await;
        mock.push(Reply::error(status, body));
        let w = World::new();
        let (m, events) = w
            .run(transport(&mock.base_url()), spec(w.cwd.path(), "go"))
            .await;
        assert_eq!(m.status, MissionStatus::Failed, "HTTP {status}");
        let errs = errors(&events);
        assert_eq!(errs[0].0.as_deref(), Some(class), "HTTP {status}");
        assert!(errs[0].1.contains(message), "HTTP {status}: {}", errs[0].1);
        assert_eq!(
            mock.hits(),
            1,
            "HTTP {status}: the skeleton sends once; recovery decides retries"
        );
    }
}

#[tokio::test]
async fn rate_limits_keep_the_wait_the_provider_asked_for() {
    let mock = MockProvider::start().await;
    mock.push(Reply::error_with_headers(
        429,
        &[("retry-after", "7")],
        r#"{"error":{"message":"Rate limit reached","code":"rate_limit_exceeded"}}"#,
    ));
    let w = World::new();
    let store = w.store.clone();
    let m = store
        .create_mission(spec(w.cwd.path(), "go"))
        .expect("create");
    let done = w
        .runner(transport(&mock.base_url()))
        .run(m.id, CancellationToken::new())
        .await
        .expect("run");
    assert_eq!(done.status, MissionStatus::Failed);
    let errs = errors(&store.events(&m.id).expect("events"));
    assert_eq!(errs[0].0.as_deref(), Some("rate_limited"));
}

#[tokio::test]
async fn an_unreachable_base_url_is_a_network_error() {
    // Bind and drop a listener to get a port with nobody on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let w = World::new();
    let (m, events) = w
        .run(
            transport(&format!("http://127.0.0.1:{port}/v1")),
            spec(w.cwd.path(), "go"),
        )
        .await;
    assert_eq!(m.status, MissionStatus::Failed);
    let errs = errors(&events);
    assert_eq!(errs[0].0.as_deref(), Some("network"));
    assert!(
        errs[0]
            .1
            .contains(&format!("cannot connect to http://127.0.0.1:{port}/v1")),
        "{}",
        errs[0].1
    );
}

#[tokio::test]
async fn a_stream_that_goes_silent_times_out() {
    let mock = MockProvider::start().await;
    mock.push(Reply::stall_after("thinking about it"));
    let w = World::new();
    let mut config = transport(&mock.base_url());
    config.idle_timeout = Duration::from_secs(1);
    let (m, events) = w.run(config, spec(w.cwd.path(), "go")).await;
    assert_eq!(m.status, MissionStatus::Failed);
    let errs = errors(&events);
    assert_eq!(errs[0].0.as_deref(), Some("timeout"));
    assert!(errs[0].1.contains("sent nothing for 1s"), "{}", errs[0].1);
}

#[tokio::test]
async fn cancel_during_a_stalled_stream_ends_the_mission_as_cancelled() {
    let mock = MockProvider::start().await;
    mock.push(Reply::stall_after("working"));
    let w = World::new();
    let m = w
        .store
        .create_mission(spec(w.cwd.path(), "go"))
        .expect("create");
    let cancel = CancellationToken::new();
    let runner = w.runner(transport(&mock.base_url()));
    let trigger = cancel.clone();
    let watcher = tokio::spawn({
        let store = w.store.clone();
        async move {
            // Cancel once the turn is under way.
            loop {
                let ev = store.events(&m.id).expect("events");
                if ev
                    .iter()
                    .any(|e| matches!(e.event, MissionEvent::TurnStarted { .. }))
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            trigger.cancel();
        }
    });
    let done = tokio::time::timeout(Duration::from_secs(5), runner.run(m.id, cancel))
        .await
        .expect("cancel ends the run promptly")
        .expect("run");
    watcher.await.expect("watcher");
    assert_eq!(done.status, MissionStatus::Cancelled);
    let events = w.store.events(&m.id).expect("events");
    assert_eq!(kinds(&events).last().map(String::as_str), Some("status"));
}

#[tokio::test]
async fn an_error_event_inside_a_200_stream_is_classified() {
    let mock = MockProvider::start().await;
    mock.push(Reply::Stream {
        frames: vec![
            Frame::Data(json!({"choices":[{"index":0,"delta":{"content":"partial "}}]})),
            Frame::Data(json!({"error":{"message":"Overloaded","type":"overloaded_error"}})),
        ],
        end: End::Close,
    });
    let w = World::new();
    let (m, events) = w
        .run(transport(&mock.base_url()), spec(w.cwd.path(), "go"))
        .await;
    assert_eq!(m.status, MissionStatus::Failed);
    assert_eq!(errors(&events)[0].0.as_deref(), Some("overloaded"));
}

#[tokio::test]
async fn utf8_split_across_chunks_arrives_intact() {
    let mock = MockProvider::start().await;
    let line = format!(
        "data: {}\n\n",
        json!({"choices":[{"index":0,"delta":{"content":"héllo 🚀 wörld"}}]})
    );
    let bytes = line.into_bytes();
    // Cut inside the rocket's four bytes.
    let rocket = bytes
        .windows(4)
        .position(|w| w == "🚀".as_bytes())
        .expect("rocket");
    let frames = vec![
        Frame::Raw(bytes[..rocket + 2].to_vec()),
        Frame::Pause(Duration::from_millis(30)),
        Frame::Raw(bytes[rocket + 2..].to_vec()),
        Frame::Data(json!({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})),
    ];
    mock.push(Reply::Stream {
        frames,
        end: End::Done,
    });
    let w = World::new();
    let (m, events) = w
        .run(transport(&mock.base_url()), spec(w.cwd.path(), "go"))
        .await;
    assert_eq!(m.status, MissionStatus::Completed);
    let text = events.iter().find_map(|e| match &e.event {
        MissionEvent::AssistantMessage { content, .. } => Some(format!("{content:?}")),
        _ => None,
    });
    assert!(text.expect("answer").contains("héllo 🚀 wörld"));
}
