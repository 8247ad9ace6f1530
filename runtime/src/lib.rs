//! The `sortie` binary's library: CLI, config, rendering and the demo model.

// The daemon's OpenAPI document is one `json!` literal.
#![recursion_limit = "256"]

mod approve;
pub mod auth_cmd;
mod auth_commands;
pub mod auth_rows;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod demo;
mod live;
pub mod loopback;
pub mod models_cmd;
pub mod reattach;
pub mod render;
pub mod revocation;
pub mod run_cmd;
pub mod schedule_cmd;
pub mod service;
mod spinner;
pub mod start_lock;
pub mod tui;

use std::path::PathBuf;

/// The default data dir, `~/.sortie`.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".sortie"))
}
