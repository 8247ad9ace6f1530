//! Running missions from the command line: `run`, `resume`, and the live view both share.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sortie_missions::agent::FallbackModel;
use sortie_missions::auxiliary::Auxiliary;
use sortie_missions::recovery::{Policy, Recovery};
use sortie_missions::{
    Mission, MissionEvent, MissionId, MissionRunner, MissionSpec, MissionStatus, Observer, Store,
    Update,
};
use sortie_transports::auth::Pool;
use sortie_transports::Transport;
use tokio_util::sync::CancellationToken;

use crate::approve::TtyApprover;
use crate::auth_cmd;
use crate::cli::{open_store, transport_for, ResumeArgs, RunArgs};
use crate::config::{Config, ProviderKind, ResolvedProvider};
use crate::render::{self, Live, Style};

/// What a new mission asks for: the arguments of `sortie run`, and the body of
/// `POST /missions`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewMission {
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The working directory (absolute); `sortie run` sends its current directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<std::path::PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<sortie_missions::PermissionPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    /// The sandbox its tools run in; default: `[sandbox] mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<sortie_missions::SandboxMode>,
}

/// How to continue a mission: the arguments of `sortie resume`, and the body of
/// `POST /missions/{id}/resume`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default)]
    pub default_model: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    /// Another sandbox from here on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<sortie_missions::SandboxMode>,
}

impl From<RunArgs> for NewMission {
    fn from(a: RunArgs) -> Self {
        Self {
            prompt: a.prompt,
            provider: a.provider,
            model: a.model,
            cwd: a.cwd,
            permission: a.permission,
            max_turns: a.max_turns,
            sandbox: a.sandbox,
        }
    }
}

impl From<&ResumeArgs> for ResumeRequest {
    fn from(a: &ResumeArgs) -> Self {
        Self {
            message: a.message.clone(),
            provider: a.provider.clone(),
            model: a.model.clone(),
            default_model: a.default_model,
            max_turns: a.max_turns,
            sandbox: a.sandbox,
        }
    }
}

pub(crate) async fn run(home: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    let json = args.json;
    let config = Config::load(home)?;
    let store = open_store(home)?;
    let pool = auth_cmd::shared_pool(&store, &config)?;
    let mission = create_mission(&store, &config, &pool, args.into())?;
    let runner = runner_for(home, &store, &config, &pool, &mission).await?;
    watch(&store, runner, mission, json, 0).await
}

/// A mission needs at least one turn to do anything.
pub(crate) fn check_max_turns(max_turns: Option<u32>) -> anyhow::Result<()> {
    if max_turns == Some(0) {
        bail!("max_turns must be at least 1 (it is the most model turns the mission may take)");
    }
    Ok(())
}

/// Checks a new mission's request against the config and stores the mission (queued).
pub(crate) fn create_mission(
    store: &Store,
    config: &Config,
    pool: &Arc<Pool>,
    req: NewMission,
) -> anyhow::Result<Mission> {
    check_max_turns(req.max_turns)?;
    let provider = config.provider(req.provider.as_deref())?;
    let model = req
        .model
        .or_else(|| provider.model.clone())
        .with_context(|| no_model(config, &provider))?;
    let cwd = match req.cwd {
        Some(dir) => dir,
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let cwd = cwd
        .canonicalize()
        .with_context(|| format!("the working directory {} does not exist", cwd.display()))?;
    if !cwd.is_dir() {
        bail!("{} is not a directory", cwd.display());
    }
    if req.prompt.trim().is_empty() {
        bail!("the prompt is empty; say what the mission should do");
    }
    let kind = provider_transport(pool, &provider)?.0.kind();
    let spec = MissionSpec {
        prompt: req.prompt,
        provider: provider.name.clone(),
        model,
        transport: kind.to_string(),
        cwd,
        policy: req.permission.unwrap_or(config.permission),
        max_turns: req.max_turns.unwrap_or(config.max_turns),
        sandbox: Some(req.sandbox.unwrap_or(config.sandbox.mode)),
    };
    let warning = unlisted_warning(store, &provider.name, &spec.model)?;
    let mission = store.create_mission(spec)?;
    if let Some(message) = warning {
        store.append(&mission.id, MissionEvent::Warning { message })?;
    }
    Ok(mission)
}

/// The runner for a stored mission, on its current provider and model.
pub(crate) async fn runner_for(
    home: &Path,
    store: &Store,
    config: &Config,
    pool: &Arc<Pool>,
    mission: &Mission,
) -> anyhow::Result<MissionRunner> {
    if mission.provider == "demo" {
        bail!("mission {} ran on the built-in demo model, which only `sortie demo` starts; resume it on a real provider with --provider", mission.id);
    }
    let provider = config.provider(Some(&mission.provider))?;
    Ok(
        mission_runner(home, store, config, pool, &provider, &mission.model)
            .await?
            .0,
    )
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
    // Titles and compression are one-shot requests: a claude-code mission makes them on the
    // API of the provider whose credentials it runs with, not by starting the CLI.
    let implicit = aux_conf.provider.is_none() && provider.kind == ProviderKind::ClaudeCode;
    let aux_provider = aux_conf
        .provider
        .clone()
        .or_else(|| implicit.then(|| provider.credentials_from.clone()));
    let aux_client = match &aux_provider {
        Some(name) if name != &provider.name => {
            let made = config
                .provider(Some(name))
                .map_err(anyhow::Error::from)
                .and_then(|p| {
                    let model = aux_conf
                        .model
                        .clone()
                        .or(p.model.clone())
                        .with_context(|| no_model(config, &p))?;
                    Ok((provider_transport(pool, &p)?.0, model))
                });
            match made {
                Ok(client) => Some(client),
                // Without credentials for the API, a claude-code mission goes without titles.
                Err(_) if implicit => None,
                Err(e) => return Err(e),
            }
        }
        _ => Some((
            transport.clone(),
            aux_conf.model.clone().unwrap_or_else(|| model.to_string()),
        )),
    };
    let templates = sortie_missions::prompts::Templates::load(Some(home));
    let aux = aux_client.map(|(aux_transport, aux_model)| {
        let mut aux = Auxiliary::new(aux_transport, aux_model, recovery.clone(), None)
            .with_templates(templates.title.clone(), templates.compress.clone());
        aux.titles = aux_conf.titles;
        aux.compress_at = aux_conf.compress_at;
        aux.context_window = aux_conf.context_window;
        aux.keep_last = aux_conf.keep_last;
        aux
    });
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
    let mut runner = MissionRunner::new(store.clone(), transport)
        .with_system_template(templates.system)
        .with_cli_system_template(templates.claude_code)
        .with_approver(Arc::new(TtyApprover))
        .with_tools(config.tools.toolbox())
        .with_prices(config.prices.clone().into_iter().collect())
        .with_recovery(recovery)
        .with_fallback(chain)
        .with_sandbox(crate::service::sandboxing::template(home, config));
    if let Some(aux) = aux {
        runner = runner.with_auxiliary(aux);
    }
    Ok((runner, kind))
}

/// How a mission's updates are shown: one JSON line each, or the live view (after a header).
pub(crate) fn observer_for(mission: &Mission, json: bool) -> Observer {
    if json {
        return Arc::new(|u: &Update| render::print_json_line(&render::update_json(u)));
    }
    let style = Style::detect();
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
}

/// The summary after a run (a JSON line, or the summary line and what to do next), and
/// the exit code of its outcome.
pub(crate) fn conclude(done: &Mission, json: bool, took: Duration) -> ExitCode {
    if json {
        render::print_json_line(&serde_json::json!({"type": "summary", "mission": done}));
    } else {
        let style = Style::detect();
        println!(
            "\n{}",
            render::summary_line(&style, done, took.as_secs_f64())
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
    match done.status {
        MissionStatus::Completed => ExitCode::SUCCESS,
        MissionStatus::Cancelled | MissionStatus::Paused => ExitCode::from(130),
        _ => ExitCode::from(1),
    }
}

/// Runs a stored mission with live output; returns the exit code of its outcome.
/// `replay_from`: the first stored event to show before the run starts.
pub(crate) async fn watch(
    store: &Store,
    runner: MissionRunner,
    mission: Mission,
    json: bool,
    replay_from: u64,
) -> anyhow::Result<ExitCode> {
    let observer = observer_for(&mission, json);
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
    Ok(conclude(&done, json, started.elapsed()))
}

pub(crate) async fn resume(home: &Path, args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(home)?;
    let store = open_store(home)?;
    let id = store.resolve(&args.id)?;
    let pool = auth_cmd::shared_pool(&store, &config)?;
    let shown_from = store.mission(&id)?.event_count;
    let mission = prepare_resume(&store, &config, &pool, id, (&args).into())?;
    let runner = runner_for(home, &store, &config, &pool, &mission).await?;
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

/// Records a resume (the model it continues on, the next message) and returns the mission
/// ready to run.
pub(crate) fn prepare_resume(
    store: &Store,
    config: &Config,
    pool: &Arc<Pool>,
    id: MissionId,
    req: ResumeRequest,
) -> anyhow::Result<Mission> {
    check_max_turns(req.max_turns)?;
    let mission = store.mission(&id)?;
    let name = req
        .provider
        .clone()
        .unwrap_or_else(|| mission.provider.clone());
    if name == "demo" {
        bail!("mission {id} ran on the built-in demo model, which only `sortie demo` starts; resume it on a real provider with --provider");
    }
    let provider = config.provider(Some(&name))?;
    let model = match (&req.model, req.default_model) {
        (Some(m), _) => m.clone(),
        (None, true) => provider
            .model
            .clone()
            .with_context(|| no_model(config, &provider))?,
        (None, false) if provider.name != mission.provider => provider
            .model
            .clone()
            .with_context(|| no_model(config, &provider))?,
        (None, false) => mission.model.clone(),
    };
    if mission.status == MissionStatus::Completed && req.message.is_none() {
        bail!("mission {id} completed; give the next message to continue it: sortie resume {id} \"<message>\"");
    }
    let kind = provider_transport(pool, &provider)?.0.kind();
    let changed = provider.name != mission.provider || model != mission.model;
    store.append(
        &id,
        MissionEvent::Switched {
            provider: provider.name.clone(),
            model: model.clone(),
            transport: kind.to_string(),
            max_turns: Some(mission.turns + req.max_turns.unwrap_or(config.max_turns)),
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
    if let Some(mode) = req.sandbox.filter(|m| Some(*m) != mission.sandbox) {
        store.append(&id, MissionEvent::SandboxChanged { mode })?;
    }
    if let Some(message) = req.message {
        store.append(&id, MissionEvent::UserMessage { text: message })?;
    }
    if let Some(message) = unlisted_warning(store, &provider.name, &model)? {
        store.append(&id, MissionEvent::Warning { message })?;
    }
    Ok(store.mission(&id)?)
}

/// The transport for a provider with its credentials: stored ones (the pool) first, else the
/// configured key, else a clear error saying how to add one. Also says whether it is pooled.
pub(crate) fn provider_transport(
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
