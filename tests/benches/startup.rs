//! The lean-process figures of issue 21, against the loopback mock over plain `http://` (no
//! TLS needed). Prints a table:
//! - how soon `sortie run` (in-process) sends its first request after it starts (as the
//!   mock saw it arrive), with a new store and with one of 1,000 missions, and its peak
//!   resident memory then;
//! - the peak resident memory of `sortie run` in-process over a 20-tool-call mission;
//! - an idle daemon's resident memory, 2 s after it answers;
//! - the peak resident memory of `sortie run` following a mission through the daemon.
//!
//! `cargo bench -p sortie-tests --bench startup` (set `RUNS=N` to change the count).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use sortie_missions::{MissionEvent, MissionStatus, Store};
use sortie_tests::daemon::DaemonProc;
use sortie_tests::lean_mock::bench_spec;
use sortie_tests::{sortie, write_local_config, MockProvider, Reply};
use sortie_transports::{ContentBlock, StopReason};

/// Missions in the store of the second first-request measure.
const HISTORY: usize = 1000;

/// A line of `/proc/PID/status` (`VmHWM`: peak resident set; `VmRSS`: now), in MiB.
fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
}

fn pick(samples: &mut [f64], q: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]
}

/// Waits until the mock has answered `count` requests in all.
async fn wait_hits(mock: &MockProvider, count: usize) {
    let started = Instant::now();
    while mock.hits() < count {
        assert!(started.elapsed() < Duration::from_secs(60), "no request");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// `sortie run PROMPT --cwd CWD` with its output dropped.
fn run_cmd(home: &Path, cwd: &Path, prompt: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::from(sortie(home));
    cmd.args(["run", prompt, "--cwd"])
        .arg(cwd)
        .stdout(std::process::Stdio::null());
    cmd
}

/// Spawn to first request (ms), and the peak RSS then (MiB).
async fn first_request(mock: &MockProvider, home: &Path, cwd: &Path, runs: usize) -> [Vec<f64>; 2] {
    let (mut first, mut rss) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        // The answer waits, so the process is alive (and measured) at its first request.
        mock.push(Reply::text("ok").delayed(Duration::from_millis(300)));
        let before = mock.hits();
        let started = Instant::now();
        let mut child = run_cmd(home, cwd, "hi").spawn().expect("spawn sortie");
        wait_hits(mock, before + 1).await;
        // When the mock received it, not when this loop looked (tokio's timer ticks in ms).
        let arrived = mock.arrival(before).expect("the request's arrival");
        first.push(arrived.duration_since(started).as_secs_f64() * 1e3);
        rss.extend(child.id().and_then(|pid| status_mib(pid, "VmHWM:")));
        assert!(child.wait().await.expect("wait").success());
    }
    [first, rss]
}

/// A data dir whose store already holds `count` finished missions, as a user's does after
/// a while: what start-up reads must not grow with it.
async fn with_history(home: &Path, cwd: &Path, count: usize) {
    let store = Store::open(home).expect("store");
    let answer = MissionEvent::AssistantMessage {
        turn: 1,
        content: vec![ContentBlock::Text {
            text: "done".into(),
        }],
        stop_reason: StopReason::EndTurn,
    };
    for _ in 0..count {
        let m = store.create_mission(bench_spec(cwd)).expect("create");
        for status in [MissionStatus::Running, MissionStatus::Completed] {
            store
                .append(
                    &m.id,
                    MissionEvent::Status {
                        status,
                        reason: None,
                    },
                )
                .expect("append");
            if status == MissionStatus::Running {
                store.append(&m.id, answer.clone()).expect("append");
            }
        }
    }
    store.flush_all().await.expect("flush");
    drop(store);
    // sled lets go of its lock (flock on store/db) a moment after its last handle drops.
    let db = std::fs::File::open(home.join("store/db")).expect("store/db");
    let started = Instant::now();
    while fs2::FileExt::try_lock_exclusive(&db).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "sled kept its lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fs2::FileExt::unlock(&db).expect("unlock");
}

/// The peak RSS (MiB) of an in-process mission of 20 tool calls (`read_file`), read at its
/// last request (whose answer waits).
async fn twenty_tools(mock: &MockProvider, home: &Path, cwd: &Path, runs: usize) -> Vec<f64> {
    std::fs::write(cwd.join("notes.txt"), "a line of notes\n".repeat(200)).expect("file");
    let mut rss = Vec::new();
    for _ in 0..runs {
        for i in 0..20 {
            let id = format!("call_{i}");
            mock.push(Reply::tool_call(
                &id,
                "read_file",
                json!({"path": "notes.txt"}),
            ));
        }
        mock.push(Reply::text("read it twenty times").delayed(Duration::from_millis(300)));
        let before = mock.hits();
        let mut child = run_cmd(home, cwd, "read notes.txt 20 times")
            .spawn()
            .expect("spawn");
        wait_hits(mock, before + 21).await;
        rss.extend(child.id().and_then(|pid| status_mib(pid, "VmHWM:")));
        assert!(child.wait().await.expect("wait").success());
    }
    rss
}

/// An idle daemon's RSS and peak RSS (MiB) 2 s after it answers; then the peak RSS of a
/// `sortie run` following a mission through it, read while the mission's answer waits.
async fn daemon_and_client(mock: &MockProvider, runs: usize) -> [Vec<f64>; 3] {
    let (mut idle, mut idle_peak, mut client) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let home = tempfile::tempdir().expect("home");
        let cwd = tempfile::tempdir().expect("cwd");
        write_local_config(home.path(), &mock.base_url(), "");
        let d = DaemonProc::start(home.path()).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let pid = d.child.id();
        idle.extend(status_mib(pid, "VmRSS:"));
        idle_peak.extend(status_mib(pid, "VmHWM:"));

        mock.push(Reply::text("ok").delayed(Duration::from_millis(1500)));
        let before = mock.hits();
        let mut child = run_cmd(home.path(), cwd.path(), "hi")
            .spawn()
            .expect("spawn");
        wait_hits(mock, before + 1).await;
        // The client has connected and follows the stream.
        tokio::time::sleep(Duration::from_millis(500)).await;
        client.extend(child.id().and_then(|pid| status_mib(pid, "VmHWM:")));
        assert!(child.wait().await.expect("wait").success());
        drop(d);
    }
    [idle, idle_peak, client]
}

/// How many of the functions in runtime/startup-order.txt the binary still has (`nm`): the
/// linker groups only those, so a stale list (code or dependencies changed since
/// scripts/startup-order.sh made it) shows here as a low count and a larger resident set.
fn order_coverage(bin: &Path) -> Option<(usize, usize)> {
    let list = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/startup-order.txt");
    let list = std::fs::read_to_string(list).ok()?;
    let out = std::process::Command::new("nm")
        .arg("--defined-only")
        .arg(bin)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let symbols: std::collections::HashSet<&str> =
        text.lines().filter_map(|l| l.split(' ').nth(2)).collect();
    let wanted: Vec<&str> = list.lines().filter(|l| !l.starts_with('#')).collect();
    let found = wanted.iter().filter(|w| symbols.contains(*w)).count();
    Some((found, wanted.len()))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mock = MockProvider::start().await;
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(home.path(), &mock.base_url(), "");
    let bin = sortie_tests::sortie_bin();
    let [mut first, mut first_rss] = first_request(&mock, home.path(), cwd.path(), runs).await;
    let history = tempfile::tempdir().expect("home");
    write_local_config(history.path(), &mock.base_url(), "");
    with_history(history.path(), cwd.path(), HISTORY).await;
    let [mut first_history, _] =
        first_request(&mock, history.path(), cwd.path(), runs.div_ceil(2)).await;
    let mut mission_rss = twenty_tools(&mock, home.path(), cwd.path(), runs.div_ceil(2)).await;
    let [mut idle, mut idle_peak, mut client] = daemon_and_client(&mock, runs.div_ceil(4)).await;

    println!(
        "sortie, http:// provider on loopback; binary {}",
        bin.display()
    );
    println!(
        "| measure                                          |  runs |    p50 |    p90 |    max |"
    );
    println!(
        "|--------------------------------------------------|------:|-------:|-------:|-------:|"
    );
    let line = |name: &str, samples: &mut [f64]| {
        let n = samples.len();
        let (p50, p90, max) = (pick(samples, 0.5), pick(samples, 0.9), pick(samples, 1.0));
        println!("| {name:<48} | {n:>5} | {p50:>6.1} | {p90:>6.1} | {max:>6.1} |");
    };
    line("in-process: first request after spawn (ms)", &mut first);
    line(
        "  the same, a store of 1,000 missions (ms)",
        &mut first_history,
    );
    line(
        "in-process: peak RSS at the first request (MiB)",
        &mut first_rss,
    );
    line(
        "in-process: peak RSS, 20-tool-call mission (MiB)",
        &mut mission_rss,
    );
    line("idle daemon: RSS 2 s after start (MiB)", &mut idle);
    line(
        "idle daemon: peak RSS 2 s after start (MiB)",
        &mut idle_peak,
    );
    line("client following via daemon: peak RSS (MiB)", &mut client);
    match order_coverage(&bin) {
        Some((found, all)) => println!(
            "start-up functions grouped by the linker (runtime/startup-order.txt): {found} of {all} found in the binary"
        ),
        None => println!("start-up order: not checked (no `nm`, or no runtime/startup-order.txt)"),
    }
}
