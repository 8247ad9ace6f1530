//! Schedules on the wire: the body of `POST /schedules`, and a schedule as the API shows it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sortie_missions::scheduler::{Missed, Overlap, Schedule};
use sortie_missions::PermissionPolicy;

/// A new schedule: the flags of `sortie schedule add`, and the body of `POST /schedules`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    pub prompt: String,
    /// Absolute working directory of the missions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// The cron expression's time zone (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<PermissionPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<sortie_missions::SandboxMode>,
    /// No project instructions (`AGENTS.md` ...) in the system prompt.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_instructions: bool,
    /// The MCP servers of its missions (`[]`: none); default: every enabled one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed: Option<Missed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<Overlap>,
    /// Random delay of each run, at most this long (`90s`, `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<String>,
    /// Most US dollars each mission may spend, at `[prices]`; default: `[budget] max_cost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost: Option<f64>,
    /// Most tokens each may use (prompts and answers); default: `[budget] max_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Longest each may run (`90s`, `30m`, `2h`); default: `[budget] max_duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<String>,
    /// Notices for its missions and skipped runs on or off; default: `[notify] missions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<bool>,
    /// Each mission works in a git worktree of its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub worktree: bool,
    /// Its missions run only on a daemon with these labels (`--on LABEL`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// A schedule as JSON, with the words a person reads.
pub fn schedule_json(s: &Schedule) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    v["when"] = json!(s.timing.describe());
    // The sandbox of its missions (null: added before sandboxes; the config's mode applies).
    v["sandbox"] = json!(s.mission.sandbox);
    v
}
