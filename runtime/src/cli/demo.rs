//! `sortie demo`: a whole mission against the built-in scripted model, here or in the
//! daemon.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sortie_missions::PermissionPolicy;

use super::approve::TtyApprover;
use super::render::Style;
use crate::client::Client;
use crate::service::demo;

pub(crate) async fn run_demo(
    home: &Path,
    daemon: Option<&Client>,
    json: bool,
    pace: Duration,
    policy: PermissionPolicy,
) -> anyhow::Result<ExitCode> {
    let style = Style::detect();
    if let Some(c) = daemon {
        return demo_through(c, json, pace, policy).await;
    }
    let store = crate::service::open_store(home)?;
    let model = demo::DemoModel::start(pace)
        .await
        .context("cannot start the demo model on 127.0.0.1")?;
    let (dir, spec) = demo::prepare(home, policy)?;
    if !json {
        println!("{}", banner(&style, &format!("on {}", model.base_url())));
    }
    let runner = demo::runner(&store, home, model.base_url())?.with_approver(Arc::new(TtyApprover));
    let mission = store.create_mission(spec)?;
    let code = super::run::watch_here(&store, runner, mission, json, 0).await?;
    if !json {
        print_demo_footer(&style, &dir);
    }
    Ok(code)
}

/// `sortie demo` through the daemon: it hosts the scripted model and runs the mission.
pub(crate) async fn demo_through(
    client: &Client,
    json: bool,
    pace: Duration,
    policy: sortie_missions::PermissionPolicy,
) -> anyhow::Result<ExitCode> {
    let created = client
        .post(
            "/demo",
            &serde_json::json!({"pace_ms": pace.as_millis() as u64, "permission": policy}),
        )
        .await?;
    let mission = crate::client::mission_of(&created)?;
    let style = Style::detect();
    if !json {
        println!("{}", banner(&style, "in the sortie daemon"));
    }
    let code = super::run::watch_through(client, mission, json, 0).await?;
    if !json {
        if let Some(dir) = created["dir"].as_str() {
            print_demo_footer(&style, Path::new(dir));
        }
    }
    Ok(code)
}

/// The line that says the answers are scripted.
pub fn banner(style: &Style, serving: &str) -> String {
    format!(
        "{}\n{}",
        style.bold("Sortie demo"),
        style.yellow(&format!(
            "DEMO MODEL: answers come from a built-in scripted model {serving} — not a real LLM.\n\
             Everything else is real: the transport, the agent loop, the tools and the store."
        ))
    )
}

/// Where the demo's files are, and how to look at the mission again.
pub(crate) fn print_demo_footer(style: &Style, dir: &Path) {
    println!(
        "{}",
        style.dim(&format!("   files it worked on: {}", dir.display()))
    );
    println!(
        "{}",
        style.dim("   (from a checkout, `cargo run -q -p sortie -- show <id>` works the same)")
    );
}
