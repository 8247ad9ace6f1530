//! The TUI's side of the daemon: runs its commands, polls the lists, follows the open
//! mission's stream, and reports everything back as messages. Nothing here blocks drawing.

use std::time::Duration;

use serde_json::{json, Value};
use sortie_missions::{Mission, MissionId, SandboxMode};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

use super::app::{Cmd, Msg};
use crate::api::CredentialRow;
use crate::client::{self, Client};

/// Runs until `cmds` closes.
pub async fn run(client: Client, mut cmds: UnboundedReceiver<Cmd>, tx: UnboundedSender<Msg>) {
    let mut follower: Option<JoinHandle<()>> = None;
    let mut login: Option<JoinHandle<()>> = None;
    let mut poll = tokio::time::interval(Duration::from_millis(1000));
    let mut slow = 0u32;
    let mut mcp: Option<JoinHandle<()>> = None;
    loop {
        tokio::select! {
            cmd = cmds.recv() => {
                let Some(cmd) = cmd else { break };
                handle(&client, cmd, &tx, &mut follower, &mut login).await;
            }
            _ = poll.tick() => {
                refresh_missions(&client, &tx).await;
                // Accounts and schedules change slowly: every 5 s.
                if slow.is_multiple_of(5) {
                    refresh_rest(&client, &tx).await;
                }
                // Probing MCP servers may take seconds: off the loop, one at a time.
                if slow.is_multiple_of(30) && mcp.as_ref().is_none_or(|t| t.is_finished()) {
                    mcp = Some(tokio::spawn(mcp_logins(client.clone(), tx.clone())));
                }
                slow = slow.wrapping_add(1);
            }
        }
    }
    for task in [follower, login, mcp].into_iter().flatten() {
        task.abort();
    }
}

async fn refresh_missions(client: &Client, tx: &UnboundedSender<Msg>) {
    match client::missions(client).await {
        Ok((missions, _)) => {
            let _ = tx.send(Msg::Missions(missions));
        }
        Err(e) => {
            let _ = tx.send(Msg::Error(format!(
                "the daemon is not answering ({e:#}); quit and open sortie again to start it, or run `sortie serve`"
            )));
        }
    }
}

async fn refresh_rest(client: &Client, tx: &UnboundedSender<Msg>) {
    if let Ok(v) = client.get("/credentials").await {
        if let Ok(rows) = serde_json::from_value::<Vec<CredentialRow>>(v["credentials"].clone()) {
            let _ = tx.send(Msg::Accounts(rows));
        }
    }
    if let Ok(v) = client.get("/schedules").await {
        if let Some(rows) = v["schedules"].as_array() {
            let _ = tx.send(Msg::Schedules(rows.clone()));
        }
    }
}

/// The MCP servers that want a login and have none (the config is read here; the stored
/// credentials come from the daemon).
async fn mcp_logins(client: Client, tx: UnboundedSender<Msg>) {
    let Ok(config) = crate::config::Config::load(&client.home) else {
        return;
    };
    if config.mcp_login_providers().is_empty() {
        return;
    }
    let Ok(v) = client.get("/credentials").await else {
        return;
    };
    let Ok(rows) = serde_json::from_value::<Vec<CredentialRow>>(v["credentials"].clone()) else {
        return;
    };
    let needed = crate::service::mcp_login::logins_needed(&config, &rows).await;
    let _ = tx.send(Msg::McpLogins(needed));
}

fn report(
    tx: &UnboundedSender<Msg>,
    result: anyhow::Result<Value>,
    ok: impl FnOnce(Value) -> Option<Msg>,
) {
    let msg = match result {
        Ok(v) => ok(v),
        Err(e) => Some(Msg::Error(format!("{e:#}"))),
    };
    if let Some(m) = msg {
        let _ = tx.send(m);
    }
}

/// Follows a mission's stream from `from` until it ends (then once more after the next
/// command that runs it again).
fn follow(client: &Client, id: MissionId, from: u64, tx: &UnboundedSender<Msg>) -> JoinHandle<()> {
    let (client, tx) = (client.clone(), tx.clone());
    tokio::spawn(async move {
        let updates = tx.clone();
        match client
            .follow(&id, from, move |u| {
                let _ = updates.send(Msg::Update(u));
            })
            .await
        {
            Ok(mission) => {
                let _ = tx.send(Msg::Ended(mission));
            }
            Err(e) => {
                let _ = tx.send(Msg::Error(format!("the mission's stream: {e:#}")));
            }
        }
    })
}

/// The body of `POST /missions` for the new-mission box.
pub(super) fn new_mission_body(
    prompt: &str,
    sandbox: SandboxMode,
    cwd: Option<&std::path::Path>,
) -> Value {
    json!({"prompt": prompt, "cwd": cwd, "sandbox": sandbox})
}

/// The API body of a new mission with its MCP servers chosen in the box.
pub(super) fn new_mission_with_mcp_body(
    prompt: &str,
    sandbox: SandboxMode,
    worktree: bool,
    mcp: &[String],
    cwd: Option<&std::path::Path>,
) -> Value {
    let mut body = new_mission_body(prompt, sandbox, cwd);
    if worktree {
        body["worktree"] = json!(true);
    }
    body["mcp"] = json!(mcp);
    body
}

async fn handle(
    client: &Client,
    cmd: Cmd,
    tx: &UnboundedSender<Msg>,
    follower: &mut Option<JoinHandle<()>>,
    login: &mut Option<JoinHandle<()>>,
) {
    match cmd {
        Cmd::Follow(..)
        | Cmd::Unfollow
        | Cmd::NewMission(..)
        | Cmd::NewWorktreeMission(..)
        | Cmd::NewMissionWithMcp { .. }
        | Cmd::Message { .. }
        | Cmd::RaiseBudget { .. }
        | Cmd::Cancel(..)
        | Cmd::Pause(..)
        | Cmd::Approve { .. } => missions(client, cmd, tx, follower).await,
        Cmd::Models(..)
        | Cmd::Login { .. }
        | Cmd::PasteCode { .. }
        | Cmd::CancelLogin(..)
        | Cmd::OpenUrl(..)
        | Cmd::CopyUrl(..) => accounts(client, cmd, tx, login).await,
        Cmd::PauseSchedule(..) | Cmd::RunSchedule(..) | Cmd::AddSchedule(..) => {
            schedules(client, cmd, tx).await
        }
        Cmd::Refresh => {
            refresh_missions(client, tx).await;
            refresh_rest(client, tx).await;
        }
    }
}

/// After a message or a resume: the mission as it is now, followed again; or the error.
fn resumed(
    client: &Client,
    id: MissionId,
    result: anyhow::Result<Value>,
    tx: &UnboundedSender<Msg>,
    follower: &mut Option<JoinHandle<()>>,
) {
    match result {
        Ok(v) => {
            if let Ok(m) = serde_json::from_value::<Mission>(v) {
                let _ = tx.send(Msg::Mission(m));
            }
            if let Some(f) = follower.take() {
                f.abort();
            }
            // The view skips the events it has already.
            *follower = Some(follow(client, id, 0, tx));
        }
        Err(e) => {
            let _ = tx.send(Msg::Error(format!("{e:#}")));
        }
    }
}

/// The commands about missions: follow one, start, message or resume, cancel, pause, answer.
async fn missions(
    client: &Client,
    cmd: Cmd,
    tx: &UnboundedSender<Msg>,
    follower: &mut Option<JoinHandle<()>>,
) {
    let worktree = matches!(cmd, Cmd::NewWorktreeMission(..));
    match cmd {
        Cmd::Follow(id, from) => {
            if let Some(f) = follower.take() {
                f.abort();
            }
            *follower = Some(follow(client, id, from, tx));
        }
        Cmd::Unfollow => {
            if let Some(f) = follower.take() {
                f.abort();
            }
        }
        Cmd::NewMission(prompt, sandbox) | Cmd::NewWorktreeMission(prompt, sandbox) => {
            let cwd = std::env::current_dir().ok();
            let mut body = new_mission_body(&prompt, sandbox, cwd.as_deref());
            if worktree {
                body["worktree"] = json!(true);
            }
            let result = client.post("/missions", &body).await;
            report(tx, result, |v| {
                serde_json::from_value::<Mission>(v).ok().map(Msg::Created)
            });
        }
        Cmd::NewMissionWithMcp {
            prompt,
            sandbox,
            worktree,
            mcp,
        } => {
            let cwd = std::env::current_dir().ok();
            let body = new_mission_with_mcp_body(&prompt, sandbox, worktree, &mcp, cwd.as_deref());
            let result = client.post("/missions", &body).await;
            report(tx, result, |v| {
                serde_json::from_value::<Mission>(v).ok().map(Msg::Created)
            });
        }
        Cmd::Message {
            id,
            text,
            provider,
            model,
        } => {
            let result = match (&text, &provider, &model) {
                (Some(text), None, None) => {
                    client
                        .post(&format!("/missions/{id}/messages"), &json!({"text": text}))
                        .await
                }
                _ => {
                    let mut body = json!({});
                    if let Some(t) = text {
                        body["message"] = t.into();
                    }
                    if let Some(p) = provider {
                        body["provider"] = p.into();
                    }
                    if let Some(m) = model {
                        body["model"] = m.into();
                    }
                    client.post(&format!("/missions/{id}/resume"), &body).await
                }
            };
            resumed(client, id, result, tx, follower);
        }
        Cmd::RaiseBudget { id, max_cost } => {
            let body = json!({ "max_cost": max_cost });
            let result = client.post(&format!("/missions/{id}/resume"), &body).await;
            resumed(client, id, result, tx, follower);
        }
        Cmd::Cancel(id) => {
            let r = client
                .post(&format!("/missions/{id}/cancel"), &Value::Null)
                .await;
            report(tx, r, |_| Some(Msg::Info("cancelling…".into())));
        }
        Cmd::Pause(id) => {
            let r = client
                .post(&format!("/missions/{id}/pause"), &Value::Null)
                .await;
            report(tx, r, |_| {
                Some(Msg::Info("pausing… (m or i resumes it)".into()))
            });
        }
        Cmd::Approve { id, approval, yes } => {
            let r = client
                .post(
                    &format!("/missions/{id}/approvals/{approval}"),
                    &json!({"approve": yes}),
                )
                .await;
            report(tx, r, |_| {
                Some(Msg::Info(if yes {
                    "allowed".into()
                } else {
                    "denied".into()
                }))
            });
        }
        _ => {}
    }
}

/// The commands about accounts: model lists, logins (and their codes), the login's URL.
async fn accounts(
    client: &Client,
    cmd: Cmd,
    tx: &UnboundedSender<Msg>,
    login: &mut Option<JoinHandle<()>>,
) {
    match cmd {
        Cmd::Models(provider) => {
            let r = client
                .get_query("/models", &[("provider", provider.clone())])
                .await
                .map(|v| {
                    v["models"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|m| m["id"].as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .map_err(|e| format!("{e:#}"));
            let _ = tx.send(Msg::Models(provider, r));
        }
        Cmd::Login {
            provider,
            credential,
        } => {
            if let Some(l) = login.take() {
                l.abort();
            }
            let body = json!({"provider": provider, "credential": credential});
            match client.post("/auth/logins", &body).await {
                Ok(v) => {
                    let id = v["id"].as_str().unwrap_or_default().to_string();
                    let _ = tx.send(Msg::Login(v));
                    let (client, tx) = (client.clone(), tx.clone());
                    *login = Some(tokio::spawn(async move {
                        loop {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            let Ok(v) = client.get(&format!("/auth/logins/{id}")).await else {
                                continue;
                            };
                            let over = v["state"] != "pending";
                            let _ = tx.send(Msg::Login(v));
                            if over {
                                break;
                            }
                        }
                    }));
                }
                Err(e) => {
                    let _ = tx.send(Msg::Login(json!({"error": {"message": format!("{e:#}")}})));
                }
            }
        }
        Cmd::PasteCode { login: id, code } => {
            let r = client
                .post(&format!("/auth/logins/{id}/code"), &json!({"code": code}))
                .await;
            if let Err(e) = r {
                let _ = tx.send(Msg::Login(json!({"error": {"message": format!("{e:#}")}})));
            }
        }
        Cmd::CancelLogin(id) => {
            if let Some(l) = login.take() {
                l.abort();
            }
            let _ = client.delete(&format!("/auth/logins/{id}")).await;
        }
        Cmd::OpenUrl(url) => {
            let msg = match crate::service::accounts::open_browser(&url) {
                true => Msg::Info("opened in a browser".into()),
                false => Msg::Error(
                    "no browser here (no display): copy the URL (y) or open it on another device"
                        .into(),
                ),
            };
            let _ = tx.send(msg);
        }
        Cmd::CopyUrl(url) => {
            // OSC 52: the terminal (and tmux with set-clipboard) puts it on the clipboard.
            use base64::Engine;
            use std::io::Write;
            let encoded = base64::engine::general_purpose::STANDARD.encode(url);
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\x1b]52;c;{encoded}\x07");
            let _ = out.flush();
            let _ = tx.send(Msg::Info(
                "URL copied (if the terminal allows OSC 52)".into(),
            ));
        }
        _ => {}
    }
}

/// The commands about schedules: pause or resume, run now, add; then the lists again.
async fn schedules(client: &Client, cmd: Cmd, tx: &UnboundedSender<Msg>) {
    match cmd {
        Cmd::PauseSchedule(id, pause) => {
            let action = if pause { "pause" } else { "resume" };
            let r = client
                .post(&format!("/schedules/{id}/{action}"), &Value::Null)
                .await;
            report(tx, r, |_| Some(Msg::Info(format!("schedule {action}d"))));
            refresh_rest(client, tx).await;
        }
        Cmd::RunSchedule(id) => {
            let r = client
                .post(&format!("/schedules/{id}/run-now"), &Value::Null)
                .await;
            report(tx, r, |_| Some(Msg::Info("started its mission".into())));
            refresh_rest(client, tx).await;
        }
        Cmd::AddSchedule(body) => {
            let r = client.post("/schedules", &body).await;
            report(tx, r, |v| {
                Some(Msg::Info(format!(
                    "schedule added: {}",
                    v["when"].as_str().unwrap_or("")
                )))
            });
            refresh_rest(client, tx).await;
        }
        _ => {}
    }
}
