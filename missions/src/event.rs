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
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        class: Option<ErrorClass>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        message: String,
    },
    /// A log entry that could not be decoded. Made only when reading, never stored.
    Unreadable {
        error: String,
    },
}

impl MissionEvent {
    /// Applies this event to the mission's summary record.
    pub(crate) fn apply(&self, mission: &mut Mission) {
        match self {
            MissionEvent::Status { status, reason } => {
                mission.status = *status;
                if *status == MissionStatus::Failed {
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
            } => {
                mission.usage.add(usage);
                if let Some(cost) = cost_usd {
                    *mission.cost_usd.get_or_insert(0.0) += cost;
                }
            }
            MissionEvent::Created { .. }
            | MissionEvent::UserMessage { .. }
            | MissionEvent::AssistantMessage { .. }
            | MissionEvent::ToolResult { .. }
            | MissionEvent::Error { .. }
            | MissionEvent::Warning { .. }
            | MissionEvent::Unreadable { .. } => {}
        }
    }
}

/// An event with its place in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub seq: u64,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub event: MissionEvent,
}
