//! Missions over OpenAI Responses against a mock that speaks its SSE exactly.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sortie_missions::{MissionRunner, MissionStatus};
use sortie_tests::responses_wire::{response, response_events, Item};
use sortie_tests::{End, MockProvider, Reply};
use sortie_transports::direct::{OpenAiResponses, ResponsesConfig};
use sortie_transports::{complete, ErrorClass, Message, Secret, TurnRequest};
use tokio_util::sync::CancellationToken;

use super::support::{errors, spec, World};

fn config(mock: &MockProvider) -> ResponsesConfig {
    let mut c = ResponsesConfig::new(mock.base_url());
    c.api_key = Some(Secret::new("sk-resp-key-000000"));
    c.account_id = Some("acct_123".into());
    c.idle_timeout = Duration::from_secs(10);
    c
}

#[tokio::test]
async fn reasoning_and_calls_round_trip_with_store_false() {
    let mock = MockProvider::start().await;
    mock.push(response(&[
        Item::Reasoning {
            summary: "Check the directory first.",
            encrypted: "ENC-1",
        },
        Item::Text("Listing."),
        Item::Call {
            call_id: "call_9",
            name: "list_dir",
            arguments: json!({}),
        },
    ]));
    mock.push(response(&[Item::Text("Nothing here.")]));
    let w = World::new();
    let mut s = spec(w.cwd.path(), "look");
    s.model = "gpt-mock".into();
    let m = w.store.create_mission(s).expect("create");
    let runner = MissionRunner::new(
        w.store.clone(),
        Arc::new(OpenAiResponses::new(config(&mock)).expect("t")),
    );
    let done = runner
        .run(m.id, CancellationToken::new())
        .await
        .expect("run");

    assert_eq!(done.status, MissionStatus::Completed);
    assert_eq!(mock.paths(), ["/v1/responses", "/v1/responses"]);
    let headers = &mock.request_headers()[0];
    assert_eq!(headers["authorization"], "Bearer sk-resp-key-000000");
    assert_eq!(headers["chatgpt-account-id"], "acct_123");
    let second = &mock.requests()[1];
    assert_eq!(second["store"], false);
    assert_eq!(second["stream"], true);
    assert_eq!(second["include"], json!(["reasoning.encrypted_content"]));
    let types: Vec<&str> = second["input"]
        .as_array()
        .expect("input")
        .iter()
        .map(|i| i["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        types,
        [
            "message",
            "reasoning",
            "message",
            "function_call",
            "function_call_output"
        ]
    );
    assert_eq!(second["input"][1]["encrypted_content"], "ENC-1");
    assert_eq!(second["input"][3]["call_id"], "call_9");
    assert_eq!(second["input"][4]["call_id"], "call_9");
    assert_eq!(done.usage.reasoning_tokens, 12);
    assert_eq!(done.usage.cache_read_tokens, 40);
}

#[tokio::test]
async fn a_stream_without_a_terminal_event_fails() {
    let mock = MockProvider::start().await;
    let mut events = response_events(&[Item::Text("half")]);
    events.pop();
    mock.push(Reply::events(events, End::Close));
    let transport = OpenAiResponses::new(config(&mock)).expect("t");
    let err = complete(
        &transport,
        TurnRequest {
            model: "m".into(),
            messages: vec![Message::user("x")],
            ..Default::default()
        },
    )
    .await
    .expect_err("cut");
    assert_eq!(err.class, ErrorClass::Network);
    assert!(err.message.contains("no [DONE]"), "{}", err.message);
}

#[tokio::test]
async fn a_codex_usage_limit_fails_the_mission_as_quota() {
    let mock = MockProvider::start().await;
    mock.push(Reply::error(429, r#"{"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached", "plan_type": "plus", "resets_at": 4102444800}}"#));
    let w = World::new();
    let m = w
        .store
        .create_mission(spec(w.cwd.path(), "x"))
        .expect("create");
    let runner = MissionRunner::new(
        w.store.clone(),
        Arc::new(OpenAiResponses::new(config(&mock)).expect("t")),
    );
    let done = runner
        .run(m.id, CancellationToken::new())
        .await
        .expect("run");
    assert_eq!(done.status, MissionStatus::Failed);
    let events = w.store.events(&m.id).expect("events");
    assert_eq!(errors(&events)[0].0.as_deref(), Some("quota_exhausted"));
}

#[tokio::test]
async fn response_failed_mid_stream_is_classified() {
    let mock = MockProvider::start().await;
    let mut events = response_events(&[Item::Text("some text")]);
    events.pop();
    events.push(json!({"type": "response.failed", "response": {"status": "failed", "error": {"code": "server_error", "message": "The server had an error"}}}));
    mock.push(Reply::events(events, End::Close));
    let transport = OpenAiResponses::new(config(&mock)).expect("t");
    let err = complete(
        &transport,
        TurnRequest {
            model: "m".into(),
            messages: vec![Message::user("x")],
            ..Default::default()
        },
    )
    .await
    .expect_err("failed");
    assert_eq!(err.class, ErrorClass::ServerError);
    assert_eq!(err.message, "The server had an error");
}
