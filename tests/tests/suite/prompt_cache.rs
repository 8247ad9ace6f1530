//! Prompt caching per wire format, against the mock providers: where the breakpoints go,
//! the per-mission cache key, the cache tokens recorded and priced, the prefix each turn
//! keeps for the next, and a provider that refuses the cache fields.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use sortie_missions::recovery::Recovery;
use sortie_missions::{Mission, MissionEvent, MissionRunner, MissionStatus, StoredEvent};
use sortie_tests::anthropic_wire::{turn_events, Block};
use sortie_tests::responses_wire::{response_events, Item};
use sortie_tests::{End, Frame, MockProvider, Reply};
use sortie_transports::direct::{
    AnthropicAuth, AnthropicConfig, AnthropicMessages, CacheTtl, OpenAiChat, OpenAiResponses,
    ResponsesConfig,
};
use sortie_transports::{Price, Secret, Transport};
use tokio_util::sync::CancellationToken;

use super::support::{fast_policy, spec, transport, World};

const TURNS: u32 = 20;

/// The beta that lets a `cache_control` ask for a 1-hour TTL.
const EXTENDED_TTL_BETA: &str = "extended-cache-ttl-2025-04-11";

/// Runs a mission of `turns` turns (the model lists the directory until the last turn,
/// which answers), with a price for `mock-model`.
async fn run(
    world: &World,
    transport: Arc<dyn Transport>,
    kind: &str,
) -> (Mission, Vec<StoredEvent>) {
    let mut s = spec(world.cwd.path(), "list it, again and again");
    s.transport = kind.into();
    s.max_turns = TURNS;
    let mission = world.store.create_mission(s).expect("create");
    let prices = HashMap::from([(
        "mock-model".to_string(),
        Price {
            input: 3.0,
            output: 15.0,
            cache_read: Some(0.3),
            cache_write: Some(3.75),
        },
    )]);
    let runner = MissionRunner::new(world.store.clone(), transport)
        .with_recovery(Recovery::new(fast_policy(), None))
        .with_prices(prices);
    let done = tokio::time::timeout(
        Duration::from_secs(120),
        runner.run(mission.id, CancellationToken::new()),
    )
    .await
    .expect("the mission ended")
    .expect("the runner works");
    let events = world.store.events(&done.id).expect("events");
    (done, events)
}

/// The value with every `cache_control` marker taken out: markers move with the
/// conversation's end by design; everything else must stay byte for byte.
fn unmarked(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| k.as_str() != "cache_control")
                .map(|(k, v)| (k.clone(), unmarked(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(unmarked).collect()),
        other => other.clone(),
    }
}

fn markers(v: &Value) -> usize {
    match v {
        Value::Object(o) => {
            usize::from(o.contains_key("cache_control")) + o.values().map(markers).sum::<usize>()
        }
        Value::Array(a) => a.iter().map(markers).sum(),
        _ => 0,
    }
}

/// Each request after the first begins with exactly the previous request's `key` items
/// (as sent, in their bytes), and carries the same `fixed` parts.
fn assert_prefix_stable(requests: &[Value], key: &str, fixed: &[&str]) {
    assert_eq!(requests.len(), TURNS as usize);
    for (n, pair) in requests.windows(2).enumerate() {
        let (before, after) = (unmarked(&pair[0]), unmarked(&pair[1]));
        let old = before[key].as_array().expect("items");
        let new = after[key].as_array().expect("items");
        assert!(new.len() > old.len(), "request {} grew", n + 2);
        for (i, item) in old.iter().enumerate() {
            assert_eq!(
                serde_json::to_string(item).expect("json"),
                serde_json::to_string(&new[i]).expect("json"),
                "request {} changed {key}[{i}] of request {}",
                n + 2,
                n + 1
            );
        }
        for part in fixed {
            assert_eq!(
                serde_json::to_string(&before[*part]).expect("json"),
                serde_json::to_string(&after[*part]).expect("json"),
                "`{part}` changed between request {} and {}",
                n + 1,
                n + 2
            );
        }
    }
}

fn tool_names(request: &Value, pointer: &str) -> Vec<String> {
    request["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| {
            t.pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
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

fn anthropic_turn(last: bool, n: u32) -> Reply {
    let call = format!("toolu_{n}");
    let blocks = if last {
        vec![Block::Text("Done listing.")]
    } else {
        vec![
            Block::Text("Listing."),
            Block::ToolUse {
                id: &call,
                name: "list_dir",
                input: json!({}),
            },
        ]
    };
    let mut events = turn_events(&blocks, if last { "end_turn" } else { "tool_use" });
    events[0]["message"]["usage"] = json!({"input_tokens": 7, "cache_read_input_tokens": 900, "cache_creation_input_tokens": 100, "output_tokens": 1});
    Reply::events(events, End::Close)
}

#[tokio::test]
async fn anthropic_breakpoints_stay_within_four_and_each_turn_keeps_the_last_ones_prefix() {
    let mock = MockProvider::start().await;
    for n in 1..=TURNS {
        mock.push(anthropic_turn(n == TURNS, n));
    }
    let mut config = AnthropicConfig::new(mock.root_url());
    config.auth = Some(AnthropicAuth::ApiKey(Secret::new("sk-ant-test")));
    config.prompt_cache.ttl = CacheTtl::OneHour;
    let w = World::new();
    let (m, events) = run(
        &w,
        Arc::new(AnthropicMessages::new(config).expect("t")),
        "anthropic",
    )
    .await;
    assert_eq!(m.status, MissionStatus::Completed, "{events:?}");

    // The 1-hour TTL is asked for with its beta header, on every request.
    for h in mock.request_headers() {
        let betas: Vec<&str> = h
            .get_all("anthropic-beta")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert!(
            betas.contains(&EXTENDED_TTL_BETA),
            "anthropic-beta: {betas:?}"
        );
    }
    let requests = mock.requests();
    for (n, r) in requests.iter().enumerate() {
        assert!(
            markers(r) <= 4,
            "request {} has {} breakpoints",
            n + 1,
            markers(r)
        );
        let tools = r["tools"].as_array().expect("tools");
        assert_eq!(
            tools.last().expect("a tool")["cache_control"],
            json!({"type": "ephemeral", "ttl": "1h"})
        );
        assert!(tools[..tools.len() - 1]
            .iter()
            .all(|t| t.get("cache_control").is_none()));
        assert!(
            r["system"][0]["cache_control"].is_object(),
            "the system prompt is a breakpoint"
        );
        let messages = r["messages"].as_array().expect("messages");
        let last = messages.last().expect("a message");
        assert_eq!(last["role"], "user");
        assert!(
            last["content"]
                .as_array()
                .expect("blocks")
                .last()
                .expect("block")["cache_control"]
                .is_object(),
            "request {}: the conversation's end is a breakpoint",
            n + 1
        );
        if n > 0 {
            // The previous request's end, so its cached prefix is found however long the
            // turn in between was.
            let previous_end = &messages[messages.len() - 3];
            assert!(previous_end["content"]
                .as_array()
                .expect("blocks")
                .last()
                .expect("block")["cache_control"]
                .is_object());
        }
    }
    assert_eq!(
        markers(&requests[0]),
        3,
        "one user message yet: tools, system, its end"
    );
    assert_eq!(markers(&requests[5]), 4);
    assert_prefix_stable(&requests, "messages", &["system", "tools", "model"]);
    assert_eq!(
        tool_names(&requests[0], "/name"),
        tool_names(&requests[19], "/name")
    );

    // Recorded per turn, and priced: 7 × 3 + 1000... per turn.
    assert_eq!(m.usage.cache_read_tokens, 900 * u64::from(TURNS));
    assert_eq!(m.usage.cache_write_tokens, 100 * u64::from(TURNS));
    let per_turn = (7.0 * 3.0 + 40.0 * 15.0 + 900.0 * 0.3 + 100.0 * 3.75) / 1e6;
    let cost = m.cost_usd.expect("priced");
    assert!((cost - per_turn * f64::from(TURNS)).abs() < 1e-9, "{cost}");
}

fn responses_turn(last: bool, n: u32) -> Reply {
    let call = format!("call_{n}");
    let items = if last {
        vec![Item::Text("Done listing.")]
    } else {
        vec![Item::Call {
            call_id: &call,
            name: "list_dir",
            arguments: json!({}),
        }]
    };
    Reply::events(response_events(&items), End::Close)
}

#[tokio::test]
async fn responses_send_one_cache_key_per_mission_and_keep_the_prefix() {
    let mock = MockProvider::start().await;
    for n in 1..=TURNS {
        mock.push(responses_turn(n == TURNS, n));
    }
    let mut config = ResponsesConfig::new(mock.base_url());
    config.api_key = Some(Secret::new("sk-test"));
    let w = World::new();
    let (m, events) = run(
        &w,
        Arc::new(OpenAiResponses::new(config).expect("t")),
        "openai-responses",
    )
    .await;
    assert_eq!(m.status, MissionStatus::Completed, "{events:?}");
    let requests = mock.requests();
    for r in &requests {
        assert_eq!(r["prompt_cache_key"], m.id.to_string());
    }
    assert_prefix_stable(
        &requests,
        "input",
        &["instructions", "tools", "model", "prompt_cache_key"],
    );
    // 60 in of which 20 cached, per the wire: 40 fresh + 20 cache reads.
    assert_eq!(m.usage.input_tokens, 40 * u64::from(TURNS));
    assert_eq!(m.usage.cache_read_tokens, 20 * u64::from(TURNS));
    let per_turn = (40.0 * 3.0 + 15.0 * 15.0 + 20.0 * 0.3) / 1e6;
    let cost = m.cost_usd.expect("priced");
    assert!((cost - per_turn * f64::from(TURNS)).abs() < 1e-9, "{cost}");
}

/// A Chat Completions turn whose usage reports `cached` of its 100 prompt tokens cached.
fn chat_turn(last: bool, n: u32, cached: u64) -> Reply {
    let reply = if last {
        Reply::text("Done listing.")
    } else {
        Reply::tool_call(&format!("call_{n}"), "list_dir", json!({}))
    };
    let Reply::Stream { mut frames, end } = reply else {
        unreachable!("the builders stream")
    };
    frames.retain(|f| !matches!(f, Frame::Data(v) if v.get("usage").is_some()));
    frames.push(Frame::Data(json!({"choices": [], "usage": {
        "prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105,
        "prompt_tokens_details": {"cached_tokens": cached}
    }})));
    Reply::Stream { frames, end }
}

#[tokio::test]
async fn chat_sends_one_cache_key_per_mission_keeps_the_prefix_and_prices_cached_tokens() {
    let mock = MockProvider::start().await;
    for n in 1..=TURNS {
        mock.push(chat_turn(n == TURNS, n, 64));
    }
    let w = World::new();
    let (m, events) = run(
        &w,
        Arc::new(OpenAiChat::new(transport(&mock.base_url())).expect("t")),
        "openai-compatible",
    )
    .await;
    assert_eq!(m.status, MissionStatus::Completed, "{events:?}");
    let requests = mock.requests();
    for r in &requests {
        assert_eq!(r["prompt_cache_key"], m.id.to_string());
    }
    assert_prefix_stable(
        &requests,
        "messages",
        &["tools", "model", "prompt_cache_key"],
    );
    assert_eq!(
        tool_names(&requests[0], "/function/name"),
        tool_names(&requests[19], "/function/name")
    );
    assert_eq!(m.usage.input_tokens, 36 * u64::from(TURNS));
    assert_eq!(m.usage.cache_read_tokens, 64 * u64::from(TURNS));
    let per_turn = (36.0 * 3.0 + 5.0 * 15.0 + 64.0 * 0.3) / 1e6;
    let cost = m.cost_usd.expect("priced");
    assert!((cost - per_turn * f64::from(TURNS)).abs() < 1e-9, "{cost}");
}

#[tokio::test]
async fn a_provider_that_refuses_the_cache_key_is_asked_again_without_it_and_remembered() {
    let mock = MockProvider::start().await;
    mock.push(Reply::error(
        400,
        r#"{"error": {"message": "Unrecognized request argument supplied: prompt_cache_key", "type": "invalid_request_error"}}"#,
    ));
    mock.push(Reply::text("first"));
    mock.push(Reply::text("second"));
    let w = World::new();
    let mut s = spec(w.cwd.path(), "hi");
    s.max_turns = 2;
    let (first, events) = w.run(transport(&mock.base_url()), s.clone()).await;
    assert_eq!(first.status, MissionStatus::Completed, "{events:?}");
    let said = warnings(&events);
    assert!(
        said.iter().any(|w| w.contains("refused `prompt_cache_key`") && w.contains("prompt_cache = false")),
        "{said:?}"
    );
    // A second mission to the same endpoint does not try again.
    let (second, events) = w.run(transport(&mock.base_url()), s).await;
    assert_eq!(second.status, MissionStatus::Completed);
    assert!(warnings(&events).is_empty(), "{:?}", warnings(&events));
    let keys: Vec<bool> = mock
        .requests()
        .iter()
        .map(|r| r.get("prompt_cache_key").is_some())
        .collect();
    assert_eq!(keys, [true, false, false]);
}

#[tokio::test]
async fn an_anthropic_endpoint_that_refuses_cache_control_is_asked_again_without_it() {
    let mock = MockProvider::start().await;
    mock.push(Reply::error(
        400,
        r#"{"type": "error", "error": {"type": "invalid_request_error", "message": "system.0.cache_control: Extra inputs are not permitted"}}"#,
    ));
    mock.push(Reply::events(
        turn_events(&[Block::Text("fine")], "end_turn"),
        End::Close,
    ));
    let mut config = AnthropicConfig::new(mock.root_url());
    config.auth = Some(AnthropicAuth::ApiKey(Secret::new("sk-ant-test")));
    let w = World::new();
    let mut s = spec(w.cwd.path(), "hi");
    s.transport = "anthropic".into();
    let mission = w.store.create_mission(s).expect("create");
    let runner = MissionRunner::new(
        w.store.clone(),
        Arc::new(AnthropicMessages::new(config).expect("t")),
    )
    .with_recovery(Recovery::new(fast_policy(), None));
    let done = runner
        .run(mission.id, CancellationToken::new())
        .await
        .expect("run");
    assert_eq!(done.status, MissionStatus::Completed);
    // The default 5-minute TTL needs no beta.
    assert!(mock
        .request_headers()
        .iter()
        .all(|h| h.get("anthropic-beta").is_none()));
    let events = w.store.events(&done.id).expect("events");
    assert!(warnings(&events)
        .iter()
        .any(|w| w.contains("refused `cache_control`")));
    let requests = mock.requests();
    assert!(markers(&requests[0]) > 0);
    assert_eq!(markers(&requests[1]), 0);
    assert!(
        requests[1]["system"].is_string(),
        "sent as plain text again"
    );
}

#[tokio::test]
async fn prompt_cache_off_sends_no_cache_fields() {
    let mock = MockProvider::start().await;
    mock.push(Reply::text("hi"));
    let mut config = transport(&mock.base_url());
    config.prompt_cache.enabled = false;
    let w = World::new();
    let (m, _) = w.run(config, spec(w.cwd.path(), "hi")).await;
    assert_eq!(m.status, MissionStatus::Completed);
    assert!(mock.requests()[0].get("prompt_cache_key").is_none());
    let mut config = AnthropicConfig::new("http://127.0.0.1:9");
    config.prompt_cache.enabled = false;
    let body = sortie_transports::direct::anthropic::build_request(
        &sortie_transports::TurnRequest {
            model: "m".into(),
            system: "sys".into(),
            messages: vec![sortie_transports::Message::user("x")],
            ..Default::default()
        },
        &config,
    );
    assert_eq!(markers(&body), 0);
    assert_eq!(body["system"], "sys");
}

#[tokio::test]
async fn run_and_show_print_the_cached_tokens_in_the_usage_line() {
    use sortie_tests::{run_to_end, sortie, text, write_local_config};
    let mock = MockProvider::start().await;
    mock.push(chat_turn(true, 1, 64));
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(home.path(), &mock.base_url(), "");
    let mut cmd = sortie(home.path());
    cmd.args(["run", "hi", "--cwd"]).arg(cwd.path());
    let out = run_to_end(cmd).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("36 in / 5 out tokens, 64 cached"),
        "{stdout}"
    );
    let mut cmd = sortie(home.path());
    cmd.args(["missions", "--json"]);
    let listed: Value = serde_json::from_slice(&run_to_end(cmd).await.stdout).expect("json");
    let id = listed[0]["id"].as_str().expect("id").to_string();
    assert_eq!(listed[0]["usage"]["cache_read_tokens"], 64);
    let mut cmd = sortie(home.path());
    cmd.args(["show", &id]);
    let shown = text(&run_to_end(cmd).await.stdout);
    assert!(shown.contains("36 in / 5 out tokens, 64 cached"), "{shown}");
}
