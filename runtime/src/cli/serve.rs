//! `sortie serve` (and `--stop`) and `sortie status`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::ServeArgs;
use anyhow::bail;

use crate::api::ServeOptions;
use crate::client::{self, Client};
use crate::config::Config;

/// `sortie serve`: checks the address and that no daemon serves the data dir yet, then
/// runs `start` (the daemon, wired in by `main.rs`) in the foreground.
pub(crate) async fn serve(
    home: &Path,
    args: ServeArgs,
    start: super::StartDaemon,
) -> anyhow::Result<ExitCode> {
    if args.stop {
        eprintln!("no sortie daemon is running for {}", home.display());
        return Ok(ExitCode::from(1));
    }
    let config = Config::load(home)?;
    let options = ServeOptions {
        bind: args.bind,
        port: args.port.unwrap_or(config.daemon.port),
        force_bind: args.force_bind,
        idle_exit: args.idle_exit.map(Duration::from_secs),
    };
    options.check_bind()?;
    if let Some(info) = client::running(home).await {
        bail!(
            "a sortie daemon already serves this data dir (pid {}, http://{}); stop it with `sortie serve --stop`",
            info.pid,
            info.addr
        );
    }
    start(home.to_path_buf(), options).await?;
    Ok(ExitCode::SUCCESS)
}

/// `sortie status`: 0 when the daemon runs, 1 when it does not.
pub(crate) async fn status(client: Option<&Client>, json: bool) -> anyhow::Result<ExitCode> {
    let Some(c) = client else {
        if json {
            println!("{}", serde_json::json!({"running": false}));
        } else {
            println!("the sortie daemon is not running (start it with `sortie serve`)");
        }
        return Ok(ExitCode::from(1));
    };
    let health = c.get("/health").await?;
    if json {
        let mut v = health.clone();
        v["running"] = serde_json::json!(true);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "the sortie daemon is running: pid {}, http://{}, since {}\n  missions: {} running, {} queued",
            c.info.pid,
            c.info.addr,
            c.info.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            health["missions"]["running"],
            health["missions"]["queued"]
        );
        print_cluster(&health["cluster"]);
    }
    Ok(ExitCode::SUCCESS)
}

/// The daemons sharing the store, one line each, as `sortie status` prints them.
fn print_cluster(cluster: &serde_json::Value) {
    if cluster.is_null() {
        return;
    }
    println!(
        "  cluster: this daemon is `{}` on {} (labels: {})",
        cluster["daemon"].as_str().unwrap_or("?"),
        cluster["store"].as_str().unwrap_or("?"),
        labels_text(&cluster["labels"])
    );
    let Some(daemons) = cluster["daemons"].as_array() else {
        println!("  daemons: unknown ({})", cluster["daemons"]["error"]);
        return;
    };
    println!(
        "  {:<20} {:<7} {:<24} {:<18} {:>8}  LABELS",
        "DAEMON", "STATE", "HOST (PID)", "LAST SEEN", "MISSIONS"
    );
    for d in daemons {
        let state = if d["alive"].as_bool() == Some(true) {
            "up"
        } else {
            "down"
        };
        let seen = d["seen_at"]
            .as_str()
            .unwrap_or("")
            .get(..19)
            .unwrap_or("")
            .replace('T', " ");
        println!(
            "  {:<20} {:<7} {:<24} {:<18} {:>8}  {}",
            d["name"].as_str().unwrap_or("?"),
            state,
            format!("{} ({})", d["host"].as_str().unwrap_or("?"), d["pid"]),
            seen,
            d["missions"].as_array().map_or(0, Vec::len),
            labels_text(&d["labels"])
        );
    }
}

fn labels_text(labels: &serde_json::Value) -> String {
    let list: Vec<&str> = labels
        .as_array()
        .map(|a| a.iter().filter_map(|l| l.as_str()).collect())
        .unwrap_or_default();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}
