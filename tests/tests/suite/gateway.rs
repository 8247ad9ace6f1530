//! What a person reads when keys fail or rate limits hit, alone or behind a gateway
//! (LiteLLM and the like): an API key is never "refreshed", a single key is not "every
//! credential", waits under a second are not "0s", a relayed upstream wait is honoured,
//! and Anthropic base URLs work with or without `/v1`.

use std::time::Duration;

use sortie_missions::{MissionEvent, MissionStatus, StoredEvent};
use sortie_tests::anthropic_wire::{turn, Block};
use sortie_tests::{MockProvider, Reply};
use sortie_transports::auth::AuthMode;
use sortie_transports::direct::{AnthropicAuth, AnthropicConfig, AnthropicMessages};
use sortie_transports::{complete, Message, Secret, TurnRequest};

use super::support::{credential, Rig};

const CHAT: &str = "/v1/chat/completions";

fn outcomes(events: &[StoredEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            MissionEvent::Recovery { outcome, .. } => Some(outcome.clone()),
            _ => None,
        })
        .collect()
}

fn warnings(events: &[StoredEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            MissionEvent::Warning { message } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_401_on_a_stored_api_key_sets_it_aside_and_says_a_gateway_may_relay_it() {
    let rig = Rig::new(&[credential(1, AuthMode::ApiKey)]).await;
    rig.mock.repeat(Reply::error(
        401,
        r#"{"error":{"message":"invalid x-api-key"}}"#,
    ));
    let (m, events) = rig.run(rig.runner(rig.chat())).await;
    assert_eq!(m.status, MissionStatus::NeedsReauth);
    assert_eq!(
        rig.mock.paths(),
        [CHAT],
        "no refresh, no retry with the same key"
    );
    let first = outcomes(&events).remove(0);
    assert!(!first.contains("refreshed"), "{first}");
    assert!(first.contains("nothing to refresh"), "{first}");
    assert!(first.contains("gateway"), "{first}");
}

#[tokio::test]
async fn a_429_on_a_single_key_waits_as_asked_and_says_so_plainly() {
    let rig = Rig::new(&[credential(1, AuthMode::ApiKey)]).await;
    // A gateway (LiteLLM) relays the upstream's wait under its own header.
    rig.mock.push(Reply::error_with_headers(
        429,
        &[("llm_provider-retry-after", "1.5")],
        r#"{"error":{"message":"rate limited upstream"}}"#,
    ));
    rig.mock.push(Reply::text("done"));
    let started = std::time::Instant::now();
    let (m, events) = rig.run(rig.runner(rig.chat())).await;
    assert_eq!(m.status, MissionStatus::Completed, "{:?}", m.error);
    assert!(
        started.elapsed() >= Duration::from_millis(1_000),
        "the relayed 1.5 s wait was honoured"
    );
    let outcomes = outcomes(&events);
    assert_eq!(
        outcomes[0],
        "p#1 cooling down for 1.5s; no other credential to use meanwhile"
    );
    let waited = &outcomes[1];
    assert!(
        waited.starts_with("waited ") && waited != "waited 0s" && waited.ends_with('s'),
        "{waited}"
    );
    assert!(
        warnings(&events)
            .iter()
            .all(|w| !w.contains("every credential")),
        "{:?}",
        warnings(&events)
    );
}

fn anthropic(base_url: String) -> AnthropicMessages {
    let mut c = AnthropicConfig::new(base_url);
    c.auth = Some(AnthropicAuth::ApiKey(Secret::new("sk-ant-test-key-123456")));
    c.idle_timeout = Duration::from_secs(10);
    AnthropicMessages::new(c).expect("transport")
}

fn request() -> TurnRequest {
    TurnRequest {
        model: "m".into(),
        messages: vec![Message::user("x")],
        ..Default::default()
    }
}

#[tokio::test]
async fn an_anthropic_base_url_works_with_or_without_v1_and_a_404_names_the_url() {
    let mock = MockProvider::start().await;
    for base in [
        mock.root_url(),
        mock.base_url(),
        format!("{}/", mock.base_url()),
    ] {
        mock.push(turn(&[Block::Text("hi")], "end_turn"));
        complete(&anthropic(base.clone()), request())
            .await
            .unwrap_or_else(|e| panic!("{base}: {e}"));
    }
    assert!(
        mock.paths().iter().all(|p| p == "/v1/messages"),
        "{:?}",
        mock.paths()
    );

    mock.push(Reply::error(404, "Not Found"));
    let wrong = format!("{}/proxy", mock.root_url());
    let err = complete(&anthropic(wrong.clone()), request())
        .await
        .expect_err("404");
    assert!(
        err.message.contains(&format!("{wrong}/v1/messages")) && err.message.contains("base_url"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_401_on_a_key_from_the_environment_names_the_variable() {
    let mock = MockProvider::start().await;
    mock.repeat(Reply::error(
        401,
        r#"{"error":{"message":"Incorrect API key provided"}}"#,
    ));
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    sortie_tests::write_local_config(
        home.path(),
        &mock.base_url(),
        "api_key_env = \"SORTIE_TEST_GATEWAY_KEY\"",
    );
    let mut cmd = sortie_tests::sortie(home.path());
    cmd.args(["run", "--json", "hello"])
        .current_dir(cwd.path())
        .env("SORTIE_TEST_GATEWAY_KEY", "sk-from-env-123456");
    let out = sortie_tests::run_to_end(cmd).await;
    let all = format!(
        "{}{}",
        sortie_tests::text(&out.stdout),
        sortie_tests::text(&out.stderr)
    );
    assert!(!out.status.success(), "{all}");
    assert_eq!(mock.hits(), 1, "a key from the environment is not retried");
    assert!(all.contains("$SORTIE_TEST_GATEWAY_KEY"), "{all}");
    assert!(!all.contains("sk-from-env-123456"), "{all}");
}

#[tokio::test]
async fn a_chat_completions_404_names_the_url_streamed_or_whole() {
    use sortie_transports::direct::{OpenAiChat, OpenAiChatConfig};
    let mock = MockProvider::start().await;
    let wrong = format!("{}/proxy", mock.root_url());
    for stream in [true, false] {
        mock.push(Reply::error(404, "Not Found"));
        let mut config = OpenAiChatConfig::new(&wrong);
        config.stream = stream;
        config.idle_timeout = Duration::from_secs(10);
        let err = complete(&OpenAiChat::new(config).expect("transport"), request())
            .await
            .expect_err("404");
        assert!(
            err.message.contains(&format!("{wrong}/chat/completions"))
                && err.message.contains("base_url"),
            "stream = {stream}: {}",
            err.message
        );
    }
}

#[tokio::test]
async fn a_wait_longer_than_the_cap_is_not_waited_for_on_a_single_key() {
    // The test policy caps waits at 3 s; the provider asks for 5 s, then for 2.5 s twice.
    for asks in [&["5"][..], &["2.5", "2.5"][..]] {
        let rig = Rig::new(&[credential(1, AuthMode::ApiKey)]).await;
        for secs in asks {
            rig.mock.push(Reply::error_with_headers(
                429,
                &[("retry-after", secs)],
                r#"{"error":{"message":"slow down"}}"#,
            ));
        }
        rig.mock.push(Reply::text("done"));
        let started = std::time::Instant::now();
        let (m, events) = rig.run(rig.runner(rig.chat())).await;
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(3_900),
            "asked {asks:?}: waited {took:?} past the 3 s cap; {:?}",
            outcomes(&events)
        );
        assert_eq!(m.status, MissionStatus::Failed, "asked {asks:?}");
        let error = m.error.unwrap_or_default();
        assert!(error.contains("slow down"), "{error}");
    }
}
