//! The older HTTP+SSE transport (MCP 2024-11-05) against real servers on loopback: the
//! Python SDK's `SseServerTransport` (faulty_server.py --sse) and server-everything's `sse`
//! mode; found by the fallback (a 404/405 to the streamable HTTP `initialize` POST) or
//! chosen with `transport = "sse"`; and a mission calling a tool over it through the binary.

use std::time::{Duration, Instant};

use serde_json::json;
use sortie_missions::mcp::config::Transport;
use sortie_missions::mcp::{CallStatus, McpSet, ServerConfig};
use sortie_missions::tools::{self, DenyAll, PermissionPolicy};
use sortie_missions::ToolOutcome;
use sortie_sandbox::Sandbox;
use sortie_tests::mcp_sse_servers::SseServer;
use sortie_tests::{run_to_end, sortie, text, write_local_config, MockProvider, Reply};

async fn start(name: &str, config: ServerConfig) -> (McpSet, Vec<String>, tempfile::TempDir) {
    let cwd = tempfile::tempdir().expect("cwd");
    let (set, warnings) = McpSet::start(
        vec![(name.to_string(), config)],
        Sandbox::unconfined(cwd.path()),
        Vec::new(),
    )
    .await;
    (set, warnings, cwd)
}

#[tokio::test]
async fn a_python_sdk_sse_server_is_found_by_the_fallback_and_its_tools_work() {
    let server = SseServer::faulty().await;
    let (set, warnings, _cwd) = start("legacy", server.config()).await;
    // The one warning is the tool whose schema is invalid: the server itself is up.
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("bad_schema"), "{warnings:?}");
    let r = set
        .call("mcp__legacy__echo", r#"{"text":"over sse"}"#)
        .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (CallStatus::Ok, "echo: over sse")
    );
    let r = set.call("mcp__legacy__fail", "{}").await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (CallStatus::Error, "it went wrong")
    );
    let r = set.call("mcp__legacy__structured", "{}").await;
    assert_eq!(r.text, "see structured\nstructuredContent: {\"answer\":42}");
    // Two calls at once share the one stream, each answer reaching its caller.
    let (a, b) = tokio::join!(
        set.call("mcp__legacy__echo", r#"{"text":"a"}"#),
        set.call("mcp__legacy__echo", r#"{"text":"b"}"#)
    );
    assert_eq!((a.text.as_str(), b.text.as_str()), ("echo: a", "echo: b"));
    let state = &set.states()[0];
    assert_eq!(state.state, "ready");
}

#[tokio::test]
async fn a_10_mb_result_over_sse_is_cut_to_the_tool_output_bound() {
    let server = SseServer::faulty().await;
    let (set, _, _cwd) = start("legacy", server.config()).await;
    let r = tools::mcp::run(
        Some(&set),
        PermissionPolicy::Auto,
        &DenyAll,
        "mcp__legacy__huge",
        "{}",
    )
    .await;
    assert_eq!(
        r.outcome,
        ToolOutcome::Ok,
        "{}",
        &r.output[..200.min(r.output.len())]
    );
    assert!(
        r.output.len() <= tools::MAX_OUTPUT + 200,
        "{}",
        r.output.len()
    );
    assert!(r.output.contains("output truncated"), "says it was cut");
}

#[tokio::test]
async fn a_server_that_drops_the_sse_stream_mid_call_is_a_clear_error_naming_it() {
    let mut server = SseServer::faulty().await;
    let (set, _, _cwd) = start("legacy", server.config()).await;
    let started = Instant::now();
    let r = set.call("mcp__legacy__crash", "{}").await;
    assert_eq!(r.status, CallStatus::Error, "{}", r.text);
    assert!(
        r.text.contains("MCP server `legacy` failed during `crash`")
            && r.text.contains("its SSE stream was cut off"),
        "{}",
        r.text
    );
    assert!(started.elapsed() < Duration::from_secs(30), "not a timeout");
    // The stream ends as the process exits: it may not be reaped yet.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.exited() {
        assert!(Instant::now() < deadline, "the server did not die");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = set.call("mcp__legacy__echo", r#"{"text":"x"}"#).await;
    assert_eq!(r.status, CallStatus::Error);
    assert!(r.text.contains("`legacy`"), "{}", r.text);
}

#[tokio::test]
async fn server_everything_in_sse_mode_with_transport_sse_and_by_its_404() {
    let server = SseServer::everything().await;
    let mut config = server.config();
    config.transport = Some(Transport::Sse);
    let (set, warnings, _cwd) = start("everything", config).await;
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(set.states()[0].transport, "sse");
    let r = set
        .call("mcp__everything__echo", r#"{"message":"legacy hello"}"#)
        .await;
    assert_eq!(r.status, CallStatus::Ok, "{}", r.text);
    assert!(r.text.contains("legacy hello"), "{}", r.text);
    let r = set
        .call("mcp__everything__get-sum", r#"{"a":2,"b":3}"#)
        .await;
    assert!(r.text.contains('5'), "{}", r.text);
    // Without `transport`, its 404 to the streamable HTTP POST finds the same way.
    let (set, warnings, _cwd) = start("fallback", server.config()).await;
    assert!(warnings.is_empty(), "{warnings:?}");
    let r = set
        .call("mcp__fallback__echo", r#"{"message":"found by 404"}"#)
        .await;
    assert!(r.text.contains("found by 404"), "{}", r.text);
}

#[tokio::test]
async fn transport_sse_on_a_url_that_is_not_an_sse_endpoint_says_so() {
    let server = SseServer::faulty().await;
    let mut config = server.config();
    config.url = Some(server.url.replace("/sse", "/messages/"));
    config.transport = Some(Transport::Sse);
    config.startup_timeout_secs = 10;
    let (set, warnings, _cwd) = start("legacy", config).await;
    assert!(set.tools().is_empty());
    assert!(
        warnings.len() == 1
            && warnings[0].contains("MCP server `legacy` is left out")
            && warnings[0].contains("SSE stream"),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn a_mission_calls_a_tool_over_sse_through_the_binary() {
    let server = SseServer::faulty().await;
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "c1",
        "mcp__legacy__echo",
        json!({"text": "via the old transport"}),
    ));
    mock.push(Reply::text("done"));
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(
        home.path(),
        &mock.base_url(),
        &format!(
            "\n[mcp_servers.legacy]\nurl = \"{}\"\ntransport = \"sse\"\nstartup_timeout_secs = 60\n",
            server.url
        ),
    );
    let mut cmd = sortie(home.path());
    cmd.args(["run", "--json", "use the legacy server", "--cwd"])
        .arg(cwd.path());
    let out = run_to_end(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let requests = mock.requests();
    let messages = requests[1]["messages"].as_array().expect("messages");
    let tool_msg = messages
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("tool message");
    assert_eq!(tool_msg["content"], "echo: via the old transport");
    let ls = run_to_end({
        let mut c = sortie(home.path());
        c.args(["mcp", "ls", "--json"]);
        c
    })
    .await;
    assert!(ls.status.success(), "{}", text(&ls.stderr));
    assert!(text(&ls.stdout).contains("\"sse\""), "{}", text(&ls.stdout));
}
