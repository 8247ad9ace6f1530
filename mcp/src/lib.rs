//! Sortie's MCP client: tools from Model Context Protocol servers, on the official Rust SDK
//! (`rmcp`) behind a small trait of ours ([`Connection`]).
//!
//! A stdio server is a process the mission starts, contained like every tool process (the
//! sandbox's launcher, the clean environment plus the server's own `env`, the process
//! ledger, the parent-death signal); a `url` server is reached over streamable HTTP. The
//! agent loop sees a server's tools as ordinary tools named `mcp__SERVER__TOOL` through an
//! [`McpSet`].

pub mod config;
mod connection;
mod http;
pub mod oauth;
mod remote;
pub mod render;
pub mod schema;
mod set;
pub mod shared;
mod sse;
mod stdio;

pub use config::{OAuthSettings, ServerConfig};
pub use connection::{BoxFuture, Connection, McpError, RemoteTool};
pub use oauth::{Login, TokenSource, NEEDS_LOGIN};
pub use set::{tool_name, CallOutcome, CallStatus, McpSet, McpTool, ServerState, PREFIX};
