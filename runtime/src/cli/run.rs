//! `sortie run` and `sortie resume`: a mission followed live at the terminal, run in this
//! process or by the daemon, and how its updates and its outcome are shown.

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;
use sortie_missions::{Mission, MissionRunner, MissionStatus, Observer, Store, Update};
use tokio_util::sync::CancellationToken;

use super::approve::TtyApprover;
use super::render::{self, Live, Style};
use super::{ResumeArgs, RunArgs};
use crate::api::{self, NewMission, ResumeRequest};
use crate::client::Client;
use crate::config::Config;
use crate::service::{accounts, missions};

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

pub(crate) async fn run_here(home: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    let json = args.json;
    let config = Config::load(home)?;
    let store = crate::service::open_store(home)?;
    let pool = accounts::shared_pool(&store, &config)?;
    let mission = missions::create_mission(&store, &config, &pool, args.into())?;
    let runner = missions::runner_for(home, &store, &config, &pool, &mission)
        .await?
        .with_approver(Arc::new(TtyApprover));
    watch_here(&store, runner, mission, json, 0).await
}

pub(crate) async fn resume_here(home: &Path, args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(home)?;
    let store = crate::service::open_store(home)?;
    let id = store.resolve(&args.id)?;
    let pool = accounts::shared_pool(&store, &config)?;
    let shown_from = store.mission(&id)?.event_count;
    let mission = missions::prepare_resume(&store, &config, &pool, id, (&args).into())?;
    let runner = missions::runner_for(home, &store, &config, &pool, &mission)
        .await?
        .with_approver(Arc::new(TtyApprover));
    // The live view starts at the resume; --json replays the whole log.
    watch_here(
        &store,
        runner,
        mission,
        args.json,
        if args.json { 0 } else { shown_from },
    )
    .await
}

/// Ctrl-C while a mission is followed: the first prints that it cancels (`where_it_goes`
/// ends the note) and runs `cancel`; a second quits at once with 130. Abort the returned
/// task once the mission has ended.
fn on_ctrl_c<F>(
    where_it_goes: &'static str,
    cancel: impl FnOnce() -> F + Send + 'static,
) -> tokio::task::JoinHandle<()>
where
    F: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ncancelling… (Ctrl-C again to quit at once{where_it_goes})");
            cancel().await;
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    })
}

/// How a mission's updates are shown: one JSON line each, or the live view (after a header).
pub(crate) fn observer_for(mission: &Mission, json: bool) -> Observer {
    if json {
        return Arc::new(|u: &Update| render::print_json_line(&api::update_json(u)));
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
pub(crate) async fn watch_here(
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
    let signal = on_ctrl_c("", move || async move { on_signal.cancel() });
    let started = Instant::now();
    let done = runner.run(mission.id, cancel).await;
    signal.abort();
    Ok(conclude(&done?, json, started.elapsed()))
}

/// Streams a mission the daemon runs, as `sortie run` shows one; Ctrl-C cancels it.
pub(crate) async fn watch_through(
    client: &Client,
    mission: Mission,
    json: bool,
    from: u64,
) -> anyhow::Result<ExitCode> {
    let observer = observer_for(&mission, json);
    let id = mission.id;
    let on_signal = client.clone();
    let signal = on_ctrl_c("; the daemon keeps the mission", move || async move {
        let _ = on_signal
            .post(&format!("/missions/{id}/cancel"), &Value::Null)
            .await;
    });
    let started = Instant::now();
    // `ask` missions: a person at this terminal answers the daemon's questions; with no
    // terminal the answer is no at once, as when the mission runs in this process.
    let done = crate::client::reattach::follow(client, &id, from, |u| {
        observer(&u);
        if let Update::ApprovalRequested {
            approval, summary, ..
        } = &u
        {
            let (c, approval, summary) = (client.clone(), approval.clone(), summary.clone());
            tokio::spawn(async move {
                use sortie_missions::Approver;
                let yes = super::approve::TtyApprover.approve(&summary).await;
                let path = format!("/missions/{id}/approvals/{approval}");
                if let Err(e) = c.post(&path, &serde_json::json!({"approve": yes})).await {
                    eprintln!("warning: the answer did not reach the daemon: {e:#}");
                }
            });
        }
    })
    .await;
    signal.abort();
    Ok(conclude(&done?, json, started.elapsed()))
}

/// `sortie run` through the daemon.
pub(crate) async fn run_through(
    client: &Client,
    mut req: NewMission,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let cwd = match req.cwd.take() {
        Some(dir) => dir,
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    req.cwd = Some(
        cwd.canonicalize()
            .with_context(|| format!("the working directory {} does not exist", cwd.display()))?,
    );
    let created = client
        .post("/missions", &serde_json::to_value(&req)?)
        .await?;
    let mission = crate::client::mission_of(&created)?;
    if let Some(n) = created["queue_position"].as_u64() {
        if !json && n > 1 {
            eprintln!("queued: {} missions ahead of this one", n - 1);
        }
    }
    watch_through(client, mission, json, 0).await
}

/// `sortie resume` through the daemon.
pub(crate) async fn resume_through(
    client: &Client,
    id: &str,
    req: ResumeRequest,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let before = crate::client::mission_of(&client.get(&format!("/missions/{id}")).await?)?;
    let after = client
        .post(
            &format!("/missions/{}/resume", before.id),
            &serde_json::to_value(&req)?,
        )
        .await?;
    let mission = crate::client::mission_of(&after)?;
    watch_through(
        client,
        mission,
        json,
        if json { 0 } else { before.event_count },
    )
    .await
}
