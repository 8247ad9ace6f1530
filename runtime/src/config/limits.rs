//! `[daemon.limits]`: what the daemon holds to under floods. Each bound has a default that
//! suits one person's machine.
//!
//! ```toml
//! [daemon.limits]
//! header_timeout_secs = 10      # a connection must send its request head within this
//! max_connections = 512         # connections served at once; more wait to be accepted
//! max_queued = 5000             # missions waiting for a slot, all together
//! max_queued_per_schedule = 5   # missions one schedule may have waiting
//! max_event_bytes = 1048576     # the most one stored event may hold (text is cut, noted)
//! ```

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonLimits {
    pub header_timeout_secs: u64,
    pub max_connections: usize,
    pub max_queued: usize,
    pub max_queued_per_schedule: usize,
    pub max_event_bytes: usize,
}

impl Default for DaemonLimits {
    fn default() -> Self {
        Self {
            header_timeout_secs: 10,
            max_connections: 512,
            max_queued: 5000,
            max_queued_per_schedule: 5,
            max_event_bytes: 1024 * 1024,
        }
    }
}
