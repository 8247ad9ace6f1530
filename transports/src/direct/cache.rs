//! Prompt caching, per wire format: Anthropic's `cache_control` breakpoints, OpenAI's
//! `prompt_cache_key`; and what happens when a provider refuses those fields (one retry
//! without them, remembered for that provider for the life of the process).

use std::collections::HashSet;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::{ErrorClass, EventStream, TransportError, TransportEvent};

/// How long Anthropic keeps a cached prefix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CacheTtl {
    /// Five minutes, refreshed by every hit (the API's default).
    #[default]
    FiveMinutes,
    /// One hour (cache writes cost more; worth it for slow missions).
    OneHour,
}

/// The Anthropic beta that lets a `cache_control` carry `"ttl": "1h"`.
pub(crate) const EXTENDED_TTL_BETA: &str = "extended-cache-ttl-2025-04-11";

/// A provider's prompt-cache settings (`[providers.X] prompt_cache`, `prompt_cache_ttl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptCache {
    pub enabled: bool,
    pub ttl: CacheTtl,
}

impl Default for PromptCache {
    fn default() -> Self {
        Self {
            enabled: true,
            ttl: CacheTtl::FiveMinutes,
        }
    }
}

/// Anthropic allows at most this many `cache_control` breakpoints per request.
pub const MAX_BREAKPOINTS: usize = 4;

/// Providers (by wire and base URL) that refused the cache fields in this process.
static REFUSED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// True when the provider at `key` refused the cache fields before.
pub(crate) fn refused(key: &str) -> bool {
    let refused = REFUSED.lock().unwrap_or_else(|p| p.into_inner());
    refused.as_ref().is_some_and(|s| s.contains(key))
}

/// Remembers that the provider at `key` refuses the cache fields.
pub(crate) fn remember_refusal(key: &str) {
    let mut refused = REFUSED.lock().unwrap_or_else(|p| p.into_inner());
    refused
        .get_or_insert_with(HashSet::new)
        .insert(key.to_string());
}

/// A bad request that names a cache field: the provider does not take it.
pub(crate) fn refuses_cache_fields(e: &TransportError) -> bool {
    let m = e.message.to_lowercase();
    matches!(e.class, ErrorClass::InvalidRequest)
        && (m.contains("cache_control") || m.contains("prompt_cache") || m.contains("cache"))
}

/// The warning a turn carries when its provider refused the cache fields.
pub(crate) fn refusal_warning(field: &str, e: &TransportError) -> String {
    format!(
        "the provider refused `{field}` ({}); sent without it, and will be for this provider from now on (set `prompt_cache = false` in its [providers] table to stop trying)",
        e.message
    )
}

/// A turn's stream with a warning in front of it.
pub(crate) fn with_warning(stream: EventStream, warning: String) -> EventStream {
    use futures::StreamExt;
    let first = futures::stream::once(async move { Ok(TransportEvent::Warning(warning)) });
    Box::pin(first.chain(stream))
}

fn marker(ttl: CacheTtl) -> Value {
    match ttl {
        CacheTtl::FiveMinutes => json!({"type": "ephemeral"}),
        CacheTtl::OneHour => json!({"type": "ephemeral", "ttl": "1h"}),
    }
}

/// Puts Anthropic's breakpoints on a Messages body: the last tool, the system prompt, and
/// the last two user messages (this turn's end, and the previous turn's end, so the prefix
/// the previous request wrote is found even after a long run of tool calls). Never more
/// than [`MAX_BREAKPOINTS`].
pub(crate) fn anthropic_breakpoints(body: &mut Value, ttl: CacheTtl) {
    let mark = marker(ttl);
    if let Some(last) = body
        .get_mut("tools")
        .and_then(Value::as_array_mut)
        .and_then(|t| t.last_mut())
    {
        last["cache_control"] = mark.clone();
    }
    if let Some(system) = body.get("system").and_then(Value::as_str) {
        let system = system.to_string();
        body["system"] = json!([{"type": "text", "text": system, "cache_control": mark.clone()}]);
    }
    let used = usize::from(body.get("tools").is_some()) + usize::from(body.get("system").is_some());
    let Some(messages) = body.get_mut("messages").and_then(Value::as_array_mut) else {
        return;
    };
    let ends = messages
        .iter_mut()
        .rev()
        .filter(|m| m["role"] == "user")
        .take(MAX_BREAKPOINTS.saturating_sub(used).min(2));
    for message in ends {
        if let Some(block) = message["content"].as_array_mut().and_then(|c| c.last_mut()) {
            block["cache_control"] = mark.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(v: &Value) -> usize {
        match v {
            Value::Object(o) => {
                usize::from(o.contains_key("cache_control")) + o.values().map(count).sum::<usize>()
            }
            Value::Array(a) => a.iter().map(count).sum(),
            _ => 0,
        }
    }

    #[test]
    fn breakpoints_go_on_tools_system_and_the_last_two_user_messages() {
        let user = |t: &str| json!({"role": "user", "content": [{"type": "text", "text": t}]});
        let assistant = json!({"role": "assistant", "content": [{"type": "text", "text": "ok"}]});
        let mut body = json!({
            "tools": [{"name": "a"}, {"name": "b"}],
            "system": "sys",
            "messages": [user("1"), assistant.clone(), user("2"), assistant, user("3")],
        });
        anthropic_breakpoints(&mut body, CacheTtl::OneHour);
        assert_eq!(count(&body), 4);
        assert!(body["tools"][0].get("cache_control").is_none());
        assert_eq!(body["tools"][1]["cache_control"]["ttl"], "1h");
        assert_eq!(body["system"][0]["text"], "sys");
        assert!(body["messages"][0]["content"][0]
            .get("cache_control")
            .is_none());
        assert!(body["messages"][2]["content"][0]
            .get("cache_control")
            .is_some());
        assert!(body["messages"][4]["content"][0]
            .get("cache_control")
            .is_some());
    }

    #[test]
    fn a_refusal_is_a_bad_request_that_names_a_cache_field() {
        let bad = |m: &str| TransportError::new(ErrorClass::InvalidRequest, m);
        assert!(refuses_cache_fields(&bad(
            "Unrecognized request argument supplied: prompt_cache_key"
        )));
        assert!(refuses_cache_fields(&bad(
            "system.0.cache_control: Extra inputs are not permitted"
        )));
        assert!(!refuses_cache_fields(&bad("model not found")));
        assert!(!refuses_cache_fields(&TransportError::new(
            ErrorClass::ServerError,
            "cache_control"
        )));
    }
}
