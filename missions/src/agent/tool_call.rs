//! One tool call of the turn loop, with what it writes passed on live.

use super::{MissionRunner, Update};
use crate::tools::{Call, PermissionPolicy, ToolResult};
use crate::MissionId;

impl MissionRunner {
    /// Runs a tool call the model made; what a command writes reaches the observer as
    /// [`Update::ToolOutput`] while it runs.
    pub(super) async fn run_tool(
        &self,
        id: &MissionId,
        sandbox: &sortie_sandbox::Sandbox,
        policy: PermissionPolicy,
        call_id: &str,
        name: &str,
        arguments: &str,
    ) -> ToolResult {
        let call = Call {
            sandbox,
            policy,
            approver: self.approver.as_ref(),
            name,
            arguments,
        };
        let live = |stream: &str, text: &str| {
            self.notify(Update::ToolOutput {
                mission: *id,
                call_id: call_id.to_string(),
                stream: stream.to_string(),
                text: text.to_string(),
            })
        };
        self.tools.run_live(call, &live).await
    }
}
