//! A turn through the Claude Code transport against the same `claude` command run directly,
//! both against the loopback mock Anthropic API. Prints a table of wall times and the peak
//! memory of each side.
//!
//! `cargo bench -p sortie-tests --bench claude_code` (`RUNS=N`, default 20 of each, interleaved).

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::StreamExt;
use sortie_tests::anthropic_wire::{turn, Block};
use sortie_tests::claude::{claude_bin, claude_env};
use sortie_tests::stats::percentile;
use sortie_tests::MockProvider;
use sortie_transports::auth::{Credentials, StaticKey};
use sortie_transports::claude_code::{ClaudeCode, ClaudeCodeConfig, HomeDir};
use sortie_transports::{Message, SessionRef, ToolAccess, Transport, TransportEvent, TurnRequest};
use tokio::io::AsyncWriteExt;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn summary(mut samples: Vec<Duration>) -> (f64, f64, f64, f64) {
    samples.sort();
    let mean = samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len() as f64;
    let at = |q: f64| ms(percentile(&samples, q));
    (
        mean,
        at(0.5),
        at(0.9),
        ms(*samples.last().expect("samples")),
    )
}

/// Peak resident memory of this process, from /proc (kB).
fn own_peak_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Peak resident memory of the largest child reaped so far (kB).
fn children_peak_kb() -> u64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map(|u| u.max_rss() as u64)
        .unwrap_or(0)
}

fn request(n: usize) -> TurnRequest {
    TurnRequest {
        model: "claude-mock".into(),
        system: "You are benchmarked.".into(),
        messages: vec![Message::user(format!("say hi {n}"))],
        session: Some(SessionRef {
            id: uuid::Uuid::now_v7().to_string(),
            resume: false,
            ..Default::default()
        }),
        access: ToolAccess::Auto,
        ..Default::default()
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mock = MockProvider::start().await;
    mock.repeat(turn(&[Block::Text("hi from the mock")], "end_turn"));
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    let key = "sk-ant-bench-0000000000";

    let mut config = ClaudeCodeConfig::new(claude_bin());
    config.base_url = Some(mock.root_url());
    config.credentials = Some(Credentials::new(StaticKey::new(
        "anthropic",
        Some(sortie_transports::Secret::new(key)),
    )));
    config.home = HomeDir::Fixed(home.path().to_path_buf());
    config.env = claude_env();
    let transport = ClaudeCode::new(config);

    // The same command line, environment, stdin and directory, run by hand.
    let direct = |n: usize| {
        let req = request(n);
        let mut cmd = tokio::process::Command::new(claude_bin());
        cmd.args(transport.args(&req))
            .current_dir(cwd.path())
            .env_remove("CLAUDE_CODE_OAUTH_TOKEN")
            .env("ANTHROPIC_API_KEY", key)
            .env("ANTHROPIC_BASE_URL", mock.root_url())
            .env("HOME", home.path())
            .env("CLAUDE_CONFIG_DIR", home.path().join(".claude"))
            .env("CLAUDE_CODE_MAX_RETRIES", "0")
            .env("IS_SANDBOX", "1")
            .envs(claude_env())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };

    let mut direct_times = Vec::with_capacity(runs);
    let mut transport_times = Vec::with_capacity(runs);
    // One warm-up of each (page cache, the CLI's first-run files).
    for n in 0..runs + 1 {
        let started = Instant::now();
        let mut child = direct(n).spawn().expect("spawn claude");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(format!("say hi {n}").as_bytes())
            .await
            .expect("write");
        drop(stdin);
        let out = child.wait_with_output().await.expect("claude output");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("\"type\":\"result\""),
            "the direct run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let direct_took = started.elapsed();

        let mut req = request(n);
        req.cwd = Some(cwd.path().to_path_buf());
        let started = Instant::now();
        let mut stream = transport.stream_turn(req).await.expect("turn");
        let mut done = false;
        while let Some(event) = stream.next().await {
            if let TransportEvent::Done(_) = event.expect("event") {
                done = true;
            }
        }
        assert!(done, "the transport's turn did not finish");
        let transport_took = started.elapsed();
        if n > 0 {
            direct_times.push(direct_took);
            transport_times.push(transport_took);
        }
    }

    println!("Claude Code turn: `claude -p` run directly vs through the transport ({runs} runs each, interleaved)\n");
    println!("| measure (ms)                      |  mean |   p50 |   p90 |   max |");
    println!("|-----------------------------------|------:|------:|------:|------:|");
    let (dm, d50, d90, dmax) = summary(direct_times);
    let (tm, t50, t90, tmax) = summary(transport_times);
    println!(
        "| claude run directly               | {dm:>5.0} | {d50:>5.0} | {d90:>5.0} | {dmax:>5.0} |"
    );
    println!(
        "| through the ClaudeCode transport  | {tm:>5.0} | {t50:>5.0} | {t90:>5.0} | {tmax:>5.0} |"
    );
    println!(
        "\nwall-time overhead: mean {:+.1}%, p50 {:+.1}% (goal: at most +5%)",
        (tm / dm - 1.0) * 100.0,
        (t50 / d50 - 1.0) * 100.0
    );
    println!(
        "peak memory: claude child {} MB; this process (mock server + transport) {} MB",
        children_peak_kb() / 1024,
        own_peak_kb() / 1024
    );
}
