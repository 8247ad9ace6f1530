//! `sortie` / `sortie tui`: missions, accounts and schedules in the terminal, through the
//! daemon (started when none runs). All I/O runs in a worker task; this loop only turns
//! keys into commands and messages into frames, drawing once per batch of messages.

pub mod app;
mod live;
mod markdown;
pub mod ui;
mod worker;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::client::{self, Client};
use crate::config::Config;
use app::{App, Msg};

/// Puts the terminal back however the TUI ends: return, error, panic (ratatui's hook) or
/// signal (the loop ends and this drops).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableBracketedPaste);
        ratatui::restore();
    }
}

pub async fn run(home: &Path) -> anyhow::Result<ExitCode> {
    if !std::io::IsTerminal::is_terminal(&std::io::stdout())
        || !std::io::IsTerminal::is_terminal(&std::io::stdin())
    {
        bail!("the TUI needs a terminal; for scripts use `sortie missions --json`, `sortie run --json` and the daemon's API");
    }
    let config = Config::load(home)?;
    let client = match Client::connect(home).await {
        Some(c) => c,
        None => client::start_daemon(home, config.daemon.idle_exit_secs)
            .await
            .context("the sortie daemon did not start; see daemon.log in the data dir, or run `sortie serve`")?,
    };
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (msg_tx, mut msg_rx) = mpsc::unbounded_channel();
    let worker = tokio::spawn(worker::run(client, cmd_rx, msg_tx));
    let mut app = App::new(config.provider_names(), chrono::Utc::now());
    app.sandbox = config.sandbox.mode;
    app.mcp_servers = config
        .mcp_servers
        .iter()
        .map(|(name, c)| (name.clone(), c.enabled))
        .collect();

    let mut terminal = ratatui::init();
    let _restore = Restore;
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::EnableBracketedPaste);
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let _ = cmd_tx.send(app::Cmd::Refresh);
    while !app.quit {
        terminal.draw(|f| ui::draw(f, &app))?;
        tokio::select! {
            event = events.next() => {
                match event {
                    Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                        for cmd in app.key(key) {
                            let _ = cmd_tx.send(cmd);
                        }
                    }
                    Some(Ok(Event::Paste(text))) => app.paste(&text),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e).context("reading the terminal"),
                    None => break,
                }
            }
            msg = msg_rx.recv() => {
                let Some(msg) = msg else {
                    bail!("the TUI's connection to the daemon stopped (see the message above, if any)");
                };
                handle(&mut app, msg, &cmd_tx);
                // Everything that arrived meanwhile goes into the same frame.
                while let Ok(msg) = msg_rx.try_recv() {
                    handle(&mut app, msg, &cmd_tx);
                }
            }
            _ = tick.tick() => {
                app.now = chrono::Utc::now();
            }
            _ = term.recv() => break,
            _ = hangup.recv() => break,
        }
    }
    worker.abort();
    Ok(ExitCode::SUCCESS)
}

fn handle(app: &mut App, msg: Msg, cmds: &mpsc::UnboundedSender<app::Cmd>) {
    for cmd in app.apply(msg) {
        let _ = cmds.send(cmd);
    }
}

#[cfg(test)]
mod tests;
