//! Before a run goes on: the tool calls a crashed run left without a result.

use std::time::Instant;

use sortie_transports::ContentBlock;

use super::{millis_since, MissionRunner, RunError};
use crate::{Mission, MissionEvent, MissionId, StoredEvent, ToolOutcome};

impl MissionRunner {
    /// Tool calls of the last assistant message that have no stored result: the run before
    /// stopped (a crash, a kill) between storing the call and storing its result. Calls that
    /// only read are run again; the others are reported to the model, never run twice.
    /// Returns the results it recorded.
    pub(super) async fn settle_open_calls(
        &self,
        id: &MissionId,
        mission: &Mission,
        events: &[StoredEvent],
    ) -> Result<Vec<StoredEvent>, RunError> {
        let runs_tools = self.transport.runs_tools();
        let mut settled = Vec::new();
        let Some(at) = events
            .iter()
            .rposition(|e| matches!(e.event, MissionEvent::AssistantMessage { .. }))
        else {
            return Ok(settled);
        };
        let MissionEvent::AssistantMessage { turn, content, .. } = &events[at].event else {
            return Ok(settled);
        };
        let answered: std::collections::HashSet<&str> = events[at + 1..]
            .iter()
            .filter_map(|e| match &e.event {
                MissionEvent::ToolResult { call_id, .. } => Some(call_id.as_str()),
                _ => None,
            })
            .collect();
        let sandbox = self.sandbox_for(mission);
        for block in content {
            let ContentBlock::ToolUse {
                id: call_id,
                name,
                arguments,
            } = block
            else {
                continue;
            };
            if answered.contains(call_id.as_str()) {
                continue;
            }
            let started = Instant::now();
            let (outcome, output) = if !runs_tools && self.tools.is_idempotent(name) {
                let r = self
                    .tools
                    .run(
                        &sandbox,
                        mission.policy,
                        self.approver.as_ref(),
                        name,
                        arguments,
                    )
                    .await;
                (r.outcome, r.output)
            } else {
                (
                    ToolOutcome::Error,
                    format!(
                        "the `{name}` call was interrupted before its result was recorded; it was not run again, since it may have had effects. Check its effects before repeating it."
                    ),
                )
            };
            settled.push(
                self.record(
                    id,
                    MissionEvent::ToolResult {
                        turn: *turn,
                        call_id: call_id.clone(),
                        name: name.clone(),
                        outcome,
                        output,
                        duration_ms: millis_since(started),
                        images: Vec::new(),
                    },
                )
                .await?,
            );
        }
        Ok(settled)
    }
}
