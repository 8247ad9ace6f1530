//! Transports that talk to a provider's HTTP API directly.

mod http;
pub mod openai_chat;

pub use http::HttpFailure;
pub use openai_chat::{OpenAiChat, OpenAiChatConfig};
