//! Containment through the real binary: in-process `sortie run` and the daemon. What a
//! mission starts dies with its owner (`kill -9` included), never sees a key, and the
//! model is told the sandbox it works in.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sortie_tests::daemon::{ended, DaemonProc};
use sortie_tests::{run_to_end as output, sortie, write_local_config, MockProvider, Reply};

fn gone(pid: u32) -> bool {
    sortie_sandbox::tree::stat(pid).is_none_or(|s| s.state == 'Z')
}

async fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.trim().is_empty() {
                return text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_gone(pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !gone(pid) {
        assert!(
            Instant::now() < deadline,
            "{what} (pid {pid}) outlived its owner: {:?} {}",
            sortie_sandbox::tree::stat(pid),
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .unwrap_or_default()
                .replace('\0', " ")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn pid_in(text: &str) -> u32 {
    text.trim().parse().expect("a pid")
}

#[tokio::test]
async fn kill_9_of_an_in_process_run_takes_its_tool_and_the_tools_children() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "c1",
        "shell",
        json!({"command": "sleep 300 & echo $! > bg.pid; echo $$ > sh.pid; sleep 5; echo done >> f"}),
    ));
    mock.push(Reply::text("never reached"));
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(home.path(), &mock.base_url(), "");
    let mut run = sortie(home.path())
        .args(["run", "slow", "--cwd"])
        .arg(cwd.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sortie run");
    let sh = pid_in(&wait_for_file(&cwd.path().join("sh.pid")).await);
    let bg = pid_in(&wait_for_file(&cwd.path().join("bg.pid")).await);
    run.kill().expect("kill -9");
    let _ = run.wait();
    wait_gone(sh, "the tool's sh").await;
    wait_gone(bg, "the tool's background sleep").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        !cwd.path().join("f").exists(),
        "the tool ran on after its owner died"
    );
}

#[tokio::test]
async fn serve_stop_ends_what_the_running_missions_started() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "c1",
        "shell",
        json!({"command": "sleep 300 & echo $! > bg.pid; sleep 300"}),
    ));
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(home.path(), &mock.base_url(), "");
    let d = DaemonProc::start(home.path()).await;
    let (status, m) = d
        .post("/missions", json!({"prompt": "slow", "cwd": cwd.path()}))
        .await;
    assert_eq!(status, 201, "{m}");
    let bg = pid_in(&wait_for_file(&cwd.path().join("bg.pid")).await);
    let mut stop = sortie(home.path());
    stop.args(["serve", "--stop"]);
    let out = output(stop).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_gone(bg, "a tool's child after `serve --stop`").await;
}

#[tokio::test]
async fn the_shell_in_the_daemon_sees_no_key_and_cannot_read_the_data_dir() {
    let mock = MockProvider::start().await;
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    let token = home.path().join("daemon.token");
    mock.push(Reply::tool_calls(&[
        ("c1", "shell", json!({"command": "env"})),
        (
            "c2",
            "shell",
            json!({"command": format!("cat {}", token.display())}),
        ),
        // The daemon is the launcher's parent: its environment and memory stay closed.
        (
            "c3",
            "shell",
            json!({"command": "d=$(cut -d' ' -f4 /proc/$PPID/stat); echo daemon=$d; tr '\\0' '\\n' < /proc/$d/environ; head -c 100 /proc/$d/mem"}),
        ),
    ]));
    mock.push(Reply::text("done"));
    write_local_config(
        home.path(),
        &mock.base_url(),
        "api_key_env = \"CORP_LLM\"\n",
    );
    let d = DaemonProc::start_with_env(
        home.path(),
        &[
            ("OPENAI_API_KEY", "sk-host-openai-5f3a"),
            ("CORP_LLM", "corp-key-77e1"),
            ("GITHUB_TOKEN", "ghp-host-token-91aa"),
        ],
    )
    .await;
    let (status, m) = d
        .post(
            "/missions",
            json!({"prompt": "look around", "cwd": cwd.path()}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_str().expect("id").to_string();
    let events = d.wait_events(&id, ended).await;
    let results: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "tool_result")
        .collect();
    assert_eq!(results.len(), 3, "{events:#?}");
    let proc_out = results[2]["output"].as_str().expect("proc output");
    assert!(proc_out.contains("daemon="), "{proc_out}");
    assert!(proc_out.contains("Permission denied"), "{proc_out}");
    assert!(
        !proc_out.contains("sk-host-openai-5f3a"),
        "the daemon's environment reached the tool:\n{proc_out}"
    );
    let env = results[0]["output"].as_str().expect("env output");
    assert!(env.contains("PATH="), "{env}");
    for secret in [
        "sk-host-openai-5f3a",
        "corp-key-77e1",
        "ghp-host-token-91aa",
        "SORTIE_",
    ] {
        assert!(!env.contains(secret), "`{secret}` reached the tool:\n{env}");
    }
    let cat = results[1]["output"].as_str().expect("cat output");
    assert!(cat.contains("Permission denied"), "{cat}");
    let real = std::fs::read_to_string(&token).expect("token");
    assert!(
        !cat.contains(real.trim()),
        "the daemon's token reached the tool"
    );
}

#[tokio::test]
async fn the_mission_shows_its_sandbox_and_the_model_is_told_what_it_is() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "c1",
        "shell",
        json!({"command": "echo x > made.txt"}),
    ));
    mock.push(Reply::text("done"));
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(home.path(), &mock.base_url(), "");
    let mut run = sortie(home.path());
    run.args(["run", "--json", "--sandbox", "read-only", "--cwd"])
        .arg(cwd.path())
        .arg("write a file");
    let out = output(run).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "summary")
        .expect("summary line");
    assert_eq!(summary["mission"]["sandbox"], "read-only", "{summary}");
    assert!(!cwd.path().join("made.txt").exists());
    let system = mock.requests()[0]["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        system.contains("Sandbox: read-only. Commands you run with `shell` cannot write"),
        "{system}"
    );
    assert!(system.contains("Network: available."), "{system}");

    // The listing shows the mode; `off` is said as such.
    let mut list = sortie(home.path());
    list.args(["missions", "--json"]);
    let out = output(list).await;
    let list: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(list[0]["sandbox"], "read-only");
}

#[tokio::test]
async fn a_kernel_without_landlock_gives_a_warning_event_not_a_failure() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "c1",
        "shell",
        json!({"command": "echo ran"}),
    ));
    mock.push(Reply::text("done"));
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(home.path(), &mock.base_url(), "");
    let mut run = sortie(home.path());
    run.env("SORTIE_SANDBOX_UNAVAILABLE", "landlock")
        .args(["run", "--json", "--cwd"])
        .arg(cwd.path())
        .arg("say something");
    let out = output(run).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    let events: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let warnings: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "warning")
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("Landlock"), "{warnings:?}");
    let result = events
        .iter()
        .find(|e| e["type"] == "tool_result")
        .expect("tool result");
    assert_eq!(result["outcome"], "ok", "{result}");
}

/// Every process whose command line names `needle`.
fn processes_running(needle: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .filter(|pid| !gone(*pid))
        .collect()
}

#[tokio::test]
async fn kill_9_of_the_daemon_takes_the_claude_code_cli_and_its_bash_tool() {
    use sortie_tests::anthropic_wire::{turn, Block};
    let mock = MockProvider::start().await;
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    sortie_tests::claude::write_claude_code_config(home.path(), &mock.root_url());
    mock.push(turn(
        &[Block::ToolUse {
            id: "toolu_1",
            name: "Bash",
            input: json!({
                "command": "sh slow.sh",
                "description": "a slow command"
            }),
        }],
        "tool_use",
    ));
    mock.push(turn(&[Block::Text("finished")], "end_turn"));
    // In a script: the CLI refuses a command line that starts with a long `sleep`.
    std::fs::write(
        cwd.path().join("slow.sh"),
        "sleep 300 & echo $! > bg.pid; echo $$ > sh.pid; sleep 8; echo done >> f\n",
    )
    .expect("script");
    let d =
        DaemonProc::start_with_env(home.path(), &[("ANTHROPIC_API_KEY", "sk-ant-api03-k")]).await;
    let (status, m) = d
        .post("/missions", json!({"prompt": "run it", "cwd": cwd.path()}))
        .await;
    assert_eq!(status, 201, "{m}\n{}", d.log());
    let id = m["id"].as_str().expect("id").to_string();
    let started = tokio::time::timeout(
        Duration::from_secs(60),
        wait_for_file(&cwd.path().join("sh.pid")),
    )
    .await;
    let Ok(sh) = started else {
        let (_, events) = d.get(&format!("/missions/{id}/events")).await;
        panic!("the CLI's tool never started: {events:#}\n{}", d.log());
    };
    let sh = pid_in(&sh);
    let bg = pid_in(&wait_for_file(&cwd.path().join("bg.pid")).await);
    // The daemon's `claude`: below the daemon, above the tool's shell.
    let below_daemon = sortie_sandbox::tree::descendants(d.child.id());
    let clis: Vec<u32> = processes_running("claude")
        .into_iter()
        .filter(|p| below_daemon.contains(p))
        .filter(|p| sortie_sandbox::tree::descendants(*p).contains(&sh))
        .collect();
    assert!(!clis.is_empty(), "no claude process above the tool's shell");
    d.kill9();
    for pid in clis.iter().copied().chain([sh, bg]) {
        wait_gone(pid, "a process of the Claude Code CLI").await;
    }
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert!(
        !cwd.path().join("f").exists(),
        "the CLI's tool ran on after the daemon died"
    );
}
