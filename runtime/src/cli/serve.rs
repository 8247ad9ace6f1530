//! `sortie serve` (and `--stop`) and `sortie status`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::ServeArgs;
use crate::client::Client;
use crate::config::Config;

pub(crate) async fn serve(home: &Path, args: ServeArgs) -> anyhow::Result<ExitCode> {
    if args.stop {
        eprintln!("no sortie daemon is running for {}", home.display());
        return Ok(ExitCode::from(1));
    }
    let config = Config::load(home)?;
    crate::daemon::serve(
        home,
        crate::daemon::ServeOptions {
            bind: args.bind,
            port: args.port.unwrap_or(config.daemon.port),
            force_bind: args.force_bind,
            idle_exit: args.idle_exit.map(Duration::from_secs),
        },
    )
    .await?;
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
