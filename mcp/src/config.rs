//! `[mcp_servers.NAME]` in config.toml: one MCP server, started over stdio (`command`) or
//! reached over streamable HTTP (`url`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Default of `startup_timeout_secs`: how long a server has to start and answer `initialize`.
pub const DEFAULT_STARTUP_TIMEOUT_SECS: u64 = 10;
/// Default of `tool_timeout_secs`: how long one tool call may take.
pub const DEFAULT_TOOL_TIMEOUT_SECS: u64 = 60;
/// Upper bound of both timeouts.
const MAX_TIMEOUT_SECS: u64 = 3600;

/// One `[mcp_servers.NAME]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// The program of a stdio server.
    pub command: Option<String>,
    pub args: Vec<String>,
    /// Set in the server's environment (beside the clean allow-list).
    pub env: BTreeMap<String, String>,
    /// Copied from Sortie's environment into the server's when present.
    pub env_passthrough: Vec<String>,
    /// The endpoint of a streamable HTTP server.
    pub url: Option<String>,
    /// The variable that holds the bearer token sent to `url`.
    pub bearer_token_env: Option<String>,
    pub startup_timeout_secs: u64,
    pub tool_timeout_secs: u64,
    /// Only these tools (by the server's names); absent: all.
    pub enabled_tools: Option<Vec<String>>,
    /// Never these tools.
    pub disabled_tools: Vec<String>,
    /// False: configured but used by no mission.
    pub enabled: bool,
    /// `[mcp_servers.NAME.oauth]`: how `sortie auth login mcp:NAME` logs in.
    pub oauth: Option<OAuthSettings>,
    /// The tokens of the server's login, attached by the runtime (never in config.toml).
    #[serde(skip)]
    pub login: Option<crate::oauth::Login>,
    /// How a `url` server is reached; absent: streamable HTTP, falling back to HTTP+SSE
    /// when the server refuses it with 404/405.
    pub transport: Option<Transport>,
    /// A stdio server the daemon starts once and shares between its missions.
    pub shared: bool,
}

/// `[mcp_servers.NAME.oauth]`: what discovery cannot give. Everything else (the
/// authorization server, its endpoints, a client id where it offers dynamic registration)
/// is discovered from the server's protected-resource metadata.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthSettings {
    /// The client id to log in with where the authorization server does not register
    /// clients dynamically.
    pub client_id: Option<String>,
    /// The variable that holds that client's secret, if it has one.
    pub client_secret_env: Option<String>,
    /// The scopes to ask for; default: the server's `scopes_supported`.
    pub scopes: Vec<String>,
}

/// `transport = "..."` of a `url` server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// Streamable HTTP only.
    StreamableHttp,
    /// The older HTTP+SSE transport (MCP 2024-11-05): `url` is the SSE endpoint.
    Sse,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            command: None,
            args: Vec::new(),
            env: BTreeMap::new(),
            env_passthrough: Vec::new(),
            url: None,
            bearer_token_env: None,
            startup_timeout_secs: DEFAULT_STARTUP_TIMEOUT_SECS,
            tool_timeout_secs: DEFAULT_TOOL_TIMEOUT_SECS,
            enabled_tools: None,
            disabled_tools: Vec::new(),
            enabled: true,
            oauth: None,
            login: None,
            transport: None,
            shared: false,
        }
    }
}

impl ServerConfig {
    /// `stdio`, `http` or `sse`.
    pub fn transport(&self) -> &'static str {
        match (&self.url, self.transport) {
            (None, _) => "stdio",
            (Some(_), Some(Transport::Sse)) => "sse",
            (Some(_), _) => "http",
        }
    }

    /// True for a `url` server without `bearer_token_env`: it may want an OAuth login
    /// (`sortie auth login mcp:NAME`), whose tokens the runtime attaches as `login`.
    pub fn may_log_in(&self) -> bool {
        self.url.is_some() && self.bearer_token_env.is_none()
    }

    /// True when the server's tool `tool` may be offered.
    pub fn allows(&self, tool: &str) -> bool {
        self.enabled_tools
            .as_ref()
            .is_none_or(|list| list.iter().any(|t| t == tool))
            && !self.disabled_tools.iter().any(|t| t == tool)
    }

    /// Checks the table of server `name`; the error says what to change.
    pub fn validate(&self, name: &str) -> Result<(), String> {
        check_name(name)?;
        let at = format!("[mcp_servers.{name}]");
        match (&self.command, &self.url) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{at}: set `command` (a stdio server) or `url` (a streamable HTTP server), not both"
                ))
            }
            (None, None) => {
                return Err(format!(
                    "{at}: set `command` (a stdio server) or `url` (a streamable HTTP server)"
                ))
            }
            (Some(c), None) if c.trim().is_empty() => {
                return Err(format!("{at}: `command` is empty"))
            }
            (Some(_), None) => {
                if self.bearer_token_env.is_some() {
                    return Err(format!(
                        "{at}: `bearer_token_env` applies to `url` servers; give a stdio server its token with `env` or `env_passthrough`"
                    ));
                }
                if self.oauth.is_some() {
                    return Err(format!(
                        "{at}: `[mcp_servers.{name}.oauth]` applies to `url` servers; a stdio server takes its credentials from `env`"
                    ));
                }
                if self.transport.is_some() {
                    return Err(format!(
                        "{at}: `transport` applies to `url` servers (\"sse\" or \"streamable-http\"); a `command` server speaks stdio"
                    ));
                }
            }
            (None, Some(url)) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(format!(
                        "{at}: `url` must start with http:// or https:// (got `{url}`)"
                    ));
                }
                if self.oauth.is_some() && self.bearer_token_env.is_some() {
                    return Err(format!(
                        "{at}: set `bearer_token_env` (a fixed token) or `[mcp_servers.{name}.oauth]` (`sortie auth login mcp:{name}`), not both"
                    ));
                }
                if let Some(var) = self.oauth.as_ref().and_then(|o| o.client_secret_env.as_ref()) {
                    if var.is_empty() || var.contains('=') || var.contains('\0') {
                        return Err(format!("{at}: oauth `client_secret_env` = `{var}` is not a valid variable name"));
                    }
                }
                if !self.args.is_empty() || !self.env.is_empty() || !self.env_passthrough.is_empty()
                {
                    return Err(format!(
                        "{at}: `args`, `env` and `env_passthrough` apply to `command` servers, not `url` ones"
                    ));
                }
                if self.shared {
                    return Err(format!(
                        "{at}: `shared` applies to `command` servers (one process for the daemon's missions); a `url` server is already one server"
                    ));
                }
            }
        }
        for (key, value) in [
            ("startup_timeout_secs", self.startup_timeout_secs),
            ("tool_timeout_secs", self.tool_timeout_secs),
        ] {
            if value == 0 || value > MAX_TIMEOUT_SECS {
                return Err(format!(
                    "{at}: `{key}` must be between 1 and {MAX_TIMEOUT_SECS} (got {value})"
                ));
            }
        }
        for var in self.env.keys().chain(&self.env_passthrough) {
            if var.is_empty() || var.contains('=') || var.contains('\0') {
                return Err(format!("{at}: `{var}` is not a valid variable name"));
            }
        }
        Ok(())
    }
}

/// A server name: letters, digits, `-` and `_`, without `__` (which separates the parts of
/// `mcp__SERVER__TOOL`).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !name.contains("__")
        && !name.starts_with('_')
        && !name.ends_with('_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "[mcp_servers.{name}]: a server name is 1-40 letters, digits, `-` or `_`, with no `__` and no `_` at either end (tools are named mcp__SERVER__TOOL)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ServerConfig {
        serde_json::from_value(serde_json::from_str::<serde_json::Value>(text).expect("json"))
            .expect("config")
    }

    #[test]
    fn a_stdio_or_an_http_server_each_validates_and_the_mix_is_refused() {
        let stdio = parse(r#"{"command":"npx","args":["-y","x"],"env":{"A":"1"}}"#);
        assert_eq!(stdio.validate("tracker"), Ok(()));
        assert_eq!(stdio.transport(), "stdio");
        let http = parse(r#"{"url":"https://mcp.example.com/mcp","bearer_token_env":"T"}"#);
        assert_eq!(http.validate("docs"), Ok(()));
        let both = parse(r#"{"command":"x","url":"http://h/mcp"}"#);
        assert!(both.validate("x").expect_err("both").contains("not both"));
        let none = parse("{}");
        assert!(none
            .validate("x")
            .expect_err("none")
            .contains("set `command`"));
        let bad_url = parse(r#"{"url":"ftp://h"}"#);
        assert!(bad_url.validate("x").expect_err("url").contains("http://"));
        let zero = parse(r#"{"command":"x","tool_timeout_secs":0}"#);
        assert!(zero
            .validate("x")
            .expect_err("0")
            .contains("tool_timeout_secs"));
    }

    #[test]
    fn transport_is_for_url_servers_and_shared_for_command_ones() {
        let sse = parse(r#"{"url":"http://127.0.0.1:8000/sse","transport":"sse"}"#);
        assert_eq!(sse.validate("old"), Ok(()));
        assert_eq!(sse.transport(), "sse");
        let streamable = parse(r#"{"url":"http://h/mcp","transport":"streamable-http"}"#);
        assert_eq!(streamable.transport(), "http");
        let stdio_sse = parse(r#"{"command":"x","transport":"sse"}"#);
        assert!(stdio_sse
            .validate("x")
            .expect_err("stdio")
            .contains("`transport` applies to `url` servers"));
        let shared = parse(r#"{"command":"x","shared":true}"#);
        assert_eq!(shared.validate("x"), Ok(()));
        let url_shared = parse(r#"{"url":"http://h/mcp","shared":true}"#);
        assert!(url_shared
            .validate("x")
            .expect_err("url")
            .contains("`shared` applies to `command` servers"));
        let bad: Result<ServerConfig, _> =
            serde_json::from_value(serde_json::json!({"url":"http://h","transport":"websocket"}));
        assert!(bad.is_err());
    }

    #[test]
    fn names_that_would_break_the_tool_names_are_refused() {
        for bad in ["", "a__b", "_a", "a b", "a.b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        for good in ["tracker", "my-docs", "db_2"] {
            assert_eq!(check_name(good), Ok(()));
        }
    }

    #[test]
    fn enabled_and_disabled_tools_filter() {
        let c = parse(r#"{"command":"x","enabled_tools":["a","b"],"disabled_tools":["b"]}"#);
        assert!(c.allows("a"));
        assert!(!c.allows("b"));
        assert!(!c.allows("c"));
    }
}
