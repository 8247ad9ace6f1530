//! Missions over Anthropic Messages against a mock that speaks its SSE exactly.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sortie_missions::{MissionEvent, MissionRunner, MissionStatus};
use sortie_tests::anthropic_wire::{error_body, turn, turn_events, Block};
use sortie_tests::{End, Frame, MockProvider, Reply};
use sortie_transports::direct::{AnthropicAuth, AnthropicConfig, AnthropicMessages};
use sortie_transports::{complete, ContentBlock, ErrorClass, Message, Role, Secret, TurnRequest};
use tokio_util::sync::CancellationToken;

use sortie_missions::recovery::Recovery;

use super::support::{errors, fast_policy, recoveries, spec, World};

fn config(mock: &MockProvider) -> AnthropicConfig {
    let mut c = AnthropicConfig::new(mock.root_url());
    c.auth = Some(AnthropicAuth::ApiKey(Secret::new("sk-ant-test-key-123456")));
    c.idle_timeout = Duration::from_secs(10);
    c
}

async fn run_mission(
    world: &World,
    config: AnthropicConfig,
    model: &str,
) -> (sortie_missions::Mission, Vec<sortie_missions::StoredEvent>) {
    let mut s = spec(world.cwd.path(), "list things");
    s.model = model.into();
    s.transport = "anthropic".into();
    let m = world.store.create_mission(s).expect("create");
    let runner = MissionRunner::new(
        world.store.clone(),
        Arc::new(AnthropicMessages::new(config).expect("transport")),
    )
    .with_recovery(Recovery::new(fast_policy(), None));
    let done = tokio::time::timeout(
        Duration::from_secs(30),
        runner.run(m.id, CancellationToken::new()),
    )
    .await
    .expect("in time")
    .expect("run");
    let events = world.store.events(&m.id).expect("events");
    (done, events)
}

#[tokio::test]
async fn a_tool_turn_replays_signed_thinking_and_the_result_to_the_same_model() {
    let mock = MockProvider::start().await;
    mock.push(turn(
        &[
            Block::Thinking {
                text: "I should list the directory.",
                signature: "SIG-abc",
            },
            Block::Text("Let me look."),
            Block::ToolUse {
                id: "toolu_1",
                name: "list_dir",
                input: json!({}),
            },
        ],
        "tool_use",
    ));
    mock.push(turn(&[Block::Text("It is empty.")], "end_turn"));
    let w = World::new();
    let (m, _) = run_mission(&w, config(&mock), "claude-mock").await;

    assert_eq!(m.status, MissionStatus::Completed);
    assert_eq!(mock.paths(), ["/v1/messages", "/v1/messages"]);
    let headers = &mock.request_headers()[0];
    assert_eq!(headers["x-api-key"], "sk-ant-test-key-123456");
    assert_eq!(headers["anthropic-version"], "2023-06-01");
    assert!(headers.get("authorization").is_none());
    let second = &mock.requests()[1];
    assert_eq!(second["stream"], true);
    assert!(second["system"][0]["text"]
        .as_str()
        .expect("system")
        .contains("You are Sortie"));
    let assistant = &second["messages"][1];
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(
        assistant["content"],
        json!([
            {"type": "thinking", "thinking": "I should list the directory.", "signature": "SIG-abc"},
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_1", "name": "list_dir", "input": {}}
        ])
    );
    let results = &second["messages"][2]["content"][0];
    assert_eq!(results["type"], "tool_result");
    assert_eq!(results["tool_use_id"], "toolu_1");
    assert_eq!(m.usage.input_tokens, 50);
    assert_eq!(m.usage.cache_read_tokens, 10);
}

#[tokio::test]
async fn oauth_bearer_sends_the_beta_header_and_no_api_key() {
    let mock = MockProvider::start().await;
    mock.push(turn(&[Block::Text("hi")], "end_turn"));
    let mut c = config(&mock);
    c.auth = Some(AnthropicAuth::Bearer(Secret::new("oauth-access-token")));
    let w = World::new();
    let (m, _) = run_mission(&w, c, "claude-mock").await;
    assert_eq!(m.status, MissionStatus::Completed);
    let headers = &mock.request_headers()[0];
    assert_eq!(headers["authorization"], "Bearer oauth-access-token");
    assert_eq!(headers["anthropic-beta"], "oauth-2025-04-20");
    assert!(headers.get("x-api-key").is_none());
}

#[tokio::test]
async fn thinking_signed_by_another_model_is_not_sent_after_a_switch() {
    let mock = MockProvider::start().await;
    mock.push(turn(&[Block::Text("switched fine")], "end_turn"));
    let transport = AnthropicMessages::new(config(&mock)).expect("transport");
    let request = TurnRequest {
        model: "claude-new".into(),
        system: "sys".into(),
        messages: vec![
            Message::user("first"),
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentBlock::Thinking {
                        text: "old".into(),
                        signature: Some("OLD-SIG".into()),
                        model: Some("claude-old".into()),
                    },
                    ContentBlock::RedactedThinking {
                        data: "OPAQUE".into(),
                        model: Some("claude-old".into()),
                    },
                ],
            },
            Message::user("second"),
        ],
        ..Default::default()
    };
    let done = complete(&transport, request).await.expect("whole answer");
    assert_eq!(done.text(), "switched fine");
    let sent = mock.requests()[0]["messages"][1]["content"].to_string();
    assert!(
        !sent.contains("OLD-SIG") && !sent.contains("OPAQUE"),
        "{sent}"
    );
    assert!(sent.contains("[earlier reasoning omitted]"), "{sent}");
}

#[tokio::test]
async fn pings_huge_deltas_and_split_utf8_arrive_intact() {
    let mock = MockProvider::start().await;
    let big = "é🚀x".repeat(120_000); // about 1 MB in one delta
    let events = turn_events(&[Block::Text("start ")], "end_turn");
    let mut frames: Vec<Frame> = Vec::new();
    for (i, e) in events.into_iter().enumerate() {
        let line = format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or(""));
        if i == 3 {
            // A huge delta, delivered in ragged 777-byte pieces that split characters.
            let huge = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": big}});
            let bytes =
                format!("event: content_block_delta\ndata: {huge}\n\n: keep-alive comment\n\n")
                    .into_bytes();
            frames.extend(bytes.chunks(777).map(|c| Frame::Raw(c.to_vec())));
        }
        frames.push(Frame::Raw(line.into_bytes()));
    }
    mock.push(Reply::Stream {
        frames,
        end: End::Close,
    });
    let w = World::new();
    let (m, events) = run_mission(&w, config(&mock), "claude-mock").await;
    assert_eq!(m.status, MissionStatus::Completed);
    let text = events.iter().find_map(|e| match &e.event {
        MissionEvent::AssistantMessage { content, .. } => match &content[0] {
            ContentBlock::Text { text } => Some(text.clone()),
            _ => None,
        },
        _ => None,
    });
    assert_eq!(text.expect("text"), format!("start {big}"));
}

#[tokio::test]
async fn an_error_event_mid_stream_fails_with_its_class() {
    let mock = MockProvider::start().await;
    let mut events = turn_events(&[Block::Text("partial answer")], "end_turn");
    events.truncate(4);
    events.push(
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    );
    mock.push(Reply::events(events, End::Close));
    mock.push(turn(&[Block::Text("second try")], "end_turn"));
    let w = World::new();
    let (m, events) = run_mission(&w, config(&mock), "claude-mock").await;
    assert_eq!(m.status, MissionStatus::Completed);
    assert_eq!(mock.hits(), 2);
    assert_eq!(
        recoveries(&events),
        [("turn".into(), "overloaded".into(), "backoff".into(), None)]
    );
}

#[tokio::test]
async fn a_stream_cut_mid_block_is_a_network_error() {
    let mock = MockProvider::start().await;
    let mut events = turn_events(
        &[Block::ToolUse {
            id: "t",
            name: "write_file",
            input: json!({"path": "a", "content": "b"}),
        }],
        "tool_use",
    );
    events.truncate(5);
    mock.repeat(Reply::events(events, End::Close));
    let w = World::new();
    let (m, events) = run_mission(&w, config(&mock), "claude-mock").await;
    assert_eq!(m.status, MissionStatus::Failed);
    let (class, message) = &errors(&events)[0];
    assert_eq!(class.as_deref(), Some("network"));
    assert!(
        message.contains("in the middle of a tool_use block"),
        "{message}"
    );
    assert_eq!(mock.hits(), 5, "one try, four bounded backoffs");
    assert!(!w.cwd.path().join("a").exists());
}

#[tokio::test]
async fn http_errors_use_the_shared_classifier() {
    let cases = [
        (529, error_body("overloaded_error", "Overloaded"), ErrorClass::Overloaded),
        (400, error_body("invalid_request_error", "messages.1.content.0: `thinking` or `redacted_thinking` blocks in the latest assistant message cannot be modified."), ErrorClass::StaleThinking),
        (403, error_body("permission_error", "Your API key does not have permission"), ErrorClass::Entitlement),
        (401, error_body("authentication_error", "invalid x-api-key"), ErrorClass::AuthExpired),
    ];
    for (status, body, class) in cases {
        let mock = MockProvider::start().await;
        mock.push(Reply::error(status, &body));
        let transport = AnthropicMessages::new(config(&mock)).expect("transport");
        let err = complete(
            &transport,
            TurnRequest {
                model: "m".into(),
                messages: vec![Message::user("x")],
                ..Default::default()
            },
        )
        .await
        .expect_err("must fail");
        assert_eq!(err.class, class, "HTTP {status}");
        assert_eq!(err.status, Some(status));
        assert!(!err.message.contains("sk-ant-test-key"), "{}", err.message);
    }
}

#[tokio::test]
async fn a_malformed_event_and_an_oversized_error_body_are_clear_errors() {
    let mock = MockProvider::start().await;
    let mut events: Vec<Frame> = turn_events(&[Block::Text("hello")], "end_turn")
        .into_iter()
        .take(3)
        .map(|e| Frame::Event(e["type"].as_str().unwrap_or("").to_string(), e))
        .collect();
    events.push(Frame::Raw(
        b"event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"delta\": \n\n"
            .to_vec(),
    ));
    mock.push(Reply::Stream {
        frames: events,
        end: End::Close,
    });
    let huge = format!(
        "<html><head><title>413 Too Large</title></head><body>{}</body></html>",
        "x".repeat(2 * 1024 * 1024)
    );
    mock.push(Reply::error(500, &huge));
    let transport = AnthropicMessages::new(config(&mock)).expect("transport");
    let request = || TurnRequest {
        model: "m".into(),
        messages: vec![Message::user("x")],
        ..Default::default()
    };

    let err = complete(&transport, request())
        .await
        .expect_err("malformed");
    assert_eq!(err.class, ErrorClass::MalformedResponse);
    assert!(
        err.message.contains("malformed stream event"),
        "{}",
        err.message
    );

    let err = complete(&transport, request())
        .await
        .expect_err("server error");
    assert_eq!(err.class, ErrorClass::ServerError);
    assert_eq!(err.message, "HTTP 500: an HTML error page (413 Too Large)");
}
