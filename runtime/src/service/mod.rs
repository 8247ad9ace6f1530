//! What Sortie does on a data dir, for every front end: no terminal, no HTTP.

pub mod sandboxing;
