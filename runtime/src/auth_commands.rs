//! `sortie auth ...` as the command line runs it: here, or through the daemon when one
//! serves the data dir (logins, reconnects, keys, lists, logouts).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use sortie_transports::auth::{AuthMode, CredentialId};

use crate::cli::{autostart_idle, open_store, AuthCommand, FlowArgs};
use crate::config::{Config, ResolvedProvider};
use crate::render::Style;
use crate::{auth_cmd, client};

/// The provider whose pool keeps `name`'s credentials (claude-code runs with anthropic's).
fn credential_owner(config: &Config, name: &str) -> anyhow::Result<ResolvedProvider> {
    let (provider, note) = auth_cmd::credential_owner(config, name)?;
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
    Ok(provider)
}

pub(crate) async fn auth(
    home: &Path,
    daemon: Option<&client::Client>,
    cmd: AuthCommand,
) -> anyhow::Result<ExitCode> {
    // `auth list` / `auth status` end with how the secrets are kept.
    let at_rest = matches!(
        cmd,
        AuthCommand::List { json: false, .. } | AuthCommand::Status { json: false, .. }
    );
    let code = match daemon {
        Some(c) => auth_through_daemon(c, home, cmd).await?,
        None => auth_here(home, cmd).await?,
    };
    if at_rest {
        println!("{}", auth_cmd::at_rest_note(home));
    }
    Ok(code)
}

async fn auth_here(home: &Path, cmd: AuthCommand) -> anyhow::Result<ExitCode> {
    let config = Config::load(home)?;
    let store = open_store(home)?;
    let style = Style::detect();
    match cmd {
        AuthCommand::Login {
            provider,
            flow,
            label,
        } => {
            let provider = credential_owner(&config, &provider)?;
            let c = auth_cmd::login(&store, &provider, flow.into(), label, None).await?;
            done("logged in", &c.summary());
        }
        AuthCommand::AddKey { provider, label } => {
            let provider = credential_owner(&config, &provider)?;
            let key = auth_cmd::read_key(&provider.name)?;
            let c = auth_cmd::add_key(&store, &provider, label, &key)?;
            done("stored", &c.summary());
        }
        AuthCommand::List { json, probe } | AuthCommand::Status { json, probe } => {
            let (rows, problems) = auth_cmd::credential_rows(&store, &config, None, probe).await?;
            auth_cmd::print_rows(&rows, &problems, json)?;
        }
        AuthCommand::Reconnect { id, flow } => {
            let existing = auth_cmd::get(&store, &CredentialId(id))?;
            let c = match existing.auth_mode {
                AuthMode::ApiKey => auth_cmd::replace_key(
                    &store,
                    &existing.id,
                    &auth_cmd::read_key(&existing.provider)?,
                )?,
                AuthMode::OAuth => {
                    let provider = config.provider(Some(&existing.provider))?;
                    auth_cmd::login(&store, &provider, flow.into(), None, Some(existing.id)).await?
                }
            };
            done("reconnected", &c.summary());
        }
        AuthCommand::Logout { id } => {
            let id = CredentialId(id);
            let note = auth_cmd::logout(&store, &config, &id).await?;
            print_logged_out(&id, &note);
        }
        AuthCommand::Remove { id } => {
            let id = CredentialId(id);
            auth_cmd::remove(&store, &id)?;
            println!("{} removed {id}", style.green("✓"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `✓ logged in: xai#1 (oauth, active, expires in 59m)`.
fn done(what: &str, c: &sortie_transports::auth::CredentialSummary) {
    println!(
        "{} {what}: {}",
        Style::detect().green("✓"),
        auth_cmd::describe(c)
    );
}

fn print_logged_out(id: &CredentialId, note: &str) {
    println!(
        "{} logged out {id}: {note}; `sortie auth reconnect {id}` logs in again",
        Style::detect().green("✓")
    );
}

/// `sortie auth ...` while the daemon owns the store: the same steps over its API.
async fn auth_through_daemon(
    c: &client::Client,
    home: &Path,
    cmd: AuthCommand,
) -> anyhow::Result<ExitCode> {
    let style = Style::detect();
    let note = |v: &serde_json::Value| {
        if let Some(n) = v["note"].as_str() {
            eprintln!("note: {n}");
        }
    };
    match cmd {
        AuthCommand::Login {
            provider,
            flow,
            label,
        } => {
            let body =
                serde_json::json!({"provider": provider, "flow": flow_name(flow), "label": label});
            let row = login_through_daemon(c, home, body, flow.no_browser).await?;
            done("logged in", &row.summary);
        }
        AuthCommand::Reconnect { id, flow } => {
            let row = match auth_cmd::replace_key_through(c, &id).await? {
                Some(row) => row, // an API key: a new key, not an OAuth login
                None => {
                    let body = serde_json::json!({"credential": id, "flow": flow_name(flow)});
                    login_through_daemon(c, home, body, flow.no_browser).await?
                }
            };
            done("reconnected", &row.summary);
        }
        AuthCommand::AddKey { provider, label } => {
            let key = auth_cmd::read_key(&provider)?;
            let v = c
                .post(
                    "/credentials",
                    &serde_json::json!({"provider": provider, "key": key.trim(), "label": label}),
                )
                .await?;
            note(&v);
            let row: auth_cmd::CredentialRow = serde_json::from_value(v["credential"].clone())?;
            done("stored", &row.summary);
        }
        AuthCommand::List { json, probe } | AuthCommand::Status { json, probe } => {
            let path = if probe {
                "/credentials?probe=true"
            } else {
                "/credentials"
            };
            let v = c.get(path).await?;
            let rows: Vec<auth_cmd::CredentialRow> =
                serde_json::from_value(v["credentials"].clone())?;
            let problems: Vec<String> =
                serde_json::from_value(v["problems"].clone()).unwrap_or_default();
            auth_cmd::print_rows(&rows, &problems, json)?;
        }
        AuthCommand::Logout { id } => {
            let v = c
                .post(
                    &format!("/credentials/{}/logout", client::segment(&id)),
                    &serde_json::Value::Null,
                )
                .await?;
            print_logged_out(&CredentialId(id), v["note"].as_str().unwrap_or(""));
        }
        AuthCommand::Remove { id } => {
            c.delete(&format!("/credentials/{}", client::segment(&id)))
                .await?;
            println!("{} removed {id}", style.green("✓"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn flow_name(f: FlowArgs) -> Option<&'static str> {
    if f.device {
        Some("device")
    } else if f.paste {
        Some("paste")
    } else {
        None
    }
}

/// Starts a login in the daemon, shows what to do, hands it the pasted code when the flow
/// wants one, and waits for its end (Ctrl-C gives it up).
async fn login_through_daemon(
    c: &client::Client,
    home: &Path,
    body: serde_json::Value,
    no_browser: bool,
) -> anyhow::Result<auth_cmd::CredentialRow> {
    let interrupted = auth_cmd::ctrl_c_from_now();
    let started = c.post("/auth/logins", &body).await?;
    if let Some(n) = started["note"].as_str() {
        eprintln!("note: {n}");
    }
    let id = started["id"]
        .as_str()
        .context("the daemon's login has no id")?
        .to_string();
    let prompt: auth_cmd::LoginPrompt = serde_json::from_value(started["prompt"].clone())
        .context("the daemon's login prompt is not readable")?;
    auth_cmd::print_prompt(&prompt, no_browser);
    let path = format!("/auth/logins/{id}");
    let finish = async {
        if prompt.needs_code {
            let code = auth_cmd::read_pasted().await?;
            // The daemon may have restarted meanwhile: the handoff finds the new one.
            let (c, id) =
                client::hand_over_code(c, home, &body, &id, code.trim(), autostart_idle(home))
                    .await?;
            return client::wait_login(&c, &id).await;
        }
        client::wait_login(c, &id).await
    };
    tokio::select! {
        done = finish => done,
        _ = interrupted => {
            let _ = c.delete(&path).await;
            Err(auth_cmd::Cancelled("login cancelled; nothing was stored".into()).into())
        }
    }
}
