//! OpenAI Responses (`/responses`), always streamed: the Codex backend accepts nothing else.
//!
//! Requests go with `store: false`; reasoning comes back as items with `encrypted_content`,
//! kept on the thinking block's signature and replayed on the next turn to the same model.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};

use super::auth_headers::{auth_headers, Fixed, Wire};
use super::cache::{self, PromptCache};
use super::http::{
    drive, get_json, http_client, malformed, send, tag_error, tag_errors, WireParser,
};
use crate::auth::Credentials;
use crate::catalog::parse_models;
use crate::sse::SseEvent;
use crate::EventStream;
use crate::{
    ContentBlock, ErrorClass, Message, ModelsFuture, Role, Secret, StopReason, Transport,
    TransportError, TransportEvent, TurnFuture, TurnRequest, Usage,
};

pub use super::auth_headers::ACCOUNT_HEADER;

#[derive(Debug, Clone)]
pub struct ResponsesConfig {
    /// e.g. `https://api.openai.com/v1` or `https://chatgpt.com/backend-api/codex`.
    pub base_url: String,
    pub api_key: Option<Secret>,
    /// The ChatGPT account of a Codex OAuth credential.
    pub account_id: Option<String>,
    pub headers: Vec<(String, String)>,
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
    /// When set, every request leases from here (key or access token, and the account).
    pub credentials: Option<Credentials>,
    /// A `prompt_cache_key` per conversation (on by default; the TTL does not apply).
    pub prompt_cache: PromptCache,
}

impl ResponsesConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: None,
            account_id: None,
            headers: Vec::new(),
            idle_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            credentials: None,
            prompt_cache: PromptCache::default(),
        }
    }
}

pub struct OpenAiResponses {
    http: reqwest::Client,
    config: ResponsesConfig,
}

impl OpenAiResponses {
    pub fn new(config: ResponsesConfig) -> Result<Self, TransportError> {
        let http = http_client(config.connect_timeout, &config.base_url)?;
        Ok(Self { http, config })
    }
}

impl OpenAiResponses {
    fn base(&self) -> &str {
        self.config.base_url.trim_end_matches('/')
    }

    /// Adds the key, the ChatGPT account and configured headers.
    async fn authorize(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, TransportError> {
        let fixed = Fixed {
            key: self.config.api_key.as_ref(),
            mode: None,
            account: self.config.account_id.as_deref(),
        };
        let headers = auth_headers(
            Wire::OpenAi,
            self.config.credentials.as_ref(),
            fixed,
            &self.config.headers,
        )
        .await?;
        Ok(req.headers(headers))
    }
}

impl Transport for OpenAiResponses {
    fn kind(&self) -> &'static str {
        "openai-responses"
    }

    fn stream_turn(&self, request: TurnRequest) -> TurnFuture<'_> {
        Box::pin(async move { tag_errors(&self.config.credentials, self.turn(request).await) })
    }

    fn list_models(&self) -> ModelsFuture<'_> {
        Box::pin(async move {
            self.models()
                .await
                .map_err(|e| tag_error(&self.config.credentials, e))
        })
    }
}

impl OpenAiResponses {
    /// One turn, with the conversation's `prompt_cache_key` unless the provider refuses
    /// it: then once more without, remembered for this provider.
    async fn turn(&self, request: TurnRequest) -> Result<EventStream, TransportError> {
        let key = format!("responses {}", self.base());
        let cache_key = request
            .conversation
            .as_deref()
            .filter(|_| self.config.prompt_cache.enabled && !cache::refused(&key));
        let mut body = build_request(&request);
        if let Some(conversation) = cache_key {
            body["prompt_cache_key"] = json!(conversation);
        }
        match self.send_turn(&body).await {
            Err(e) if cache_key.is_some() && cache::refuses_cache_fields(&e) => {
                cache::remember_refusal(&key);
                if let Some(fields) = body.as_object_mut() {
                    fields.remove("prompt_cache_key");
                }
                let stream = self.send_turn(&body).await?;
                Ok(cache::with_warning(
                    stream,
                    cache::refusal_warning("prompt_cache_key", &e),
                ))
            }
            other => other,
        }
    }

    async fn send_turn(&self, body: &Value) -> Result<EventStream, TransportError> {
        let req = self
            .http
            .post(format!("{}/responses", self.base()))
            .header("accept", "text/event-stream")
            .json(body);
        let response = send(
            self.authorize(req).await?,
            self.base(),
            self.config.idle_timeout,
        )
        .await?;
        Ok(drive(
            response,
            self.config.idle_timeout,
            self.base().to_string(),
            ResponsesParser::default(),
        ))
    }

    async fn models(&self) -> Result<Vec<crate::ModelInfo>, TransportError> {
        let req = self.http.get(format!("{}/models", self.base()));
        let body = get_json(
            self.authorize(req).await?,
            self.base(),
            self.config.idle_timeout,
        )
        .await?;
        Ok(parse_models(&body))
    }
}

/// The `/responses` request body for a turn.
pub fn build_request(request: &TurnRequest) -> Value {
    let mut input = Vec::new();
    for message in &request.messages {
        push_items(&mut input, message, &request.model);
    }
    let mut body = json!({
        "model": request.model,
        "instructions": request.system,
        "input": input,
        "stream": true,
        "store": false,
        "include": ["reasoning.encrypted_content"],
    });
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| json!({"type": "function", "name": t.name, "description": t.description, "parameters": super::tool_schema::openai(&t.parameters), "strict": false}))
            .collect();
        body["tool_choice"] = json!("auto");
    }
    if let Some(max) = request.max_output_tokens {
        body["max_output_tokens"] = json!(max);
    }
    body
}

fn push_items(input: &mut Vec<Value>, message: &Message, model: &str) {
    let message_item = |role: &str, kind: &str, text: &str| json!({"type": "message", "role": role, "content": [{"type": kind, "text": text}]});
    for block in &message.content {
        match (message.role, block) {
            (Role::User, ContentBlock::Text { text }) => input.push(message_item("user", "input_text", text)),
            (
                _,
                ContentBlock::ToolResult {
                    call_id,
                    content,
                    images,
                    ..
                },
            ) => {
                let output = super::tool_images::responses(content, images);
                input.push(json!({"type": "function_call_output", "call_id": call_id, "output": output}))
            }
            (Role::Assistant, ContentBlock::Text { text }) if !text.is_empty() => {
                input.push(message_item("assistant", "output_text", text))
            }
            (Role::Assistant, ContentBlock::ToolUse { id, name, arguments }) => {
                input.push(json!({"type": "function_call", "call_id": id, "name": name, "arguments": arguments}))
            }
            // Encrypted reasoning only means something to the model that wrote it.
            (Role::Assistant, ContentBlock::Thinking { text, signature: Some(encrypted), model: m })
                if m.as_deref() == Some(model) =>
            {
                let summary: Vec<Value> = if text.is_empty() {
                    vec![]
                } else {
                    vec![json!({"type": "summary_text", "text": text})]
                };
                input.push(json!({"type": "reasoning", "summary": summary, "encrypted_content": encrypted}));
            }
            _ => {}
        }
    }
}

#[derive(Debug, Default)]
struct PendingCall {
    call_id: String,
    name: String,
    arguments: String,
}

/// Reads the Responses SSE stream. It ends at `response.completed`, `response.incomplete` or
/// `response.failed`; there is no `[DONE]`.
#[derive(Debug, Default)]
pub struct ResponsesParser {
    calls: HashMap<String, PendingCall>,
    emitted: HashSet<String>,
    summarised: HashSet<String>,
    any_call: bool,
    done: bool,
    skipped: BTreeMap<String, u32>,
}

/// Events that carry nothing the turn needs.
const IGNORED: &[&str] = &[
    "response.created",
    "response.in_progress",
    "response.queued",
    "response.content_part.added",
    "response.content_part.done",
    "response.output_text.done",
    "response.reasoning_summary_part.added",
    "response.reasoning_summary_part.done",
    "response.reasoning_summary_text.done",
    "response.reasoning_text.delta",
    "response.reasoning_text.done",
    "response.output_text.annotation.added",
    "keepalive",
];

fn usage_of(response: &Value) -> Usage {
    let n = |p: &str| response.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    // `input_tokens` counts the cached ones too.
    let cached = n("/usage/input_tokens_details/cached_tokens");
    Usage {
        input_tokens: n("/usage/input_tokens").saturating_sub(cached),
        output_tokens: n("/usage/output_tokens"),
        cache_read_tokens: cached,
        cache_write_tokens: 0,
        reasoning_tokens: n("/usage/output_tokens_details/reasoning_tokens"),
    }
}

fn text_at(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

impl ResponsesParser {
    fn finish(&mut self, response: &Value, stop: StopReason) -> Vec<TransportEvent> {
        self.done = true;
        let mut out = vec![TransportEvent::Usage(usage_of(response))];
        out.extend(super::http::skipped_warning(&self.skipped));
        out.push(TransportEvent::Done(stop));
        out
    }

    fn item_done(&mut self, item: &Value) -> Vec<TransportEvent> {
        let id = text_at(item, "id");
        match item.get("type").and_then(Value::as_str) {
            Some("function_call") => {
                let pending = self.calls.remove(&id).unwrap_or_default();
                let call_id = Some(text_at(item, "call_id"))
                    .filter(|s| !s.is_empty())
                    .unwrap_or(pending.call_id);
                if self.emitted.contains(&call_id) {
                    return vec![];
                }
                let name = Some(text_at(item, "name"))
                    .filter(|s| !s.is_empty())
                    .unwrap_or(pending.name);
                let arguments = Some(text_at(item, "arguments"))
                    .filter(|s| !s.is_empty())
                    .unwrap_or(pending.arguments);
                self.emitted.insert(call_id.clone());
                self.any_call = true;
                vec![TransportEvent::ToolCall {
                    id: call_id,
                    name,
                    arguments: if arguments.trim().is_empty() {
                        "{}".into()
                    } else {
                        arguments
                    },
                }]
            }
            Some("reasoning") => {
                let encrypted = item
                    .get("encrypted_content")
                    .and_then(Value::as_str)
                    .map(String::from);
                let text = if self.summarised.contains(&id) {
                    String::new()
                } else {
                    item.get("summary")
                        .and_then(Value::as_array)
                        .map(|parts| {
                            parts
                                .iter()
                                .map(|p| text_at(p, "text"))
                                .collect::<Vec<_>>()
                                .join("\n")
                        })
                        .unwrap_or_default()
                };
                if text.is_empty() && encrypted.is_none() {
                    return vec![];
                }
                vec![TransportEvent::ThinkingDelta {
                    text,
                    signature: encrypted,
                }]
            }
            _ => vec![],
        }
    }
}

impl WireParser for ResponsesParser {
    fn event(&mut self, event: SseEvent) -> Result<Vec<TransportEvent>, TransportError> {
        let data: Value = serde_json::from_str(&event.data)
            .map_err(|e| malformed(&e.to_string(), &event.data))?;
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(event.event.as_str())
            .to_string();
        let item_id = text_at(&data, "item_id");
        let out = match kind.as_str() {
            "response.output_text.delta" => {
                vec![TransportEvent::TextDelta(text_at(&data, "delta"))]
            }
            "response.reasoning_summary_text.delta" => {
                self.summarised.insert(item_id);
                vec![TransportEvent::ThinkingDelta {
                    text: text_at(&data, "delta"),
                    signature: None,
                }]
            }
            "response.output_item.added" => {
                let item = data.get("item").cloned().unwrap_or(Value::Null);
                if item.get("type").and_then(Value::as_str) == Some("function_call") {
                    self.calls.insert(
                        text_at(&item, "id"),
                        PendingCall {
                            call_id: text_at(&item, "call_id"),
                            name: text_at(&item, "name"),
                            arguments: text_at(&item, "arguments"),
                        },
                    );
                }
                vec![]
            }
            "response.function_call_arguments.delta" => {
                self.calls
                    .entry(item_id)
                    .or_default()
                    .arguments
                    .push_str(&text_at(&data, "delta"));
                vec![]
            }
            "response.function_call_arguments.done" => {
                self.calls.entry(item_id).or_default().arguments = text_at(&data, "arguments");
                vec![]
            }
            "response.output_item.done" => {
                self.item_done(&data.get("item").cloned().unwrap_or(Value::Null))
            }
            "response.completed" => {
                let stop = if self.any_call {
                    StopReason::ToolUse
                } else {
                    StopReason::EndTurn
                };
                self.finish(data.get("response").unwrap_or(&Value::Null), stop)
            }
            "response.incomplete" => {
                let response = data.get("response").cloned().unwrap_or(Value::Null);
                let stop = match response
                    .pointer("/incomplete_details/reason")
                    .and_then(Value::as_str)
                {
                    Some("content_filter") => StopReason::ContentFilter,
                    _ => StopReason::MaxTokens,
                };
                self.finish(&response, stop)
            }
            "response.failed" | "error" => {
                let error = match kind.as_str() {
                    "error" => data.clone(),
                    _ => data
                        .pointer("/response/error")
                        .cloned()
                        .unwrap_or(Value::Null),
                };
                let code = error
                    .get("code")
                    .or_else(|| error.get("type"))
                    .cloned()
                    .unwrap_or(Value::Null);
                let body = json!({"error": {"type": code, "message": error.get("message").cloned().unwrap_or(Value::Null), "resets_at": error.get("resets_at").cloned().unwrap_or(Value::Null)}});
                let mut e = TransportError::from_http(200, &[], body.to_string().as_bytes());
                e.status = None;
                return Err(e);
            }
            k if IGNORED.contains(&k) => vec![],
            other => {
                *self.skipped.entry(other.to_string()).or_default() += 1;
                vec![]
            }
        };
        Ok(out)
    }

    fn finished(&self) -> bool {
        self.done
    }

    fn cut_short(&self) -> TransportError {
        let within = if self.calls.is_empty() {
            ""
        } else {
            " in the middle of a function call"
        };
        TransportError::new(
            ErrorClass::Network,
            format!("the stream ended before response.completed{within} (Responses streams have no [DONE])"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::direct::http::parse_recorded;

    fn sse(events: &[Value]) -> Vec<u8> {
        events
            .iter()
            .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or("")))
            .collect::<String>()
            .into_bytes()
    }

    fn a_turn() -> Vec<Value> {
        vec![
            json!({"type":"response.created","response":{"id":"r1"}}),
            json!({"type":"response.output_item.added","item":{"type":"reasoning","id":"rs_1"}}),
            json!({"type":"response.reasoning_summary_text.delta","item_id":"rs_1","delta":"Plan: list."}),
            json!({"type":"response.output_item.done","item":{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Plan: list."}],"encrypted_content":"ENC"}}),
            json!({"type":"response.output_text.delta","item_id":"m1","delta":"Looking."}),
            json!({"type":"response.output_item.added","item":{"type":"function_call","id":"fc_1","call_id":"call_1","name":"list_dir","arguments":""}}),
            json!({"type":"response.function_call_arguments.delta","item_id":"fc_1","delta":"{\"path\""}),
            json!({"type":"response.function_call_arguments.delta","item_id":"fc_1","delta":":\".\"}"}),
            json!({"type":"response.output_item.done","item":{"type":"function_call","id":"fc_1","call_id":"call_1","name":"list_dir","arguments":"{\"path\":\".\"}"}}),
            json!({"type":"response.completed","response":{"usage":{"input_tokens":50,"output_tokens":9,"input_tokens_details":{"cached_tokens":10},"output_tokens_details":{"reasoning_tokens":4}}}}),
        ]
    }

    #[test]
    fn a_whole_turn_parses_with_reasoning_carried_as_a_signature() {
        let events = parse_recorded(&sse(&a_turn()), ResponsesParser::default()).expect("parses");
        assert_eq!(
            events,
            vec![
                TransportEvent::ThinkingDelta {
                    text: "Plan: list.".into(),
                    signature: None
                },
                TransportEvent::ThinkingDelta {
                    text: String::new(),
                    signature: Some("ENC".into())
                },
                TransportEvent::TextDelta("Looking.".into()),
                TransportEvent::ToolCall {
                    id: "call_1".into(),
                    name: "list_dir".into(),
                    arguments: r#"{"path":"."}"#.into()
                },
                TransportEvent::Usage(Usage {
                    input_tokens: 40,
                    output_tokens: 9,
                    cache_read_tokens: 10,
                    cache_write_tokens: 0,
                    reasoning_tokens: 4
                }),
                TransportEvent::Done(StopReason::ToolUse),
            ]
        );
    }

    #[test]
    fn a_stream_without_a_terminal_event_is_an_error() {
        let mut turn = a_turn();
        turn.pop();
        let err = parse_recorded(&sse(&turn), ResponsesParser::default()).expect_err("cut");
        assert_eq!(err.class, ErrorClass::Network);
        assert!(
            err.message.contains("before response.completed"),
            "{}",
            err.message
        );
    }

    #[test]
    fn response_failed_with_a_usage_limit_is_quota() {
        let mut turn = a_turn();
        turn.truncate(5);
        turn.push(json!({"type":"response.failed","response":{"error":{"code":"usage_limit_reached","message":"The usage limit has been reached","resets_at":1795400000}}}));
        let err = parse_recorded(&sse(&turn), ResponsesParser::default()).expect_err("failed");
        assert_eq!(err.class, ErrorClass::QuotaExhausted);
    }

    #[test]
    fn incomplete_for_length_is_max_tokens() {
        let mut turn = a_turn();
        turn.truncate(5);
        turn.push(json!({"type":"response.incomplete","response":{"incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":1,"output_tokens":2}}}));
        let events = parse_recorded(&sse(&turn), ResponsesParser::default()).expect("parses");
        assert_eq!(
            events.last(),
            Some(&TransportEvent::Done(StopReason::MaxTokens))
        );
    }

    #[test]
    fn reasoning_is_replayed_only_to_the_model_that_wrote_it() {
        let assistant = Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Thinking {
                    text: "p".into(),
                    signature: Some("ENC".into()),
                    model: Some("gpt-a".into()),
                },
                ContentBlock::ToolUse {
                    id: "call_1".into(),
                    name: "list_dir".into(),
                    arguments: "{}".into(),
                },
            ],
        };
        let results = Message {
            role: Role::User,
            content: vec![ContentBlock::ToolResult {
                call_id: "call_1".into(),
                content: "x".into(),
                is_error: false,
                images: Vec::new(),
            }],
        };
        let mut req = TurnRequest {
            model: "gpt-a".into(),
            system: "sys".into(),
            messages: vec![Message::user("go"), assistant, results],
            ..Default::default()
        };
        let body = build_request(&req);
        let types: Vec<&str> = body["input"]
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
                "function_call",
                "function_call_output"
            ]
        );
        assert_eq!(body["input"][1]["encrypted_content"], "ENC");
        assert_eq!(body["store"], false);
        assert_eq!(body["instructions"], "sys");
        req.model = "gpt-b".into();
        let body = build_request(&req);
        assert!(body["input"]
            .as_array()
            .expect("input")
            .iter()
            .all(|i| i["type"] != "reasoning"));
    }
}
