//! Reading `claude -p --output-format stream-json --verbose`, one line at a time.
//!
//! What the lines mean comes from the real output of Claude Code 2.1.328 (see the fixtures
//! under `../shared/fixtures/claude-code-2.1.328/`):
//! - `system/init` opens the run and names the session;
//! - an `assistant` line carries one or more whole content blocks (text, thinking with its
//!   signature, tool_use); with `is_api_error_message: true` its text is an API error, not
//!   an answer;
//! - a `user` line carries the results of the tools the CLI ran itself;
//! - `system/permission_denied` names a tool call the permission mode refused;
//! - `system/api_retry` is one of the CLI's own retries;
//! - `result` ends the run. `subtype: "success"` alone does not mean success: `is_error`,
//!   `terminal_reason` and `api_error_status` do.
//!
//! Unknown line types and unknown fields are ignored; a line that is not JSON becomes a
//! warning and the run goes on.

use std::collections::HashSet;

use serde_json::Value;

use crate::{ErrorClass, StopReason, TransportError, TransportEvent, Usage};

/// Reads a run's lines into transport events, and remembers how the run ended.
#[derive(Debug, Default)]
pub struct StreamJsonParser {
    session: Option<String>,
    denied: HashSet<String>,
    /// The text of the last assistant line flagged as an API error.
    api_error: Option<String>,
    ended: Option<Ended>,
    garbage: usize,
}

/// How a run ended, from its `result` line.
#[derive(Debug, Clone)]
pub enum Ended {
    Success,
    Failed(TransportError),
}

/// Most characters of a garbage line kept in its warning.
const EXCERPT: usize = 160;

/// Error text the CLI prints when `--resume` names a session it does not have.
pub const NO_CONVERSATION: &str = "No conversation found with session ID";

impl StreamJsonParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// The session the run reported in `system/init`.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// How the run ended, once its `result` line was read.
    pub fn ended(&self) -> Option<&Ended> {
        self.ended.as_ref()
    }

    /// How many lines were not JSON.
    pub fn garbage_lines(&self) -> usize {
        self.garbage
    }

    /// Reads one line (without its newline) into zero or more events.
    pub fn line(&mut self, line: &str) -> Vec<TransportEvent> {
        let line = line.trim();
        if line.is_empty() {
            return Vec::new();
        }
        let value: Value = match serde_json::from_str(line) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                self.garbage += 1;
                let mut excerpt: String = line.chars().take(EXCERPT).collect();
                if excerpt.len() < line.len() {
                    excerpt.push('…');
                }
                return vec![TransportEvent::Warning(format!(
                    "claude printed a line that is not stream-json; skipped it: {:?}",
                    crate::classify::redact(&excerpt)
                ))];
            }
        };
        let str_at = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        match (
            value.get("type").and_then(Value::as_str),
            value.get("subtype").and_then(Value::as_str),
        ) {
            (Some("system"), Some("init")) => match str_at(&value, "session_id") {
                Some(id) => {
                    self.session = Some(id.clone());
                    vec![TransportEvent::Session { id }]
                }
                None => Vec::new(),
            },
            (Some("system"), Some("permission_denied")) => {
                if let Some(id) = str_at(&value, "tool_use_id") {
                    self.denied.insert(id);
                }
                Vec::new()
            }
            (Some("system"), Some("api_retry")) => {
                let status = value
                    .get("error_status")
                    .and_then(Value::as_u64)
                    .map(|s| format!("{s} "))
                    .unwrap_or_default();
                let error = str_at(&value, "error").unwrap_or_else(|| "an error".into());
                let n = |k: &str| value.get(k).and_then(Value::as_u64).unwrap_or(0);
                vec![TransportEvent::Warning(format!(
                    "claude retried after {status}{error} (attempt {} of {}, waiting {} ms)",
                    n("attempt"),
                    n("max_retries"),
                    n("retry_delay_ms")
                ))]
            }
            (Some("assistant"), _) => self.assistant(&value),
            (Some("user"), _) => self.user(&value),
            (Some("result"), _) => self.result(&value),
            _ => Vec::new(),
        }
    }

    fn assistant(&mut self, value: &Value) -> Vec<TransportEvent> {
        let blocks = content_blocks(value);
        if value
            .get("is_api_error_message")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            let text: String = blocks
                .iter()
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect();
            self.api_error = Some(text);
            return Vec::new();
        }
        let mut events = Vec::new();
        for block in blocks {
            let s = |k: &str| block.get(k).and_then(Value::as_str).map(str::to_string);
            match block.get("type").and_then(Value::as_str) {
                Some("text") => {
                    if let Some(text) = s("text").filter(|t| !t.is_empty()) {
                        events.push(TransportEvent::TextDelta(text));
                    }
                }
                Some("thinking") => events.push(TransportEvent::ThinkingDelta {
                    text: s("thinking").unwrap_or_default(),
                    signature: s("signature"),
                }),
                Some("redacted_thinking") => {
                    if let Some(data) = s("data") {
                        events.push(TransportEvent::RedactedThinking(data));
                    }
                }
                Some("tool_use") => events.push(TransportEvent::ToolCall {
                    id: s("id").unwrap_or_default(),
                    name: s("name").unwrap_or_default(),
                    arguments: block
                        .get("input")
                        .map(Value::to_string)
                        .unwrap_or_else(|| "{}".into()),
                }),
                _ => {}
            }
        }
        events
    }

    fn user(&mut self, value: &Value) -> Vec<TransportEvent> {
        content_blocks(value)
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
            .map(|b| {
                let call_id = b
                    .get("tool_use_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                TransportEvent::ToolResult {
                    denied: self.denied.contains(&call_id),
                    call_id,
                    content: tool_result_text(b.get("content")),
                    is_error: b.get("is_error").and_then(Value::as_bool).unwrap_or(false),
                }
            })
            .collect()
    }

    fn result(&mut self, value: &Value) -> Vec<TransportEvent> {
        let mut events = Vec::new();
        if let Some(usage) = run_usage(value) {
            events.push(TransportEvent::Usage(usage));
        }
        if let Some(cost) = run_cost(value) {
            events.push(TransportEvent::Cost(cost));
        }
        let is_error = value
            .get("is_error")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let subtype = value.get("subtype").and_then(Value::as_str).unwrap_or("");
        if !is_error && subtype == "success" {
            self.ended = Some(Ended::Success);
            events.push(TransportEvent::Done(StopReason::EndTurn));
            return events;
        }
        self.ended = Some(Ended::Failed(self.failure(value, subtype)));
        events
    }

    /// The error a failed `result` line stands for.
    fn failure(&self, value: &Value, subtype: &str) -> TransportError {
        let errors: Vec<String> = value
            .get("errors")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let text = value
            .get("result")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| self.api_error.clone())
            .unwrap_or_else(|| errors.join("; "));
        let terminal = value.get("terminal_reason").and_then(Value::as_str);
        if terminal == Some("api_error") || self.api_error.is_some() {
            let status = value
                .get("api_error_status")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok());
            return api_error(status, &text);
        }
        if errors.iter().any(|e| e.contains(NO_CONVERSATION)) {
            return TransportError::new(
                ErrorClass::SessionNotFound,
                format!("claude: {}", errors.join("; ")),
            );
        }
        if subtype == "error_max_turns" || terminal == Some("max_turns") {
            return TransportError::new(
                ErrorClass::TurnLimit,
                format!(
                    "claude stopped at its turn limit: {}",
                    if errors.is_empty() {
                        "max turns reached".to_string()
                    } else {
                        errors.join("; ")
                    }
                ),
            );
        }
        let detail = if text.is_empty() {
            format!("subtype {subtype:?}")
        } else {
            text
        };
        TransportError::new(
            ErrorClass::ProcessFailed,
            format!(
                "claude ended the run with an error: {}",
                crate::classify::redact(&detail)
            ),
        )
    }
}

/// An API error the CLI reported: classified like the same status and text from the API.
fn api_error(status: Option<u16>, text: &str) -> TransportError {
    let text = text
        .strip_prefix("API Error: ")
        .unwrap_or(text)
        .trim()
        .to_string();
    let verdict = crate::classify::describe(status.unwrap_or(200), &[], text.as_bytes());
    // Without a status the CLI got no answer from the API (connection refused, DNS, a
    // timeout): never an account or request problem.
    let class = match status {
        Some(_) => verdict.class,
        None if text.to_lowercase().contains("timed out")
            || text.to_lowercase().contains("timeout") =>
        {
            ErrorClass::Timeout
        }
        None => ErrorClass::Network,
    };
    TransportError {
        class,
        status,
        message: format!("claude: API error: {}", verdict.message),
        retry_after: verdict.retry_after,
        credential: None,
    }
}

/// The content blocks of an assistant or user line (`message.content`), a string being one
/// text block.
fn content_blocks(value: &Value) -> Vec<Value> {
    match value.pointer("/message/content") {
        Some(Value::Array(blocks)) => blocks.clone(),
        Some(Value::String(text)) => vec![serde_json::json!({"type": "text", "text": text})],
        _ => Vec::new(),
    }
}

/// A tool result's content as text: a string, or the text of its blocks.
fn tool_result_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| match b.get("type").and_then(Value::as_str) {
                Some("text") => b.get("text").and_then(Value::as_str).map(str::to_string),
                Some(other) => Some(format!("[{other}]")),
                None => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// This run's tokens: `model_usage_since_last_result` summed over models (a resumed run's
/// `usage` and `modelUsage` include earlier runs of the session), else `usage`.
fn run_usage(value: &Value) -> Option<Usage> {
    let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    if let Some(Value::Object(models)) = value.get("model_usage_since_last_result") {
        let mut usage = Usage::default();
        for m in models.values() {
            usage.add(&Usage {
                input_tokens: n(m, "inputTokens"),
                output_tokens: n(m, "outputTokens"),
                cache_read_tokens: n(m, "cacheReadInputTokens"),
                cache_write_tokens: n(m, "cacheCreationInputTokens"),
                reasoning_tokens: n(m, "thinkingTokens"),
            });
        }
        return Some(usage);
    }
    let u = value.get("usage")?;
    Some(Usage {
        input_tokens: n(u, "input_tokens"),
        output_tokens: n(u, "output_tokens"),
        cache_read_tokens: n(u, "cache_read_input_tokens"),
        cache_write_tokens: n(u, "cache_creation_input_tokens"),
        reasoning_tokens: u
            .pointer("/output_tokens_details/thinking_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    })
}

/// This run's cost in USD, as the CLI computed it (same sources as [`run_usage`]).
fn run_cost(value: &Value) -> Option<f64> {
    if let Some(Value::Object(models)) = value.get("model_usage_since_last_result") {
        return Some(
            models
                .values()
                .filter_map(|m| m.get("costUSD").and_then(Value::as_f64))
                .sum(),
        );
    }
    value.get("total_cost_usd").and_then(Value::as_f64)
}
