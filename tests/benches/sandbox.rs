//! The sandbox's own cost per shell call: the same `true` command through the shell tool
//! without the launcher, through the launcher with no rules, with Landlock, and with
//! Landlock and a network namespace; a plain spawn for reference. Prints a table.
//!
//! `cargo bench -p sortie-tests --bench sandbox` (set `CALLS=N` to change the count).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use sortie_missions::tools::{DenyAll, PermissionPolicy, ToolBox};
use sortie_missions::ToolOutcome;
use sortie_sandbox::{EnvPolicy, Ledger, Sandbox, SandboxMode, SandboxPolicy};
use sortie_tests::stats::percentile;

fn sandbox(home: &Path, cwd: &Path, launcher: &Path, mode: SandboxMode, network: bool) -> Sandbox {
    let tmpdir = home.join("tmp/bench");
    std::fs::create_dir_all(&tmpdir).expect("tmpdir");
    Sandbox {
        policy: SandboxPolicy {
            mode,
            network,
            ..SandboxPolicy::default()
        },
        cwd: cwd.to_path_buf(),
        tmpdir,
        data_dir: Some(home.to_path_buf()),
        launcher: Some(launcher.to_path_buf()),
        env: EnvPolicy::default(),
        ledger: Some(Ledger::open(home.join("processes")).expect("ledger")),
        unavailable: Vec::new(),
        required: Vec::new(),
    }
}

async fn time_calls(calls: usize, sandbox: &Sandbox) -> Vec<Duration> {
    let tools = ToolBox::default();
    let args = json!({"command": "true"}).to_string();
    let mut times = Vec::with_capacity(calls);
    for i in 0..calls + 20 {
        let started = Instant::now();
        let r = tools
            .run(sandbox, PermissionPolicy::Auto, &DenyAll, "shell", &args)
            .await;
        assert_eq!(r.outcome, ToolOutcome::Ok, "{}", r.output);
        if i >= 20 {
            times.push(started.elapsed());
        }
    }
    times.sort();
    times
}

async fn plain_spawns(calls: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let status = tokio::process::Command::new("sh")
            .args(["-c", "true"])
            .process_group(0)
            .status()
            .await
            .expect("sh");
        assert!(status.success());
        times.push(started.elapsed());
    }
    times.sort();
    times
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let calls: usize = std::env::var("CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    // Where a data dir usually is: under the user's home, so Landlock's "everything but the
    // data dir" is built along a real path.
    let user_home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, Into::into);
    let home = tempfile::Builder::new()
        .prefix(".sortie-bench-")
        .tempdir_in(&user_home)
        .expect("data dir");
    let cwd = tempfile::tempdir().expect("cwd");
    let sortie_home = home.path().canonicalize().expect("canonical");

    println!("Sandbox cost per shell call (`true`), {calls} calls each\n");
    println!("| path                                        | p50 (ms) | p99 (ms) | max (ms) |");
    println!("|---------------------------------------------|---------:|---------:|---------:|");
    let row = |name: &str, t: &[Duration]| {
        println!(
            "| {name:<43} | {:>8.2} | {:>8.2} | {:>8.2} |",
            ms(percentile(t, 0.5)),
            ms(percentile(t, 0.99)),
            ms(percentile(t, 1.0))
        );
    };
    row("plain spawn (sh -c true)", &plain_spawns(calls).await);
    let bare = time_calls(calls, &Sandbox::unconfined(cwd.path())).await;
    row("shell tool, no launcher", &bare);
    let sortie = sortie_tests::sortie_bin();
    let small = sortie.with_file_name("sortie-sandbox");
    let ww = SandboxMode::WorkspaceWrite;
    let modes = [
        (
            "`sortie __sandbox`, sandbox off",
            &sortie,
            SandboxMode::Off,
            true,
        ),
        ("`sortie __sandbox`, workspace-write", &sortie, ww, true),
        (
            "sortie-sandbox, sandbox off",
            &small,
            SandboxMode::Off,
            true,
        ),
        ("sortie-sandbox, workspace-write", &small, ww, true),
        (
            "sortie-sandbox, workspace-write, no network",
            &small,
            ww,
            false,
        ),
    ];
    let mut added = Vec::new();
    for (name, launcher, mode, network) in modes {
        let sandbox = sandbox(&sortie_home, cwd.path(), launcher, mode, network);
        let t = time_calls(calls, &sandbox).await;
        row(name, &t);
        added.push((
            name,
            ms(percentile(&t, 0.5)) - ms(percentile(&bare, 0.5)),
            ms(percentile(&t, 0.99)) - ms(percentile(&bare, 0.99)),
        ));
    }
    println!("\nadded by the sandbox over the shell tool without it:");
    for (name, p50, p99) in added {
        println!("  {name}: p50 {p50:+.2} ms, p99 {p99:+.2} ms");
    }
    println!(
        "goal: at most +5 ms at p50 for workspace-write (the launcher Sortie uses: sortie-sandbox)"
    );
}
