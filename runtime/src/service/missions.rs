//! Missions on a data dir: checking and storing a new one, recording a resume, and the
//! runner (transport, recovery, auxiliary client, fallbacks, sandbox) that runs one.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use sortie_missions::agent::FallbackModel;
use sortie_missions::auxiliary::Auxiliary;
use sortie_missions::recovery::{Policy, Recovery};
use sortie_missions::{
    Mission, MissionEvent, MissionId, MissionRunner, MissionSpec, MissionStatus, MissionStore,
    SharedStore,
};
use sortie_transports::auth::Pool;
use sortie_transports::Transport;

use super::{accounts, budgets, transport_for};
use crate::api::{NewMission, ResumeRequest};
use crate::config::{Config, ProviderKind, ResolvedProvider};

/// The event that turns a mission's project instructions off.
fn instructions_off() -> MissionEvent {
    MissionEvent::Instructions {
        enabled: false,
        files: Vec::new(),
        cut: false,
    }
}

/// A mission needs at least one turn to do anything.
pub fn check_max_turns(max_turns: Option<u32>) -> anyhow::Result<()> {
    if max_turns == Some(0) {
        bail!("max_turns must be at least 1 (it is the most model turns the mission may take)");
    }
    Ok(())
}

/// A new mission, checked and ready to store: its spec and the events that set it up
/// after its prompt (budget, notices, instructions, MCP servers, a warning).
pub struct Planned {
    pub spec: MissionSpec,
    pub setup: Vec<MissionEvent>,
    /// It works in a git worktree of its own, made when it is stored.
    pub worktree: bool,
}

/// Checks a new mission's request against the config and stores the mission (queued).
pub async fn create_mission(
    store: &dyn MissionStore,
    config: &Config,
    pool: &Arc<Pool>,
    req: NewMission,
) -> anyhow::Result<Mission> {
    let planned = plan_mission(store, config, pool, req).await?;
    if !planned.worktree {
        return Ok(store
            .create_mission_with_setup(planned.spec, planned.setup)
            .await?);
    }
    let mission = crate::service::worktree::create_mission(store, config, planned.spec).await?;
    for event in planned.setup {
        store.append(&mission.id, event).await?;
    }
    // As its events now say (budget, notices, worktree, ...).
    Ok(store.mission(&mission.id).await?)
}

/// Checks a new mission's request against the config: what [`create_mission`] stores.
pub async fn plan_mission(
    store: &dyn MissionStore,
    config: &Config,
    pool: &Arc<Pool>,
    req: NewMission,
) -> anyhow::Result<Planned> {
    check_max_turns(req.max_turns)?;
    let asked = budgets::requested(req.max_cost, req.max_tokens, req.max_duration.as_deref())?;
    let provider = config.provider(req.provider.as_deref())?;
    let model = req
        .model
        .or_else(|| provider.model.clone())
        .with_context(|| no_model(config, &provider))?;
    let cwd = match req.cwd {
        Some(dir) => dir,
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    crate::config::cluster::check_labels(&req.labels).map_err(anyhow::Error::msg)?;
    let cwd = match cwd.canonicalize() {
        Ok(cwd) if !cwd.is_dir() => bail!("{} is not a directory", cwd.display()),
        Ok(cwd) => cwd,
        // On a shared store another daemon may have it: the mission waits for one that does.
        Err(_) if shared_store(store) && cwd.is_absolute() => cwd,
        Err(_) => bail!("the working directory {} does not exist", cwd.display()),
    };
    if req.prompt.trim().is_empty() {
        bail!("the prompt is empty; say what the mission should do");
    }
    let kind = provider_transport(pool, &provider).await?.0.kind();
    let spec = MissionSpec {
        prompt: req.prompt,
        provider: provider.name.clone(),
        model,
        transport: kind.to_string(),
        cwd,
        policy: req.permission.unwrap_or(config.permission),
        max_turns: req.max_turns.unwrap_or(config.max_turns),
        sandbox: Some(req.sandbox.unwrap_or(config.sandbox.mode)),
        labels: req.labels,
    };
    crate::service::mcp::check_selection(config, &req.mcp)?;
    let budget = budgets::for_new(config, asked);
    budgets::check_priced(config, &budget, &spec.model, &spec.transport)?;
    crate::service::notify::check_choice(config, req.notify)?;
    let warning = unlisted_warning(store, &provider.name, &spec.model).await?;
    let mut setup = Vec::new();
    if !budget.is_empty() {
        setup.push(MissionEvent::BudgetSet { budget });
    }
    if let Some(enabled) = req.notify {
        setup.push(MissionEvent::NotifySet { enabled });
    }
    if req.no_instructions {
        setup.push(instructions_off());
    }
    if let Some(servers) = req.mcp {
        setup.push(MissionEvent::McpSelected {
            servers: Some(servers),
        });
    }
    if let Some(message) = warning {
        setup.push(MissionEvent::Warning { message });
    }
    Ok(Planned {
        spec,
        setup,
        worktree: req.worktree,
    })
}

/// Refuses to run a mission in this process when missions live in a shared store: there a
/// mission runs under a daemon's lease, which other daemons respect.
pub fn check_runs_here(store: &dyn MissionStore) -> anyhow::Result<()> {
    if shared_store(store) {
        bail!(
            "missions in a shared store ({}) run in a daemon, which holds each one under a lease the other daemons respect: start one with `sortie serve` (or set `[daemon] autostart = true`)",
            store.location()
        );
    }
    Ok(())
}

/// Whether missions live in a store several daemons share (PostgreSQL).
fn shared_store(store: &dyn MissionStore) -> bool {
    store.as_postgres().is_some()
}

/// The runner for a stored mission, on its current provider and model.
pub async fn runner_for(
    home: &Path,
    store: &SharedStore,
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

async fn unlisted_warning(
    store: &dyn MissionStore,
    provider: &str,
    model: &str,
) -> anyhow::Result<Option<String>> {
    Ok(match store.cached_models(provider).await? {
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
    store: &SharedStore,
    config: &Config,
    pool: &Arc<Pool>,
    provider: &ResolvedProvider,
    model: &str,
) -> anyhow::Result<(MissionRunner, &'static str)> {
    let (transport, pooled) = provider_transport(pool, provider).await?;
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
            let made = async {
                let p = config.provider(Some(name))?;
                let model = aux_conf
                    .model
                    .clone()
                    .or(p.model.clone())
                    .with_context(|| no_model(config, &p))?;
                anyhow::Ok((provider_transport(pool, &p).await?.0, model))
            }
            .await;
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
        let made = match config.provider(Some(name)) {
            Ok(p) => provider_transport(pool, &p).await,
            Err(e) => Err(e.into()),
        };
        match made {
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
        .with_tools(config.tools.toolbox())
        .with_prices(config.prices.clone().into_iter().collect())
        .with_recovery(recovery)
        .with_fallback(chain)
        .with_sandbox(crate::service::sandboxing::template(home, config))
        .with_mcp_servers(crate::service::mcp_login::with_logins(config, pool))
        .with_daily_caps(config.budget.daily.clone());
    if let Some(sources) = config.instructions.sources(home) {
        runner = runner.with_instructions(sources);
    }
    if let Some(aux) = aux {
        runner = runner.with_auxiliary(aux);
    }
    Ok((runner, kind))
}

/// Records a resume (the model it continues on, the next message) and returns the mission
/// ready to run.
pub async fn prepare_resume(
    store: &dyn MissionStore,
    config: &Config,
    pool: &Arc<Pool>,
    id: MissionId,
    req: ResumeRequest,
) -> anyhow::Result<Mission> {
    check_max_turns(req.max_turns)?;
    if req.message.as_deref().is_some_and(|m| m.trim().is_empty()) {
        bail!("the message is empty; say what mission {id} should do next");
    }
    let asked = budgets::requested(req.max_cost, req.max_tokens, req.max_duration.as_deref())?;
    crate::service::mcp::check_selection(config, &req.mcp)?;
    crate::service::notify::check_choice(config, req.notify)?;
    let mission = store.mission(&id).await?;
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
    if let Some(wt) = mission.worktree.as_ref().filter(|w| !w.path.is_dir()) {
        bail!(
            "mission {id} worked in the worktree {}, which was removed; its branch {} is in {}",
            wt.path.display(),
            wt.branch,
            wt.repo.display()
        );
    }
    if mission.status == MissionStatus::Completed && req.message.is_none() {
        bail!("mission {id} completed; give the next message to continue it: sortie resume {id} \"<message>\"");
    }
    let kind = provider_transport(pool, &provider).await?.0.kind();
    budgets::check_priced(config, &mission.budget.overridden_by(asked), &model, kind)?;
    let changed = provider.name != mission.provider || model != mission.model;
    store
        .append(
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
        )
        .await?;
    budgets::record_change(store, &id, &mission, asked).await?;
    if let Some(mode) = req.sandbox.filter(|m| Some(*m) != mission.sandbox) {
        store
            .append(&id, MissionEvent::SandboxChanged { mode })
            .await?;
    }
    if req.no_instructions && !mission.no_instructions {
        store.append(&id, instructions_off()).await?;
    }
    if let Some(servers) = req.mcp {
        store
            .append(
                &id,
                MissionEvent::McpSelected {
                    servers: Some(servers),
                },
            )
            .await?;
    }
    if let Some(enabled) = req.notify.filter(|n| Some(*n) != mission.notify) {
        store
            .append(&id, MissionEvent::NotifySet { enabled })
            .await?;
    }
    if let Some(message) = req.message {
        store
            .append(&id, MissionEvent::UserMessage { text: message })
            .await?;
    }
    if let Some(message) = unlisted_warning(store, &provider.name, &model).await? {
        store.append(&id, MissionEvent::Warning { message }).await?;
    }
    Ok(store.mission(&id).await?)
}

/// The transport for a provider with its credentials: stored ones (the pool) first, else the
/// configured key, else a clear error saying how to add one. Also says whether it is pooled.
pub async fn provider_transport(
    pool: &Arc<Pool>,
    provider: &ResolvedProvider,
) -> anyhow::Result<(Arc<dyn Transport>, bool)> {
    let credentials = accounts::credentials_for(pool, provider).await?;
    if credentials.is_none() {
        if let Some(missing) = &provider.missing_key {
            bail!("{missing}");
        }
    }
    let pooled = credentials.is_some();
    Ok((transport_for(provider, credentials)?, pooled))
}
