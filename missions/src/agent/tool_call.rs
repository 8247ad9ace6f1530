//! One tool call of the turn loop, with what it writes passed on live.

use super::{MissionRunner, Update};
use crate::tools::{Call, PermissionPolicy, ToolResult};
use crate::MissionId;

/// Where a mission's tool calls run: its sandbox, and its MCP servers (if any).
pub(super) struct Where<'a> {
    pub sandbox: &'a sortie_sandbox::Sandbox,
    pub mcp: Option<&'a sortie_mcp::McpSet>,
}

impl MissionRunner {
    /// Runs a tool call the model made; what a command writes reaches the observer as
    /// [`Update::ToolOutput`] while it runs. A tool from an MCP server goes to its server.
    pub(super) async fn run_tool(
        &self,
        id: &MissionId,
        place: Where<'_>,
        policy: PermissionPolicy,
        call_id: &str,
        name: &str,
        arguments: &str,
    ) -> ToolResult {
        if crate::tools::mcp::is_mcp(name) {
            let approver = self.approver.as_ref();
            return crate::tools::mcp::run(place.mcp, policy, approver, name, arguments).await;
        }
        let call = Call {
            sandbox: place.sandbox,
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
