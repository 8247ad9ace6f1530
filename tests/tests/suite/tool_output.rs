//! The shell tool through the real binary: its output live while it runs (`run --json`,
//! the plain view, the daemon's SSE stream), in bounded memory however much it writes,
//! killed past `[tools] max_output_bytes`, and nothing left running when a call returns.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sortie_tests::daemon::{ended, DaemonProc};
use sortie_tests::{sortie, write_local_config, MockProvider, Reply};
use tokio::io::{AsyncBufReadExt, BufReader};

/// A mission whose model calls `shell` once with `command`, then answers "Done.".
async fn shell_mission(command: &str, extra_config: &str) -> (MockProvider, tempfile::TempDir) {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "c1",
        "shell",
        json!({"command": command, "timeout_secs": 120}),
    ));
    mock.push(Reply::text("Done."));
    let home = tempfile::tempdir().expect("home");
    write_local_config(home.path(), &mock.base_url(), extra_config);
    (mock, home)
}

/// Runs `sortie run --json` to its end; each stdout line with when it came.
async fn run_json(home: &Path, cwd: &Path) -> Vec<(Instant, Value)> {
    let mut cmd = tokio::process::Command::from(sortie(home));
    cmd.args(["run", "--json", "go", "--cwd"])
        .arg(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("sortie run");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read") {
            let v: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            seen.push((Instant::now(), v));
        }
    };
    tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .expect("sortie run ended in time");
    let status = child.wait().await.expect("wait");
    assert!(status.success(), "{seen:?}");
    seen
}

fn of_type<'a>(lines: &'a [(Instant, Value)], kind: &str) -> Vec<&'a (Instant, Value)> {
    lines.iter().filter(|(_, v)| v["type"] == kind).collect()
}

/// True while `pid` runs (a zombie does not).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let state = s[s.rfind(')')? + 1..]
                .split_whitespace()
                .next()?
                .to_string();
            Some(state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn run_json_shows_tool_output_while_a_slow_command_runs_and_never_stores_it() {
    let (_mock, home) = shell_mission("echo first; sleep 3; echo second >&2", "").await;
    let cwd = tempfile::tempdir().expect("cwd");
    let lines = run_json(home.path(), cwd.path()).await;

    let outputs = of_type(&lines, "tool_output");
    let result = of_type(&lines, "tool_result");
    assert_eq!(result.len(), 1, "{lines:?}");
    let (result_at, result) = result[0];
    let first = outputs
        .iter()
        .find(|(_, v)| v["stream"] == "stdout" && v["text"] == "first\n")
        .unwrap_or_else(|| panic!("no live `first`: {outputs:?}"));
    assert!(
        *result_at - first.0 > Duration::from_secs(1),
        "`first` came only with the result"
    );
    assert_eq!(first.1["call_id"], "c1");
    assert_eq!(first.1["mission_id"], result["mission_id"]);
    assert!(outputs
        .iter()
        .any(|(_, v)| v["stream"] == "stderr" && v["text"] == "second\n"));
    let last_output = outputs.iter().map(|(at, _)| *at).max().expect("outputs");
    assert!(
        last_output <= *result_at,
        "tool_output after the tool_result"
    );
    assert_eq!(
        result["output"],
        "exit code: 0\n--- stdout ---\nfirst\n--- stderr ---\nsecond\n"
    );

    // The stored log has the result, and no live output.
    let id = result["mission_id"].as_str().expect("id");
    let out = sortie(home.path())
        .args(["show", id, "--json"])
        .output()
        .expect("show");
    let shown: Value = serde_json::from_slice(&out.stdout).expect("show --json");
    let types: Vec<&str> = shown["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(types.contains(&"tool_result"), "{types:?}");
    assert!(!types.contains(&"tool_output"), "{types:?}");
}

#[tokio::test]
async fn run_shows_tool_output_lines_and_no_spinner_when_stdout_is_not_a_terminal() {
    // An escape sequence (clear the screen) in the output must not reach the terminal.
    let command = r"printf '\033[2Jcompiling\n'; sleep 1; echo linked";
    let (_mock, home) = shell_mission(command, "").await;
    let cwd = tempfile::tempdir().expect("cwd");
    let mut cmd = tokio::process::Command::from(sortie(home.path()));
    cmd.args(["run", "go", "--cwd"]).arg(cwd.path());
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("sortie run ended in time")
        .expect("sortie run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("    │ [2Jcompiling\n    │ linked\n"),
        "{stdout}"
    );
    assert!(!stdout.contains('\r'), "a spinner on a pipe: {stdout:?}");
    assert!(
        !stdout.contains('\x1b'),
        "an escape sequence reached the terminal"
    );
    assert!(!stdout.contains('⠋'), "a spinner on a pipe: {stdout:?}");
}

#[tokio::test]
async fn the_sse_stream_carries_tool_output_while_the_command_runs() {
    let (_mock, home) = shell_mission("echo first; sleep 4; echo second", "").await;
    let cwd = tempfile::tempdir().expect("cwd");
    let d = DaemonProc::start(home.path()).await;
    let (status, m) = d
        .post("/missions", json!({"prompt": "go", "cwd": cwd.path()}))
        .await;
    assert_eq!(status, 201, "{m}\n{}", d.log());
    let id = m["id"].as_str().expect("id").to_string();

    let text = d.stream_until(&id, "first\\n").await;
    let output = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .find(|v| v["type"] == "tool_output")
        .unwrap_or_else(|| panic!("no tool_output on the stream:\n{text}"));
    assert_eq!(output["text"], "first\n");
    assert_eq!(output["stream"], "stdout");
    assert_eq!(output["call_id"], "c1");
    assert!(
        !text.contains("\"tool_result\""),
        "the output came only after the call ended:\n{text}"
    );
    let events = d.wait_events(&id, ended).await;
    assert!(events.iter().all(|e| e["type"] != "tool_output"));
    assert!(events.iter().any(|e| e["type"] == "tool_result"
        && e["output"] == "exit code: 0\n--- stdout ---\nfirst\nsecond\n"));
}

/// VmRSS of `pid` in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test]
async fn yes_for_ten_seconds_keeps_resident_memory_bounded() {
    // A cap far above what `yes` writes in 10 s: only the reader's own bounds hold memory.
    let extra = "\n[tools]\nmax_output_bytes = 1099511627776\n";
    let (_mock, home) = shell_mission("timeout 10 yes; echo ended", extra).await;
    let cwd = tempfile::tempdir().expect("cwd");
    let mut cmd = tokio::process::Command::from(sortie(home.path()));
    cmd.args(["run", "--json", "go", "--cwd"])
        .arg(cwd.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("sortie run");
    let pid = child.id().expect("pid");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut result = None;
    let mut peak = 0u64;
    let mut before = None;
    let started = Instant::now();
    let mut sample = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            line = lines.next_line() => match line.expect("read") {
                Some(line) => {
                    let v: Value = serde_json::from_str(&line).expect("JSON line");
                    if v["type"] == "tool_started" {
                        before = rss_kib(pid);
                    }
                    if v["type"] == "tool_result" {
                        result = Some(v);
                    }
                }
                None => break,
            },
            _ = sample.tick() => peak = peak.max(rss_kib(pid).unwrap_or(0)),
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no end");
    }
    assert!(child.wait().await.expect("wait").success());
    let result = result.expect("a tool_result");
    let output = result["output"].as_str().expect("output");
    assert!(
        output.starts_with("exit code: 0\n--- stdout ---\ny\ny\n"),
        "{}",
        &output[..100]
    );
    assert!(output.contains("bytes omitted ...]"), "{}", &output[..100]);
    assert!(
        output.ends_with("y\ny\nended\n"),
        "{}",
        &output[output.len() - 100..]
    );
    assert!(
        result["duration_ms"].as_u64().expect("duration") >= 9_000,
        "yes was stopped early: {result}"
    );
    let before = before.expect("resident memory when the tool started");
    eprintln!(
        "resident memory of sortie run: {} MiB when the tool started, {} MiB at its peak",
        before / 1024,
        peak / 1024
    );
    // The reader keeps about 60 KiB per call; the rest is allocator slack and live updates.
    assert!(
        peak < before + 32 * 1024,
        "resident memory went from {} MiB to {} MiB while `yes` ran",
        before / 1024,
        peak / 1024
    );
}

#[tokio::test]
async fn output_past_max_output_bytes_kills_the_command() {
    let extra = "\n[tools]\nmax_output_bytes = 100000\n";
    let (_mock, home) = shell_mission("yes", extra).await;
    let cwd = tempfile::tempdir().expect("cwd");
    let lines = run_json(home.path(), cwd.path()).await;
    let result = &of_type(&lines, "tool_result")[0].1;
    assert_eq!(result["outcome"], "error");
    let output = result["output"].as_str().expect("output");
    assert!(
        output.starts_with(
            "the command wrote more than 100000 bytes ([tools] max_output_bytes) and was killed: yes\n"
        ),
        "{output:.200}"
    );
}

#[tokio::test]
async fn a_background_child_neither_holds_the_call_nor_outlives_it() {
    let (_mock, home) = shell_mission("sleep 300 & echo $! > pid; echo started", "").await;
    let cwd = tempfile::tempdir().expect("cwd");
    let started = Instant::now();
    let lines = run_json(home.path(), cwd.path()).await;
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the call waited for its background child"
    );
    let result = &of_type(&lines, "tool_result")[0].1;
    assert_eq!(result["output"], "exit code: 0\n--- stdout ---\nstarted\n");
    let pid: i32 = std::fs::read_to_string(cwd.path().join("pid"))
        .expect("pid")
        .trim()
        .parse()
        .expect("a pid");
    assert!(!running(pid), "`sleep 300 &` is still running");
}

#[tokio::test]
async fn read_file_on_a_fifo_answers_at_once() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call("c1", "read_file", json!({"path": "pipe"})));
    mock.push(Reply::text("Done."));
    let home = tempfile::tempdir().expect("home");
    write_local_config(home.path(), &mock.base_url(), "");
    let cwd = tempfile::tempdir().expect("cwd");
    let made = std::process::Command::new("mkfifo")
        .arg(cwd.path().join("pipe"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let lines = run_json(home.path(), cwd.path()).await;
    let result = &of_type(&lines, "tool_result")[0].1;
    assert_eq!(result["outcome"], "error");
    assert!(
        result["output"]
            .as_str()
            .is_some_and(|o| o.contains("`pipe` is not a regular file (a FIFO)")),
        "{result}"
    );
    let summary = &lines.last().expect("summary").1;
    assert_eq!(summary["mission"]["status"], "completed");
}

#[tokio::test]
async fn run_json_through_the_daemon_shows_tool_output_before_the_result() {
    let (_mock, home) = shell_mission("echo first; sleep 3; echo second", "").await;
    let cwd = tempfile::tempdir().expect("cwd");
    let d = DaemonProc::start(home.path()).await;
    let lines = run_json(home.path(), cwd.path()).await;
    let (result_at, result) = of_type(&lines, "tool_result")[0];
    let id = result["mission_id"].as_str().expect("id");
    let (_, mission) = d.get(&format!("/missions/{id}")).await;
    assert_eq!(mission["id"], id, "the daemon ran it: {mission}");
    let first = of_type(&lines, "tool_output")
        .into_iter()
        .find(|(_, v)| v["text"] == "first\n")
        .unwrap_or_else(|| panic!("no live `first`: {lines:?}"));
    assert!(
        *result_at - first.0 > Duration::from_secs(1),
        "`first` came only with the result"
    );
}

#[tokio::test]
async fn file_tools_refuse_dangling_and_relative_symlinks_and_hard_links_that_lead_outside() {
    let root = tempfile::tempdir().expect("root");
    let (cwd, elsewhere) = (root.path().join("work"), root.path().join("elsewhere"));
    std::fs::create_dir_all(&cwd).expect("cwd");
    std::fs::create_dir_all(&elsewhere).expect("elsewhere");
    std::fs::write(elsewhere.join("secret.txt"), "keep me").expect("secret");
    // Absolute and dangling; relative; a second name of a file outside.
    std::os::unix::fs::symlink(elsewhere.join("new.txt"), cwd.join("link")).expect("link");
    std::os::unix::fs::symlink("../elsewhere/secret.txt", cwd.join("rel")).expect("rel");
    std::fs::hard_link(elsewhere.join("secret.txt"), cwd.join("hard.txt")).expect("hard");
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_calls(&[
        ("c1", "write_file", json!({"path": "link", "content": "x"})),
        ("c2", "read_file", json!({"path": "rel"})),
        (
            "c3",
            "edit_file",
            json!({"path": "hard.txt", "old_text": "keep", "new_text": "lost"}),
        ),
    ]));
    mock.push(Reply::text("Done."));
    let home = tempfile::tempdir().expect("home");
    write_local_config(home.path(), &mock.base_url(), "");
    let lines = run_json(home.path(), &cwd).await;
    let results: Vec<&Value> = of_type(&lines, "tool_result")
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(results.len(), 3, "{lines:?}");
    for r in &results {
        assert_eq!(r["outcome"], "error", "{r}");
    }
    let output = |i: usize| {
        results[i]["output"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        output(0).contains("outside the working directory"),
        "{}",
        output(0)
    );
    assert!(
        output(1).contains("outside the working directory"),
        "{}",
        output(1)
    );
    assert!(output(2).contains("hard links"), "{}", output(2));
    assert!(
        !elsewhere.join("new.txt").exists(),
        "written through a dangling symlink"
    );
    assert_eq!(
        std::fs::read_to_string(elsewhere.join("secret.txt")).expect("secret"),
        "keep me"
    );
}
