//! The recovery engine with a credential pool, through whole missions: each error class in
//! the middle of a mission, and the exact sequence of requests that follows. The API and
//! the token endpoint are one scripted mock, so `paths()` is that sequence.

use std::sync::Arc;

use chrono::Utc;
use serde_json::json;
use sortie_missions::{MissionEvent, MissionStatus};
use sortie_tests::anthropic_wire::{error_body, turn, Block};
use sortie_tests::{MockProvider, Reply};
use sortie_transports::auth::{AuthMode, CredentialStatus};
use sortie_transports::direct::{AnthropicConfig, AnthropicMessages, OpenAiChat, OpenAiChatConfig};
use sortie_transports::Transport;

use super::support::{credential, recoveries, step, token_reply, Rig};

const CHAT: &str = "/v1/chat/completions";
const XAI_BAD_CREDENTIALS: &str = r#"{"code": "The caller does not have permission to execute the specified operation", "error": "The OAuth2 access token could not be validated. [WKE=unauthenticated:bad-credentials]"}"#;
const XAI_ENTITLEMENT: &str = r#"{"code": "The caller does not have permission to execute the specified operation", "error": "You have either run out of available resources or do not have an active Grok subscription."}"#;

#[tokio::test]
async fn a_401_refreshes_once_then_the_turn_succeeds_with_the_new_token() {
    let rig = Rig::new(&[credential(1, AuthMode::OAuth)]).await;
    rig.mock.push(Reply::error(
        401,
        r#"{"error":{"message":"token expired"}}"#,
    ));
    rig.mock.push(token_reply(1));
    rig.mock.push(Reply::text("done"));
    let (m, events) = rig.run(rig.runner(rig.chat())).await;
    assert_eq!(m.status, MissionStatus::Completed);
    assert_eq!(rig.mock.paths(), [CHAT, "/token", CHAT]);
    assert_eq!(
        rig.mock.request_headers()[2]["authorization"],
        "Bearer fresh-1"
    );
    assert_eq!(
        recoveries(&events),
        [step("turn", "auth_expired", "refresh", Some("p#1"))]
    );
    let log = serde_json::to_string(&events).expect("json");
    assert!(
        !log.contains("access-1") && !log.contains("fresh-1") && !log.contains("refresh-1"),
        "no secret in events"
    );
}

#[tokio::test]
async fn a_401_while_the_token_endpoint_is_down_backs_off_and_succeeds_once_it_is_back() {
    let rig = Rig::new(&[credential(1, AuthMode::OAuth)]).await;
    rig.mock.push(Reply::error(
        401,
        r#"{"error":{"message":"token expired"}}"#,
    ));
    rig.mock
        .push(Reply::error(503, "<html>authorization server down</html>"));
    rig.mock.push(Reply::error(
        401,
        r#"{"error":{"message":"token expired"}}"#,
    ));
    rig.mock.push(token_reply(1));
    rig.mock.push(Reply::text("done"));
    let (m, events) = rig.run(rig.runner(rig.chat())).await;
    assert_eq!(m.status, MissionStatus::Completed, "{:?}", m.error);
    assert_eq!(rig.mock.paths(), [CHAT, "/token", CHAT, "/token", CHAT]);
    let steps: Vec<String> = recoveries(&events).into_iter().map(|r| r.2).collect();
    assert_eq!(steps, ["refresh", "refresh"], "no rotate, no needs_reauth");
    assert_eq!(rig.status(1), CredentialStatus::Active);
}

#[tokio::test]
async fn a_token_endpoint_that_stays_down_fails_the_turn_as_a_network_error_not_needs_reauth() {
    let rig = Rig::new(&[credential(1, AuthMode::OAuth)]).await;
    for _ in 0..8 {
        rig.mock.push(Reply::error(
            401,
            r#"{"error":{"message":"token expired"}}"#,
        ));
        rig.mock.push(Reply::error(502, "<html>bad gateway</html>"));
    }
    let (m, _events) = rig.run(rig.runner(rig.chat())).await;
    assert_eq!(m.status, MissionStatus::Failed);
    let error = m.error.clone().unwrap_or_default();
    assert!(error.contains("the login is kept"), "{error}");
    assert_eq!(rig.status(1), CredentialStatus::Active);
    let tokens = rig.mock.paths().iter().filter(|p| *p == "/token").count();
    assert_eq!(
        tokens, 5,
        "one refresh and max_backoffs (4) more, then it stops"
    );
}

#[tokio::test]
async fn an_xai_403_bad_credentials_refreshes_like_a_401() {
    let rig = Rig::new(&[credential(1, AuthMode::OAuth)]).await;
    rig.mock.push(Reply::error(403, XAI_BAD_CREDENTIALS));
    rig.mock.push(token_reply(1));
    rig.mock.push(Reply::text("done"));
    let (m, events) = rig.run(rig.runner(rig.chat())).await;
    assert_eq!(m.status, MissionStatus::Completed);
    assert_eq!(rig.mock.paths(), [CHAT, "/token", CHAT]);
    assert_eq!(
        recoveries(&events),
        [step("turn", "auth_expired", "refresh", Some("p#1"))]
    );
}

#[tokio::test]
async fn a_server_that_always_answers_401_ends_in_needs_reauth_after_exactly_one_refresh() {
    let rig = Rig::new(&[credential(1, AuthMode::OAuth)]).await;
    rig.mock
        .push(Reply::error(401, r#"{"error":{"message":"no"}}"#));
    rig.mock.push(token_reply(1));
    rig.mock
        .repeat(Reply::error(401, r#"{"error":{"message":"no"}}"#));
    let (m, events) = rig.run(rig.runner(rig.chat())).await;
    assert_eq!(m.status, MissionStatus::NeedsReauth);
    assert_eq!(
        rig.mock.paths(),
        [CHAT, "/token", CHAT],
        "one refresh, no loop"
    );
    let steps: Vec<String> = recoveries(&events).into_iter().map(|r| r.2).collect();
    assert_eq!(steps, ["refresh", "rotate", "needs_reauth"]);
    let reason = m.error.clone().unwrap_or_default();
    let status_reason = events.iter().rev().find_map(|e| match &e.event {
        MissionEvent::Status { reason, .. } => reason.clone(),
        _ => None,
    });
    let reason = status_reason.unwrap_or(reason);
    assert!(reason.contains("sortie auth reconnect"), "{reason}");
    assert!(
        reason.contains(&format!("sortie resume {}", m.id)),
        "{reason}"
    );
    assert!(matches!(
        rig.status(1),
        CredentialStatus::NeedsReauth { .. }
    ));
}

#[tokio::test]
async fn an_entitlement_403_never_refreshes_and_rotates_to_the_next_credential() {
    let rig = Rig::new(&[
        credential(1, AuthMode::OAuth),
        credential(2, AuthMode::ApiKey),
    ])
    .await;
    rig.mock.push(Reply::error(403, XAI_ENTITLEMENT));
    rig.mock.push(Reply::text("done on the second account"));
    let (m, events) = rig.run(rig.runner(rig.chat())).await;
    assert_eq!(m.status, MissionStatus::Completed);
    assert_eq!(rig.mock.paths(), [CHAT, CHAT], "zero refreshes");
    assert_eq!(
        rig.mock.request_headers()[1]["authorization"],
        "Bearer key-2"
    );
    assert_eq!(
        recoveries(&events),
        [step("turn", "entitlement", "rotate", Some("p#1"))]
    );
    assert!(matches!(
        rig.status(1),
        CredentialStatus::EntitlementBlocked { .. }
    ));
}

#[tokio::test]
async fn with_no_credential_left_an_entitlement_fails_with_the_providers_message() {
    let rig = Rig::new(&[credential(1, AuthMode::ApiKey)]).await;
    rig.mock.push(Reply::error(403, XAI_ENTITLEMENT));
    let (m, _) = rig.run(rig.runner(rig.chat())).await;
    assert_eq!(m.status, MissionStatus::Failed);
    assert_eq!(rig.mock.paths(), [CHAT]);
    assert!(m.error.expect("error").contains("active Grok subscription"));
}

#[tokio::test]
async fn a_rate_limit_cools_the_credential_down_and_rotates() {
    let rig = Rig::new(&[
        credential(1, AuthMode::ApiKey),
        credential(2, AuthMode::ApiKey),
    ])
    .await;
    rig.mock.push(Reply::error_with_headers(
        429,
        &[("retry-after", "30")],
        r#"{"error":{"message":"Rate limit","code":"rate_limit_exceeded"}}"#,
    ));
    rig.mock.push(Reply::text("ok"));
    let (m, events) = rig.run(rig.runner(rig.chat())).await;
    assert_eq!(m.status, MissionStatus::Completed);
    assert_eq!(
        rig.mock.request_headers()[1]["authorization"],
        "Bearer key-2"
    );
    assert_eq!(
        recoveries(&events),
        [step("turn", "rate_limited", "cool_down", Some("p#1"))]
    );
    match rig.status(1) {
        CredentialStatus::CoolingDown { until, .. } => {
            assert!(until > Utc::now() + chrono::Duration::seconds(20))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn stale_thinking_is_stripped_and_the_turn_retried_without_thinking() {
    let rig = Rig::new(&[credential(1, AuthMode::ApiKey)]).await;
    rig.mock.push(turn(
        &[
            Block::Thinking {
                text: "plan",
                signature: "SIG",
            },
            Block::ToolUse {
                id: "t1",
                name: "list_dir",
                input: json!({}),
            },
        ],
        "tool_use",
    ));
    rig.mock.push(Reply::error(400, &error_body("invalid_request_error", "messages.1.content.0: `thinking` or `redacted_thinking` blocks in the latest assistant message cannot be modified.")));
    rig.mock.push(turn(&[Block::Text("done")], "end_turn"));
    let mut config = AnthropicConfig::new(rig.mock.root_url());
    config.credentials = Some(rig.credentials());
    config.thinking_budget = Some(1024);
    let (m, events) = rig
        .run(rig.runner(Arc::new(AnthropicMessages::new(config).expect("t"))))
        .await;
    assert_eq!(m.status, MissionStatus::Completed);
    let requests = rig.mock.requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests[1]["thinking"].is_object(),
        "the refused request had thinking on"
    );
    assert!(requests[1]["messages"][1]["content"]
        .to_string()
        .contains("SIG"));
    assert!(
        requests[2].get("thinking").is_none(),
        "the retry turns thinking off"
    );
    let retried = requests[2]["messages"][1]["content"].to_string();
    assert!(
        !retried.contains("SIG") && retried.contains("tool_use"),
        "{retried}"
    );
    assert_eq!(
        recoveries(&events),
        [step(
            "turn",
            "stale_thinking",
            "strip_thinking",
            Some("p#1")
        )]
    );
}

#[tokio::test]
async fn context_overflow_compresses_with_the_auxiliary_client_then_retries() {
    let rig = Rig::new(&[credential(1, AuthMode::ApiKey)]).await;
    for i in 0..3 {
        rig.mock
            .push(Reply::tool_call(&format!("c{i}"), "list_dir", json!({})));
    }
    rig.mock.push(Reply::error(400, r#"{"error":{"message":"This model's maximum context length is 8 tokens.","code":"context_length_exceeded"}}"#));
    rig.mock.push(Reply::text(
        "Summary: listed the directory three times; it is empty.",
    ));
    rig.mock.push(Reply::text("done"));
    let transport = rig.chat();
    let mut aux = rig.auxiliary(transport.clone(), "aux-model");
    aux.titles = false;
    aux.keep_last = 2;
    let (m, events) = rig.run(rig.runner(transport).with_auxiliary(aux)).await;
    assert_eq!(m.status, MissionStatus::Completed, "{events:#?}");
    let requests = rig.mock.requests();
    assert_eq!(requests.len(), 6);
    assert_eq!(requests[4]["model"], "aux-model");
    assert!(requests[4]["messages"][0]["content"]
        .as_str()
        .expect("s")
        .contains("compress the middle"));
    let retry = requests[5]["messages"].as_array().expect("messages");
    let before = requests[3]["messages"].as_array().expect("messages");
    assert!(
        retry.len() < before.len(),
        "{} -> {}",
        before.len(),
        retry.len()
    );
    assert!(retry[1]["content"]
        .as_str()
        .expect("first user")
        .contains("Summary: listed the directory"));
    assert_eq!(
        retry[2]["role"], "assistant",
        "the kept tail starts at an assistant turn"
    );
    assert!(events
        .iter()
        .any(|e| matches!(e.event, MissionEvent::HistoryReplaced { .. })));
    assert_eq!(
        recoveries(&events),
        [step("turn", "context_overflow", "compress", Some("p#1"))]
    );
}

#[tokio::test]
async fn a_title_call_that_gets_a_403_bad_credentials_refreshes_and_succeeds() {
    let rig = Rig::new(&[credential(1, AuthMode::OAuth)]).await;
    rig.mock.push(Reply::text("Fixed it."));
    rig.mock.push(Reply::error(403, XAI_BAD_CREDENTIALS));
    rig.mock.push(token_reply(1));
    rig.mock.push(Reply::text("Fix the login bug"));
    let transport = rig.chat();
    let aux = rig.auxiliary(transport.clone(), "cheap-model");
    let (m, events) = rig.run(rig.runner(transport).with_auxiliary(aux)).await;
    assert_eq!(m.status, MissionStatus::Completed);
    assert_eq!(rig.mock.paths(), [CHAT, CHAT, "/token", CHAT]);
    assert_eq!(m.title.as_deref(), Some("Fix the login bug"));
    assert_eq!(
        recoveries(&events),
        [step("title", "auth_expired", "refresh", Some("p#1"))]
    );
}

#[tokio::test]
async fn an_auxiliary_failure_never_fails_the_mission() {
    let rig = Rig::new(&[credential(1, AuthMode::ApiKey)]).await;
    rig.mock.push(Reply::text("Fixed it."));
    rig.mock.push(Reply::error(404, r#"{"error":{"message":"The model `cheap-model` does not exist","code":"model_not_found"}}"#));
    let transport = rig.chat();
    let aux = rig.auxiliary(transport.clone(), "cheap-model");
    let (m, events) = rig.run(rig.runner(transport).with_auxiliary(aux)).await;
    assert_eq!(m.status, MissionStatus::Completed);
    assert!(m.title.is_none());
    assert!(events.iter().any(
        |e| matches!(&e.event, MissionEvent::Warning { message } if message.contains("no title"))
    ));
}

#[tokio::test]
async fn a_model_that_keeps_failing_hands_over_to_the_fallback_chain() {
    use sortie_missions::agent::FallbackModel;
    let rig = Rig::new(&[credential(1, AuthMode::ApiKey)]).await;
    rig.mock.repeat(Reply::error(
        529,
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    ));
    let backup = MockProvider::start().await;
    backup.push(Reply::text("done on the backup"));
    let backup_transport: Arc<dyn Transport> =
        Arc::new(OpenAiChat::new(OpenAiChatConfig::new(backup.base_url())).expect("t"));
    let runner = rig.runner(rig.chat()).with_fallback(vec![FallbackModel {
        provider: "backup".into(),
        model: "backup-model".into(),
        transport: backup_transport,
    }]);
    let (m, events) = rig.run(runner).await;
    assert_eq!(m.status, MissionStatus::Completed);
    assert_eq!(rig.mock.hits(), 5, "one try and four bounded backoffs");
    assert_eq!(backup.hits(), 1);
    assert_eq!(backup.requests()[0]["model"], "backup-model");
    let steps: Vec<String> = recoveries(&events).into_iter().map(|r| r.2).collect();
    assert_eq!(
        steps,
        ["backoff", "backoff", "backoff", "backoff", "fallback"]
    );
    assert_eq!(
        (m.provider.as_str(), m.model.as_str()),
        ("backup", "backup-model")
    );
    assert!(events.iter().any(|e| matches!(&e.event, MissionEvent::Switched { reason, .. } if reason.contains("fallback after overloaded"))));
}
