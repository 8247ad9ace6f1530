//! Transports that talk to a provider's HTTP API directly.

pub mod anthropic;
mod auth_headers;
pub mod cache;
pub(crate) mod http;
pub mod openai_chat;
pub mod openai_responses;
pub mod tool_images;
pub mod tool_schema;

pub use anthropic::{AnthropicAuth, AnthropicConfig, AnthropicMessages, AnthropicParser};
pub use cache::{CacheTtl, PromptCache};
pub use http::{parse_recorded, HttpFailure, WireParser};
pub use openai_chat::{OpenAiChat, OpenAiChatConfig};
pub use openai_responses::{OpenAiResponses, ResponsesConfig, ResponsesParser};
