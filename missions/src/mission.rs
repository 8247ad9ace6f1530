//! A mission: what was asked, where, on which model, and where it stands.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sortie_transports::Usage;
use uuid::Uuid;

pub use sortie_sandbox::SandboxMode;

use crate::tools::PermissionPolicy;

/// A mission id: a UUID v7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MissionId(pub Uuid);

impl MissionId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl Default for MissionId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for MissionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for MissionId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// Where a mission stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissionStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Interrupted,
    NeedsReauth,
    Cancelled,
    /// Stopped by a person, to be resumed later.
    Paused,
    /// Stopped before a model call that would pass one of its budgets (a `budget_reached`
    /// event says which); `resume` with a larger budget continues it.
    BudgetReached,
}

impl MissionStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            MissionStatus::Queued => "queued",
            MissionStatus::Running => "running",
            MissionStatus::Completed => "completed",
            MissionStatus::Failed => "failed",
            MissionStatus::Interrupted => "interrupted",
            MissionStatus::NeedsReauth => "needs_reauth",
            MissionStatus::Cancelled => "cancelled",
            MissionStatus::Paused => "paused",
            MissionStatus::BudgetReached => "budget_reached",
        }
    }

    /// True once the mission will not run again without being resumed.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            MissionStatus::Completed | MissionStatus::Failed | MissionStatus::Cancelled
        )
    }
}

impl fmt::Display for MissionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a new mission is asked to do, and with what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissionSpec {
    pub prompt: String,
    pub provider: String,
    pub model: String,
    pub transport: String,
    pub cwd: PathBuf,
    pub policy: PermissionPolicy,
    pub max_turns: u32,
    /// The sandbox its tools run in; `None`: the config's `[sandbox] mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxMode>,
    /// The labels a daemon must have to run it (`--on LABEL`); empty: any daemon.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

#[cfg(test)]
impl MissionSpec {
    /// A spec for this crate's own tests: `prompt` to the local provider, one turn, `auto`.
    pub(crate) fn for_tests(prompt: &str) -> Self {
        Self {
            prompt: prompt.into(),
            provider: "local".into(),
            model: "m".into(),
            transport: "openai-compatible".into(),
            cwd: "/".into(),
            policy: crate::PermissionPolicy::Auto,
            max_turns: 1,
            sandbox: None,
            labels: Vec::new(),
        }
    }
}

/// A mission's record: a summary kept up to date from its event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mission {
    pub id: MissionId,
    pub title: Option<String>,
    pub prompt: String,
    pub status: MissionStatus,
    pub provider: String,
    pub model: String,
    pub transport: String,
    pub cwd: PathBuf,
    pub policy: PermissionPolicy,
    pub max_turns: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub turns: u32,
    pub usage: Usage,
    /// The summed cost of the turns whose model has a price in the config.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// The last error, when the mission failed (or why it stopped at a budget).
    pub error: Option<String>,
    /// How many events the log holds; the next event gets this sequence number.
    pub event_count: u64,
    /// The CLI session of a mission on the Claude Code transport.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<CliSession>,
    /// The sandbox its tools run in (`null` for missions from before sandboxes: the
    /// config's mode applies).
    #[serde(default)]
    pub sandbox: Option<SandboxMode>,
    /// The mission gets no project instructions (`--no-instructions`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_instructions: bool,
    /// Its limits (`--max-cost`, `--max-tokens`, `--max-duration`); empty: none.
    #[serde(default, skip_serializing_if = "crate::budget::Budget::is_empty")]
    pub budget: crate::budget::Budget,
    /// What it spent, per day (UTC) and provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spend: Vec<crate::budget::DaySpend>,
    /// Notices on or off for this mission (`--notify`, `--no-notify`); `None`: `[notify]`
    /// decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<bool>,
    /// The git worktree the mission works in (`--worktree`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<MissionWorktree>,
    /// The mission this one was forked from (`sortie fork`).
    #[serde(default)]
    pub parent_id: Option<MissionId>,
    /// The labels a daemon must have to run it (`--on LABEL`); empty: any daemon.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// With a shared store, the daemon it runs on now: filled in by the daemon's API from
    /// the mission's lease, never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon: Option<String>,
}

/// A mission's own git worktree: where it is, the repository and branch it belongs to, and
/// the commit it started from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissionWorktree {
    pub path: PathBuf,
    /// The top of the repository whose checkout `--cwd` was in.
    pub repo: PathBuf,
    pub branch: String,
    /// The commit (HEAD when the mission started) the branch starts from.
    pub base: String,
}

/// A mission's CLI session: its id, and whether the CLI has started it yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliSession {
    pub id: String,
    pub started: bool,
}

impl Mission {
    pub(crate) fn new(id: MissionId, spec: MissionSpec, now: DateTime<Utc>) -> Self {
        Self {
            id,
            title: None,
            prompt: spec.prompt,
            status: MissionStatus::Queued,
            provider: spec.provider,
            model: spec.model,
            transport: spec.transport,
            cwd: spec.cwd,
            policy: spec.policy,
            max_turns: spec.max_turns,
            created_at: now,
            updated_at: now,
            turns: 0,
            usage: Usage::default(),
            cost_usd: None,
            error: None,
            event_count: 0,
            session: None,
            sandbox: spec.sandbox,
            no_instructions: false,
            budget: Default::default(),
            spend: Vec::new(),
            notify: None,
            worktree: None,
            parent_id: None,
            labels: spec.labels,
            daemon: None,
        }
    }
}
