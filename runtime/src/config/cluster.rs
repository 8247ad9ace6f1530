//! A daemon's place in a cluster of daemons sharing a PostgreSQL store (`[store] url`):
//! its name and labels (`[daemon] name`, `labels`, `lease_secs`) and the caps that hold
//! across all daemons (`[cluster]`). With the embedded sled store these change nothing.
//!
//! ```toml
//! [daemon]
//! name = "build-box-1"        # unique among the daemons on the store; default: the host name
//! labels = ["gpu", "repo-x"]  # missions started with `--on gpu` run only where it is listed
//! lease_secs = 30             # a mission whose daemon stopped beating is resumed elsewhere after this
//!
//! [cluster]
//! per_provider = { anthropic = 4 }   # missions of a provider running at once, all daemons together
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{ConfigError, DaemonConfig};

/// `[cluster]`: caps across every daemon of a shared store.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Missions of a provider running at once across all daemons, e.g. `{ anthropic = 4 }`.
    pub per_provider: BTreeMap<String, usize>,
}

/// The shortest and longest lease a daemon may hold a mission for without beating.
const LEASE_SECS: std::ops::RangeInclusive<u64> = 5..=3600;

/// Whether `text` may name a daemon or a label: 1-63 of `A-Za-z0-9._-`.
pub fn valid_name(text: &str) -> bool {
    (1..=63).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Checks `[daemon] name`, `labels`, `lease_secs` and `[cluster]`.
pub(super) fn check(
    path: &Path,
    daemon: &DaemonConfig,
    cluster: &ClusterConfig,
) -> Result<(), ConfigError> {
    let bad = |message: String| ConfigError::Parse {
        path: path.to_path_buf(),
        message,
    };
    if let Some(name) = &daemon.name {
        if !valid_name(name) {
            return Err(bad(format!(
                "[daemon] name = {name:?}: a daemon name is 1-63 letters, digits, `.`, `_` or `-`"
            )));
        }
    }
    for label in &daemon.labels {
        if !valid_name(label) {
            return Err(bad(format!(
                "[daemon] labels: {label:?} is not a label (1-63 letters, digits, `.`, `_` or `-`)"
            )));
        }
    }
    if !LEASE_SECS.contains(&daemon.lease_secs) {
        return Err(bad(format!(
            "[daemon] lease_secs = {}: must be {}-{} seconds (a daemon beats every third of it; another resumes its missions once it runs out)",
            daemon.lease_secs,
            LEASE_SECS.start(),
            LEASE_SECS.end()
        )));
    }
    if let Some((provider, _)) = cluster.per_provider.iter().find(|(_, n)| **n == 0) {
        return Err(bad(format!(
            "[cluster] per_provider.{provider} = 0: a cap must be at least 1 (remove it for no cap)"
        )));
    }
    Ok(())
}

/// This daemon's name: `[daemon] name`, else the host name.
pub fn daemon_name(daemon: &DaemonConfig) -> String {
    daemon.name.clone().unwrap_or_else(host_name)
}

/// The machine's host name (`localhost` when it cannot be read).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| valid_name(s))
        .unwrap_or_else(|| "localhost".to_string())
}

/// Checks labels given for a mission (`--on LABEL`).
pub fn check_labels(labels: &[String]) -> Result<(), String> {
    match labels.iter().find(|l| !valid_name(l)) {
        Some(l) => Err(format!(
            "{l:?} is not a label: 1-63 letters, digits, `.`, `_` or `-` (see `[daemon] labels`)"
        )),
        None => Ok(()),
    }
}
