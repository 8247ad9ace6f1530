//! Tools from MCP servers (`mcp__SERVER__TOOL`) under the mission's permission policy: a
//! tool its server marks `readOnlyHint` runs as a reading built-in does; any other is
//! denied under `read-only` and asked for under `ask`, as the built-ins that change things.

use std::sync::Arc;

use sortie_mcp::{CallStatus, McpSet, McpTool};
use sortie_transports::ToolSpec;

use super::{cap, Approver, PermissionPolicy, ToolResult};
use crate::ToolOutcome;

/// Longest tool description sent to the model.
const MAX_DESCRIPTION: usize = 2000;

/// True for the name of a tool from an MCP server.
pub fn is_mcp(name: &str) -> bool {
    name.starts_with(sortie_mcp::PREFIX)
}

/// The specs for a turn: the built-in tools, then the MCP tools on offer.
pub fn specs(builtin: &Arc<[ToolSpec]>, tools: &[McpTool]) -> Arc<[ToolSpec]> {
    if tools.is_empty() {
        return builtin.clone();
    }
    let mut all: Vec<ToolSpec> = builtin.to_vec();
    all.extend(tools.iter().map(|t| {
        let mut description = format!("(from MCP server `{}`) {}", t.server, t.description);
        let kept = sortie_transports::text::head(&description, MAX_DESCRIPTION).len();
        description.truncate(kept);
        ToolSpec {
            name: t.name.clone(),
            description,
            parameters: t.parameters.clone(),
        }
    }));
    all.into()
}

/// Runs MCP tool `name` under `policy`. Never fails: errors become the result text.
pub async fn run(
    set: Option<&McpSet>,
    policy: PermissionPolicy,
    approver: &dyn Approver,
    name: &str,
    arguments: &str,
) -> ToolResult {
    let Some((set, tool)) = set.and_then(|s| s.tool(name).map(|t| (s, t))) else {
        return ToolResult::error(format!(
            "unknown tool `{name}`: no MCP server of this mission offers it (now)"
        ));
    };
    if !tool.read_only {
        let allowed = match policy {
            PermissionPolicy::Auto => true,
            PermissionPolicy::ReadOnly => false,
            PermissionPolicy::Ask => approver.approve(&summary(name, arguments)).await,
        };
        if !allowed {
            return ToolResult {
                outcome: ToolOutcome::Denied,
                output: format!(
                    "permission denied: `{name}` (MCP server `{}`) is not marked read-only by its server, and the mission's `{}` permission policy does not allow it. Do not retry it; continue without it or explain what you would have done.",
                    tool.server,
                    policy.as_str()
                ),
                images: Vec::new(),
            };
        }
    }
    let outcome = set.call(name, arguments).await;
    ToolResult {
        outcome: match outcome.status {
            CallStatus::Ok => ToolOutcome::Ok,
            CallStatus::Error => ToolOutcome::Error,
            CallStatus::TimedOut => ToolOutcome::TimedOut,
        },
        output: cap(outcome.text),
        images: outcome.images,
    }
}

/// One line for an approval prompt: the tool and its arguments, control characters blanked.
fn summary(name: &str, arguments: &str) -> String {
    let mut line: String = format!("{name}: {arguments}")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.len() > 160 {
        let kept = sortie_transports::text::head(&line, 157).len();
        line.truncate(kept);
        line.push_str("...");
    }
    line
}
