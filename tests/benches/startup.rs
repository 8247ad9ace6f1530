//! How soon `sortie run` (in-process) sends its first request after it starts, and its
//! resident memory then, against the loopback mock over plain `http://` (no TLS needed).
//! Prints a table.
//!
//! `cargo bench -p sortie-tests --bench startup` (set `RUNS=N` to change the count).

use std::time::{Duration, Instant};

use sortie_tests::{sortie, write_local_config, MockProvider, Reply};

/// `VmHWM` (peak resident set) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn pick(samples: &mut [f64], q: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]
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
    let mut first = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..runs {
        // The answer waits, so the process is alive (and measured) at its first request.
        mock.push(Reply::text("ok").delayed(Duration::from_millis(300)));
        let before = mock.hits();
        let mut cmd = tokio::process::Command::from(sortie(home.path()));
        cmd.args(["run", "hi", "--cwd"])
            .arg(cwd.path())
            .stdout(std::process::Stdio::null());
        let started = Instant::now();
        let mut child = cmd.spawn().expect("spawn sortie");
        while mock.hits() == before {
            assert!(started.elapsed() < Duration::from_secs(20), "no request");
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        first.push(started.elapsed().as_secs_f64() * 1e3);
        if let Some(kib) = child.id().and_then(peak_rss_kib) {
            rss.push(kib as f64 / 1024.0);
        }
        let status = child.wait().await.expect("wait");
        assert!(status.success());
    }
    println!(
        "sortie run, in-process, http:// provider; binary {}",
        bin.display()
    );
    println!("| measure                              |  runs |    p50 |    p90 |    max |");
    println!("|--------------------------------------|------:|-------:|-------:|-------:|");
    let line = |name: &str, samples: &mut [f64]| {
        let n = samples.len();
        let (p50, p90, max) = (pick(samples, 0.5), pick(samples, 0.9), pick(samples, 1.0));
        println!("| {name:<36} | {n:>5} | {p50:>6.1} | {p90:>6.1} | {max:>6.1} |");
    };
    line("first request after spawn (ms)", &mut first);
    line("peak RSS at the first request (MiB)", &mut rss);
}
