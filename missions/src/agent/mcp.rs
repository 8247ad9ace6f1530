//! A mission's MCP servers: chosen from the config and the mission's `mcp_selected`
//! events, started in its sandbox when a run starts (a server that fails is left out with
//! a warning naming it), their tool lists refreshed between turns, and ended with the run.

use std::collections::BTreeMap;
use std::sync::Arc;

use sortie_mcp::{McpSet, ServerConfig};
use sortie_sandbox::Sandbox;
use sortie_transports::ToolSpec;

use super::{MissionRunner, RunError};
use crate::{MissionEvent, MissionId, StoredEvent};

impl MissionRunner {
    /// The MCP servers of the config (`[mcp_servers.NAME]`), for the missions to choose from.
    pub fn with_mcp_servers(mut self, servers: BTreeMap<String, ServerConfig>) -> Self {
        self.mcp_servers = Arc::new(servers);
        self
    }

    /// Starts the mission's MCP servers; `None` when it uses none (or its transport runs
    /// its own tools).
    pub(super) async fn start_mcp(
        &self,
        id: &MissionId,
        events: &[StoredEvent],
        sandbox: &Sandbox,
    ) -> Result<Option<McpSet>, RunError> {
        if self.mcp_servers.is_empty() || self.transport.runs_tools() {
            return Ok(None);
        }
        let (chosen, unknown) = chosen(&self.mcp_servers, &selection(events));
        for name in unknown {
            self.record(
                id,
                MissionEvent::Warning {
                    message: format!(
                        "MCP server `{name}` was chosen for this mission and is no longer in the config; going on without it"
                    ),
                },
            ).await?;
        }
        if chosen.is_empty() {
            return Ok(None);
        }
        let reserved = self.tools.specs().iter().map(|s| s.name.clone()).collect();
        let (set, warnings) = McpSet::start(chosen, sandbox.clone(), reserved).await;
        for message in warnings {
            self.record(id, MissionEvent::Warning { message }).await?;
        }
        Ok(Some(set))
    }

    /// The tools for the next turn: the built-ins and what the MCP servers offer now,
    /// listed again for a server that said its list changed.
    pub(super) async fn turn_specs(
        &self,
        id: &MissionId,
        mcp: Option<&McpSet>,
        builtin: &Arc<[ToolSpec]>,
    ) -> Result<Arc<[ToolSpec]>, RunError> {
        let Some(set) = mcp else {
            return Ok(builtin.clone());
        };
        for message in set.refresh().await {
            self.record(id, MissionEvent::Warning { message }).await?;
        }
        Ok(crate::tools::mcp::specs(builtin, &set.tools()))
    }
}

/// The mission's choice of servers: the last `mcp_selected` event's, else `None` (every
/// enabled server).
pub fn selection(events: &[StoredEvent]) -> Option<Vec<String>> {
    events.iter().rev().find_map(|e| match &e.event {
        MissionEvent::McpSelected { servers } => Some(servers.clone()),
        _ => None,
    })?
}

/// The servers a selection names (every enabled one for `None`; a named one even when not
/// enabled by default), and the names it gives that the config does not have.
pub fn chosen(
    servers: &BTreeMap<String, ServerConfig>,
    selection: &Option<Vec<String>>,
) -> (Vec<(String, ServerConfig)>, Vec<String>) {
    match selection {
        None => (
            servers
                .iter()
                .filter(|(_, c)| c.enabled)
                .map(|(n, c)| (n.clone(), c.clone()))
                .collect(),
            Vec::new(),
        ),
        Some(names) => {
            let mut out = Vec::new();
            let mut unknown = Vec::new();
            for name in names {
                match servers.get(name) {
                    Some(c) => out.push((name.clone(), c.clone())),
                    None => unknown.push(name.clone()),
                }
            }
            (out, unknown)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(event: MissionEvent) -> StoredEvent {
        StoredEvent {
            seq: 0,
            at: chrono::Utc::now(),
            event,
        }
    }

    #[test]
    fn the_last_selection_wins_and_none_means_every_enabled_server() {
        let mut servers = BTreeMap::new();
        servers.insert("a".to_string(), ServerConfig::default());
        servers.insert(
            "b".to_string(),
            ServerConfig {
                enabled: false,
                ..ServerConfig::default()
            },
        );
        let names = |v: Vec<(String, ServerConfig)>| v.into_iter().map(|p| p.0).collect::<Vec<_>>();
        assert_eq!(selection(&[]), None);
        assert_eq!(names(chosen(&servers, &None).0), ["a"]);
        let events = [
            at(MissionEvent::McpSelected {
                servers: Some(vec![]),
            }),
            at(MissionEvent::McpSelected {
                servers: Some(vec!["b".into(), "gone".into()]),
            }),
        ];
        let (list, unknown) = chosen(&servers, &selection(&events));
        assert_eq!(names(list), ["b"]);
        assert_eq!(unknown, ["gone"]);
    }
}
