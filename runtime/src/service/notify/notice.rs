//! A notice: what happened (its kind), to which mission or schedule, as the JSON that a
//! webhook receives and a command reads on stdin.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sortie_missions::{Mission, MissionEvent, MissionStatus};

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A mission completed.
    Completed,
    /// A mission failed.
    Failed,
    /// A mission was cancelled.
    Cancelled,
    /// A mission waits for a login (`sortie auth reconnect`).
    NeedsReauth,
    /// A tool call of an `ask` mission waits for a person's yes or no.
    ApprovalWaiting,
    /// A mission stopped at its budget (its `budget_reached` status: see [`kind_of`]).
    BudgetReached,
    /// A schedule skipped a run.
    ScheduleSkipped,
}

impl NoticeKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::NeedsReauth => "needs_reauth",
            Self::ApprovalWaiting => "approval_waiting",
            Self::BudgetReached => "budget_reached",
            Self::ScheduleSkipped => "schedule_skipped",
        }
    }
}

/// The notice a mission event calls for, with the words that go with it: the end of a
/// mission (completed, failed, cancelled), a wait for a login, and a stop at a budget
/// (its reason says which budget and how to go on). The one place that maps events to
/// notices.
pub fn kind_of(event: &MissionEvent) -> Option<(NoticeKind, String)> {
    let MissionEvent::Status { status, reason } = event else {
        return None;
    };
    let kind = match status {
        MissionStatus::Completed => NoticeKind::Completed,
        MissionStatus::Failed => NoticeKind::Failed,
        MissionStatus::Cancelled => NoticeKind::Cancelled,
        MissionStatus::NeedsReauth => NoticeKind::NeedsReauth,
        MissionStatus::BudgetReached => NoticeKind::BudgetReached,
        _ => return None,
    };
    let message = match reason {
        Some(r) => format!("mission {}: {r}", status.as_str()),
        None => format!("mission {}", status.as_str()),
    };
    Some((kind, message))
}

/// The mission a notice is about, as a person reads it.
#[derive(Debug, Clone, Serialize)]
pub struct MissionBrief {
    pub id: String,
    pub title: Option<String>,
    pub prompt: String,
    pub status: MissionStatus,
    pub provider: String,
    pub model: String,
    pub cwd: std::path::PathBuf,
    pub turns: u32,
    pub cost_usd: Option<f64>,
    pub error: Option<String>,
    /// The branch of its worktree (`--worktree`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

impl From<&Mission> for MissionBrief {
    fn from(m: &Mission) -> Self {
        Self {
            id: m.id.to_string(),
            title: m.title.clone(),
            prompt: sortie_transports::text::head(&m.prompt, 500).to_string(),
            status: m.status,
            provider: m.provider.clone(),
            model: m.model.clone(),
            cwd: m.cwd.clone(),
            turns: m.turns,
            cost_usd: m.cost_usd,
            error: m.error.clone(),
            branch: m.worktree.as_ref().map(|w| w.branch.clone()),
        }
    }
}

/// The schedule a notice is about.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleBrief {
    pub id: String,
    pub name: Option<String>,
    pub scheduled_for: DateTime<Utc>,
}

/// One notice, as sent.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    /// The same on every try of this notice: a receiver drops what it has seen.
    pub id: String,
    pub kind: NoticeKind,
    pub at: DateTime<Utc>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mission: Option<MissionBrief>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleBrief>,
}

impl Notice {
    pub fn new(kind: NoticeKind, message: String) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            kind,
            at: Utc::now(),
            message,
            mission: None,
            schedule: None,
        }
    }

    pub fn body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: MissionStatus) -> MissionEvent {
        MissionEvent::Status {
            status,
            reason: Some("why".into()),
        }
    }

    #[test]
    fn a_budget_stop_calls_for_a_budget_reached_notice() {
        let (kind, message) =
            kind_of(&status(MissionStatus::BudgetReached)).expect("a budget stop is told");
        assert_eq!(kind, NoticeKind::BudgetReached);
        assert_eq!(message, "mission budget_reached: why");
    }

    #[test]
    fn a_mission_that_goes_on_calls_for_no_notice() {
        for s in [
            MissionStatus::Running,
            MissionStatus::Paused,
            MissionStatus::Interrupted,
        ] {
            assert!(kind_of(&status(s)).is_none(), "{s:?}");
        }
    }
}
