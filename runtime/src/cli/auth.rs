//! `sortie auth ...` as the command line runs it: here, or through the daemon when one
//! serves the data dir (logins, reconnects, keys, lists, logouts).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::Utc;
use sortie_transports::auth::{AuthMode, CredentialId, CredentialSummary};

use super::render::Style;
use super::AuthCommand;
use crate::api::{CredentialRow, LoginPrompt, Probe};
use crate::handle::{LoginFor, Sortie};
use crate::service::accounts::{self, FlowFlags};
use crate::service::credentials;

pub(crate) async fn auth(sortie: &Sortie, cmd: AuthCommand) -> anyhow::Result<ExitCode> {
    let style = Style::detect();
    match cmd {
        AuthCommand::Login {
            provider,
            flow,
            label,
        } => {
            let what = LoginFor::Provider {
                name: provider,
                label,
            };
            let summary = login(sortie, what, flow.into()).await?;
            done("logged in", &summary);
        }
        AuthCommand::AddKey { provider, label } => {
            let key = read_key(&provider)?;
            let stored = sortie.store_key(&provider, label, &key, None).await?;
            note(stored.note.as_deref());
            done("stored", &stored.summary);
        }
        AuthCommand::List { json, probe } | AuthCommand::Status { json, probe } => {
            let (rows, problems) = sortie.credentials(probe).await?;
            print_rows(&rows, &problems, json)?;
            if !json {
                // How the secrets are kept.
                println!("{}", credentials::at_rest_note(sortie.home()));
            }
        }
        AuthCommand::Reconnect { id, flow } => {
            let id = CredentialId(id);
            let summary = match sortie.credential_mode(&id).await? {
                (AuthMode::ApiKey, provider) => {
                    // An API key: a new key, not an OAuth login.
                    let key = read_key(&provider)?;
                    sortie
                        .store_key(&provider, None, &key, Some(&id))
                        .await?
                        .summary
                }
                (AuthMode::OAuth, _) => login(sortie, LoginFor::Reconnect(id), flow.into()).await?,
            };
            done("reconnected", &summary);
        }
        AuthCommand::Logout { id } => {
            let id = CredentialId(id);
            let note = sortie.logout(&id).await?;
            println!(
                "{} logged out {id}: {note}; `sortie auth reconnect {id}` logs in again",
                style.green("✓")
            );
        }
        AuthCommand::Remove { id } => {
            sortie.remove_credential(&CredentialId(id.clone())).await?;
            println!("{} removed {id}", style.green("✓"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn note(note: Option<&str>) {
    if let Some(n) = note {
        eprintln!("note: {n}");
    }
}

/// `✓ logged in: xai#1 (oauth, active, expires in 59m)`.
fn done(what: &str, c: &CredentialSummary) {
    println!("{} {what}: {}", Style::detect().green("✓"), describe(c));
}

/// Runs a whole login at this terminal: starts it (here or in the daemon), shows what to
/// do, reads the pasted code when the flow wants one, and waits for its end (Ctrl-C gives
/// it up).
async fn login(
    sortie: &Sortie,
    what: LoginFor,
    flags: FlowFlags,
) -> anyhow::Result<CredentialSummary> {
    let interrupted = ctrl_c_from_now();
    let login = sortie.start_login(what, flags).await?;
    note(login.note.as_deref());
    print_prompt(&login.prompt, flags.no_browser);
    let cancel = login.canceller();
    let finish = async {
        let code = match login.prompt.needs_code {
            true => Some(read_pasted().await?),
            false => None,
        };
        login.finish(code.as_deref(), |n| eprintln!("{n}")).await
    };
    tokio::select! {
        done = finish => done,
        _ = interrupted => {
            cancel.cancel().await;
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
