//! The `sortie` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use sortie_missions::agent::FallbackModel;
use sortie_missions::auxiliary::Auxiliary;
use sortie_missions::recovery::{Policy, Recovery};
use sortie_missions::{
    Mission, MissionEvent, MissionRunner, MissionSpec, MissionStatus, Observer, PermissionPolicy,
    Store, Update,
};
use sortie_transports::auth::{CredentialId, Credentials, Pool};
use sortie_transports::direct::{
    AnthropicAuth, AnthropicConfig, AnthropicMessages, OpenAiChat, OpenAiChatConfig,
    OpenAiResponses, ResponsesConfig,
};
use sortie_transports::Transport;
use tokio_util::sync::CancellationToken;

use crate::approve::TtyApprover;
use crate::auth_cmd;
use crate::config::{Config, ProviderKind, ResolvedProvider};
use crate::render::{self, Live, Style};
use crate::{demo, home_dir};

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

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a mission: stream the model's work until it finishes.
    #[command(
        after_help = "Examples:\n  sortie run \"add a README section about testing\"\n  sortie run --provider local --model qwen3 --cwd ./repo \"fix the failing test\"\n  sortie run --json \"list the TODOs\" | jq -c 'select(.type==\"tool_result\")'\n\nExit status: 0 completed, 1 failed, 2 bad usage or config, 130 cancelled (Ctrl-C)."
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
}

#[derive(Debug, Subcommand)]
enum AuthCommand {
    /// Log in to a provider with OAuth and store the credential (same account: updated in place).
    #[command(
        after_help = "Flows: the provider's default (loopback for Codex/Google/issuers with an authorize endpoint, paste for Anthropic, device for xAI), or force one with --device / --paste.\nWith --no-browser the URL is printed and no browser is opened (it is always printed)."
    )]
    Login {
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
    #[command(alias = "status")]
    List {
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
struct FlowArgs {
    /// Use the device flow: a code to enter on another device.
    #[arg(long, conflicts_with = "paste")]
    device: bool,
    /// Paste the code (or the URL the browser lands on) instead of a loopback callback.
    #[arg(long)]
    paste: bool,
    /// Do not open a browser; just print the URL.
    #[arg(long)]
    no_browser: bool,
}

impl From<FlowArgs> for auth_cmd::FlowFlags {
    fn from(f: FlowArgs) -> Self {
        Self {
            device: f.device,
            paste: f.paste,
            no_browser: f.no_browser,
        }
    }
}

#[derive(Debug, Args)]
struct ResumeArgs {
    /// Mission id, or a unique prefix of it.
    id: String,
    /// The next message; needed to continue a completed mission.
    message: Option<String>,
    /// Move to this provider (its default model unless --model).
    #[arg(long, short)]
    provider: Option<String>,
    /// Move to this model.
    #[arg(long, short, conflicts_with = "default_model")]
    model: Option<String>,
    /// Clear the model override: back to the provider's default model.
    #[arg(long)]
    default_model: bool,
    /// More turns to allow from here (default: config `max_turns`, else 50).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_turns: Option<u32>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// What the mission should do.
    prompt: String,
    /// Provider name from config.toml, or a built-in one (openai, xai, openrouter, ollama).
    #[arg(long, short)]
    provider: Option<String>,
    /// Model name; default: the provider's `model`.
    #[arg(long, short)]
    model: Option<String>,
    /// Working directory the tools are confined to. Default: the current directory.
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// Most model turns before the mission stops. Default: config `max_turns`, else 50.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_turns: Option<u32>,
    /// What tools may do: auto, read-only, or ask (y/n on a terminal; denied without one).
    #[arg(long, value_name = "POLICY", value_parser = parse_policy)]
    permission: Option<PermissionPolicy>,
    /// One JSON event per line on stdout.
    #[arg(long)]
    json: bool,
}

fn parse_policy(s: &str) -> Result<PermissionPolicy, String> {
    s.parse()
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SORTIE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let home = match cli.home {
        Some(h) => h,
        None => home_dir().context("cannot find the home directory; set SORTIE_HOME")?,
    };
    match cli.command {
        Command::Run(args) => run(&home, args).await,
        Command::Missions { json } => missions(&home, json),
        Command::Show { id, json } => show(&home, &id, json),
        Command::Resume(args) => resume(&home, args).await,
        Command::Auth(cmd) => auth(&home, cmd).await,
        Command::Models {
            provider,
            refresh,
            json,
        } => models(&home, provider.as_deref(), refresh, json).await,
        Command::Demo {
            json,
            pace_ms,
            permission,
        } => run_demo(&home, json, Duration::from_millis(pace_ms), permission).await,
    }
}

fn open_store(home: &Path) -> anyhow::Result<Store> {
    Ok(Store::open(home)?)
}

/// Builds the transport for a resolved provider; `credentials` (the pool) win over the
/// provider's configured key.
pub fn transport_for(
    provider: &ResolvedProvider,
    credentials: Option<Credentials>,
) -> anyhow::Result<Arc<dyn Transport>> {
    Ok(match provider.kind {
        ProviderKind::Anthropic => {
            let mut config = AnthropicConfig::new(&provider.base_url);
            config.auth = provider.api_key.clone().map(AnthropicAuth::ApiKey);
            config.credentials = credentials;
            config.headers = provider.headers.clone();
            config.idle_timeout = provider.idle_timeout;
            config.thinking_budget = provider.thinking_budget;
            if let Some(max) = provider.max_tokens {
                config.max_tokens = max;
            }
            Arc::new(AnthropicMessages::new(config)?)
        }
        ProviderKind::OpenaiResponses => {
            let mut config = ResponsesConfig::new(&provider.base_url);
            config.api_key = provider.api_key.clone();
            config.credentials = credentials;
            config.headers = provider.headers.clone();
            config.idle_timeout = provider.idle_timeout;
            Arc::new(OpenAiResponses::new(config)?)
        }
        _ => {
            let mut config = OpenAiChatConfig::new(&provider.base_url);
            config.api_key = provider.api_key.clone();
            config.credentials = credentials;
            config.headers = provider.headers.clone();
            config.stream = provider.stream;
            config.idle_timeout = provider.idle_timeout;
            Arc::new(OpenAiChat::new(config)?)
        }
    })
}

async fn run(home: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(home)?;
    let provider = config.provider(args.provider.as_deref())?;
    let model = args
        .model
        .or_else(|| provider.model.clone())
        .with_context(|| no_model(&config, &provider))?;
    let cwd = match args.cwd {
        Some(dir) => dir,
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let cwd = cwd
        .canonicalize()
        .with_context(|| format!("the working directory {} does not exist", cwd.display()))?;
    if !cwd.is_dir() {
        bail!("{} is not a directory", cwd.display());
    }
    let store = open_store(home)?;
    let pool = auth_cmd::shared_pool(&store, &config).await?;
    let (runner, kind) = mission_runner(home, &store, &config, &pool, &provider, &model).await?;
    let spec = MissionSpec {
        prompt: args.prompt,
        provider: provider.name.clone(),
        model,
        transport: kind.to_string(),
        cwd,
        policy: args.permission.unwrap_or(config.permission),
        max_turns: args.max_turns.unwrap_or(config.max_turns),
    };
    let warning = unlisted_warning(&store, &provider.name, &spec.model)?;
    let mission = store.create_mission(spec)?;
    if let Some(message) = warning {
        store.append(&mission.id, MissionEvent::Warning { message })?;
    }
    watch(&store, runner, mission, args.json, 0).await
}

fn no_model(config: &Config, provider: &ResolvedProvider) -> String {
    format!(
        "provider `{}` has no default model; pass --model or set `model` in [providers.{}] of {}",
        provider.name,
        provider.name,
        config.path.display()
    )
}

fn unlisted_warning(store: &Store, provider: &str, model: &str) -> anyhow::Result<Option<String>> {
    Ok(match store.cached_models(provider)? {
        Some(cached) if !cached.models.iter().any(|m| m.id == model) => Some(format!(
            "model `{model}` is not in provider `{provider}`'s model list (see `sortie models --provider {provider}`); trying it anyway"
        )),
        _ => None,
    })
}

/// The recovery bounds from `[recovery]`.
fn policy(config: &Config) -> Policy {
    let mut policy = Policy::default();
    if let Some(n) = config.recovery.max_backoffs {
        policy.max_backoffs = n;
    }
    if let Some(secs) = config.recovery.max_wait_secs {
        policy.max_wait = Duration::from_secs(secs);
    }
    policy
}

/// A runner for `provider`/`model`: its transport with pooled credentials, the recovery
/// engine on the same pool, the auxiliary client and the fallback chain. Also returns the
/// transport's kind.
async fn mission_runner(
    home: &Path,
    store: &Store,
    config: &Config,
    pool: &Arc<Pool>,
    provider: &ResolvedProvider,
    model: &str,
) -> anyhow::Result<(MissionRunner, &'static str)> {
    let (transport, pooled) = provider_transport(pool, provider)?;
    let recovery = Recovery::new(policy(config), pooled.then(|| pool.clone()));
    let aux_conf = &config.auxiliary;
    let (aux_transport, aux_model) = match &aux_conf.provider {
        Some(name) if name != &provider.name => {
            let p = config.provider(Some(name))?;
            let model = aux_conf
                .model
                .clone()
                .or(p.model.clone())
                .with_context(|| no_model(config, &p))?;
            (provider_transport(pool, &p)?.0, model)
        }
        _ => (
            transport.clone(),
            aux_conf.model.clone().unwrap_or_else(|| model.to_string()),
        ),
    };
    let mut aux = Auxiliary::new(aux_transport, aux_model, recovery.clone(), Some(home));
    aux.titles = aux_conf.titles;
    aux.compress_at = aux_conf.compress_at;
    aux.context_window = aux_conf.context_window;
    aux.keep_last = aux_conf.keep_last;
    let mut chain = Vec::new();
    for (name, fallback_model) in &config.fallback {
        match config
            .provider(Some(name))
            .map_err(anyhow::Error::from)
            .and_then(|p| provider_transport(pool, &p))
        {
            Ok((t, _)) => chain.push(FallbackModel {
                provider: name.clone(),
                model: fallback_model.clone(),
                transport: t,
            }),
            Err(e) => eprintln!("warning: fallback {name}/{fallback_model} is not usable: {e:#}"),
        }
    }
    let kind = transport.kind();
    let runner = MissionRunner::new(store.clone(), transport)
        .with_system_template(sortie_missions::prompts::template("system", Some(home)))
        .with_approver(Arc::new(TtyApprover))
        .with_prices(config.prices.clone().into_iter().collect())
        .with_recovery(recovery)
        .with_auxiliary(aux)
        .with_fallback(chain);
    Ok((runner, kind))
}

/// Runs a stored mission with live output; returns the exit code of its outcome.
/// `replay_from`: the first stored event to show before the run starts.
async fn watch(
    store: &Store,
    runner: MissionRunner,
    mission: Mission,
    json: bool,
    replay_from: u64,
) -> anyhow::Result<ExitCode> {
    let style = Style::detect();
    let observer: Observer = if json {
        Arc::new(|u: &Update| render::print_json_line(&render::update_json(u)))
    } else {
        println!(
            "{}",
            style.dim(&format!(
                "mission {} · {}/{} · {}",
                mission.id,
                mission.provider,
                mission.model,
                mission.cwd.display()
            ))
        );
        let live = Live::new(style);
        Arc::new(move |u: &Update| live.show(u))
    };
    // Events stored before anyone watched (creation, a resume) are shown too.
    for event in store.events_from(&mission.id, replay_from)? {
        observer(&Update::Event {
            mission: mission.id,
            event,
        });
    }
    let runner = runner.with_observer(observer);
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ncancelling… (Ctrl-C again to quit at once)");
            on_signal.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let started = Instant::now();
    let done = runner.run(mission.id, cancel).await?;
    if json {
        render::print_json_line(&serde_json::json!({"type": "summary", "mission": done}));
    } else {
        println!(
            "\n{}",
            render::summary_line(&style, &done, started.elapsed().as_secs_f64())
        );
        println!(
            "{}",
            style.dim(&format!("   inspect it: sortie show {}", done.id))
        );
        if done.status == MissionStatus::NeedsReauth {
            if let Some(reason) = &done.error {
                eprintln!(
                    "{}",
                    style.yellow(&format!("waiting for a login: {reason}"))
                );
            }
        }
    }
    Ok(match done.status {
        MissionStatus::Completed => ExitCode::SUCCESS,
        MissionStatus::Cancelled => ExitCode::from(130),
        _ => ExitCode::from(1),
    })
}

async fn resume(home: &Path, args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(home)?;
    let store = open_store(home)?;
    let id = store.resolve(&args.id)?;
    let mission = store.mission(&id)?;
    let name = args
        .provider
        .clone()
        .unwrap_or_else(|| mission.provider.clone());
    if name == "demo" {
        bail!("mission {id} ran on the built-in demo model, which only `sortie demo` starts; resume it on a real provider with --provider");
    }
    let provider = config.provider(Some(&name))?;
    let model = match (&args.model, args.default_model) {
        (Some(m), _) => m.clone(),
        (None, true) => provider
            .model
            .clone()
            .with_context(|| no_model(&config, &provider))?,
        (None, false) if provider.name != mission.provider => provider
            .model
            .clone()
            .with_context(|| no_model(&config, &provider))?,
        (None, false) => mission.model.clone(),
    };
    if mission.status == MissionStatus::Completed && args.message.is_none() {
        bail!("mission {id} completed; give the next message to continue it: sortie resume {id} \"<message>\"");
    }
    let pool = auth_cmd::shared_pool(&store, &config).await?;
    let (runner, kind) = mission_runner(home, &store, &config, &pool, &provider, &model).await?;
    let shown_from = mission.event_count;
    let changed = provider.name != mission.provider || model != mission.model;
    store.append(
        &id,
        MissionEvent::Switched {
            provider: provider.name.clone(),
            model: model.clone(),
            transport: kind.to_string(),
            max_turns: Some(mission.turns + args.max_turns.unwrap_or(config.max_turns)),
            reason: if changed {
                format!(
                    "resumed on another model (was {}/{})",
                    mission.provider, mission.model
                )
            } else {
                format!("resumed ({})", mission.status)
            },
        },
    )?;
    if let Some(message) = args.message {
        store.append(&id, MissionEvent::UserMessage { text: message })?;
    }
    if let Some(message) = unlisted_warning(&store, &provider.name, &model)? {
        store.append(&id, MissionEvent::Warning { message })?;
    }
    let mission = store.mission(&id)?;
    // The live view starts at the resume; --json replays the whole log.
    watch(
        &store,
        runner,
        mission,
        args.json,
        if args.json { 0 } else { shown_from },
    )
    .await
}

/// The transport for a provider with its credentials: stored ones (the pool) first, else the
/// configured key, else a clear error saying how to add one. Also says whether it is pooled.
fn provider_transport(
    pool: &Arc<Pool>,
    provider: &ResolvedProvider,
) -> anyhow::Result<(Arc<dyn Transport>, bool)> {
    let credentials = auth_cmd::credentials_for(pool, provider)?;
    if credentials.is_none() {
        if let Some(missing) = &provider.missing_key {
            bail!("{missing}");
        }
    }
    let pooled = credentials.is_some();
    Ok((transport_for(provider, credentials)?, pooled))
}

async fn auth(home: &Path, cmd: AuthCommand) -> anyhow::Result<ExitCode> {
    let config = Config::load(home)?;
    let store = open_store(home)?;
    let style = Style::detect();
    match cmd {
        AuthCommand::Login {
            provider,
            flow,
            label,
        } => {
            let provider = config.provider(Some(&provider))?;
            let c = auth_cmd::login(&store, &provider, flow.into(), label, None).await?;
            println!("{} logged in: {}", style.green("✓"), auth_cmd::describe(&c));
        }
        AuthCommand::AddKey { provider, label } => {
            let provider = config.provider(Some(&provider))?;
            let c = auth_cmd::add_key(&store, &provider, label)?;
            println!("{} stored: {}", style.green("✓"), auth_cmd::describe(&c));
        }
        AuthCommand::List { json, probe } => {
            return auth_cmd::list(&store, &config, json, probe).await
        }
        AuthCommand::Reconnect { id, flow } => {
            let existing = auth_cmd::get(&store, &CredentialId(id))?;
            let provider = config.provider(Some(&existing.provider))?;
            let c =
                auth_cmd::login(&store, &provider, flow.into(), None, Some(existing.id)).await?;
            println!(
                "{} reconnected: {}",
                style.green("✓"),
                auth_cmd::describe(&c)
            );
        }
        AuthCommand::Logout { id } => {
            let id = CredentialId(id);
            let note = auth_cmd::logout(&store, &config, &id).await?;
            println!(
                "{} logged out {id}: {note}; `sortie auth reconnect {id}` logs in again",
                style.green("✓")
            );
        }
        AuthCommand::Remove { id } => {
            let id = CredentialId(id);
            auth_cmd::remove(&store, &id)?;
            println!("{} removed {id}", style.green("✓"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn missions(home: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_store(home)?;
    let (missions, problems) = store.missions()?;
    for p in &problems {
        eprintln!("warning: {p}");
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&missions)?);
    } else if missions.is_empty() {
        println!("no missions yet; try `sortie demo` or `sortie run \"<prompt>\"`");
    } else {
        print!(
            "{}",
            render::missions_table(&Style::detect(), &missions, chrono::Utc::now())
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// How long a cached model list is used before it is fetched again.
const MODELS_TTL: chrono::Duration = chrono::Duration::hours(24);

async fn models(
    home: &Path,
    provider: Option<&str>,
    refresh: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let config = Config::load(home)?;
    let provider = config.provider(provider)?;
    let store = open_store(home)?;
    let cached = store.cached_models(&provider.name)?;
    let fresh = cached
        .as_ref()
        .is_some_and(|c| chrono::Utc::now() - c.fetched_at < MODELS_TTL);
    let listing = match cached {
        Some(c) if fresh && !refresh => c,
        cached => {
            if !json {
                eprintln!(
                    "fetching the model list of `{}` from {} …",
                    provider.name, provider.base_url
                );
            }
            let pool = auth_cmd::shared_pool(&store, &config).await?;
            match provider_transport(&pool, &provider)?.0.list_models().await {
                Ok(models) => store.cache_models(&provider.name, models)?,
                Err(e) => match cached {
                    Some(old) => {
                        eprintln!(
                            "warning: cannot refresh the model list ({e}); showing the one fetched {}",
                            old.fetched_at.format("%Y-%m-%d %H:%M UTC")
                        );
                        old
                    }
                    None => anyhow::bail!(
                        "cannot list the models of `{}`: [{}] {e}",
                        provider.name,
                        e.class
                    ),
                },
            }
        }
    };
    if json {
        let doc = serde_json::json!({"provider": provider.name, "fetched_at": listing.fetched_at, "models": listing.models});
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    let style = Style::detect();
    for m in &listing.models {
        let detail = m
            .display_name
            .clone()
            .or_else(|| m.owned_by.clone())
            .unwrap_or_default();
        println!("{:<40}  {}", m.id, style.dim(&detail));
    }
    println!(
        "{}",
        style.dim(&format!(
            "{} chat models from `{}`, fetched {} ago (--refresh to fetch again)",
            listing.models.len(),
            provider.name,
            render::age(listing.fetched_at, chrono::Utc::now())
        ))
    );
    Ok(ExitCode::SUCCESS)
}

fn show(home: &Path, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_store(home)?;
    let id = store.resolve(id)?;
    let mission = store.mission(&id)?;
    let events = store.events(&id)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"mission": mission, "events": events})
            )?
        );
    } else {
        print!(
            "{}",
            render::mission_log(&Style::detect(), &mission, &events)
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_demo(
    home: &Path,
    json: bool,
    pace: Duration,
    policy: PermissionPolicy,
) -> anyhow::Result<ExitCode> {
    let store = open_store(home)?;
    let model = demo::DemoModel::start(pace)
        .await
        .context("cannot start the demo model on 127.0.0.1")?;
    let dir = home
        .join("demo")
        .join(chrono::Utc::now().format("%Y%m%d-%H%M%S-%3f").to_string());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join("notes.md"), demo::NOTES)
        .context("cannot write the demo's notes.md")?;
    let mut config = OpenAiChatConfig::new(model.base_url());
    config.idle_timeout = Duration::from_secs(30);
    let transport: Arc<dyn Transport> = Arc::new(OpenAiChat::new(config)?);
    let spec = MissionSpec {
        prompt: demo::PROMPT.to_string(),
        provider: "demo".into(),
        model: demo::DEMO_MODEL.into(),
        transport: transport.kind().to_string(),
        cwd: dir.canonicalize()?,
        policy,
        max_turns: 10,
    };
    let style = Style::detect();
    let banner = format!(
        "{}\n{}",
        style.bold("Sortie demo"),
        style.yellow(&format!(
            "DEMO MODEL: answers come from a built-in scripted model on {} — not a real LLM.\n\
             Everything else is real: the transport, the agent loop, the tools and the store.",
            model.base_url()
        ))
    );
    if !json {
        println!("{banner}");
    }
    let aux = Auxiliary::new(
        transport.clone(),
        demo::DEMO_MODEL,
        Recovery::new(Policy::default(), None),
        Some(home),
    );
    let runner = MissionRunner::new(store.clone(), transport)
        .with_approver(Arc::new(TtyApprover))
        .with_auxiliary(aux);
    let mission = store.create_mission(spec)?;
    let code = watch(&store, runner, mission, json, 0).await?;
    if !json {
        println!(
            "{}",
            style.dim(&format!("   files it worked on: {}", dir.display()))
        );
        println!(
            "{}",
            style.dim("   (from a checkout, `cargo run -q -p sortie -- show <id>` works the same)")
        );
    }
    Ok(code)
}
