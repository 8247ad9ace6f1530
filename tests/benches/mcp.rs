//! The MCP client's own cost: a trivial tool (`echo`) called 1,000 times over stdio through
//! Sortie (the `mcp__SERVER__TOOL` path the agent loop takes: policy, rmcp, rendering, cap)
//! against a bare JSON-RPC client on the same server (one line written, one read: the
//! server's own work plus the pipe); and a server's start (spawn, `initialize`,
//! `tools/list`), without and through the sandbox's launcher. Prints tables.
//!
//! `cargo bench -p sortie-tests --bench mcp` (CALLS=N, STARTS=N). Needs the servers that
//! scripts/test.sh installs.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sortie_missions::mcp::{McpSet, ServerConfig};
use sortie_missions::tools::{self, DenyAll, PermissionPolicy};
use sortie_missions::ToolOutcome;
use sortie_sandbox::{EnvPolicy, Ledger, Sandbox, SandboxMode, SandboxPolicy};
use sortie_tests::mcp_servers::{everything_stdio, faulty};
use sortie_tests::stats::percentile;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const WARM_UP: usize = 20;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Round trips of a bare client: the floor any client pays on this server.
async fn bare(config: &ServerConfig, tool: &str, args: Value, calls: usize) -> Vec<Duration> {
    let mut child = tokio::process::Command::new(config.command.as_deref().expect("command"))
        .args(&config.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("server");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut send = async |v: Value| {
        stdin
            .write_all(format!("{v}\n").as_bytes())
            .await
            .expect("write");
    };
    send(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}))
    .await;
    stdout
        .next_line()
        .await
        .expect("read")
        .expect("initialize answer");
    send(json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await;
    let mut times = Vec::with_capacity(calls);
    for id in 1..=calls + WARM_UP {
        let started = Instant::now();
        send(json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
            "params":{"name":tool,"arguments":args}}))
        .await;
        loop {
            let line = stdout.next_line().await.expect("read").expect("an answer");
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if v["id"] == json!(id) {
                assert!(v.get("result").is_some(), "{line}");
                break;
            }
        }
        if id > WARM_UP {
            times.push(started.elapsed());
        }
    }
    times.sort();
    times
}

/// Calls through Sortie, as the agent loop makes them.
async fn through_sortie(set: &McpSet, name: &str, args: Value, calls: usize) -> Vec<Duration> {
    let args = args.to_string();
    let mut times = Vec::with_capacity(calls);
    for i in 0..calls + WARM_UP {
        let started = Instant::now();
        let r = tools::mcp::run(Some(set), PermissionPolicy::Auto, &DenyAll, name, &args).await;
        assert_eq!(r.outcome, ToolOutcome::Ok, "{}", r.output);
        if i >= WARM_UP {
            times.push(started.elapsed());
        }
    }
    times.sort();
    times
}

fn launched(home: &Path, cwd: &Path, launcher: &Path) -> Sandbox {
    let tmpdir = home.join("tmp/bench");
    std::fs::create_dir_all(&tmpdir).expect("tmpdir");
    Sandbox {
        policy: SandboxPolicy {
            mode: SandboxMode::WorkspaceWrite,
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

async fn starts(config: &ServerConfig, sandbox: &Sandbox, n: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let (set, _) = McpSet::start(
            vec![("s".into(), config.clone())],
            sandbox.clone(),
            Vec::new(),
        )
        .await;
        times.push(started.elapsed());
        assert!(!set.tools().is_empty(), "{:?}", set.states()[0].error);
        drop(set);
    }
    times.sort();
    times
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let calls = env("CALLS", 1000);
    let n_starts = env("STARTS", 10);
    let cwd = tempfile::tempdir().expect("cwd");
    let servers = [
        (
            "Python SDK server (faulty_server.py)",
            faulty(&[]),
            "echo",
            json!({"text": "hi"}),
        ),
        (
            "server-everything (node)",
            everything_stdio(),
            "echo",
            json!({"message": "hi"}),
        ),
    ];
    println!("MCP tool call over stdio (`echo`), {calls} calls each after {WARM_UP} warm-up\n");
    println!(
        "| server                               | client        | p50 (ms) | p99 (ms) | max (ms) |"
    );
    println!(
        "|--------------------------------------|---------------|---------:|---------:|---------:|"
    );
    let mut added = Vec::new();
    for (label, config, tool, args) in &servers {
        let floor = bare(config, tool, args.clone(), calls).await;
        let (set, _) = McpSet::start(
            vec![("s".into(), config.clone())],
            Sandbox::unconfined(cwd.path()),
            Vec::new(),
        )
        .await;
        let name = format!("mcp__s__{tool}");
        let ours = through_sortie(&set, &name, args.clone(), calls).await;
        for (client, t) in [("bare JSON-RPC", &floor), ("Sortie", &ours)] {
            println!(
                "| {label:<36} | {client:<13} | {:>8.3} | {:>8.3} | {:>8.3} |",
                ms(percentile(t, 0.5)),
                ms(percentile(t, 0.99)),
                ms(percentile(t, 1.0))
            );
        }
        added.push((
            label,
            ms(percentile(&ours, 0.5)) - ms(percentile(&floor, 0.5)),
            ms(percentile(&ours, 0.99)) - ms(percentile(&floor, 0.99)),
        ));
    }
    println!();
    for (label, p50, p99) in added {
        println!(
            "added by Sortie on {label}: p50 {p50:+.3} ms, p99 {p99:+.3} ms (goal: p50 <= 1 ms)"
        );
    }

    let user_home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, Into::into);
    let home = tempfile::Builder::new()
        .prefix(".sortie-bench-")
        .tempdir_in(&user_home)
        .expect("data dir");
    let home_path = home.path().canonicalize().expect("canonical");
    let launcher = sortie_tests::sortie_bin().with_file_name("sortie-sandbox");
    println!(
        "\nServer start to tools listed (spawn, initialize, tools/list), {n_starts} starts each\n"
    );
    println!("| server                               | how                              | p50 (ms) | max (ms) |");
    println!("|--------------------------------------|----------------------------------|---------:|---------:|");
    for (label, config, _, _) in &servers {
        for (how, sandbox) in [
            ("no launcher", Sandbox::unconfined(cwd.path())),
            (
                "sortie-sandbox, workspace-write",
                launched(&home_path, cwd.path(), &launcher),
            ),
        ] {
            let t = starts(config, &sandbox, n_starts).await;
            println!(
                "| {label:<36} | {how:<32} | {:>8.1} | {:>8.1} |",
                ms(percentile(&t, 0.5)),
                ms(percentile(&t, 1.0))
            );
        }
    }
}
