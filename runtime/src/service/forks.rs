//! `sortie fork`: a new mission with another's history up to one of its events, on any
//! provider and model, linked to its parent.

use std::sync::Arc;

use anyhow::{bail, Context};
use sortie_missions::agent::history_from_events;
use sortie_missions::forks::fork_events;
use sortie_missions::{Mission, MissionEvent, MissionId, MissionSpec, MissionStore};
use sortie_transports::auth::Pool;
use sortie_transports::Role;

use super::missions::{check_max_turns, provider_transport};
use crate::api::ForkRequest;
use crate::config::Config;

/// Checks the fork against the parent's log and the config, and stores it (queued). The
/// parent is only read.
pub async fn create_fork(
    store: &dyn MissionStore,
    config: &Config,
    pool: &Arc<Pool>,
    parent: MissionId,
    req: ForkRequest,
) -> anyhow::Result<Mission> {
    check_max_turns(req.max_turns)?;
    let mission = store.mission(&parent).await?;
    let events = store.events(&parent).await?;
    let at = match req.at {
        Some(at) => at,
        None => events.last().map_or(0, |e| e.seq),
    };
    let mut history = fork_events(&parent, &events, at)?;
    let name = req.provider.clone().unwrap_or(mission.provider.clone());
    if name == "demo" {
        bail!("mission {parent} ran on the built-in demo model, which only `sortie demo` starts; fork it onto a real provider with --provider");
    }
    let provider = config.provider(Some(&name))?;
    let model = match (&req.model, req.provider.is_some()) {
        (Some(m), _) => m.clone(),
        (None, false) => mission.model.clone(),
        (None, true) => provider.model.clone().with_context(|| {
            format!(
                "provider `{}` has no default model; pass --model or set `model` in [providers.{}] of {}",
                provider.name,
                provider.name,
                config.path.display()
            )
        })?,
    };
    let ends_answered = history_from_events(&stored(&history))
        .last()
        .is_none_or(|m| m.role == Role::Assistant);
    match req.message {
        Some(text) if text.trim().is_empty() => {
            bail!("the message is empty; say what the fork should do next")
        }
        Some(text) => history.push(MissionEvent::UserMessage { text }),
        None if ends_answered => bail!(
            "mission {parent}'s history up to event {at} ends with the model's answer; give the fork its next message: sortie fork {parent} --at {at} \"<message>\""
        ),
        None => {}
    }
    if let Some(tree) = &mission.worktree {
        // Its cwd is inside the parent's worktree: the two would edit one tree, and the
        // parent's `worktree rm` would take the fork's directory away.
        bail!(
            "mission {parent} works in its own git worktree ({}, branch {}), which a fork would share. Try the other way in a worktree of its own: sortie run --worktree --cwd {} \"<message>\" (it starts from your checkout's HEAD: merge the parent's branch first to start from its work)",
            tree.path.display(),
            tree.branch,
            tree.repo.display()
        )
    }
    let transport = provider_transport(pool, &provider).await?.0.kind();
    let spec = MissionSpec {
        prompt: mission.prompt.clone(),
        provider: provider.name.clone(),
        model,
        transport: transport.to_string(),
        cwd: mission.cwd.clone(),
        policy: mission.policy,
        max_turns: req.max_turns.unwrap_or(config.max_turns),
        sandbox: mission.sandbox,
        labels: mission.labels.clone(),
    };
    // The fork spends under its parent's limits (over `[budget]`'s defaults), as a new
    // mission would, and sends the notices its parent chose.
    let budget = super::budgets::for_new(config, mission.budget);
    super::budgets::check_priced(config, &budget, &spec.model, &spec.transport)?;
    let fork = store.create_fork(spec, parent, at, history).await?;
    if !budget.is_empty() {
        store
            .append(&fork.id, MissionEvent::BudgetSet { budget })
            .await?;
    }
    if let Some(enabled) = mission.notify {
        store
            .append(&fork.id, MissionEvent::NotifySet { enabled })
            .await?;
    }
    Ok(store.mission(&fork.id).await?)
}

/// The events as a log, for rebuilding the conversation they hold.
fn stored(events: &[MissionEvent]) -> Vec<sortie_missions::StoredEvent> {
    events
        .iter()
        .enumerate()
        .map(|(seq, event)| sortie_missions::StoredEvent {
            seq: seq as u64,
            at: chrono::Utc::now(),
            event: event.clone(),
        })
        .collect()
}
