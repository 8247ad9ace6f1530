//! `sortie demo`: a whole mission against the built-in scripted model, here or in the
//! daemon.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use sortie_missions::PermissionPolicy;

use super::render::Style;
use crate::handle::Sortie;

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

/// `sortie demo`: the banner, the mission as `sortie run` shows one, where its files are.
pub(crate) async fn run_demo(
    sortie: &Sortie,
    json: bool,
    pace: Duration,
    policy: PermissionPolicy,
) -> anyhow::Result<ExitCode> {
    let style = Style::detect();
    let demo = sortie.start_demo(pace, policy).await?;
    if !json {
        println!("{}", banner(&style, &demo.serving));
    }
    let code = super::run::follow(sortie, demo.started, json, 0).await?;
    if let (false, Some(dir)) = (json, &demo.dir) {
        print_demo_footer(&style, dir);
    }
    Ok(code)
}
