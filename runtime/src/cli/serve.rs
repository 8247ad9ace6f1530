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
    }
    Ok(ExitCode::SUCCESS)
}
