//! OpenAI Chat Completions, and every endpoint that speaks it (xAI, OpenRouter, Ollama,
//! vLLM ...), streamed over SSE through async-openai.
//!
//! async-openai builds the request and parses the SSE framing; the chunks themselves are
//! read leniently here, because OpenAI-compatible servers differ in which fields they send.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::error::{OpenAIError, StreamError};
use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, ChatCompletionStreamOptions, ChatCompletionTool,
    ChatCompletionTools, CreateChatCompletionRequest, FunctionCall, FunctionObject,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::auth_headers::{auth_headers, Fixed, Wire};
use super::cache::{self, PromptCache};
use super::http::{
    get_json, http_client, malformed, pulled, reqwest_error, tag_errors, timeout_error,
    HttpFailure, SendOnce,
};
use crate::auth::Credentials;
use crate::catalog::parse_models;
use crate::{
    ContentBlock, ErrorClass, EventStream, Message, ModelsFuture, Role, Secret, StopReason,
    ToolSpec, Transport, TransportError, TransportEvent, TurnFuture, TurnRequest, Usage,
};

/// How to reach one OpenAI-compatible endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiChatConfig {
    /// Base URL up to and including the version, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// `None` for endpoints that take no key (a local Ollama).
    pub api_key: Option<Secret>,
    /// Extra headers sent with every request (OpenRouter's `HTTP-Referer`, ...).
    pub headers: Vec<(String, String)>,
    /// Stream the turn (the default); `false` asks for one whole answer.
    pub stream: bool,
    /// How long a stream may stay silent before the turn fails with `Timeout`.
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
    /// When set, every request leases its key from here instead of using `api_key`.
    pub credentials: Option<Credentials>,
    /// A `prompt_cache_key` per conversation (on by default; the TTL does not apply).
    pub prompt_cache: PromptCache,
}

impl OpenAiChatConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: None,
            headers: Vec::new(),
            stream: true,
            idle_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            credentials: None,
            prompt_cache: PromptCache::default(),
        }
    }
}

/// The Chat Completions transport.
pub struct OpenAiChat {
    client: async_openai::Client<OpenAIConfig>,
    /// The same connection pool, for the endpoints async-openai does not cover leniently.
    http: reqwest::Client,
    config: OpenAiChatConfig,
    /// Set once the endpoint refused a streamed request; later turns ask for whole answers.
    streaming_refused: AtomicBool,
}

impl OpenAiChat {
    pub fn new(config: OpenAiChatConfig) -> Result<Self, TransportError> {
        let base = config.base_url.trim_end_matches('/').to_string();
        // The key and the configured headers go on in `SendOnce`, with every other
        // transport's (an empty key also keeps async-openai from reading OPENAI_API_KEY).
        let openai = OpenAIConfig::new().with_api_base(base).with_api_key("");
        let http = http_client(config.connect_timeout, &config.base_url)?;
        // `build` takes our shared client; `with_config` would build (and load TLS roots for)
        // one of its own.
        let client =
            async_openai::Client::build(http.clone(), openai).with_http_service(SendOnce::new(
                http.clone(),
                config.credentials.clone(),
                config.api_key.clone(),
                config.headers.clone(),
            ));
        Ok(Self {
            client,
            http,
            config,
            streaming_refused: AtomicBool::new(false),
        })
    }

    async fn streamed(&self, body: ChatBody) -> Result<EventStream, TransportError> {
        let idle = self.config.idle_timeout;
        let chat = self.client.chat();
        let start = chat.create_stream_byot::<_, ChatChunk>(body);
        let chunks = tokio::time::timeout(idle, start)
            .await
            .map_err(|_| timeout_error(idle, "waiting for the response to start"))?
            .map_err(|e| self.map_error(e))?;
        let base_url = self.config.base_url.clone();
        let state = (chunks, ChatAssembler::default());
        Ok(pulled(state, move |(mut chunks, mut assembler)| {
            let base_url = base_url.clone();
            async move {
                let (items, ended) = match tokio::time::timeout(idle, chunks.next()).await {
                    Err(_) => (vec![Err(timeout_error(idle, "mid-stream"))], true),
                    Ok(None) => (std::mem::take(&mut assembler).finish(), true),
                    Ok(Some(Err(e))) => (vec![Err(map_openai_error(e, &base_url))], true),
                    Ok(Some(Ok(value))) => match assembler.push(value) {
                        Ok(events) => (events.into_iter().map(Ok).collect(), false),
                        Err(e) => (vec![Err(e)], true),
                    },
                };
                ((chunks, assembler), items, ended)
            }
        }))
    }

    async fn whole(&self, mut body: ChatBody) -> Result<EventStream, TransportError> {
        body.request.stream = Some(false);
        body.request.stream_options = None;
        let idle = self.config.idle_timeout;
        let chat = self.client.chat();
        let answer = tokio::time::timeout(idle, chat.create_byot::<_, ChatChunk>(body))
            .await
            .map_err(|_| timeout_error(idle, "waiting for the answer"))?
            .map_err(|e| self.map_error(e))?;
        let mut assembler = ChatAssembler::default();
        let mut events: Vec<Result<TransportEvent, TransportError>> = match assembler.push(answer) {
            Ok(events) => events.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e)],
        };
        if events.iter().all(Result::is_ok) {
            events.extend(assembler.finish());
        }
        Ok(Box::pin(futures::stream::iter(events)))
    }

    fn map_error(&self, error: OpenAIError) -> TransportError {
        map_openai_error(error, &self.config.base_url)
    }
}

impl Transport for OpenAiChat {
    fn kind(&self) -> &'static str {
        "openai-compatible"
    }

    fn list_models(&self) -> ModelsFuture<'_> {
        Box::pin(async move {
            let base = self.config.base_url.trim_end_matches('/');
            let fixed = Fixed {
                key: self.config.api_key.as_ref(),
                ..Default::default()
            };
            let headers = auth_headers(
                Wire::OpenAi,
                self.config.credentials.as_ref(),
                fixed,
                &self.config.headers,
            )
            .await?;
            let req = self.http.get(format!("{base}/models")).headers(headers);
            let body = get_json(req, base, self.config.idle_timeout).await?;
            Ok(parse_models(&body))
        })
    }

    fn stream_turn(&self, request: TurnRequest) -> TurnFuture<'_> {
        Box::pin(async move { tag_errors(&self.config.credentials, self.turn(request).await) })
    }
}

impl OpenAiChat {
    /// One turn, with the conversation's `prompt_cache_key` unless the endpoint refuses it:
    /// then once more without, remembered for this endpoint.
    async fn turn(&self, request: TurnRequest) -> Result<EventStream, TransportError> {
        let key = format!("chat {}", self.config.base_url.trim_end_matches('/'));
        let cache_key = request
            .conversation
            .clone()
            .filter(|_| self.config.prompt_cache.enabled && !cache::refused(&key));
        let cached = cache_key.is_some();
        match self.send_turn(&request, cache_key).await {
            Err(e) if cached && cache::refuses_cache_fields(&e) => {
                cache::remember_refusal(&key);
                let stream = self.send_turn(&request, None).await?;
                Ok(cache::with_warning(
                    stream,
                    cache::refusal_warning("prompt_cache_key", &e),
                ))
            }
            other => other,
        }
    }

    async fn send_turn(
        &self,
        request: &TurnRequest,
        cache_key: Option<String>,
    ) -> Result<EventStream, TransportError> {
        let body = |cache_key: Option<String>| {
            let mut body = build_request(request);
            body.request.prompt_cache_key = cache_key;
            body
        };
        if !self.config.stream || self.streaming_refused.load(Ordering::Relaxed) {
            return self.whole(body(cache_key)).await;
        }
        // The body moves into the request; the rare refusal builds it again.
        match self.streamed(body(cache_key.clone())).await {
            Err(e) if refuses_streaming(&e) => {
                tracing::warn!(
                    "endpoint refused a streamed request ({e}); asking for whole answers"
                );
                self.streaming_refused.store(true, Ordering::Relaxed);
                self.whole(body(cache_key)).await
            }
            other => other,
        }
    }
}

/// A 400 that says the endpoint cannot stream: fall back to whole answers.
fn refuses_streaming(e: &TransportError) -> bool {
    let m = e.message.to_lowercase();
    e.class == ErrorClass::InvalidRequest
        && m.contains("stream")
        && (m.contains("not support") || m.contains("unsupported"))
}

fn map_openai_error(error: OpenAIError, base_url: &str) -> TransportError {
    match error {
        OpenAIError::Boxed(inner) => match inner.downcast::<HttpFailure>() {
            Ok(failure) => failure.error_at(&format!(
                "{}/chat/completions",
                base_url.trim_end_matches('/')
            )),
            Err(other) => match other.downcast::<TransportError>() {
                Ok(e) => *e,
                Err(other) => TransportError::new(ErrorClass::Network, other.to_string()),
            },
        },
        OpenAIError::Reqwest(e) => reqwest_error(&e, base_url),
        OpenAIError::StreamError(e) => match *e {
            StreamError::EventStream(message) => TransportError::new(
                ErrorClass::Network,
                format!("the stream from {base_url} broke: {message}"),
            ),
            StreamError::UnknownEvent(event) => TransportError::new(
                ErrorClass::MalformedResponse,
                format!("unexpected stream event `{}`", event.event),
            ),
        },
        OpenAIError::JSONDeserialize(e, content) => malformed(&e.to_string(), &content),
        OpenAIError::ApiError(api) => {
            let body = serde_json::json!({"error": api.api_error}).to_string();
            TransportError::from_http(api.status_code.as_u16(), &[], body.as_bytes())
        }
        other => TransportError::new(ErrorClass::InvalidRequest, other.to_string()),
    }
}

/// A Chat Completions request as sent: the typed request, with its tools as JSON made once
/// per tool list.
#[derive(Debug, Clone, Serialize)]
pub struct ChatBody {
    #[serde(flatten)]
    pub request: CreateChatCompletionRequest,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<ToolsJson>,
}

/// The `tools` of a request, serialized.
#[derive(Debug, Clone)]
struct ToolsJson(Arc<Box<RawValue>>);

impl Serialize for ToolsJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.as_ref().serialize(serializer)
    }
}

/// The tools as Chat Completions JSON. Every mission of a process offers the same list
/// (one shared allocation, see `ToolBox::specs`), so it is serialized once, not copied and
/// serialized for each request (that took more than the rest of the request).
fn tools_json(tools: &Arc<[ToolSpec]>) -> Option<ToolsJson> {
    /// The last few lists seen (a process has one; tests make their own).
    static SEEN: Mutex<Vec<(Arc<[ToolSpec]>, ToolsJson)>> = Mutex::new(Vec::new());
    if tools.is_empty() {
        return None;
    }
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, json)) = seen.iter().find(|(list, _)| Arc::ptr_eq(list, tools)) {
        return Some(json.clone());
    }
    let typed: Vec<ChatCompletionTools> = tools
        .iter()
        .map(|t| {
            ChatCompletionTools::Function(ChatCompletionTool {
                function: FunctionObject {
                    name: t.name.clone(),
                    description: Some(t.description.clone()),
                    parameters: Some(super::tool_schema::openai(&t.parameters).into_owned()),
                    strict: None,
                },
            })
        })
        .collect();
    let text = serde_json::to_string(&typed).expect("tool schemas are JSON values");
    let json = ToolsJson(Arc::new(
        RawValue::from_string(text).expect("serde_json wrote JSON"),
    ));
    if seen.len() == 8 {
        seen.remove(0);
    }
    seen.push((tools.clone(), json.clone()));
    Some(json)
}

/// Turns the provider-neutral request into a Chat Completions request.
pub fn build_request(request: &TurnRequest) -> ChatBody {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if !request.system.is_empty() {
        messages.push(ChatCompletionRequestMessage::System(
            ChatCompletionRequestSystemMessage {
                content: ChatCompletionRequestSystemMessageContent::Text(request.system.clone()),
                name: None,
            },
        ));
    }
    for message in &request.messages {
        push_message(&mut messages, message);
    }
    ChatBody {
        request: CreateChatCompletionRequest {
            messages,
            model: request.model.clone(),
            stream: Some(true),
            stream_options: Some(ChatCompletionStreamOptions {
                include_usage: Some(true),
                include_obfuscation: None,
            }),
            max_completion_tokens: request.max_output_tokens,
            ..Default::default()
        },
        tools: tools_json(&request.tools),
    }
}

fn push_message(out: &mut Vec<ChatCompletionRequestMessage>, message: &Message) {
    match message.role {
        Role::User => {
            // Tool results answer the previous assistant turn, so they come first.
            let mut text = String::new();
            for block in &message.content {
                match block {
                    ContentBlock::ToolResult {
                        call_id,
                        content,
                        images,
                        ..
                    } => {
                        out.push(ChatCompletionRequestMessage::Tool(
                            ChatCompletionRequestToolMessage {
                                content: ChatCompletionRequestToolMessageContent::Text(
                                    super::tool_images::chat(content, images),
                                ),
                                tool_call_id: call_id.clone(),
                            },
                        ));
                    }
                    ContentBlock::Text { text: t } => text.push_str(t),
                    _ => {}
                }
            }
            if !text.is_empty() {
                out.push(ChatCompletionRequestMessage::User(
                    ChatCompletionRequestUserMessage {
                        content: ChatCompletionRequestUserMessageContent::Text(text),
                        name: None,
                    },
                ));
            }
        }
        Role::Assistant => {
            let text = message.text();
            let calls: Vec<ChatCompletionMessageToolCalls> = message
                .content
                .iter()
                .filter_map(|b| match b {
                    ContentBlock::ToolUse {
                        id,
                        name,
                        arguments,
                    } => Some(ChatCompletionMessageToolCalls::Function(
                        ChatCompletionMessageToolCall {
                            id: id.clone(),
                            function: FunctionCall {
                                name: name.clone(),
                                arguments: arguments.clone(),
                            },
                        },
                    )),
                    _ => None,
                })
                .collect();
            // Chat Completions has no standard place for reasoning: thinking is not replayed.
            #[allow(deprecated)]
            out.push(ChatCompletionRequestMessage::Assistant(
                ChatCompletionRequestAssistantMessage {
                    content: (!text.is_empty())
                        .then_some(ChatCompletionRequestAssistantMessageContent::Text(text)),
                    tool_calls: (!calls.is_empty()).then_some(calls),
                    ..Default::default()
                },
            ));
        }
    }
}

/// One `data:` payload of a Chat Completions stream (or a whole completion), read leniently:
/// every field is optional, and an `error` object marks an error inside a 200 stream.
#[derive(Debug, Default, Deserialize)]
pub struct ChatChunk {
    #[serde(default)]
    choices: Vec<ChoiceChunk>,
    #[serde(default)]
    usage: Option<UsageWire>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
struct ChoiceChunk {
    #[serde(default, alias = "message")]
    delta: Delta,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    /// DeepSeek, xAI and vLLM stream reasoning under one of these names.
    #[serde(default, alias = "reasoning")]
    reasoning_content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallChunk>>,
}

#[derive(Debug, Default, Deserialize)]
struct ToolCallChunk {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionChunk>,
}

#[derive(Debug, Default, Deserialize)]
struct FunctionChunk {
    #[serde(default)]
    name: Option<String>,
    /// A string fragment on the wire; some servers send a whole JSON object instead.
    #[serde(default)]
    arguments: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
struct UsageWire {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Debug, Default, Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: u64,
}

#[derive(Debug, Default, Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: u64,
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// Assembles streamed chunks into transport events: text as it arrives, tool calls once
/// whole, then usage and the stop reason.
#[derive(Debug, Default)]
pub struct ChatAssembler {
    calls: BTreeMap<u32, PartialCall>,
    finish: Option<String>,
    usage: Option<Usage>,
}

impl ChatAssembler {
    /// Takes one decoded SSE `data:` payload, or a whole completion.
    pub fn push(&mut self, chunk: ChatChunk) -> Result<Vec<TransportEvent>, TransportError> {
        if let Some(error) = &chunk.error {
            // An error event inside a 200 stream.
            let body = serde_json::json!({ "error": error }).to_string();
            let mut e = TransportError::from_http(200, &[], body.as_bytes());
            e.status = None;
            return Err(e);
        }

        let mut events = Vec::new();
        if let Some(usage) = chunk.usage {
            // `prompt_tokens` counts the cached ones too.
            let cached = usage.prompt_tokens_details.map_or(0, |d| d.cached_tokens);
            self.usage = Some(Usage {
                input_tokens: usage.prompt_tokens.saturating_sub(cached),
                output_tokens: usage.completion_tokens,
                cache_read_tokens: cached,
                cache_write_tokens: 0,
                reasoning_tokens: usage
                    .completion_tokens_details
                    .map_or(0, |d| d.reasoning_tokens),
            });
        }
        for choice in chunk.choices {
            let delta = choice.delta;
            if let Some(text) = delta.reasoning_content.filter(|t| !t.is_empty()) {
                events.push(TransportEvent::ThinkingDelta {
                    text,
                    signature: None,
                });
            }
            if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                events.push(TransportEvent::TextDelta(text));
            }
            for (position, call) in delta.tool_calls.unwrap_or_default().into_iter().enumerate() {
                let index = call.index.unwrap_or(position as u32);
                let slot = self.calls.entry(index).or_default();
                if let Some(id) = call.id.filter(|s| !s.is_empty()) {
                    slot.id = id;
                }
                if let Some(f) = call.function {
                    if let Some(name) = f.name.filter(|s| !s.is_empty()) {
                        slot.name = name;
                    }
                    match f.arguments {
                        Some(serde_json::Value::String(s)) => slot.arguments.push_str(&s),
                        Some(serde_json::Value::Null) | None => {}
                        Some(other) => slot.arguments.push_str(&other.to_string()),
                    }
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finish = Some(reason);
            }
        }
        Ok(events)
    }

    /// Ends the turn: the assembled tool calls, usage and `Done`, or an error when the
    /// stream stopped before the model finished.
    pub fn finish(self) -> Vec<Result<TransportEvent, TransportError>> {
        let Some(reason) = self.finish else {
            let pending = self
                .calls
                .values()
                .last()
                .map(|c| c.name.as_str())
                .filter(|n| !n.is_empty());
            let what = match pending {
                Some(name) => format!(" in the middle of a `{name}` tool call"),
                None => String::new(),
            };
            return vec![Err(TransportError::new(
                ErrorClass::Network,
                format!("the stream ended before the model finished{what} (no finish_reason)"),
            ))];
        };
        let mut out = Vec::new();
        let has_calls = !self.calls.is_empty();
        for (index, call) in self.calls {
            if call.name.is_empty() {
                return vec![Err(TransportError::new(
                    ErrorClass::MalformedResponse,
                    format!("the provider sent tool call #{index} without a name"),
                ))];
            }
            let id = if call.id.is_empty() {
                format!("call_{index}")
            } else {
                call.id
            };
            out.push(Ok(TransportEvent::ToolCall {
                id,
                name: call.name,
                arguments: if call.arguments.trim().is_empty() {
                    "{}".into()
                } else {
                    call.arguments
                },
            }));
        }
        if let Some(usage) = self.usage {
            out.push(Ok(TransportEvent::Usage(usage)));
        }
        let stop = match reason.as_str() {
            _ if has_calls => StopReason::ToolUse,
            "length" => StopReason::MaxTokens,
            "content_filter" => StopReason::ContentFilter,
            _ => StopReason::EndTurn,
        };
        out.push(Ok(TransportEvent::Done(stop)));
        out
    }
}

#[cfg(test)]
#[path = "openai_chat_tests.rs"]
mod tests;
