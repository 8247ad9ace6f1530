//! A mission's choice of MCP servers, checked against `[mcp_servers]`.

use anyhow::bail;

use crate::config::Config;

/// Checks that a choice of servers names configured ones.
pub fn check_selection(config: &Config, selection: &Option<Vec<String>>) -> anyhow::Result<()> {
    for name in selection.iter().flatten() {
        if !config.mcp_servers.contains_key(name) {
            let known: Vec<&str> = config.mcp_servers.keys().map(String::as_str).collect();
            bail!(
                "no MCP server named `{name}` in {}; configured: {}",
                config.path.display(),
                if known.is_empty() {
                    "none (add an [mcp_servers.NAME] table)".to_string()
                } else {
                    known.join(", ")
                }
            );
        }
    }
    Ok(())
}
