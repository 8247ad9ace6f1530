//! A transport that runs its own tools (the Claude Code CLI) streams what the model says
//! between its tool calls. Each piece is stored as it is complete: at a tool call, so a
//! crash before the tool's result still leaves the call on record (as the direct
//! transports store their calls before running them), and at a tool result, for the text
//! that came after the call.

use sortie_transports::{Message, Role, StopReason, TurnAssembler};

use super::{MissionRunner, RunError};
use crate::{MissionEvent, MissionId};

impl MissionRunner {
    /// Stores what the model said since the last piece (warnings first) and adds it to
    /// the history.
    pub(super) async fn record_segment(
        &self,
        id: &MissionId,
        turn: u32,
        assembler: &mut TurnAssembler,
        history: &mut Vec<Message>,
    ) -> Result<(), RunError> {
        for message in assembler.take_warnings() {
            self.record(id, MissionEvent::Warning { message }).await?;
        }
        let said = assembler.take_segment();
        if !said.is_empty() {
            self.record(
                id,
                MissionEvent::AssistantMessage {
                    turn,
                    content: said.clone(),
                    stop_reason: StopReason::ToolUse,
                },
            )
            .await?;
            history.push(Message {
                role: Role::Assistant,
                content: said,
            });
        }
        Ok(())
    }
}
