//! The `sortie` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sortie_missions::{PermissionPolicy, SandboxMode};

mod approve;
mod auth;
mod budget;
mod demo;
mod early;
mod live;
mod mcp;
mod missions;
mod models;
mod notices;
mod render;
mod run;
mod schedule;
mod serve;
mod spinner;
mod steering;
mod store;

use crate::api::ServeOptions;
use crate::client::{self, autostart_idle};
use crate::handle::Sortie;
use crate::home_dir;
use crate::service::accounts::FlowFlags;

#[derive(Debug, Parser)]
#[command(
    name = "sortie",
    version,
    about = "An agent runtime: run missions against model providers, with tools, a durable event log and recovery.",
    after_help = "Start with `sortie demo` (no API key needed), then `sortie run \"<prompt>\"`.\n\
                  Configuration: $SORTIE_HOME/config.toml (default ~/.sortie). See README.md."
)]
pub struct Cli {
    /// Data dir (store, config, prompts). Default: ~/.sortie
    #[arg(long, env = "SORTIE_HOME", global = true, value_name = "DIR")]
    home: Option<PathBuf>,

    /// Without a command: the TUI.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The terminal UI: missions (live), accounts and schedules, through the daemon, which
    /// it starts when none runs. Also what `sortie` alone opens.
    #[command(
        after_help = "Keys: ? shows them all. 1/2/3 or Tab switch screens, n starts a mission, Enter opens one,
m switches its model and resumes it, r on an account runs its login again, q quits."
    )]
    Tui,
    /// Run a mission: stream the model's work until it finishes.
    #[command(
        after_help = "Examples:\n  sortie run \"add a README section about testing\"\n  sortie run --provider local --model qwen3 --cwd ./repo \"fix the failing test\"\n  sortie run --json \"list the TODOs\" | jq -c 'select(.type==\"tool_result\")'\n\nExit status: 0 completed, 1 failed, 2 bad usage or config, 3 stopped at a budget (resume it with a larger one), 130 cancelled (Ctrl-C)."
    )]
    Run(RunArgs),
    /// Continue a mission (finished, failed, interrupted or waiting), on the same or another
    /// model or provider.
    #[command(
        after_help = "Examples:\n  sortie resume 01a2 \"now add tests\"\n  sortie resume 01a2 --provider claude --model claude-sonnet-4-5\n  sortie resume 01a2 --default-model    # back to the provider's default model\n\nThinking signed by another model is dropped before sending; the history converts between wire formats, tool calls included."
    )]
    Resume(ResumeArgs),
    /// List missions, oldest first.
    Missions {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a mission and its whole event log.
    Show {
        /// Mission id, or a unique prefix of it (at least 4 characters).
        id: String,
        /// Print {"mission": ..., "events": [...]} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Credentials: log in with OAuth, add API keys, see their state, reconnect, log out.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// List a provider's chat models (cached for a day; --refresh to fetch again).
    Models {
        /// Provider name; default: the default provider.
        #[arg(long, short)]
        provider: Option<String>,
        /// Fetch the list now instead of using the cache.
        #[arg(long)]
        refresh: bool,
        /// Print {"provider", "fetched_at", "models": [{"id", ...}]} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the daemon: the store, a mission supervisor and an HTTP API on 127.0.0.1.
    #[command(
        after_help = "`sortie run`, `resume`, `missions`, `show`, `schedule`, `demo` and the TUI go through it (and start it when it is not running), `auth` and `models` when it runs; missions keep running when the terminal closes.\nThe API's bearer token is in $SORTIE_HOME/daemon.token; GET /openapi.json describes the API.\n\nExamples:\n  sortie serve                   # in the foreground; Ctrl-C stops it\n  sortie serve --port 7878\n  sortie serve --stop"
    )]
    Serve(ServeArgs),
    /// Schedules that start missions: cron, an interval, or once.
    #[command(subcommand)]
    Schedule(schedule::ScheduleCommand),
    /// MCP servers (`[mcp_servers.NAME]`): list them and their tools, call one by hand.
    #[command(subcommand)]
    Mcp(mcp::McpCommand),
    /// Is the daemon running? Its address, pid and the missions it runs.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// What missions spent (at `[prices]`): by day (UTC), provider and schedule.
    #[command(
        after_help = "Examples:\n  sortie usage                 # the last 7 days\n  sortie usage --since 30d --json\n  sortie usage --since 2026-11-01"
    )]
    Usage {
        /// How far back: 7d, 24h, or a date (2026-11-01). Default: 7d.
        #[arg(long, default_value = "7d")]
        since: String,
        /// Print the sums as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a demo mission against a built-in scripted model (no API key, no network).
    Demo {
        /// One JSON event per line instead of the live view.
        #[arg(long)]
        json: bool,
        /// Milliseconds between streamed words (0 for as fast as possible).
        #[arg(long, default_value_t = 25, value_name = "MS")]
        pace_ms: u64,
        /// What tools may do: auto, read-only, or ask (try `ask` to approve each write).
        #[arg(long, value_name = "POLICY", value_parser = parse_policy, default_value = "auto")]
        permission: PermissionPolicy,
    },
    /// What a `--worktree` mission changed: a diff against the commit it started from
    /// (its commits and what is not committed, new files included).
    #[command(
        after_help = "Examples:\n  sortie diff 01a2\n  sortie diff 01a2 --stat\n  sortie diff 01a2 | git apply    # bring the changes into your checkout"
    )]
    Diff {
        /// Mission id, or a unique prefix of it.
        id: String,
        /// A summary (files and lines changed) instead of the diff.
        #[arg(long)]
        stat: bool,
    },
    /// The git worktrees of `--worktree` missions.
    #[command(subcommand)]
    Worktree(notices::WorktreeCommand),
    /// Send a message to a mission: a running one takes it at its next turn boundary (after
    /// the tool calls in flight; --now cuts its current answer short), one that stopped
    /// resumes with it.
    #[command(
        after_help = "Examples:\n  sortie send 01a2 \"also update the changelog\"\n  sortie send 01a2 --now \"stop, use the other API\"\n\nA running mission is reached through the daemon; without one, only a stopped mission (which resumes here)."
    )]
    Send(steering::SendArgs),
    /// Fork a mission: a new one with its history up to an event, on any model.
    #[command(
        after_help = "Examples:\n  sortie fork 01a2 \"try it with a state machine instead\"\n  sortie fork 01a2 --at 12 --provider anthropic --model claude-sonnet-4-5 \"try again\"\n\nThe parent is unchanged; the fork's `parent_id` links them (`sortie show`). --at must not fall between a tool call and its result."
    )]
    Fork(steering::ForkArgs),
    /// The store: migrate a PostgreSQL store's schema, copy this data dir's sled store into
    /// PostgreSQL.
    #[command(subcommand, after_help = store::HELP)]
    Store(store::StoreCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuthCommand {
    /// Log in to a provider with OAuth and store the credential (same account: updated in place).
    #[command(
        after_help = "Flows: the provider's default (loopback for Codex/Google/issuers with an authorize endpoint, paste for Anthropic, device for xAI), or force one with --device / --paste.\nWith --no-browser the URL is printed and no browser is opened (it is always printed)."
    )]
    Login {
        /// The provider, or `mcp:NAME` for MCP server NAME's OAuth login.
        provider: String,
        #[command(flatten)]
        flow: FlowArgs,
        /// A name for this account (`work`, `personal` ...).
        #[arg(long)]
        label: Option<String>,
    },
    /// Store an API key, read from stdin or a hidden prompt (never from the command line).
    AddKey {
        provider: String,
        #[arg(long)]
        label: Option<String>,
    },
    /// Every credential: mode, status, expiry, and what to do next.
    List {
        #[arg(long)]
        json: bool,
        /// Make one cheap live call per credential (the models endpoint) and report it.
        #[arg(long)]
        probe: bool,
    },
    /// Every credential (as `list`), and how the secrets are kept at rest.
    Status {
        #[arg(long)]
        json: bool,
        /// Make one cheap live call per credential (the models endpoint) and report it.
        #[arg(long)]
        probe: bool,
    },
    /// Run the login again for a credential (always the real flow), updating it in place.
    Reconnect {
        id: String,
        #[command(flatten)]
        flow: FlowArgs,
    },
    /// Revoke and forget the tokens; the credential stays, disconnected, ready to reconnect.
    Logout { id: String },
    /// Delete a credential.
    Remove { id: String },
}

#[derive(Debug, Args, Clone, Copy)]
pub(crate) struct FlowArgs {
    /// Use the device flow: a code to enter on another device.
    #[arg(long, conflicts_with = "paste")]
    pub(crate) device: bool,
    /// Paste the code (or the URL the browser lands on) instead of a loopback callback.
    #[arg(long)]
    pub(crate) paste: bool,
    /// Do not open a browser; just print the URL.
    #[arg(long)]
    pub(crate) no_browser: bool,
}

impl From<FlowArgs> for FlowFlags {
    fn from(f: FlowArgs) -> Self {
        Self {
            device: f.device,
            paste: f.paste,
            loopback: false,
            no_browser: f.no_browser,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Port on the bind address; default: `[daemon] port` of config.toml, else any free port.
    #[arg(long)]
    port: Option<u16>,
    /// Address to listen on. Anything but loopback needs --force-bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// Listen on a non-loopback address although other machines could then reach the API.
    #[arg(long)]
    force_bind: bool,
    /// Stop the running daemon (its missions are interrupted and resume at its next start).
    #[arg(long)]
    stop: bool,
    /// Exit after this many seconds with no mission running, no schedule to fire and no
    /// API request (the daemons that commands start use `[daemon] idle_exit_secs`).
    #[arg(long, value_name = "SECS")]
    idle_exit: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct ResumeArgs {
    /// Mission id, or a unique prefix of it.
    pub(crate) id: String,
    /// The next message; needed to continue a completed mission.
    pub(crate) message: Option<String>,
    /// Move to this provider (its default model unless --model).
    #[arg(long, short)]
    pub(crate) provider: Option<String>,
    /// Move to this model.
    #[arg(long, short, conflicts_with = "default_model")]
    pub(crate) model: Option<String>,
    /// Clear the model override: back to the provider's default model.
    #[arg(long)]
    pub(crate) default_model: bool,
    /// More turns to allow from here (default: config `max_turns`, else 50).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_turns: Option<u32>,
    /// Run the tools in another sandbox from here: workspace-write, read-only or off.
    #[arg(long, value_name = "MODE", value_parser = parse_sandbox)]
    pub(crate) sandbox: Option<SandboxMode>,
    /// No project instructions (AGENTS.md, CLAUDE.md) in the system prompt.
    #[arg(long)]
    pub(crate) no_instructions: bool,
    #[command(flatten)]
    pub(crate) mcp: mcp::McpArgs,
    #[command(flatten)]
    pub(crate) budget: budget::BudgetArgs,
    #[command(flatten)]
    pub(crate) notify: notices::NotifyArgs,
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// What the mission should do.
    pub(crate) prompt: String,
    /// Provider name from config.toml, or a built-in one (openai, xai, openrouter, ollama).
    #[arg(long, short)]
    pub(crate) provider: Option<String>,
    /// Model name; default: the provider's `model`.
    #[arg(long, short)]
    pub(crate) model: Option<String>,
    /// Working directory the tools are confined to. Default: the current directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) cwd: Option<PathBuf>,
    /// Most model turns before the mission stops. Default: config `max_turns`, else 50.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_turns: Option<u32>,
    /// What tools may do: auto, read-only, or ask (y/n on a terminal; denied without one).
    #[arg(long, value_name = "POLICY", value_parser = parse_policy)]
    pub(crate) permission: Option<PermissionPolicy>,
    /// Where commands run: workspace-write (write only in --cwd and a temp dir; the
    /// default, from `[sandbox] mode`), read-only, or off (not confined).
    #[arg(long, value_name = "MODE", value_parser = parse_sandbox)]
    pub(crate) sandbox: Option<SandboxMode>,
    /// No project instructions (AGENTS.md, CLAUDE.md) in the system prompt.
    #[arg(long)]
    pub(crate) no_instructions: bool,
    #[command(flatten)]
    pub(crate) mcp: mcp::McpArgs,
    #[command(flatten)]
    pub(crate) budget: budget::BudgetArgs,
    #[command(flatten)]
    pub(crate) notify: notices::NotifyArgs,
    /// Work in a new git worktree of the repository holding --cwd (branch
    /// `sortie/<short id>` from HEAD, under the data dir); your checkout is not touched.
    #[arg(long)]
    pub(crate) worktree: bool,
    /// Run only on a daemon with this label (`[daemon] labels`; with a shared store).
    /// Repeat for several: the daemon needs them all.
    #[arg(long = "on", value_name = "LABEL")]
    pub(crate) labels: Vec<String>,
    /// One JSON event per line on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

fn parse_policy(s: &str) -> Result<PermissionPolicy, String> {
    s.parse()
}

pub(crate) fn parse_sandbox(s: &str) -> Result<SandboxMode, String> {
    s.parse()
}

/// A front end the command line starts but does not contain, running until it ends.
pub type Running<T> = futures::future::LocalBoxFuture<'static, anyhow::Result<T>>;
/// `sortie serve`: the daemon on `home`, in the foreground.
pub type StartDaemon = fn(PathBuf, ServeOptions) -> Running<()>;

/// The front ends `main.rs` wires in (`sortie tui`, `sortie serve`), so that nothing under
/// `cli/` imports `tui/` or `daemon/`.
#[derive(Clone, Copy)]
pub struct FrontEnds {
    pub tui: fn(PathBuf) -> Running<ExitCode>,
    pub serve: StartDaemon,
}

/// Entry point of the binary.
pub fn main(front_ends: FrontEnds) -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SORTIE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match runtime(None) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let code = match runtime.block_on(dispatch(cli, front_ends)) {
        Ok(code) => code,
        Err(e) if e.is::<auth::Cancelled>() => {
            eprintln!("{e}");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    };
    // A blocking read still waiting (a login's paste prompt left by Ctrl-C, the terminal's
    // input) must not hold the exit.
    runtime.shutdown_timeout(Duration::from_millis(500));
    code
}

/// The async runtime every command runs on (the daemon's included). The blocking pool is
/// kept small: file tools make short blocking calls, and a burst of them from many
/// missions at once would otherwise start hundreds of threads.
pub fn runtime(workers: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().max_blocking_threads(64);
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    builder.build()
}

async fn dispatch(cli: Cli, front_ends: FrontEnds) -> anyhow::Result<ExitCode> {
    let home = match cli.home {
        Some(h) => h,
        None => home_dir().context("cannot find the home directory; set SORTIE_HOME")?,
    };
    // Before anything is read from it (config.toml says where keys go).
    sortie_missions::prepare_data_dir(&home)?;
    let command = match cli.command {
        Some(c) => c,
        None if std::io::IsTerminal::is_terminal(&std::io::stdout()) => Command::Tui,
        None => {
            // No terminal to draw on: say what there is instead.
            let _ = <Cli as clap::CommandFactory>::command().print_help();
            return Ok(ExitCode::from(2));
        }
    };
    // While a daemon serves this data dir, it owns the store: go through its API. The
    // mission commands start one when none runs (`[daemon] autostart`).
    let daemon = match &command {
        Command::Run(_)
        | Command::Resume(_)
        | Command::Missions { .. }
        | Command::Show { .. }
        | Command::Schedule(_)
        | Command::Usage { .. }
        // A login waits minutes for the person: in the daemon, so the store stays usable.
        | Command::Auth(AuthCommand::Login { .. } | AuthCommand::Reconnect { .. })
        | Command::Demo { .. }
        | Command::Send(_)
        | Command::Fork(_) => match client::Client::connect(&home).await {
            Some(c) => Some(c),
            None => match autostart_idle(&home) {
                Some(idle) => client::start_daemon(&home, idle).await,
                None => None,
            },
        },
        Command::Status { .. } | Command::Serve(ServeArgs { stop: true, .. }) => {
            client::Client::connect(&home).await
        }
        // Accounts and models go through a running daemon; none is started for them.
        Command::Auth(_) | Command::Models { .. } => client::Client::connect(&home).await,
        Command::Diff { .. } | Command::Worktree(_) => client::Client::connect(&home).await,

        _ => None,
    };
    if let Some(c) = &daemon {
        match command {
            Command::Status { json } => return serve::status(Some(c), json).await,
            Command::Serve(_) => {
                c.post("/shutdown", &serde_json::Value::Null).await?;
                eprintln!("stopping the daemon (pid {})", c.info.pid);
                return Ok(ExitCode::SUCCESS);
            }
            _ => {}
        }
    }
    if daemon.is_none() {
        early::probe_sandbox(&home, &command);
    }
    // Missions, here or in the daemon: the same operations either way.
    let sortie = match daemon.clone() {
        Some(c) => Sortie::Daemon(c),
        None => Sortie::Here(home.clone()),
    };
    match command {
        Command::Tui => (front_ends.tui)(home).await,
        Command::Run(args) => run::run(&sortie, args).await,
        Command::Missions { json } => {
            let (missions, problems) = sortie.missions().await?;
            missions::print_missions(&missions, &problems, json)
        }
        Command::Show { id, json } => {
            let (mission, events) = sortie.show(&id).await?;
            missions::print_show(&mission, &events, json)
        }
        Command::Resume(args) => run::resume(&sortie, args).await,
        Command::Usage { since, json } => budget::usage(&sortie, &since, json).await,
        Command::Status { json } => serve::status(None, json).await,
        Command::Schedule(cmd) => schedule::schedule(&sortie, cmd).await,
        Command::Mcp(cmd) => mcp::run(&home, cmd).await,
        Command::Serve(args) => serve::serve(&home, args, front_ends.serve).await,
        Command::Auth(cmd) => auth::auth(&sortie, cmd).await,
        Command::Models {
            provider,
            refresh,
            json,
        } => models::models(&sortie, provider.as_deref(), refresh, json).await,
        Command::Demo {
            json,
            pace_ms,
            permission,
        } => demo::run_demo(&sortie, json, Duration::from_millis(pace_ms), permission).await,
        Command::Diff { id, stat } => notices::diff(&sortie, &id, stat).await,
        Command::Worktree(cmd) => notices::worktree(&sortie, cmd).await,
        Command::Send(args) => steering::send(&sortie, args).await,
        Command::Fork(args) => steering::fork(&sortie, args).await,
        Command::Store(cmd) => store::run(&home, cmd).await,
    }
}
