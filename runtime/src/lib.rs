//! The `sortie` binary's library. Its layout, and the one direction its imports go, are in
//! the README ("Where things are"); `tests/layering.rs` keeps them.

// The daemon's OpenAPI document is one `json!` literal.
#![recursion_limit = "256"]

pub mod api;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod handle;
pub mod loopback;
pub mod service;
pub mod text;
pub mod tui;

use std::path::PathBuf;

/// The default data dir, `~/.sortie`.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".sortie"))
}
