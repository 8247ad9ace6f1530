use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use super::*;
use serde_json::json;

fn quiet(_: &str, _: &str) {}

async fn shell(tools: &ToolBox, cwd: &Path, args: Value) -> ToolResult {
    run(tools, &Sandbox::unconfined(cwd), &args, &quiet).await
}

/// True while `pid` runs (a zombie is not running).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s[s.rfind(')')? + 1..]
                .split_whitespace()
                .next()
                .map(str::to_string)
        })
        .is_some_and(|state| state != "Z" && state != "X")
}

#[tokio::test]
async fn reports_exit_code_and_both_streams() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = shell(
        &ToolBox::default(),
        dir.path(),
        json!({"command":"echo out; echo err >&2; exit 3"}),
    )
    .await;
    assert_eq!(r.outcome, ToolOutcome::Error);
    assert_eq!(
        r.output,
        "exit code: 3\n--- stdout ---\nout\n--- stderr ---\nerr\n"
    );
}

#[tokio::test]
async fn dropping_a_running_command_kills_its_children_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("survived");
    let pid_file = dir.path().join("child");
    // The child says its pid once it runs, then outlives the call unless it is killed.
    let command = format!(
        "sh -c 'echo $$ > {}.tmp; mv {0}.tmp {0}; sleep 1; touch {}; sleep 30' & sleep 30",
        pid_file.display(),
        marker.display()
    );
    let tools = ToolBox::default();
    let call = shell(&tools, dir.path(), json!({ "command": command }));
    let child = {
        let mut call = std::pin::pin!(call);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            tokio::select! {
                r = &mut call => panic!("the command ended on its own: {}", r.output),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
            if let Ok(pid) = std::fs::read_to_string(&pid_file) {
                break pid.trim().parse::<i32>().expect("pid");
            }
            assert!(Instant::now() < deadline, "the child never started");
        }
        // Cancel the call the way a cancelled mission does: drop it mid-run.
    };
    assert!(
        gone_within(child, Duration::from_secs(5)).await,
        "a child of the cancelled command kept running"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!marker.exists(), "a child of the cancelled command ran on");
}

/// Waits (bounded) for `pid` to stop running: a SIGKILL lands at once, but a loaded machine
/// may take a moment to reap.
async fn gone_within(pid: i32, bound: Duration) -> bool {
    let deadline = Instant::now() + bound;
    while running(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

#[tokio::test]
async fn a_command_past_its_timeout_is_killed_with_its_children_and_keeps_its_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let r = shell(
        &ToolBox::default(),
        dir.path(),
        json!({"command":"echo partial; sleep 30 & echo $! > pid; sleep 30; echo never", "timeout_secs": 1}),
    )
    .await;
    assert_eq!(r.outcome, ToolOutcome::TimedOut);
    assert!(r.output.contains("timed out after 1s"), "{}", r.output);
    assert!(r.output.contains("partial"), "{}", r.output);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the timeout did not end the command"
    );
    let child: i32 = std::fs::read_to_string(dir.path().join("pid"))
        .expect("the background child's pid")
        .trim()
        .parse()
        .expect("pid");
    assert!(
        gone_within(child, Duration::from_secs(5)).await,
        "the background `sleep 30` outlived the timed-out command"
    );
}

#[tokio::test]
async fn a_call_ends_when_its_command_exits_and_leaves_no_process_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    // The background sleep keeps stdout open; the call must not wait for it.
    let r = shell(
        &ToolBox::default(),
        dir.path(),
        json!({"command":"sleep 300 & echo $! > pid; echo done", "timeout_secs": 60}),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(r.outcome, ToolOutcome::Ok, "{}", r.output);
    assert_eq!(r.output, "exit code: 0\n--- stdout ---\ndone\n");
    assert!(took < Duration::from_secs(15), "the call took {took:?}");
    let pid: i32 = std::fs::read_to_string(dir.path().join("pid"))
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    assert!(!running(pid), "`sleep 300 &` outlived its call");
}

#[tokio::test]
async fn output_past_the_hard_cap_kills_the_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tools = ToolBox {
        max_output_bytes: 2_000_000,
        ..ToolBox::default()
    };
    let started = Instant::now();
    let r = shell(
        &tools,
        dir.path(),
        json!({"command":"yes", "timeout_secs": 60}),
    )
    .await;
    assert_eq!(r.outcome, ToolOutcome::Error);
    assert!(
        r.output
            .starts_with("the command wrote more than 2000000 bytes ([tools] max_output_bytes) and was killed: yes\n--- stdout ---\ny\ny\n"),
        "{}",
        &r.output[..200]
    );
    assert!(r.output.contains("bytes omitted"));
    assert!(r.output.len() <= MAX_OUTPUT + 200, "{}", r.output.len());
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn long_output_keeps_its_head_and_tail_and_says_what_went() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = shell(
        &ToolBox::default(),
        dir.path(),
        json!({"command":"seq 1 200000"}),
    )
    .await;
    assert_eq!(r.outcome, ToolOutcome::Ok);
    assert!(r
        .output
        .starts_with("exit code: 0\n--- stdout ---\n1\n2\n3\n"));
    assert!(r.output.ends_with("199999\n200000\n"));
    assert!(r.output.contains("bytes omitted ...]"));
}

#[tokio::test]
async fn output_is_passed_on_live_while_the_command_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seen: Mutex<Vec<(Instant, String, String)>> = Mutex::new(Vec::new());
    let sink = |stream: &str, text: &str| {
        seen.lock()
            .expect("lock")
            .push((Instant::now(), stream.to_string(), text.to_string()))
    };
    let args = json!({"command":"echo first; echo warn >&2; sleep 2; echo second"});
    let r = run(
        &ToolBox::default(),
        &Sandbox::unconfined(dir.path()),
        &args,
        &sink,
    )
    .await;
    let ended = Instant::now();
    assert_eq!(r.outcome, ToolOutcome::Ok);
    let seen = seen.into_inner().expect("lock");
    let first = seen
        .iter()
        .find(|(_, s, t)| s == "stdout" && t.contains("first"))
        .expect("`first` passed on");
    assert!(
        ended - first.0 > Duration::from_secs(1),
        "`first` came only at the end"
    );
    assert!(seen.iter().any(|(_, s, t)| s == "stderr" && t == "warn\n"));
    let stdout: String = seen
        .iter()
        .filter(|(_, s, _)| s == "stdout")
        .map(|(_, _, t)| t.as_str())
        .collect();
    assert_eq!(stdout, "first\nsecond\n");
}

#[tokio::test]
async fn what_a_background_child_wrote_before_the_command_exited_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let r = shell(
        &ToolBox::default(),
        dir.path(),
        json!({"command":"(echo from-child; sleep 300) & sleep 0.5; echo from-main", "timeout_secs": 60}),
    )
    .await;
    assert_eq!(r.outcome, ToolOutcome::Ok, "{}", r.output);
    assert_eq!(
        r.output,
        "exit code: 0\n--- stdout ---\nfrom-child\nfrom-main\n"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
}
