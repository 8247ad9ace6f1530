//! Anthropic Messages over reqwest and SSE (no SDK).
//!
//! Thinking blocks keep their signature and the model that produced them; a block signed by
//! another model is dropped before sending, since Anthropic refuses it after a model switch.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::auth_headers::{auth_headers, Fixed, Wire};
use super::cache::{self, PromptCache};
use super::http::{
    drive, get_json, http_client, malformed, send, tag_error, tag_errors, WireParser,
};
use crate::auth::{AuthMode, Credentials};
use crate::catalog::parse_models;
use crate::sse::SseEvent;
use crate::EventStream;
use crate::{
    ContentBlock, ErrorClass, Message, ModelsFuture, Role, Secret, StopReason, Transport,
    TransportError, TransportEvent, TurnFuture, TurnRequest, Usage,
};

/// The API version header every request carries.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// The beta header that OAuth bearer tokens require.
pub const OAUTH_BETA: &str = super::auth_headers::ANTHROPIC_OAUTH_BETA;
/// Stands in for an assistant turn whose only content was reasoning we may not replay.
pub const OMITTED_REASONING: &str = "[earlier reasoning omitted]";

/// How requests authenticate.
#[derive(Debug, Clone)]
pub enum AnthropicAuth {
    /// A console API key, sent as `x-api-key`.
    ApiKey(Secret),
    /// An OAuth access token (Claude Pro/Max), sent as a bearer with the OAuth beta header.
    Bearer(Secret),
}

#[derive(Debug, Clone)]
pub struct AnthropicConfig {
    /// e.g. `https://api.anthropic.com` or `.../v1` (the `/v1/messages` path is added once).
    pub base_url: String,
    pub auth: Option<AnthropicAuth>,
    pub headers: Vec<(String, String)>,
    /// `max_tokens` when the request sets none (Anthropic requires one).
    pub max_tokens: u32,
    /// Extended thinking budget; `None` leaves thinking off.
    pub thinking_budget: Option<u32>,
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
    /// When set, every request leases from here; the lease's auth mode picks the headers.
    pub credentials: Option<Credentials>,
    /// `cache_control` breakpoints (on by default).
    pub prompt_cache: PromptCache,
}

impl AnthropicConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            auth: None,
            headers: Vec::new(),
            max_tokens: 8192,
            thinking_budget: None,
            idle_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            credentials: None,
            prompt_cache: PromptCache::default(),
        }
    }
}

pub struct AnthropicMessages {
    http: reqwest::Client,
    config: AnthropicConfig,
}

impl AnthropicMessages {
    pub fn new(config: AnthropicConfig) -> Result<Self, TransportError> {
        let http = http_client(config.connect_timeout, &config.base_url)?;
        Ok(Self { http, config })
    }
}

impl AnthropicMessages {
    /// The root the `/v1/...` paths go under: a base URL given with its `/v1` works too.
    fn base(&self) -> &str {
        let base = self.config.base_url.trim_end_matches('/');
        base.strip_suffix("/v1").unwrap_or(base)
    }

    /// Adds the version, auth and configured headers.
    async fn authorize(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, TransportError> {
        let (key, mode) = match &self.config.auth {
            Some(AnthropicAuth::ApiKey(key)) => (Some(key), Some(AuthMode::ApiKey)),
            Some(AnthropicAuth::Bearer(token)) => (Some(token), Some(AuthMode::OAuth)),
            None => (None, None),
        };
        let fixed = Fixed {
            key,
            mode,
            account: None,
        };
        let headers = auth_headers(
            Wire::Anthropic,
            self.config.credentials.as_ref(),
            fixed,
            &self.config.headers,
        )
        .await?;
        Ok(req
            .header("anthropic-version", ANTHROPIC_VERSION)
            .headers(headers))
    }
}

impl Transport for AnthropicMessages {
    fn kind(&self) -> &'static str {
        "anthropic"
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

impl AnthropicMessages {
    /// One turn, with cache breakpoints unless the provider refuses them: then once more
    /// without, remembered for this provider.
    async fn turn(&self, request: TurnRequest) -> Result<EventStream, TransportError> {
        let key = format!("anthropic {}", self.base());
        let cache = self.config.prompt_cache.enabled && !cache::refused(&key);
        match self.send_turn(&request, cache).await {
            Err(e) if cache && cache::refuses_cache_fields(&e) => {
                cache::remember_refusal(&key);
                let stream = self.send_turn(&request, false).await?;
                Ok(cache::with_warning(
                    stream,
                    cache::refusal_warning("cache_control", &e),
                ))
            }
            other => other,
        }
    }

    async fn send_turn(
        &self,
        request: &TurnRequest,
        cache: bool,
    ) -> Result<EventStream, TransportError> {
        let body = request_body(request, &self.config, cache);
        let req = self
            .http
            .post(format!("{}/v1/messages", self.base()))
            .header("accept", "text/event-stream")
            .json(&body);
        let mut req = self.authorize(req).await?;
        if cache && self.config.prompt_cache.ttl == cache::CacheTtl::OneHour {
            // A 1-hour `cache_control` is asked for with its beta (beside an OAuth one).
            req = req.header("anthropic-beta", cache::EXTENDED_TTL_BETA);
        }
        let response = send(req, self.base(), self.config.idle_timeout).await?;
        Ok(drive(
            response,
            self.config.idle_timeout,
            self.base().to_string(),
            AnthropicParser::default(),
        ))
    }

    async fn models(&self) -> Result<Vec<crate::ModelInfo>, TransportError> {
        let req = self
            .http
            .get(format!("{}/v1/models?limit=1000", self.base()));
        let body = get_json(
            self.authorize(req).await?,
            self.base(),
            self.config.idle_timeout,
        )
        .await?;
        Ok(parse_models(&body))
    }
}

/// The Messages request body for a turn, with cache breakpoints when the config asks.
pub fn build_request(request: &TurnRequest, config: &AnthropicConfig) -> Value {
    request_body(request, config, config.prompt_cache.enabled)
}

fn request_body(request: &TurnRequest, config: &AnthropicConfig, cache: bool) -> Value {
    let messages: Vec<Value> = request
        .messages
        .iter()
        .filter_map(|m| message_json(m, &request.model))
        .collect();
    let mut max_tokens = request.max_output_tokens.unwrap_or(config.max_tokens);
    let mut body = json!({
        "model": request.model,
        "max_tokens": max_tokens,
        "messages": messages,
        "stream": true,
    });
    if !request.system.is_empty() {
        body["system"] = json!(request.system);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": super::tool_schema::anthropic(&t.parameters)}))
            .collect();
    }
    if let Some(budget) = config.thinking_budget.filter(|_| !request.disable_thinking) {
        // max_tokens must exceed the thinking budget.
        max_tokens = max_tokens.max(budget + 1024);
        body["max_tokens"] = json!(max_tokens);
        body["thinking"] = json!({"type": "enabled", "budget_tokens": budget});
    }
    if cache {
        cache::anthropic_breakpoints(&mut body, config.prompt_cache.ttl);
    }
    body
}

fn message_json(message: &Message, model: &str) -> Option<Value> {
    let signed_here = |m: &Option<String>| m.as_deref() == Some(model);
    let mut blocks: Vec<Value> = Vec::new();
    match message.role {
        Role::User => {
            // Tool results first: they answer the previous assistant turn.
            for b in &message.content {
                if let ContentBlock::ToolResult {
                    call_id,
                    content,
                    is_error,
                    images,
                } = b
                {
                    let content = super::tool_images::anthropic(content, images);
                    blocks.push(json!({"type": "tool_result", "tool_use_id": call_id, "content": content, "is_error": is_error}));
                }
            }
            for b in &message.content {
                if let ContentBlock::Text { text } = b {
                    if !text.is_empty() {
                        blocks.push(json!({"type": "text", "text": text}));
                    }
                }
            }
        }
        Role::Assistant => {
            for b in &message.content {
                match b {
                    ContentBlock::Thinking {
                        text,
                        signature: Some(sig),
                        model: m,
                    } if signed_here(m) => {
                        blocks.push(json!({"type": "thinking", "thinking": text, "signature": sig}))
                    }
                    ContentBlock::RedactedThinking { data, model: m } if signed_here(m) => {
                        blocks.push(json!({"type": "redacted_thinking", "data": data}))
                    }
                    ContentBlock::Text { text } if !text.is_empty() => {
                        blocks.push(json!({"type": "text", "text": text}))
                    }
                    ContentBlock::ToolUse {
                        id,
                        name,
                        arguments,
                    } => {
                        let input: Value =
                            serde_json::from_str(arguments).unwrap_or_else(|_| json!({}));
                        blocks.push(
                            json!({"type": "tool_use", "id": id, "name": name, "input": input}),
                        );
                    }
                    _ => {}
                }
            }
            if blocks.is_empty() && !message.content.is_empty() {
                blocks.push(json!({"type": "text", "text": OMITTED_REASONING}));
            }
        }
    }
    if blocks.is_empty() {
        return None;
    }
    let role = match message.role {
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    Some(json!({"role": role, "content": blocks}))
}

#[derive(Debug)]
enum Block {
    Text,
    Thinking,
    Redacted(String),
    Tool {
        id: String,
        name: String,
        json: String,
        initial: Option<Value>,
    },
}

impl Block {
    fn name(&self) -> &'static str {
        match self {
            Block::Text => "text",
            Block::Thinking => "thinking",
            Block::Redacted(_) => "redacted_thinking",
            Block::Tool { .. } => "tool_use",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

/// Reads the Messages SSE stream.
#[derive(Debug, Default)]
pub struct AnthropicParser {
    blocks: BTreeMap<u64, Block>,
    usage: Usage,
    stop: Option<StopReason>,
    done: bool,
    skipped: BTreeMap<String, u32>,
}

impl AnthropicParser {
    fn add_usage(&mut self, u: &Value) {
        let Ok(u) = WireUsage::deserialize(u) else {
            return;
        };
        // message_start carries the input side; message_delta carries cumulative output.
        if let Some(n) = u.input_tokens {
            self.usage.input_tokens = self.usage.input_tokens.max(n);
        }
        if let Some(n) = u.output_tokens {
            self.usage.output_tokens = self.usage.output_tokens.max(n);
        }
        if let Some(n) = u.cache_creation_input_tokens {
            self.usage.cache_write_tokens = self.usage.cache_write_tokens.max(n);
        }
        if let Some(n) = u.cache_read_input_tokens {
            self.usage.cache_read_tokens = self.usage.cache_read_tokens.max(n);
        }
    }

    fn skip(&mut self, kind: &str) {
        *self.skipped.entry(kind.to_string()).or_default() += 1;
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The envelope of every Messages stream event, borrowed from the SSE data where it can be:
/// deltas are most of a stream, so they are read without building a JSON tree.
#[derive(Debug, Deserialize)]
struct WireEvent<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Cow<'a, str>,
    #[serde(default)]
    index: u64,
    #[serde(borrow, default)]
    delta: Option<WireDelta<'a>>,
    #[serde(default)]
    content_block: Option<Value>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct WireDelta<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    thinking: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    signature: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(default)]
    stop_reason: Option<String>,
}

fn owned(text: Option<Cow<'_, str>>) -> String {
    text.map(Cow::into_owned).unwrap_or_default()
}

impl AnthropicParser {
    /// `content_block_delta`: more of the block at `index`.
    fn delta(&mut self, delta: WireDelta<'_>, index: u64, out: &mut Vec<TransportEvent>) {
        match (delta.kind.as_ref(), self.blocks.get_mut(&index)) {
            ("text_delta", _) => out.push(TransportEvent::TextDelta(owned(delta.text))),
            ("thinking_delta", _) => out.push(TransportEvent::ThinkingDelta {
                text: owned(delta.thinking),
                signature: None,
            }),
            ("signature_delta", _) => out.push(TransportEvent::ThinkingDelta {
                text: String::new(),
                signature: Some(owned(delta.signature)),
            }),
            ("input_json_delta", Some(Block::Tool { json, .. })) => {
                json.push_str(delta.partial_json.as_deref().unwrap_or(""))
            }
            (other, _) => {
                let other = format!("delta {other}");
                self.skip(&other)
            }
        }
    }

    /// `content_block_start`: a block opens at `index` (text and thinking may come with
    /// their first words); an unknown kind is counted and skipped.
    fn block_start(&mut self, block: Value, index: u64, out: &mut Vec<TransportEvent>) {
        let b = match str_at(&block, "type") {
            "text" => {
                let text = str_at(&block, "text");
                if !text.is_empty() {
                    out.push(TransportEvent::TextDelta(text.to_string()));
                }
                Block::Text
            }
            "thinking" => {
                let text = str_at(&block, "thinking");
                if !text.is_empty() {
                    out.push(TransportEvent::ThinkingDelta {
                        text: text.to_string(),
                        signature: None,
                    });
                }
                Block::Thinking
            }
            "redacted_thinking" => Block::Redacted(str_at(&block, "data").to_string()),
            "tool_use" => Block::Tool {
                id: str_at(&block, "id").to_string(),
                name: str_at(&block, "name").to_string(),
                json: String::new(),
                initial: block
                    .get("input")
                    .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
                    .cloned(),
            },
            other => {
                let other = format!("content block {other}");
                self.skip(&other);
                return;
            }
        };
        self.blocks.insert(index, b);
    }

    /// `content_block_stop`: a tool call or redacted thinking is complete.
    fn block_stop(
        &mut self,
        index: u64,
        data: &str,
        out: &mut Vec<TransportEvent>,
    ) -> Result<(), TransportError> {
        match self.blocks.remove(&index) {
            Some(Block::Tool {
                id,
                name,
                json,
                initial,
            }) => {
                if name.is_empty() {
                    return Err(malformed("a tool_use block without a name", data));
                }
                let arguments = if !json.trim().is_empty() {
                    json
                } else {
                    initial.map_or_else(|| "{}".to_string(), |v| v.to_string())
                };
                out.push(TransportEvent::ToolCall {
                    id,
                    name,
                    arguments,
                });
            }
            Some(Block::Redacted(data)) => out.push(TransportEvent::RedactedThinking(data)),
            _ => {}
        }
        Ok(())
    }

    /// `message_stop`: the usage, what was skipped, and why the answer stopped.
    fn message_stop(&mut self, out: &mut Vec<TransportEvent>) {
        out.push(TransportEvent::Usage(self.usage));
        out.extend(super::http::skipped_warning(&self.skipped));
        out.push(TransportEvent::Done(
            self.stop.unwrap_or(StopReason::EndTurn),
        ));
        self.done = true;
    }
}

impl WireParser for AnthropicParser {
    fn event(&mut self, event: SseEvent) -> Result<Vec<TransportEvent>, TransportError> {
        let wire: WireEvent<'_> = serde_json::from_str(&event.data)
            .map_err(|e| malformed(&e.to_string(), &event.data))?;
        let kind: &str = if wire.kind.is_empty() {
            &event.event
        } else {
            &wire.kind
        };
        let index = wire.index;
        let mut out = Vec::new();
        match kind {
            "content_block_delta" => self.delta(wire.delta.unwrap_or_default(), index, &mut out),
            "message_start" => {
                if let Some(u) = wire.message.as_ref().and_then(|m| m.get("usage")) {
                    self.add_usage(u);
                }
            }
            "content_block_start" => {
                self.block_start(wire.content_block.unwrap_or(Value::Null), index, &mut out)
            }
            "content_block_stop" => self.block_stop(index, &event.data, &mut out)?,
            "message_delta" => {
                if let Some(reason) = wire.delta.and_then(|d| d.stop_reason) {
                    self.stop = Some(match reason.as_str() {
                        "tool_use" => StopReason::ToolUse,
                        "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
                        "refusal" => StopReason::ContentFilter,
                        _ => StopReason::EndTurn,
                    });
                }
                if let Some(u) = &wire.usage {
                    self.add_usage(u);
                }
            }
            "message_stop" => self.message_stop(&mut out),
            "ping" => {}
            "error" => {
                let body = json!({"type": "error", "error": wire.error.unwrap_or(Value::Null)})
                    .to_string();
                let mut e = TransportError::from_http(200, &[], body.as_bytes());
                e.status = None;
                return Err(e);
            }
            other => {
                let other = other.to_string();
                self.skip(&other)
            }
        }
        Ok(out)
    }

    fn finished(&self) -> bool {
        self.done
    }

    fn cut_short(&self) -> TransportError {
        let open: BTreeSet<&str> = self.blocks.values().map(Block::name).collect();
        let open: Vec<&str> = open.into_iter().collect();
        let within = if open.is_empty() {
            String::new()
        } else {
            format!(" in the middle of a {} block", open.join("/"))
        };
        TransportError::new(
            ErrorClass::Network,
            format!("the stream ended before message_stop{within}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::direct::http::parse_recorded;
    use crate::ToolSpec;

    fn sse(events: &[Value]) -> Vec<u8> {
        events
            .iter()
            .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or("")))
            .collect::<String>()
            .into_bytes()
    }

    fn a_turn() -> Vec<Value> {
        vec![
            json!({"type":"message_start","message":{"id":"m","usage":{"input_tokens":12,"cache_read_input_tokens":4,"output_tokens":1}}}),
            json!({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}),
            json!({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}),
            json!({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"SIG"}}),
            json!({"type":"content_block_stop","index":0}),
            json!({"type":"ping"}),
            json!({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}),
            json!({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi"}}),
            json!({"type":"content_block_stop","index":1}),
            json!({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"tu1","name":"list_dir","input":{}}}),
            json!({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"pa"}}),
            json!({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"th\":\".\"}"}}),
            json!({"type":"content_block_stop","index":2}),
            json!({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":30}}),
            json!({"type":"message_stop"}),
        ]
    }

    #[test]
    fn a_whole_turn_parses_in_order() {
        let events = parse_recorded(&sse(&a_turn()), AnthropicParser::default()).expect("parses");
        assert_eq!(
            events,
            vec![
                TransportEvent::ThinkingDelta {
                    text: "hmm".into(),
                    signature: None
                },
                TransportEvent::ThinkingDelta {
                    text: String::new(),
                    signature: Some("SIG".into())
                },
                TransportEvent::TextDelta("Hi".into()),
                TransportEvent::ToolCall {
                    id: "tu1".into(),
                    name: "list_dir".into(),
                    arguments: r#"{"path":"."}"#.into()
                },
                TransportEvent::Usage(Usage {
                    input_tokens: 12,
                    output_tokens: 30,
                    cache_read_tokens: 4,
                    ..Default::default()
                }),
                TransportEvent::Done(StopReason::ToolUse),
            ]
        );
    }

    #[test]
    fn a_stream_cut_mid_block_names_the_block() {
        let mut turn = a_turn();
        turn.truncate(11);
        let err = parse_recorded(&sse(&turn), AnthropicParser::default()).expect_err("cut");
        assert_eq!(err.class, ErrorClass::Network);
        assert!(
            err.message.contains("in the middle of a tool_use block"),
            "{}",
            err.message
        );
    }

    #[test]
    fn unknown_events_are_skipped_and_counted() {
        let mut turn = a_turn();
        turn.insert(1, json!({"type":"brand_new_event"}));
        turn.insert(1, json!({"type":"brand_new_event"}));
        let events = parse_recorded(&sse(&turn), AnthropicParser::default()).expect("parses");
        assert!(events.contains(&TransportEvent::Warning(
            "skipped unknown stream events: brand_new_event ×2".into()
        )));
    }

    #[test]
    fn an_error_event_mid_stream_is_classified() {
        let mut turn = a_turn();
        turn.insert(
            8,
            json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}),
        );
        let err = parse_recorded(&sse(&turn), AnthropicParser::default()).expect_err("error");
        assert_eq!(err.class, ErrorClass::Overloaded);
        assert_eq!(err.message, "Overloaded");
    }

    #[test]
    fn thinking_signed_by_another_model_is_dropped_with_a_placeholder() {
        let thinking = |model: &str| ContentBlock::Thinking {
            text: "t".into(),
            signature: Some("s".into()),
            model: Some(model.into()),
        };
        let req = TurnRequest {
            model: "claude-b".into(),
            system: "sys".into(),
            messages: vec![
                Message::user("hi"),
                Message {
                    role: Role::Assistant,
                    content: vec![thinking("claude-a")],
                },
                Message::user("again"),
                Message {
                    role: Role::Assistant,
                    content: vec![
                        thinking("claude-b"),
                        ContentBlock::Text { text: "ok".into() },
                    ],
                },
            ],
            tools: vec![ToolSpec {
                name: "x".into(),
                description: "d".into(),
                parameters: json!({"type":"object"}),
            }]
            .into(),
            max_output_tokens: None,
            disable_thinking: false,
            ..Default::default()
        };
        let body = build_request(&req, &AnthropicConfig::new("http://x"));
        assert_eq!(
            body["messages"][1]["content"],
            json!([{"type":"text","text": OMITTED_REASONING}])
        );
        assert_eq!(
            body["messages"][3]["content"][0],
            json!({"type":"thinking","thinking":"t","signature":"s"})
        );
        assert_eq!(body["system"][0]["text"], "sys");
        assert_eq!(body["tools"][0]["input_schema"], json!({"type":"object"}));
        assert_eq!(body["max_tokens"], 8192);
    }
}
