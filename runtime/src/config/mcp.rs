//! `[mcp_servers.NAME]`: the MCP servers missions take tools from. Its own module, so that
//! the rest of the config does not change for it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use sortie_missions::mcp::ServerConfig;

use super::ConfigError;

/// `[mcp_servers]` as read, with where each table starts (for errors with a line).
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub(super) struct McpServersFile(BTreeMap<String, toml::Spanned<ServerConfig>>);

impl McpServersFile {
    /// The servers, each checked; an error names the server's line and what to change.
    pub(super) fn check(
        self,
        path: &Path,
        text: &str,
    ) -> Result<BTreeMap<String, ServerConfig>, ConfigError> {
        let mut out = BTreeMap::new();
        for (name, table) in self.0 {
            let span = table.span();
            let config = table.into_inner();
            if let Err(message) = config.validate(&name) {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    line: text[..span.start.min(text.len())].matches('\n').count() + 1,
                    key: format!("mcp_servers.{name}"),
                    message,
                });
            }
            out.insert(name, config);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use std::path::Path;

    #[test]
    fn the_issues_example_parses_and_a_bad_table_names_its_line() {
        let text = r#"
[mcp_servers.tracker]
command = "npx"
args = ["-y", "@acme/tracker-mcp"]
env = { TRACKER_URL = "https://tracker.example" }
env_passthrough = ["TRACKER_TOKEN"]
startup_timeout_secs = 20
tool_timeout_secs = 120
enabled_tools = ["search", "get_issue"]

[mcp_servers.docs]
url = "https://mcp.example.com/mcp"
bearer_token_env = "DOCS_TOKEN"
"#;
        let config = Config::parse(Path::new("config.toml"), text).expect("config");
        let tracker = &config.mcp_servers["tracker"];
        assert_eq!(tracker.command.as_deref(), Some("npx"));
        assert_eq!(tracker.tool_timeout_secs, 120);
        assert!(tracker.allows("search") && !tracker.allows("delete"));
        assert_eq!(config.mcp_servers["docs"].transport(), "http");
        let err = Config::parse(
            Path::new("config.toml"),
            "\n\n[mcp_servers.x]\ncommand = \"a\"\nurl = \"http://h\"\n",
        )
        .expect_err("both")
        .to_string();
        assert!(err.contains("line 3") && err.contains("not both"), "{err}");
        let err = Config::parse(
            Path::new("config.toml"),
            "[mcp_servers.x]\ncomand = \"a\"\n",
        )
        .expect_err("typo")
        .to_string();
        assert!(err.contains("comand"), "{err}");
    }
}
