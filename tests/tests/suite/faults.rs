//! What a provider can throw at a mission. Transient faults are retried with backoff and the
//! mission goes on; permanent ones fail it with the provider's message. Every step is an
//! event, the request count is exact, and nothing before a fault is lost.

use std::time::Duration;

use serde_json::json;
use sortie_missions::{MissionEvent, MissionStatus};
use sortie_tests::{End, Frame};
use sortie_tests::{MockProvider, Reply};
use tokio_util::sync::CancellationToken;

use super::support::{errors, kinds, recoveries, spec, transport, World};

/// Runs a mission whose first answer is `fault` and second a plain success.
async fn fault_then_success(
    fault: Reply,
) -> (
    MockProvider,
    World,
    sortie_missions::Mission,
    Vec<sortie_missions::StoredEvent>,
) {
    let mock = MockProvider::start().await;
    mock.push(fault);
    mock.push(Reply::text("recovered"));
    let w = World::new();
    let mut config = transport(&mock.base_url());
    config.idle_timeout = Duration::from_secs(1);
    let (m, events) = w.run(config, spec(w.cwd.path(), "go")).await;
    (mock, w, m, events)
}

#[tokio::test]
async fn transient_faults_back_off_once_and_the_mission_completes() {
    let cases: Vec<(&str, Reply)> = vec![
        ("network", Reply::cut_mid_tool_call("write_file")),
        ("malformed_response", Reply::malformed()),
        ("timeout", Reply::stall_after("thinking about it")),
        (
            "server_error",
            Reply::error(
                502,
                "<html><head><title>502 Bad Gateway</title></head></html>",
            ),
        ),
        ("overloaded", Reply::error(503, "")),
        (
            "overloaded",
            Reply::Stream {
                frames: vec![
                    Frame::Data(json!({"choices":[{"index":0,"delta":{"content":"partial "}}]})),
                    Frame::Data(
                        json!({"error":{"message":"Overloaded","type":"overloaded_error"}}),
                    ),
                ],
                end: End::Close,
            },
        ),
    ];
    for (class, fault) in cases {
        let (mock, w, m, events) = fault_then_success(fault).await;
        assert_eq!(m.status, MissionStatus::Completed, "{class}");
        assert_eq!(mock.hits(), 2, "{class}: one failed request, one retry");
        assert_eq!(
            recoveries(&events),
            [(
                "turn".to_string(),
                class.to_string(),
                "backoff".to_string(),
                None
            )],
            "{class}"
        );
        assert!(errors(&events).is_empty(), "{class}");
        assert!(
            !w.cwd.path().join("out").exists(),
            "{class}: a cut tool call never runs"
        );
    }
}

#[tokio::test]
async fn backoff_is_bounded_then_the_mission_fails_with_the_last_error() {
    let mock = MockProvider::start().await;
    mock.repeat(Reply::error(
        500,
        r#"{"error":{"message":"Internal error","type":"server_error"}}"#,
    ));
    let w = World::new();
    let (m, events) = w
        .run(transport(&mock.base_url()), spec(w.cwd.path(), "go"))
        .await;
    assert_eq!(m.status, MissionStatus::Failed);
    assert_eq!(mock.hits(), 5, "one try and four backoffs");
    let steps: Vec<String> = recoveries(&events).into_iter().map(|r| r.2).collect();
    assert_eq!(steps, ["backoff", "backoff", "backoff", "backoff", "fail"]);
    assert_eq!(
        errors(&events),
        [(
            Some("server_error".into()),
            "HTTP 500: Internal error".into()
        )]
    );
}

#[tokio::test]
async fn permanent_errors_fail_at_once_with_the_providers_message() {
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
            400,
            r#"{"error":{"message":"Unknown parameter","type":"invalid_request_error"}}"#,
            "invalid_request",
            "Unknown parameter",
        ),
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
            "HTTP {status}: no retry can fix this (and there is no pool to rotate)"
        );
    }
}

#[tokio::test]
async fn a_rate_limit_waits_what_the_provider_asked_within_the_bound() {
    let mock = MockProvider::start().await;
    mock.push(Reply::error_with_headers(
        429,
        &[("retry-after", "1")],
        r#"{"error":{"message":"Rate limit reached","code":"rate_limit_exceeded"}}"#,
    ));
    mock.push(Reply::text("ok"));
    let w = World::new();
    let started = std::time::Instant::now();
    let (m, events) = w
        .run(transport(&mock.base_url()), spec(w.cwd.path(), "go"))
        .await;
    assert_eq!(m.status, MissionStatus::Completed);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the Retry-After second was honoured"
    );
    assert_eq!(recoveries(&events)[0].2, "wait");

    // A wait longer than the bound is not waited: the mission fails with the rate limit.
    let mock = MockProvider::start().await;
    mock.push(Reply::error_with_headers(
        429,
        &[("retry-after", "600")],
        r#"{"error":{"message":"Rate limit reached","code":"rate_limit_exceeded"}}"#,
    ));
    let w = World::new();
    let (m, events) = w
        .run(transport(&mock.base_url()), spec(w.cwd.path(), "go"))
        .await;
    assert_eq!(m.status, MissionStatus::Failed);
    assert_eq!(mock.hits(), 1);
    assert_eq!(errors(&events)[0].0.as_deref(), Some("rate_limited"));
}

#[tokio::test]
async fn an_unreachable_base_url_is_a_network_error_after_bounded_retries() {
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
    assert_eq!(recoveries(&events).len(), 5);
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
async fn utf8_split_across_chunks_arrives_intact() {
    let mock = MockProvider::start().await;
    let line = format!(
        "data: {}\n\n",
        json!({"choices":[{"index":0,"delta":{"content":"héllo 🚀 wörld"}}]})
    );
    let bytes = line.into_bytes();
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
