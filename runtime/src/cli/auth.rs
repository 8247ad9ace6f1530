//! `sortie auth ...` as the command line runs it: here, or through the daemon when one
//! serves the data dir (logins, reconnects, keys, lists, logouts).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use sortie_transports::auth::{AuthMode, CredentialId};

use std::io::{BufRead, IsTerminal, Write};

use anyhow::bail;
use chrono::Utc;
use sortie_missions::Store;
use sortie_transports::auth::{Credential, CredentialSummary};

use super::render::Style;
use super::{AuthCommand, FlowArgs};
use crate::api::{CredentialRow, LoginPrompt, Probe};
use crate::client::{self, autostart_idle, Client};
use crate::config::{Config, ResolvedProvider};
use crate::service::accounts::{self, FlowFlags};
use crate::service::{credentials, open_store};

/// The provider whose pool keeps `name`'s credentials (claude-code runs with anthropic's).
fn credential_owner(config: &Config, name: &str) -> anyhow::Result<ResolvedProvider> {
    let (provider, note) = accounts::credential_owner(config, name)?;
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
    Ok(provider)
}

pub(crate) async fn auth(
    home: &Path,
    daemon: Option<&Client>,
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
        println!("{}", credentials::at_rest_note(home));
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
            let c = login(&store, &provider, flow.into(), label, None).await?;
            done("logged in", &c.summary());
        }
        AuthCommand::AddKey { provider, label } => {
            let provider = credential_owner(&config, &provider)?;
            let key = read_key(&provider.name)?;
            let c = accounts::add_key(&store, &provider, label, &key)?;
            done("stored", &c.summary());
        }
        AuthCommand::List { json, probe } | AuthCommand::Status { json, probe } => {
            let (rows, problems) =
                credentials::credential_rows(&store, &config, None, probe).await?;
            print_rows(&rows, &problems, json)?;
        }
        AuthCommand::Reconnect { id, flow } => {
            let existing = accounts::get(&store, &CredentialId(id))?;
            let c = match existing.auth_mode {
                AuthMode::ApiKey => {
                    accounts::replace_key(&store, &existing.id, &read_key(&existing.provider)?)?
                }
                AuthMode::OAuth => {
                    let provider = config.provider(Some(&existing.provider))?;
                    login(&store, &provider, flow.into(), None, Some(existing.id)).await?
                }
            };
            done("reconnected", &c.summary());
        }
        AuthCommand::Logout { id } => {
            let id = CredentialId(id);
            let note = accounts::logout(&store, &config, &id).await?;
            print_logged_out(&id, &note);
        }
        AuthCommand::Remove { id } => {
            let id = CredentialId(id);
            accounts::remove(&store, &id)?;
            println!("{} removed {id}", style.green("✓"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `✓ logged in: xai#1 (oauth, active, expires in 59m)`.
fn done(what: &str, c: &sortie_transports::auth::CredentialSummary) {
    println!("{} {what}: {}", Style::detect().green("✓"), describe(c));
}

fn print_logged_out(id: &CredentialId, note: &str) {
    println!(
        "{} logged out {id}: {note}; `sortie auth reconnect {id}` logs in again",
        Style::detect().green("✓")
    );
}

/// `sortie auth ...` while the daemon owns the store: the same steps over its API.
async fn auth_through_daemon(
    c: &Client,
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
            let row = match replace_key_through(c, &id).await? {
                Some(row) => row, // an API key: a new key, not an OAuth login
                None => {
                    let body = serde_json::json!({"credential": id, "flow": flow_name(flow)});
                    login_through_daemon(c, home, body, flow.no_browser).await?
                }
            };
            done("reconnected", &row.summary);
        }
        AuthCommand::AddKey { provider, label } => {
            let key = read_key(&provider)?;
            let v = c
                .post(
                    "/credentials",
                    &serde_json::json!({"provider": provider, "key": key.trim(), "label": label}),
                )
                .await?;
            note(&v);
            let row: CredentialRow = serde_json::from_value(v["credential"].clone())?;
            done("stored", &row.summary);
        }
        AuthCommand::List { json, probe } | AuthCommand::Status { json, probe } => {
            let path = if probe {
                "/credentials?probe=true"
            } else {
                "/credentials"
            };
            let v = c.get(path).await?;
            let rows: Vec<CredentialRow> = serde_json::from_value(v["credentials"].clone())?;
            let problems: Vec<String> =
                serde_json::from_value(v["problems"].clone()).unwrap_or_default();
            print_rows(&rows, &problems, json)?;
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
    c: &Client,
    home: &Path,
    body: serde_json::Value,
    no_browser: bool,
) -> anyhow::Result<CredentialRow> {
    let interrupted = ctrl_c_from_now();
    let started = c.post("/auth/logins", &body).await?;
    if let Some(n) = started["note"].as_str() {
        eprintln!("note: {n}");
    }
    let id = started["id"]
        .as_str()
        .context("the daemon's login has no id")?
        .to_string();
    let prompt: LoginPrompt = serde_json::from_value(started["prompt"].clone())
        .context("the daemon's login prompt is not readable")?;
    print_prompt(&prompt, no_browser);
    let path = format!("/auth/logins/{id}");
    let finish = async {
        if prompt.needs_code {
            let code = read_pasted().await?;
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
            Err(Cancelled("login cancelled; nothing was stored".into()).into())
        }
    }
}

/// A command the person stopped with Ctrl-C: exit status 130, as for `sortie run`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Cancelled(pub String);

/// Resolves on Ctrl-C. The handler is in place from this call on, not from the first
/// poll, so a Ctrl-C right after a prompt is printed is not lost.
pub fn ctrl_c_from_now() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    #[cfg(unix)]
    if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
        return Box::pin(async move {
            s.recv().await;
        });
    }
    Box::pin(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Runs a whole login at this terminal and stores the credential; `existing` is updated in
/// place (reconnect).
pub async fn login(
    store: &Store,
    provider: &ResolvedProvider,
    flags: FlowFlags,
    label: Option<String>,
    existing: Option<CredentialId>,
) -> anyhow::Result<Credential> {
    let login = accounts::start_login(store, provider, flags, label, existing).await?;
    print_prompt(&login.prompt, flags.no_browser);
    let code = match login.prompt.needs_code {
        true => Some(read_pasted().await?),
        false => None,
    };
    login
        .finish(store, code.as_deref(), |note| eprintln!("{note}"))
        .await
}

/// Prints what to do to finish a login, and opens a browser where one can be opened.
pub fn print_prompt(p: &LoginPrompt, no_browser: bool) {
    match p.flow.as_str() {
        "device" => {
            println!(
                "To sign in, open {} and enter the code {}",
                p.url,
                p.user_code.as_deref().unwrap_or("?")
            );
            if let Some(complete) = &p.url_complete {
                println!("(or open {complete})");
            }
            let minutes = (p.expires_at - Utc::now()).num_minutes().max(1);
            println!("Waiting for approval (the code expires in {minutes} minutes)…");
        }
        flow => {
            if p.resumed {
                println!(
                    "Resuming the login started earlier (valid until {}).",
                    p.expires_at.format("%H:%M UTC")
                );
            }
            println!(
                "Open this URL to sign in to `{}`:\n\n  {}\n",
                p.provider, p.url
            );
            if flow == "loopback" {
                if !no_browser && accounts::open_browser(&p.url) {
                    println!("(a browser window was opened)");
                }
                if let Some(redirect) = &p.redirect_uri {
                    println!("Waiting for the browser to come back to {redirect} …");
                }
            } else {
                print!("Then paste the code it shows (or the whole URL the browser lands on): ");
            }
        }
    }
    let _ = std::io::stdout().flush();
}

/// Reads the pasted code from stdin.
pub async fn read_pasted() -> anyhow::Result<String> {
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await??;
    if line.trim().is_empty() {
        bail!("no code was pasted; run the login again");
    }
    Ok(line)
}

/// Reads an API key from stdin, or from a hidden prompt at a terminal (never from argv).
pub fn read_key(provider: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("API key for `{provider}` (input hidden): "))
            .context("reading the key")
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the key from stdin")?;
        Ok(line)
    }
}

/// Through the daemon: when `id` is an API key, reads a new one here and stores it in
/// place (`POST /credentials` with `credential`); `None` for an OAuth login.
pub async fn replace_key_through(c: &Client, id: &str) -> anyhow::Result<Option<CredentialRow>> {
    let listed = c.get("/credentials").await?;
    let rows: Vec<CredentialRow> = serde_json::from_value(listed["credentials"].clone())?;
    let Some(row) = rows.into_iter().find(|r| r.summary.id.0 == id) else {
        bail!("unknown credential `{id}` (see `sortie auth list`)");
    };
    if row.summary.auth_mode != AuthMode::ApiKey {
        return Ok(None);
    }
    let key = read_key(&row.summary.provider)?;
    let v = c
        .post(
            "/credentials",
            &serde_json::json!({"provider": row.summary.provider, "key": key.trim(), "credential": id}),
        )
        .await?;
    Ok(Some(serde_json::from_value(v["credential"].clone())?))
}

/// A one-line description of a stored credential, for confirmations.
pub fn describe(c: &CredentialSummary) -> String {
    format!(
        "{} ({}, {}, expires {})",
        c.id,
        c.auth_mode.as_str(),
        c.status.name(),
        crate::text::expiry_text(c, Utc::now())
    )
}

/// `sortie auth list|status`: a table, or the rows as JSON.
pub fn print_rows(rows: &[CredentialRow], problems: &[String], json: bool) -> anyhow::Result<()> {
    for p in problems {
        eprintln!("warning: {p}");
    }
    if json {
        println!("{}", serde_json::to_string_pretty(rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no credentials yet; add one with `sortie auth login <provider>` or `sortie auth add-key <provider>`");
        return Ok(());
    }
    let s = Style::detect();
    let now = Utc::now();
    println!(
        "{}",
        s.bold(&format!(
            "{:<16} {:<8} {:<20} {:<10} {:<14} NEXT",
            "ID", "MODE", "STATUS", "EXPIRES", "LABEL"
        ))
    );
    for row in rows {
        let c = &row.summary;
        println!(
            "{:<16} {:<8} {:<20} {:<10} {:<14} {}",
            c.id,
            c.auth_mode.as_str(),
            c.status.name(),
            crate::text::expiry_text(c, now),
            c.label.chars().take(14).collect::<String>(),
            row.next_step
        );
        if let Some(error) = &c.last_error {
            println!(
                "  {} {error} (still {}; tried again on next use)",
                s.yellow("! last refresh failed:"),
                c.status.name()
            );
        }
        match &row.probe {
            Some(Probe { ok: true, detail }) => println!("  {} {detail}", s.green("✓ probe:")),
            Some(Probe { ok: false, detail }) => println!("  {} {detail}", s.red("✗ probe:")),
            None => {}
        }
    }
    Ok(())
}
