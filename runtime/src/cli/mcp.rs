//! `sortie mcp`: the configured MCP servers, their tools, and one call by hand; and the
//! `--mcp NAME,...` / `--no-mcp` choice of `run`, `resume` and `schedule add`.
//!
//! The commands start the servers here, as a mission would (in the config's sandbox, with
//! the current directory as the working directory), and stop them before they return.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use sortie_missions::mcp::{CallStatus, McpSet, ServerConfig, ServerState};

use crate::config::Config;

/// `--mcp` / `--no-mcp`.
#[derive(Debug, Clone, Default, Args)]
pub struct McpArgs {
    /// Use only these MCP servers (names of `[mcp_servers.NAME]`, comma-separated); default:
    /// every enabled one.
    #[arg(
        long,
        value_name = "NAME,...",
        value_delimiter = ',',
        conflicts_with = "no_mcp"
    )]
    pub mcp: Option<Vec<String>>,
    /// Use no MCP server.
    #[arg(long)]
    pub no_mcp: bool,
}

impl McpArgs {
    /// The choice as the API takes it (`mcp`): `None` every enabled server, else these.
    pub fn selection(&self) -> Option<Vec<String>> {
        if self.no_mcp {
            Some(Vec::new())
        } else {
            self.mcp.clone()
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// List the configured servers: started here, their state and tools.
    Ls {
        /// Print a JSON array: [{"name", "transport", "enabled", "state", "error", "tools"}].
        #[arg(long)]
        json: bool,
    },
    /// List one server's tools, with the name the model sees and their input schema.
    Tools {
        server: String,
        #[arg(long)]
        json: bool,
    },
    /// Call one tool by hand: sortie mcp call SERVER TOOL '{"arg": 1}'.
    Call {
        server: String,
        /// The tool's name on its server (or its mcp__SERVER__TOOL name).
        tool: String,
        /// The arguments, a JSON object.
        #[arg(default_value = "{}")]
        arguments: String,
        /// Print {"status", "output"} as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `sortie mcp ...`.
pub async fn run(home: &Path, cmd: McpCommand) -> anyhow::Result<ExitCode> {
    let config = Config::load(home)?;
    match cmd {
        McpCommand::Ls { json } => ls(home, &config, json).await,
        McpCommand::Tools { server, json } => tools(home, &config, &server, json).await,
        McpCommand::Call {
            server,
            tool,
            arguments,
            json,
        } => call(home, &config, &server, tool, &arguments, json).await,
    }
}

/// `sortie mcp ls`.
async fn ls(home: &Path, config: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let chosen: Vec<(String, ServerConfig)> = config
        .mcp_servers
        .iter()
        .filter(|(_, c)| c.enabled)
        .map(|(n, c)| (n.clone(), c.clone()))
        .collect();
    let (set, _warnings, _tmp) = start(home, config, chosen).await?;
    let states = set.states();
    let rows: Vec<Value> = config
        .mcp_servers
        .iter()
        .map(|(name, c)| match states.iter().find(|s| &s.name == name) {
            Some(s) => state_json(s, true),
            None => json!({"name": name, "transport": c.transport(), "enabled": false,
                "state": "disabled", "error": null, "tools": []}),
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if rows.is_empty() {
        println!(
            "no MCP servers configured (add [mcp_servers.NAME] to {})",
            config.path.display()
        );
    } else {
        for r in &rows {
            let tools: Vec<&str> = r["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["tool"].as_str())
                .collect();
            println!(
                "{:<16} {:<6} {:<9} {}",
                r["name"].as_str().unwrap_or(""),
                r["transport"].as_str().unwrap_or(""),
                r["state"].as_str().unwrap_or(""),
                match r["error"].as_str() {
                    Some(e) => e.to_string(),
                    None => format!("{} tools: {}", tools.len(), tools.join(", ")),
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `sortie mcp tools SERVER`.
async fn tools(home: &Path, config: &Config, server: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (set, warnings, _tmp) = one(home, config, server).await?;
    let state = set.states().into_iter().next().context("no server")?;
    if let Some(e) = &state.error {
        bail!("MCP server `{server}`: {e}");
    }
    for w in warnings {
        eprintln!("warning: {w}");
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&state_json(&state, true)["tools"])?
        );
    } else {
        for t in &state.tools {
            println!(
                "{}{}\n  {}\n  input: {}",
                t.name,
                if t.read_only { " (read-only)" } else { "" },
                t.description,
                t.parameters
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `sortie mcp call SERVER TOOL ARGS`.
async fn call(
    home: &Path,
    config: &Config,
    server: &str,
    tool: String,
    arguments: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let (set, _, _tmp) = one(home, config, server).await?;
    if let Some(e) = set.states().into_iter().next().and_then(|s| s.error) {
        bail!("MCP server `{server}`: {e}");
    }
    let name = if tool.starts_with(sortie_missions::mcp::PREFIX) {
        tool
    } else {
        sortie_missions::mcp::tool_name(server, &tool)
    };
    if set.tool(&name).is_none() {
        bail!("MCP server `{server}` offers no tool `{name}`; see `sortie mcp tools {server}`");
    }
    let mut outcome = set.call(&name, arguments).await;
    outcome.text = sortie_missions::tools::cap(outcome.text);
    let status = match outcome.status {
        CallStatus::Ok => "ok",
        CallStatus::Error => "error",
        CallStatus::TimedOut => "timed_out",
    };
    if json {
        println!("{}", json!({"status": status, "output": outcome.text}));
    } else {
        println!("{}", outcome.text);
    }
    Ok(if outcome.status == CallStatus::Ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn state_json(s: &ServerState, enabled: bool) -> Value {
    json!({
        "name": s.name,
        "transport": s.transport,
        "enabled": enabled,
        "state": s.state,
        "error": s.error,
        "tools": s.tools.iter().map(|t| json!({
            "name": t.name,
            "tool": t.remote,
            "description": t.description,
            "read_only": t.read_only,
            "input_schema": t.parameters,
        })).collect::<Vec<_>>(),
    })
}

/// Starts server `name` alone (enabled or not).
async fn one(
    home: &Path,
    config: &Config,
    name: &str,
) -> anyhow::Result<(McpSet, Vec<String>, TmpDir)> {
    crate::service::mcp::check_selection(config, &Some(vec![name.to_string()]))?;
    let chosen = vec![(name.to_string(), config.mcp_servers[name].clone())];
    start(home, config, chosen).await
}

/// The command's own temp dir under the data dir; removed when dropped.
struct TmpDir(PathBuf);

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start(
    home: &Path,
    config: &Config,
    chosen: Vec<(String, ServerConfig)>,
) -> anyhow::Result<(McpSet, Vec<String>, TmpDir)> {
    let mut sandbox = crate::service::sandboxing::template(home, config);
    sandbox.cwd = std::env::current_dir().context("cannot read the current directory")?;
    sandbox.tmpdir = sandbox.tmpdir.join(format!("mcp-{}", std::process::id()));
    sortie_sandbox::create_private_dir(&sandbox.tmpdir)
        .with_context(|| format!("cannot create {}", sandbox.tmpdir.display()))?;
    let tmp = TmpDir(sandbox.tmpdir.clone());
    let reserved = sortie_missions::tools::ToolBox::default()
        .specs()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let chosen = crate::service::mcp_login::logins_here(home, config, chosen).await;
    let (set, warnings) = McpSet::start(chosen, sandbox, reserved).await;
    Ok((set, warnings, tmp))
}

/// A mission's choice of MCP servers, in words.
pub fn describe(servers: &Option<Vec<String>>) -> String {
    match servers {
        None => "every enabled MCP server from here on".into(),
        Some(list) if list.is_empty() => "no MCP server from here on".into(),
        Some(list) => format!("MCP servers {} from here on", list.join(", ")),
    }
}
