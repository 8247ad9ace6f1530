//! What every [`Update`] shares.

use super::Update;
use crate::MissionId;

impl Update {
    /// The mission the update is about.
    pub fn mission(&self) -> MissionId {
        match self {
            Update::Event { mission, .. }
            | Update::TextDelta { mission, .. }
            | Update::ThinkingDelta { mission, .. }
            | Update::ToolStarted { mission, .. }
            | Update::ToolOutput { mission, .. }
            | Update::ApprovalRequested { mission, .. } => *mission,
        }
    }
}
