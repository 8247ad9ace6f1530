//! MCP through the real binary: a mission whose scripted model calls an MCP tool and reads
//! its result, the permission policy, `--mcp`/`--no-mcp`, `sortie mcp ls/tools/call`, and
//! the server's process gone after the mission and after `kill -9` of the daemon.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sortie_tests::daemon::DaemonProc;
use sortie_tests::mcp_servers::{faulty, toml};
use sortie_tests::{run_to_end, sortie, text, write_local_config, MockProvider, Reply};

fn gone(pid: u32) -> bool {
    sortie_sandbox::tree::stat(pid).is_none_or(|s| s.state == 'Z')
}

async fn wait_gone(pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !gone(pid) {
        assert!(
            Instant::now() < deadline,
            "{what} (pid {pid}) outlived its mission"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_pid(path: &Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A data dir whose config has the mock model and the faulty server (writing its pid to
/// `marker`), plus `extra` config lines.
fn setup(mock: &MockProvider, marker: &Path, extra: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("home");
    let server = faulty(&["--marker", &marker.display().to_string()]);
    write_local_config(
        home.path(),
        &mock.base_url(),
        &format!(
            "{extra}{}",
            toml("faulty", &server, "tool_timeout_secs = 300")
        ),
    );
    home
}

fn lines(out: &std::process::Output) -> Vec<Value> {
    text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn tool_results(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|l| l["type"] == "tool_result")
        .collect()
}

fn offered(request: &Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_mission_calls_an_mcp_tool_gets_its_result_and_the_server_is_gone_after() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "c1",
        "mcp__faulty__echo",
        json!({"text": "from the model"}),
    ));
    mock.push(Reply::text("done"));
    let cwd = tempfile::tempdir().expect("cwd");
    let marker = cwd.path().join("server.pid");
    let home = setup(&mock, &marker, "");
    let mut cmd = sortie(home.path());
    cmd.args(["run", "--json", "use the tracker", "--cwd"])
        .arg(cwd.path());
    let out = run_to_end(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let requests = mock.requests();
    let tools = offered(&requests[0]);
    assert!(
        tools.contains(&"mcp__faulty__echo".to_string()),
        "{tools:?}"
    );
    assert!(
        tools.contains(&"shell".to_string()),
        "built-ins stay: {tools:?}"
    );
    assert!(!tools.contains(&"mcp__faulty__bad_schema".to_string()));
    let echo = requests[0]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["function"]["name"] == "mcp__faulty__echo")
        .expect("echo");
    assert_eq!(
        echo["function"]["parameters"]["properties"]["text"]["type"],
        "string"
    );
    // The model reads the server's answer in the next turn.
    let messages = requests[1]["messages"].as_array().expect("messages");
    let tool_msg = messages
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("tool message");
    assert_eq!(tool_msg["content"], "echo: from the model");
    let events = lines(&out);
    let results = tool_results(&events);
    assert_eq!(results.len(), 1, "{events:#?}");
    assert_eq!(results[0]["name"], "mcp__faulty__echo");
    assert_eq!(results[0]["outcome"], "ok");
    // The invalid schema was said, naming the server.
    assert!(
        events.iter().any(|e| e["type"] == "warning"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("MCP server `faulty`: tool `bad_schema` is left out"))),
        "{events:#?}"
    );
    let pid = wait_for_pid(&marker).await;
    wait_gone(pid, "the MCP server").await;
}

#[tokio::test]
async fn read_only_denies_an_mcp_tool_without_read_only_hint_and_runs_one_with_it() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_calls(&[
        ("c1", "mcp__faulty__write_note", json!({"text": "x"})),
        ("c2", "mcp__faulty__echo", json!({"text": "reading"})),
    ]));
    mock.push(Reply::text("done"));
    let cwd = tempfile::tempdir().expect("cwd");
    let home = setup(&mock, &cwd.path().join("server.pid"), "");
    let mut cmd = sortie(home.path());
    cmd.args(["run", "--json", "--permission", "read-only", "go", "--cwd"])
        .arg(cwd.path());
    let out = run_to_end(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let events = lines(&out);
    let results = tool_results(&events);
    assert_eq!(results[0]["name"], "mcp__faulty__write_note");
    assert_eq!(results[0]["outcome"], "denied");
    assert!(
        results[0]["output"]
            .as_str()
            .is_some_and(|o| o.contains("MCP server `faulty`")),
        "{results:#?}"
    );
    assert_eq!(results[1]["outcome"], "ok");
    assert_eq!(results[1]["output"], "echo: reading");
}

#[tokio::test]
async fn ask_with_nobody_to_ask_denies_an_mcp_tool_that_changes_things() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "c1",
        "mcp__faulty__write_note",
        json!({"text": "x"}),
    ));
    mock.push(Reply::text("done"));
    let cwd = tempfile::tempdir().expect("cwd");
    let home = setup(&mock, &cwd.path().join("server.pid"), "");
    let mut cmd = sortie(home.path());
    cmd.args(["run", "--json", "--permission", "ask", "go", "--cwd"])
        .arg(cwd.path());
    let out = run_to_end(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let events = lines(&out);
    assert_eq!(tool_results(&events)[0]["outcome"], "denied");
}

#[tokio::test]
async fn no_mcp_offers_no_mcp_tool_and_an_unknown_server_is_refused_by_name() {
    let mock = MockProvider::start().await;
    mock.push(Reply::text("done"));
    let cwd = tempfile::tempdir().expect("cwd");
    let marker = cwd.path().join("server.pid");
    let home = setup(&mock, &marker, "");
    let mut cmd = sortie(home.path());
    cmd.args(["run", "--json", "--no-mcp", "go", "--cwd"])
        .arg(cwd.path());
    let out = run_to_end(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tools = offered(&mock.requests()[0]);
    assert!(tools.iter().all(|t| !t.starts_with("mcp__")), "{tools:?}");
    assert!(!marker.exists(), "no server was started");
    let events = lines(&out);
    assert!(events
        .iter()
        .any(|e| e["type"] == "mcp_selected" && e["servers"] == json!([])));

    let mut cmd = sortie(home.path());
    cmd.args(["run", "--mcp", "faulty,nosuch", "go", "--cwd"])
        .arg(cwd.path());
    let out = run_to_end(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("no MCP server named `nosuch`") && err.contains("configured: faulty"),
        "{err}"
    );
}

#[tokio::test]
async fn sortie_mcp_ls_tools_and_call_by_hand() {
    let mock = MockProvider::start().await;
    let cwd = tempfile::tempdir().expect("cwd");
    let broken = toml("broken", &faulty(&["--mode", "exit"]), "");
    let home = setup(&mock, &cwd.path().join("server.pid"), &broken);
    let mut cmd = sortie(home.path());
    cmd.args(["mcp", "ls", "--json"]).current_dir(cwd.path());
    let out = run_to_end(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let by_name = |n: &str| {
        list.as_array()
            .expect("array")
            .iter()
            .find(|s| s["name"] == n)
            .cloned()
            .expect("listed")
    };
    let ok = by_name("faulty");
    assert_eq!(
        (ok["state"].as_str(), ok["transport"].as_str()),
        (Some("ready"), Some("stdio"))
    );
    assert!(ok["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .any(|t| t["name"] == "mcp__faulty__echo"
            && t["tool"] == "echo"
            && t["read_only"] == true));
    let bad = by_name("broken");
    assert_eq!(bad["state"], "failed");
    assert!(
        bad["error"]
            .as_str()
            .is_some_and(|e| e.contains("missing FAULTY_CONFIG")),
        "{bad}"
    );

    let mut cmd = sortie(home.path());
    cmd.args(["mcp", "tools", "faulty"]).current_dir(cwd.path());
    let out = run_to_end(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("mcp__faulty__echo (read-only)"));
    assert!(text(&out.stderr).contains("tool `bad_schema` is left out"));

    let mut cmd = sortie(home.path());
    cmd.args(["mcp", "call", "faulty", "echo", r#"{"text":"by hand"}"#])
        .current_dir(cwd.path());
    let out = run_to_end(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "echo: by hand");

    let mut cmd = sortie(home.path());
    cmd.args(["mcp", "call", "faulty", "fail", "--json"])
        .current_dir(cwd.path());
    let out = run_to_end(cmd).await;
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v, json!({"status": "error", "output": "it went wrong"}));

    let mut cmd = sortie(home.path());
    cmd.args(["mcp", "tools", "nosuch"]).current_dir(cwd.path());
    let out = run_to_end(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no MCP server named `nosuch`"));
}

#[tokio::test]
async fn kill_9_of_the_daemon_takes_the_missions_mcp_server() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call("c1", "mcp__faulty__hang", json!({})));
    mock.push(Reply::text("never reached"));
    let cwd = tempfile::tempdir().expect("cwd");
    let marker = cwd.path().join("server.pid");
    let home = setup(&mock, &marker, "");
    let d = DaemonProc::start(home.path()).await;
    let (status, m) = d
        .post(
            "/missions",
            json!({"prompt": "hang", "cwd": cwd.path(), "mcp": ["faulty"]}),
        )
        .await;
    assert_eq!(status, 201, "{m}\n{}", d.log());
    let id = m["id"].as_str().expect("id").to_string();
    let pid = wait_for_pid(&marker).await;
    // The call is under way before the daemon dies.
    d.wait_events(&id, |events| {
        events.iter().any(|e| {
            e["type"] == "assistant_message"
                && e["content"].to_string().contains("mcp__faulty__hang")
        })
    })
    .await;
    assert!(!gone(pid));
    d.kill9();
    wait_gone(pid, "the daemon's MCP server").await;
}

#[tokio::test]
async fn a_server_that_crashes_mid_mission_is_restarted_and_the_mission_goes_on() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call("c1", "mcp__faulty__crash", json!({})));
    mock.push(Reply::tool_call(
        "c2",
        "mcp__faulty__echo",
        json!({"text": "after the crash"}),
    ));
    mock.push(Reply::text("done"));
    let cwd = tempfile::tempdir().expect("cwd");
    let marker = cwd.path().join("server.pid");
    let home = setup(&mock, &marker, "");
    let mut cmd = sortie(home.path());
    cmd.args(["run", "--json", "go", "--cwd"]).arg(cwd.path());
    let out = run_to_end(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let events = lines(&out);
    let results = tool_results(&events);
    assert_eq!(results[0]["outcome"], "error");
    let said = results[0]["output"].as_str().unwrap_or_default();
    assert!(
        said.contains("MCP server `faulty` failed during `crash`")
            && said.contains("It was restarted"),
        "{said}"
    );
    assert_eq!(results[1]["outcome"], "ok");
    assert_eq!(results[1]["output"], "echo: after the crash");
    assert!(events
        .iter()
        .any(|e| e["type"] == "status" && e["status"] == "completed"));
    // The restarted server wrote its own pid over the first one's; it is gone too.
    let pid = wait_for_pid(&marker).await;
    wait_gone(pid, "the restarted MCP server").await;
}

#[tokio::test]
async fn resume_with_mcp_brings_a_server_back_and_schedule_add_keeps_the_choice() {
    let mock = MockProvider::start().await;
    mock.push(Reply::text("first"));
    let cwd = tempfile::tempdir().expect("cwd");
    let home = setup(&mock, &cwd.path().join("server.pid"), "");
    let mut cmd = sortie(home.path());
    cmd.args(["run", "--json", "--no-mcp", "go", "--cwd"])
        .arg(cwd.path());
    let out = run_to_end(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = lines(&out)[0]["mission_id"]
        .as_str()
        .expect("mission id")
        .to_string();
    mock.push(Reply::tool_call(
        "c1",
        "mcp__faulty__echo",
        json!({"text": "back"}),
    ));
    mock.push(Reply::text("done"));
    let mut cmd = sortie(home.path());
    cmd.args(["resume", &id, "--json", "--mcp", "faulty", "again"]);
    let out = run_to_end(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let events = lines(&out);
    assert_eq!(tool_results(&events)[0]["output"], "echo: back");
    let requests = mock.requests();
    assert!(offered(&requests[0])
        .iter()
        .all(|t| !t.starts_with("mcp__")));
    assert!(offered(&requests[1]).contains(&"mcp__faulty__echo".to_string()));

    let mut cmd = sortie(home.path());
    cmd.args([
        "schedule", "add", "--every", "1h", "--mcp", "faulty", "--json", "--cwd",
    ])
    .arg(cwd.path())
    .arg("report");
    let out = run_to_end(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let schedule: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(schedule["mission"]["mcp"], json!(["faulty"]), "{schedule}");
    let mut cmd = sortie(home.path());
    cmd.args([
        "schedule", "add", "--every", "1h", "--mcp", "nosuch", "--cwd",
    ])
    .arg(cwd.path())
    .arg("report");
    let out = run_to_end(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no MCP server named `nosuch`"));
}
