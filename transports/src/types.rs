//! The provider-neutral shape of a conversation and of one streamed turn.

use std::pin::Pin;

use futures::Stream;
use serde::{Deserialize, Serialize};

use crate::TransportError;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
}

/// One piece of a message. Tool results travel in user messages, as on Anthropic's wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text {
        text: String,
    },
    /// Model reasoning. `signature` and `model` let a later turn replay it exactly, or
    /// drop it when the model changed.
    Thinking {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
    },
    /// Reasoning the provider encrypted; replayed byte for byte to the model that made it.
    RedactedThinking {
        data: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
    },
    ToolUse {
        id: String,
        name: String,
        /// The arguments exactly as the model produced them (normally a JSON object).
        arguments: String,
    },
    ToolResult {
        call_id: String,
        content: String,
        #[serde(default)]
        is_error: bool,
        /// Images the tool returned (an MCP server's), sent as image blocks where the
        /// wire format takes them in a tool result; `content` notes each.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        images: Vec<ImageData>,
    },
}

/// An image a tool returned: its media type (`image/png`) and its bytes in base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageData {
    pub media_type: String,
    pub data: String,
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentBlock>,
}

impl Message {
    /// A user message holding one text block.
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: vec![ContentBlock::Text { text: text.into() }],
        }
    }

    /// The concatenated text blocks of this message.
    pub fn text(&self) -> String {
        text_of(&self.content)
    }
}

/// The text blocks of some content, joined.
pub fn text_of(content: &[ContentBlock]) -> String {
    content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// A tool the model may call: a name, a description and a JSON Schema for its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// Everything a transport needs for one turn.
#[derive(Debug, Clone, Default)]
pub struct TurnRequest {
    pub model: String,
    pub system: String,
    pub messages: Vec<Message>,
    /// Shared: the same specs go with every turn of every mission.
    pub tools: std::sync::Arc<[ToolSpec]>,
    pub max_output_tokens: Option<u32>,
    /// Turn extended thinking off for this request (a retry after a stale-thinking refusal).
    pub disable_thinking: bool,
    /// The CLI session this turn runs in (transports that keep sessions; others ignore it).
    pub session: Option<SessionRef>,
    /// The working directory of a transport that runs tools itself.
    pub cwd: Option<std::path::PathBuf>,
    /// An opaque key that stays the same across the turns of one conversation (the mission
    /// id), for per-conversation state such as a CLI's home directory.
    pub conversation: Option<String>,
    /// What a transport that runs tools itself may let them do.
    pub access: ToolAccess,
    /// The most model calls a transport that loops by itself may make in this turn.
    pub max_turns: Option<u32>,
    /// The mission's sandbox, for a transport that starts processes (the Claude Code CLI);
    /// `None` starts them unconfined.
    pub sandbox: Option<std::sync::Arc<sortie_sandbox::Sandbox>>,
}

/// A CLI session: its id, and whether it exists yet (`--resume`) or is to be started with
/// this id (`--session-id`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionRef {
    pub id: String,
    pub resume: bool,
    /// The session already holds the pending user message (it was sent to it and the run
    /// failed or was cut short): a retry or a resume must not send it again.
    pub holds_pending: bool,
}

/// What tools run by a transport may do, from the mission's permission policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ToolAccess {
    /// Everything, without asking.
    Auto,
    /// Read and search only.
    #[default]
    ReadOnly,
    /// Whatever needs a person's approval is refused (nobody can answer a non-interactive CLI).
    Ask,
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    ToolUse,
    MaxTokens,
    ContentFilter,
    /// Cut short by the user (`sortie send --now`): the content is the partial answer.
    Interrupted,
}

/// Token counts for one turn, normalised across providers: `input_tokens` are the input
/// tokens neither read from nor written to the prompt cache (Anthropic's count; OpenAI's
/// `cached_tokens` are taken out of its prompt count), so the three input counts add up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_tokens: u64,
    #[serde(default)]
    pub cache_write_tokens: u64,
    #[serde(default)]
    pub reasoning_tokens: u64,
}

impl Usage {
    /// Adds another turn's counts to these.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
    }
}

/// Prices in US dollars per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    #[serde(default)]
    pub cache_read: Option<f64>,
    #[serde(default)]
    pub cache_write: Option<f64>,
}

impl Usage {
    /// The whole prompt the provider read: fresh input, cache reads and cache writes.
    pub fn prompt_tokens(&self) -> u64 {
        self.input_tokens + self.cache_read_tokens + self.cache_write_tokens
    }

    /// What these tokens cost at `price`: cache reads at `cache_read`, cache writes at
    /// `cache_write`, each at the input price when the table has none.
    pub fn cost(&self, price: &Price) -> f64 {
        let per = |tokens: u64, usd: f64| tokens as f64 * usd / 1_000_000.0;
        per(self.input_tokens, price.input)
            + per(self.output_tokens, price.output)
            + per(
                self.cache_read_tokens,
                price.cache_read.unwrap_or(price.input),
            )
            + per(
                self.cache_write_tokens,
                price.cache_write.unwrap_or(price.input),
            )
    }
}

/// What a transport streams back during a turn.
#[derive(Debug, Clone, PartialEq)]
pub enum TransportEvent {
    TextDelta(String),
    ThinkingDelta {
        text: String,
        signature: Option<String>,
    },
    /// A redacted (encrypted) thinking block, kept opaque.
    RedactedThinking(String),
    /// Something the transport tolerated but a person may want to know (skipped events ...).
    Warning(String),
    /// A complete tool call: deltas are assembled by the transport.
    ToolCall {
        id: String,
        name: String,
        arguments: String,
    },
    Usage(Usage),
    /// What the provider says the turn cost, in USD (the Claude Code CLI reports it).
    Cost(f64),
    /// The session the turn runs in, as the CLI reported it.
    Session {
        id: String,
    },
    /// A tool the transport ran itself finished; the calls before it form one assistant
    /// message, and the turn goes on.
    ToolResult {
        call_id: String,
        content: String,
        is_error: bool,
        /// The transport's permission mode refused the call.
        denied: bool,
    },
    /// The last event of a successful turn.
    Done(StopReason),
}

/// The stream of one turn. It ends after [`TransportEvent::Done`] or an error.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<TransportEvent, TransportError>> + Send>>;

/// The future a transport returns for a turn: it resolves once the provider has accepted
/// the request (or refused it).
pub type TurnFuture<'a> =
    Pin<Box<dyn std::future::Future<Output = Result<EventStream, TransportError>> + Send + 'a>>;

/// The future of a models listing.
pub type ModelsFuture<'a> = Pin<
    Box<
        dyn std::future::Future<Output = Result<Vec<crate::catalog::ModelInfo>, TransportError>>
            + Send
            + 'a,
    >,
>;

/// One streamed model turn over some provider.
pub trait Transport: Send + Sync {
    /// A short name for events and messages, e.g. `openai-compatible`.
    fn kind(&self) -> &'static str;

    /// True when the transport runs the tools the model calls itself (the Claude Code CLI):
    /// its turns stream [`TransportEvent::ToolResult`]s and the caller runs nothing.
    fn runs_tools(&self) -> bool {
        false
    }

    /// Sends one turn and streams its events.
    fn stream_turn(&self, request: TurnRequest) -> TurnFuture<'_>;

    /// The chat models the provider lists.
    fn list_models(&self) -> ModelsFuture<'_>;
}
