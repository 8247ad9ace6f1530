//! Compression decided on what the provider counted, not on a guess.

use std::sync::Arc;

use serde_json::json;
use sortie_missions::auxiliary::Auxiliary;
use sortie_missions::recovery::Recovery;
use sortie_missions::{MissionEvent, MissionStatus};
use sortie_tests::{Frame, MockProvider, Reply};
use sortie_transports::direct::OpenAiChat;

use super::support::{fast_policy, spec, transport, World};

/// A tool call whose usage says the prompt held `prompt` tokens, `cached` of them cached.
fn call_counting(n: u32, prompt: u64, cached: u64) -> Reply {
    let Reply::Stream { mut frames, end } =
        Reply::tool_call(&format!("c{n}"), "list_dir", json!({}))
    else {
        unreachable!("the builders stream")
    };
    frames.retain(|f| !matches!(f, Frame::Data(v) if v.get("usage").is_some()));
    frames.push(Frame::Data(json!({"choices": [], "usage": {
        "prompt_tokens": prompt, "completion_tokens": 5, "total_tokens": prompt + 5,
        "prompt_tokens_details": {"cached_tokens": cached}
    }})));
    Reply::Stream { frames, end }
}

fn auxiliary(mock: &MockProvider) -> Auxiliary {
    let t = Arc::new(OpenAiChat::new(transport(&mock.base_url())).expect("t"));
    let mut aux = Auxiliary::new(t, "aux-model", Recovery::new(fast_policy(), None), None);
    aux.titles = false;
    aux.keep_last = 2;
    aux.context_window = 10_000;
    aux.compress_at = 0.8;
    aux
}

#[tokio::test]
async fn the_provider_counted_prompt_with_cache_reads_passes_the_threshold_though_the_history_is_short(
) {
    let mock = MockProvider::start().await;
    // Turns 1 and 2 are small; turn 2's prompt was 8,500 tokens, 8,000 of them cached.
    mock.push(call_counting(1, 300, 0));
    mock.push(call_counting(2, 8_500, 8_000));
    mock.push(Reply::text("Summary: listed twice."));
    mock.push(Reply::text("done"));
    let w = World::new();
    let runner = w
        .runner(transport(&mock.base_url()))
        .with_auxiliary(auxiliary(&mock));
    let m = w
        .store
        .create_mission(spec(w.cwd.path(), "list"))
        .expect("create");
    let done = runner
        .run(m.id, tokio_util::sync::CancellationToken::new())
        .await
        .expect("run");
    let events = w.store.events(&m.id).expect("events");
    assert_eq!(done.status, MissionStatus::Completed, "{events:#?}");
    let reasons: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.event {
            MissionEvent::HistoryReplaced { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 1, "{events:#?}");
    assert!(
        reasons[0].contains("the provider counted"),
        "{}",
        reasons[0]
    );
    let requests = mock.requests();
    assert_eq!(
        requests[2]["model"], "aux-model",
        "compressed before turn 3"
    );
}

#[tokio::test]
async fn before_the_first_answer_the_estimate_decides() {
    let mock = MockProvider::start().await;
    mock.push(call_counting(1, 300, 0));
    mock.push(call_counting(2, 400, 0));
    mock.push(Reply::text("done"));
    let w = World::new();
    let runner = w
        .runner(transport(&mock.base_url()))
        .with_auxiliary(auxiliary(&mock));
    let m = w
        .store
        .create_mission(spec(w.cwd.path(), "list"))
        .expect("create");
    let done = runner
        .run(m.id, tokio_util::sync::CancellationToken::new())
        .await
        .expect("run");
    assert_eq!(done.status, MissionStatus::Completed);
    let events = w.store.events(&m.id).expect("events");
    assert!(!events
        .iter()
        .any(|e| matches!(e.event, MissionEvent::HistoryReplaced { .. })));
    assert_eq!(mock.hits(), 3);
}
