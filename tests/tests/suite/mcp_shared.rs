//! stdio MCP servers shared by the daemon's missions (`shared = true`): one process serves
//! every mission (the Python server reports its pid), outlives each mission, is restarted
//! once after a crash, a mission's `mcp` selection still holds, and `kill -9` of the
//! daemon takes the process.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sortie_missions::mcp::{shared, CallStatus, McpSet};
use sortie_sandbox::Sandbox;
use sortie_tests::daemon::{ended, DaemonProc};
use sortie_tests::mcp_servers::{faulty, toml};
use sortie_tests::{write_local_config, MockProvider, Reply};

fn gone(pid: u32) -> bool {
    sortie_sandbox::tree::stat(pid).is_none_or(|s| s.state == 'Z')
}

fn pid_in(text: &str) -> u32 {
    text.strip_prefix("pid ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid in {text:?}"))
}

/// Runs one mission through the daemon with `mcp` as its selection; returns its events.
async fn mission(d: &DaemonProc, cwd: &Path, mcp: Value) -> Vec<Value> {
    let (status, m) = d
        .post(
            "/missions",
            json!({"prompt": "who serves me?", "cwd": cwd, "mcp": mcp}),
        )
        .await;
    assert_eq!(status, 201, "{m}\n{}", d.log());
    let id = m["id"].as_str().expect("id").to_string();
    d.wait_events(&id, ended).await
}

fn whoami(events: &[Value]) -> u32 {
    let result = events
        .iter()
        .find(|e| e["type"] == "tool_result" && e["name"] == "mcp__faulty__whoami")
        .unwrap_or_else(|| panic!("no whoami result: {events:#?}"));
    let warnings: Vec<&Value> = events.iter().filter(|e| e["type"] == "warning").collect();
    assert_eq!(result["outcome"], "ok", "{result}\n{warnings:#?}");
    pid_in(result["output"].as_str().expect("output"))
}

#[tokio::test]
async fn the_daemons_missions_share_one_server_process_and_kill_9_takes_it() {
    let mock = MockProvider::start().await;
    for _ in 0..2 {
        mock.push(Reply::tool_call("c1", "mcp__faulty__whoami", json!({})));
        mock.push(Reply::text("done"));
    }
    mock.push(Reply::text("no servers here"));
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    // No --marker: the server runs in the sandbox, which lets it write only to its own dir.
    let server = faulty(&[]);
    write_local_config(
        home.path(),
        &mock.base_url(),
        &toml("faulty", &server, "shared = true"),
    );
    let d = DaemonProc::start(home.path()).await;
    let first = whoami(&mission(&d, cwd.path(), json!(["faulty"])).await);
    // The first mission has ended: a mission's own server would be gone by now.
    assert!(!gone(first), "the shared server outlives the mission");
    let second = whoami(&mission(&d, cwd.path(), json!(["faulty"])).await);
    assert_eq!(first, second, "one process serves both missions");
    // A mission that chose no server is offered none of its tools.
    let events = mission(&d, cwd.path(), json!([])).await;
    assert!(!events.iter().any(|e| e["type"] == "tool_result"));
    let last = mock.requests().pop().expect("a request");
    assert!(
        !last["tools"].to_string().contains("mcp__faulty__"),
        "{}",
        last["tools"]
    );
    d.kill9();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !gone(first) {
        assert!(
            Instant::now() < deadline,
            "the shared server (pid {first}) outlived the daemon's kill -9"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_shared_server_is_restarted_once_for_every_mission_after_a_crash() {
    shared::enable();
    let mut config = faulty(&[]);
    config.shared = true;
    // A name of its own: the registry is per process, and other tests share this one.
    let name = "shared-restart";
    let cwd = tempfile::tempdir().expect("cwd");
    let start = || {
        McpSet::start(
            vec![(name.to_string(), config.clone())],
            Sandbox::unconfined(cwd.path()),
            Vec::new(),
        )
    };
    let ((a, _), (b, _)) = tokio::join!(start(), start());
    let tool = format!("mcp__{name}__whoami");
    async fn pid(set: &McpSet, tool: &str) -> u32 {
        let r = set.call(tool, "{}").await;
        assert_eq!(r.status, CallStatus::Ok, "{}", r.text);
        pid_in(&r.text)
    }
    let first = pid(&a, &tool).await;
    assert_eq!(pid(&b, &tool).await, first, "started once for both");
    let crash = format!("mcp__{name}__crash");
    let r = a.call(&crash, "{}").await;
    assert!(r.text.contains("It was restarted"), "{}", r.text);
    let restarted = pid(&a, &tool).await;
    assert_ne!(restarted, first);
    // The other mission's call finds its connection gone and takes the restarted one,
    // without counting a second restart.
    let r = b.call(&tool, "{}").await;
    assert_eq!(r.status, CallStatus::Error, "{}", r.text);
    assert_eq!(
        pid(&b, &tool).await,
        restarted,
        "the same restarted process"
    );
    let r = b.call(&crash, "{}").await;
    assert!(
        r.text.contains("crashed again after a restart"),
        "{}",
        r.text
    );
}
