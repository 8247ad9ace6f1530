//! The MCP servers of one mission (or one `sortie mcp` command): started together, their
//! tools offered as `mcp__SERVER__TOOL`, each call bounded by the server's timeout, a
//! crashed stdio server restarted once, and a server that fails left out with a clear
//! message while the rest go on.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use sortie_sandbox::Sandbox;

use crate::config::ServerConfig;
use crate::connection::{Connection, McpError, RemoteTool};

/// Every MCP tool's name starts with this.
pub const PREFIX: &str = "mcp__";

/// Longest tool name the model APIs take.
const MAX_NAME: usize = 64;

/// How often a crashed stdio server is started again in one set's life.
const RESTARTS: u32 = 1;

/// An MCP tool as the model sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct McpTool {
    /// `mcp__SERVER__TOOL`.
    pub name: String,
    pub server: String,
    /// The tool's name on its server.
    pub remote: String,
    pub description: String,
    /// The cleaned input schema.
    pub parameters: Value,
    /// The server's `readOnlyHint`.
    pub read_only: bool,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallStatus {
    Ok,
    /// The tool said `isError`, or the call failed.
    Error,
    TimedOut,
}

/// A call's outcome and the text for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOutcome {
    pub status: CallStatus,
    pub text: String,
    /// The result's images that can be sent on (bounded; `text` notes every image).
    pub images: Vec<sortie_transports::ImageData>,
}

impl CallOutcome {
    fn error(text: String) -> Self {
        Self {
            status: CallStatus::Error,
            text,
            images: Vec::new(),
        }
    }
}

/// One server's state in a set.
struct Server {
    name: String,
    config: ServerConfig,
    conn: Option<Arc<dyn Connection>>,
    tools: Vec<McpTool>,
    /// Why it is not available, when it is not.
    down: Option<String>,
    restarts: u32,
}

/// What `sortie mcp ls` shows of a server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerState {
    pub name: String,
    pub transport: &'static str,
    /// `ready` or `failed`.
    pub state: &'static str,
    pub error: Option<String>,
    pub tools: Vec<McpTool>,
}

/// The servers of one mission.
pub struct McpSet {
    servers: Mutex<Vec<Server>>,
    sandbox: Sandbox,
    /// Names the model already has (the built-in tools): never replaced.
    reserved: Vec<String>,
}

impl McpSet {
    /// Starts every server in `servers` at once (each within its startup timeout). Returns
    /// the set and one warning per server or tool left out.
    pub async fn start(
        servers: Vec<(String, ServerConfig)>,
        sandbox: Sandbox,
        reserved: Vec<String>,
    ) -> (Self, Vec<String>) {
        let started = futures::future::join_all(
            servers
                .iter()
                .map(|(name, config)| connect(name, config, &sandbox)),
        )
        .await;
        let mut warnings = Vec::new();
        let mut list = Vec::new();
        for ((name, config), conn) in servers.into_iter().zip(started) {
            let mut server = Server {
                name,
                config,
                conn: None,
                tools: Vec::new(),
                down: None,
                restarts: 0,
            };
            match conn {
                Ok((conn, remote)) => {
                    server.conn = Some(conn);
                    server.tools = tools_of(&server, remote, &reserved, &mut warnings);
                }
                Err(e) => {
                    let message = format!(
                        "MCP server `{}` is left out of this mission: {e}",
                        server.name
                    );
                    warnings.push(message);
                    server.down = Some(e.to_string());
                }
            }
            list.push(server);
        }
        let set = Self {
            servers: Mutex::new(list),
            sandbox,
            reserved,
        };
        (set, warnings)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Server>> {
        self.servers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The tools on offer now, in server then tool order.
    pub fn tools(&self) -> Vec<McpTool> {
        self.lock()
            .iter()
            .filter(|s| s.conn.is_some())
            .flat_map(|s| s.tools.clone())
            .collect()
    }

    /// The tool called `name`, if it is one of this set's.
    pub fn tool(&self, name: &str) -> Option<McpTool> {
        self.lock()
            .iter()
            .flat_map(|s| s.tools.iter())
            .find(|t| t.name == name)
            .cloned()
    }

    /// Each server as `sortie mcp ls` shows it.
    pub fn states(&self) -> Vec<ServerState> {
        self.lock()
            .iter()
            .map(|s| ServerState {
                name: s.name.clone(),
                transport: s.config.transport(),
                state: match (&s.conn, &s.down) {
                    (Some(_), _) => "ready",
                    (None, Some(d)) if d.starts_with(crate::oauth::NEEDS_LOGIN) => "needs_login",
                    (None, _) => "failed",
                },
                error: s.down.clone(),
                tools: s.tools.clone(),
            })
            .collect()
    }

    /// Lists again the tools of servers that said their list changed; between turns.
    /// Returns a warning per server or tool left out.
    pub async fn refresh(&self) -> Vec<String> {
        let changed: Vec<(String, Arc<dyn Connection>)> = self
            .lock()
            .iter()
            .filter_map(|s| {
                let conn = s.conn.clone()?;
                conn.take_tools_changed().then(|| (s.name.clone(), conn))
            })
            .collect();
        let mut warnings = Vec::new();
        for (name, conn) in changed {
            let listed = conn.list_tools().await;
            let mut servers = self.lock();
            let Some(server) = servers.iter_mut().find(|s| s.name == name) else {
                continue;
            };
            match listed {
                Ok(remote) => {
                    server.tools = tools_of(server, remote, &self.reserved, &mut warnings);
                }
                Err(e) => warnings.push(format!(
                    "MCP server `{name}` said its tools changed, and listing them failed: {e}; keeping the list it had"
                )),
            }
        }
        warnings
    }

    /// Calls tool `name` (`mcp__SERVER__TOOL`) with `arguments` (a JSON object as text).
    /// Never fails: errors become the text for the model, naming the server.
    pub async fn call(&self, name: &str, arguments: &str) -> CallOutcome {
        let Some(tool) = self.tool(name) else {
            return CallOutcome::error(format!("unknown MCP tool `{name}`"));
        };
        let args: Map<String, Value> = match serde_json::from_str(if arguments.trim().is_empty() {
            "{}"
        } else {
            arguments
        }) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return CallOutcome::error(format!("arguments for `{name}` must be a JSON object"))
            }
            Err(e) => {
                return CallOutcome::error(format!(
                    "arguments for `{name}` are not valid JSON: {e}"
                ))
            }
        };
        let (conn, timeout) = {
            let servers = self.lock();
            let Some(server) = servers.iter().find(|s| s.name == tool.server) else {
                return CallOutcome::error(format!("unknown MCP server `{}`", tool.server));
            };
            let timeout = Duration::from_secs(server.config.tool_timeout_secs);
            match &server.conn {
                Some(conn) => (conn.clone(), timeout),
                None => {
                    return CallOutcome::error(format!(
                        "MCP server `{}` is not available in this mission: {}",
                        tool.server,
                        server.down.as_deref().unwrap_or("it stopped")
                    ))
                }
            }
        };
        let server = &tool.server;
        let remote = &tool.remote;
        match tokio::time::timeout(timeout, conn.call_tool(remote, args)).await {
            Ok(Ok(result)) => {
                let (text, is_error) = crate::render::render(&result);
                CallOutcome {
                    status: if is_error { CallStatus::Error } else { CallStatus::Ok },
                    text,
                    images: crate::render::images(&result),
                }
            }
            Ok(Err(McpError::Closed(why))) => {
                let after = self.restart(server).await;
                CallOutcome::error(format!(
                    "MCP server `{server}` failed during `{remote}`: {why}. {after}"
                ))
            }
            Ok(Err(McpError::NeedsLogin(why))) => {
                // No token will do until a person logs in: the server is left out.
                let mut servers = self.lock();
                if let Some(s) = servers.iter_mut().find(|s| &s.name == server) {
                    s.conn = None;
                    s.down = Some(why.clone());
                }
                CallOutcome::error(format!(
                    "MCP server `{server}`: `{remote}` failed: {why}; it is left out for the rest of this mission"
                ))
            }
            Ok(Err(e)) => CallOutcome::error(format!("MCP server `{server}`: `{remote}` failed: {e}")),
            Err(_) => CallOutcome {
                status: CallStatus::TimedOut,
                text: format!(
                    "MCP server `{server}`: `{remote}` did not answer within {}s (tool_timeout_secs) and was abandoned",
                    timeout.as_secs()
                ),
                images: Vec::new(),
            },
        }
    }

    /// Starts a server that crashed once more, or leaves it out for good; says which.
    async fn restart(&self, name: &str) -> String {
        let (config, failed) = {
            let mut servers = self.lock();
            let Some(server) = servers.iter_mut().find(|s| s.name == name) else {
                return String::new();
            };
            let failed = server.conn.take();
            if crate::shared::applies(&server.config) {
                // The daemon's registry counts the restarts of a shared server.
                (server.config.clone(), failed)
            } else if server.config.url.is_some() {
                server.down = Some("its connection closed".into());
                return "It is left out for the rest of this mission.".into();
            } else if server.restarts >= RESTARTS {
                server.down = Some("it crashed again after a restart".into());
                return "It had been restarted once already and is left out for the rest of this mission; its tools are gone.".into();
            } else {
                server.restarts += 1;
                (server.config.clone(), None)
            }
        };
        let started = match &failed {
            Some(failed) => {
                crate::shared::connect(name, &config, &self.sandbox, Some(failed)).await
            }
            None => connect(name, &config, &self.sandbox).await,
        };
        let mut warnings = Vec::new();
        let mut servers = self.lock();
        let Some(server) = servers.iter_mut().find(|s| s.name == name) else {
            return String::new();
        };
        match started {
            Ok((conn, remote)) => {
                server.conn = Some(conn);
                server.tools = tools_of(server, remote, &self.reserved, &mut warnings);
                "It was restarted; the call was not run again.".into()
            }
            Err(e) => {
                server.down = Some(format!("it crashed and did not restart: {e}"));
                format!("Restarting it failed ({e}); it is left out for the rest of this mission.")
            }
        }
    }
}

/// Starts or connects to one server and lists its tools, all within its startup timeout.
async fn connect(
    name: &str,
    config: &ServerConfig,
    sandbox: &Sandbox,
) -> Result<(Arc<dyn Connection>, Vec<RemoteTool>), McpError> {
    if crate::shared::applies(config) {
        return crate::shared::connect(name, config, sandbox, None).await;
    }
    // A server that may log in is tried with its login (streamable HTTP); one that
    // refuses that transport (not the login) is reached as any other `url` server, the
    // HTTP+SSE fallback included.
    let sse_only = config.transport == Some(crate::config::Transport::Sse);
    let conn: Arc<dyn Connection> =
        if let (Some(login), true, false) = (&config.login, config.may_log_in(), sse_only) {
            match crate::oauth::connect(config, login, crate::http::MAX_RESPONSE).await {
                Ok(conn) => conn,
                Err(McpError::Start(_)) if config.transport.is_none() => {
                    Arc::new(crate::remote::connect(config).await?)
                }
                Err(e) => return Err(e),
            }
        } else if config.url.is_some() {
            Arc::new(crate::remote::connect(config).await?)
        } else {
            Arc::new(crate::stdio::start(name, config, sandbox).await?)
        };
    let tools = list_within(&conn, config).await?;
    Ok((conn, tools))
}

/// Lists a server's tools within its startup timeout.
pub(crate) async fn list_within(
    conn: &Arc<dyn Connection>,
    config: &ServerConfig,
) -> Result<Vec<RemoteTool>, McpError> {
    let startup = Duration::from_secs(config.startup_timeout_secs);
    match tokio::time::timeout(startup, conn.list_tools()).await {
        Ok(Ok(tools)) => Ok(tools),
        Ok(Err(e)) => Err(McpError::Start(format!("listing its tools failed: {e}"))),
        Err(_) => Err(McpError::Start(format!(
            "it did not list its tools within {}s (startup_timeout_secs)",
            startup.as_secs()
        ))),
    }
}

/// The server's tools as offered: filtered by its `enabled_tools`/`disabled_tools`, named
/// `mcp__SERVER__TOOL`, schemas cleaned; each tool left out adds a warning.
fn tools_of(
    server: &Server,
    remote: Vec<RemoteTool>,
    reserved: &[String],
    warnings: &mut Vec<String>,
) -> Vec<McpTool> {
    let mut out: Vec<McpTool> = Vec::new();
    for tool in remote {
        if !server.config.allows(&tool.name) {
            continue;
        }
        let name = tool_name(&server.name, &tool.name);
        let skip = |why: String| {
            format!(
                "MCP server `{}`: tool `{}` is left out: {why}",
                server.name, tool.name
            )
        };
        if reserved.contains(&name) {
            warnings.push(skip(format!("`{name}` is a built-in tool's name")));
            continue;
        }
        if out.iter().any(|t| t.name == name) {
            warnings.push(skip(format!(
                "another of its tools is also offered as `{name}`"
            )));
            continue;
        }
        match crate::schema::clean(&tool.input_schema) {
            Ok(parameters) => out.push(McpTool {
                name,
                server: server.name.clone(),
                remote: tool.name,
                description: tool.description,
                parameters,
                read_only: tool.read_only,
            }),
            Err(why) => warnings.push(skip(why)),
        }
    }
    out
}

/// `mcp__SERVER__TOOL`, with what the model APIs refuse in a name replaced by `_`, cut to
/// their limit.
pub fn tool_name(server: &str, tool: &str) -> String {
    let clean: String = tool
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut name = format!("{PREFIX}{server}__{clean}");
    name.truncate(MAX_NAME);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_carry_the_server_and_only_what_the_apis_accept() {
        assert_eq!(tool_name("docs", "search"), "mcp__docs__search");
        assert_eq!(
            tool_name("docs", "files/read.v2"),
            "mcp__docs__files_read_v2"
        );
        assert_eq!(tool_name("s", &"x".repeat(100)).len(), MAX_NAME);
    }
}
