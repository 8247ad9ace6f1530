//! Sortie's transports: one streamed model turn over a provider, and the one place that
//! turns a provider failure into an [`ErrorClass`].
//!
//! A transport knows nothing of missions: it takes a [`TurnRequest`] and yields a stream
//! of [`TransportEvent`]s, or a classified [`TransportError`].

pub mod auth;
pub mod catalog;
pub mod classify;
pub mod claude_code;
pub mod direct;
mod error;
pub mod held_secrets;
#[cfg(unix)]
pub mod process;
mod secret;
pub mod sse;
pub mod text;
mod turn;
mod types;

pub use catalog::ModelInfo;
pub use classify::{classify, ErrorClass};
pub use error::{CredentialTag, TransportError};
pub use secret::Secret;
pub use turn::{complete, Completion, TurnAssembler};
pub use types::{
    text_of, ContentBlock, EventStream, ImageData, Message, ModelsFuture, Price, Role, SessionRef,
    StopReason, ToolAccess, ToolSpec, Transport, TransportEvent, TurnFuture, TurnRequest, Usage,
};
