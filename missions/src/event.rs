//! The events of a mission's log. Every step is appended here before it is acted on.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sortie_transports::{ContentBlock, ErrorClass, StopReason, Usage};

use crate::{Mission, MissionSpec, MissionStatus};

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolOutcome {
    Ok,
    Error,
    Denied,
    TimedOut,
}

/// One entry of a mission's event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MissionEvent {
    Created {
        spec: MissionSpec,
    },
    Status {
        status: MissionStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    UserMessage {
        text: String,
    },
    TurnStarted {
        turn: u32,
        model: String,
    },
    /// What the model said in a turn, tool calls included, stored before any call runs.
    AssistantMessage {
        turn: u32,
        content: Vec<ContentBlock>,
        stop_reason: StopReason,
    },
    ToolResult {
        turn: u32,
        call_id: String,
        name: String,
        outcome: ToolOutcome,
        output: String,
        duration_ms: u64,
        /// Images an MCP tool returned (bounded), for the wire formats that take them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        images: Vec<sortie_transports::ImageData>,
    },
    Usage {
        turn: u32,
        usage: Usage,
        /// What the turn cost, when the model has a price in the config.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cost_usd: Option<f64>,
    },
    /// Something tolerated that a person may want to know about.
    Warning {
        message: String,
    },
    /// One recovery step: what failed, what was done, with which credential, and how it went.
    Recovery {
        /// `turn`, `title` or `compression`.
        scope: String,
        class: ErrorClass,
        strategy: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credential: Option<String>,
        outcome: String,
    },
    /// The mission moved to another provider, model or transport (resume, fallback).
    Switched {
        provider: String,
        model: String,
        transport: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_turns: Option<u32>,
        reason: String,
    },
    Title {
        title: String,
    },
    /// The sandbox the mission's tools run in from here on (set on resume).
    SandboxChanged {
        mode: crate::SandboxMode,
    },
    /// The MCP servers the mission uses from here on (`--mcp`, `--no-mcp`): `null` for
    /// every enabled server of the config, else these (an empty list: none). A mission
    /// without this event uses every enabled server.
    McpSelected {
        servers: Option<Vec<String>>,
    },
    /// The CLI session the mission's turns run in. `started: false` is recorded before the
    /// first run with a new id; `true` once the CLI reported the session, so later runs
    /// resume it.
    Session {
        id: String,
        started: bool,
    },
    /// The conversation from here on, after compression.
    HistoryReplaced {
        messages: Vec<sortie_transports::Message>,
        reason: String,
    },
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        class: Option<ErrorClass>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        message: String,
    },
    /// Project instructions: with `enabled: false`, the mission gets none (`--no-instructions`);
    /// else the files a run put in the system prompt, outermost first, and whether the text
    /// was cut at its cap.
    Instructions {
        enabled: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        cut: bool,
    },
    /// The mission's budget from here on (at its start, and on a resume that changes it).
    BudgetSet {
        budget: crate::budget::Budget,
    },
    /// The mission stopped before a model call that would pass `budget` (in its unit:
    /// US dollars, tokens or seconds): its limit, what was spent, what the call would
    /// add, and by how much it would pass it. The status `budget_reached` follows.
    BudgetReached {
        budget: crate::budget::BudgetKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider: Option<String>,
        limit: f64,
        spent: f64,
        next: f64,
        over_by: f64,
        message: String,
    },
    /// What an auxiliary call (a title, a compression) used and cost; it counts against
    /// the budgets like a turn.
    AuxiliaryUsage {
        /// `title` or `compression`.
        scope: String,
        model: String,
        usage: Usage,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cost_usd: Option<f64>,
    },
    /// Whether the mission sends notices (`--notify`, `--no-notify`) from here on.
    NotifySet {
        enabled: bool,
    },
    /// One try at delivering a notice (`[notify]`): its kind, where it went, how it went.
    Notice {
        kind: String,
        /// `webhook` or `command`.
        channel: String,
        attempt: u32,
        delivered: bool,
        outcome: String,
    },
    /// The mission works in a git worktree of its own (`--worktree`).
    Worktree {
        worktree: crate::MissionWorktree,
    },
    /// A message sent to the mission while it ran (`sortie send`), waiting for its next
    /// turn boundary; the `user_message` recorded when the run takes it delivers it.
    /// `now`: the sender asked to cut the current answer short (`--now`).
    MessageQueued {
        text: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        now: bool,
    },
    /// This mission is a fork of `parent`: its history is the parent's up to its event
    /// `parent_seq`.
    Forked {
        parent: crate::MissionId,
        parent_seq: u64,
    },
    /// A log entry that could not be decoded. Made only when reading, never stored.
    Unreadable {
        error: String,
    },
}

impl MissionEvent {
    /// Applies this event to the mission's summary record; `mission.updated_at` is the
    /// event's time.
    pub(crate) fn apply(&self, mission: &mut Mission) {
        match self {
            MissionEvent::BudgetSet { budget } => mission.budget = *budget,
            MissionEvent::AuxiliaryUsage {
                usage, cost_usd, ..
            } => spent(mission, usage, *cost_usd),
            MissionEvent::Status { status, reason } => {
                mission.status = *status;
                // A budget stop says why, as a failure does.
                if matches!(status, MissionStatus::Failed | MissionStatus::BudgetReached) {
                    mission.error = reason.clone();
                } else if *status == MissionStatus::Running {
                    mission.error = None;
                }
            }
            MissionEvent::TurnStarted { turn, model } => {
                mission.turns = *turn;
                mission.model = model.clone();
            }
            MissionEvent::Usage {
                usage, cost_usd, ..
            } => spent(mission, usage, *cost_usd),
            MissionEvent::Switched {
                provider,
                model,
                transport,
                max_turns,
                ..
            } => {
                mission.provider = provider.clone();
                mission.model = model.clone();
                // A CLI session holds nothing of turns run elsewhere: the next CLI run
                // starts fresh with the whole conversation.
                if *transport != mission.transport {
                    mission.session = None;
                }
                mission.transport = transport.clone();
                if let Some(n) = max_turns {
                    mission.max_turns = *n;
                }
            }
            MissionEvent::Title { title } => mission.title = Some(title.clone()),
            MissionEvent::SandboxChanged { mode } => mission.sandbox = Some(*mode),
            MissionEvent::Session { id, started } => {
                mission.session = Some(crate::CliSession {
                    id: id.clone(),
                    started: *started,
                })
            }
            MissionEvent::Instructions { enabled, .. } => mission.no_instructions |= !enabled,
            MissionEvent::NotifySet { enabled } => mission.notify = Some(*enabled),
            MissionEvent::Worktree { worktree } => mission.worktree = Some(worktree.clone()),
            MissionEvent::Notice { .. } => {}
            MissionEvent::Forked { parent, .. } => mission.parent_id = Some(*parent),
            MissionEvent::Created { .. }
            | MissionEvent::McpSelected { .. }
            | MissionEvent::Recovery { .. }
            | MissionEvent::HistoryReplaced { .. }
            | MissionEvent::UserMessage { .. }
            | MissionEvent::AssistantMessage { .. }
            | MissionEvent::ToolResult { .. }
            | MissionEvent::Error { .. }
            | MissionEvent::Warning { .. }
            | MissionEvent::BudgetReached { .. }
            | MissionEvent::MessageQueued { .. }
            | MissionEvent::Unreadable { .. } => {}
        }
    }
}

/// Adds a call's usage and cost to the record's sums and to its day's spend.
fn spent(mission: &mut Mission, usage: &Usage, cost_usd: Option<f64>) {
    mission.usage.add(usage);
    if let Some(cost) = cost_usd {
        *mission.cost_usd.get_or_insert(0.0) += cost;
    }
    let day = mission.updated_at.date_naive();
    let provider = mission.provider.clone();
    crate::budget::add_spend(
        &mut mission.spend,
        day,
        &provider,
        cost_usd.unwrap_or(0.0),
        usage.prompt_tokens() + usage.output_tokens,
    );
}

/// An event with its place in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub seq: u64,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub event: MissionEvent,
}
