//! The MCP client against real servers on loopback, in process: the reference
//! server-everything over stdio and streamable HTTP, and the Python SDK's faulty server for
//! what goes wrong. Through the binary: see `mcp_cli.rs`.

use std::time::Duration;

use serde_json::json;
use sortie_missions::mcp::{CallStatus, McpSet, ServerConfig};
use sortie_missions::tools::{self, DenyAll, PermissionPolicy};
use sortie_missions::ToolOutcome;
use sortie_sandbox::Sandbox;
use sortie_tests::mcp_servers::{everything_stdio, faulty, HttpEverything};

fn reserved() -> Vec<String> {
    tools::ToolBox::default()
        .specs()
        .iter()
        .map(|s| s.name.clone())
        .collect()
}

async fn start(servers: Vec<(&str, ServerConfig)>) -> (McpSet, Vec<String>, tempfile::TempDir) {
    let cwd = tempfile::tempdir().expect("cwd");
    let servers = servers
        .into_iter()
        .map(|(n, c)| (n.to_string(), c))
        .collect();
    let (set, warnings) = McpSet::start(servers, Sandbox::unconfined(cwd.path()), reserved()).await;
    (set, warnings, cwd)
}

#[tokio::test]
async fn server_everything_over_stdio_offers_its_tools_and_every_kind_of_result_reads_as_text() {
    let (set, warnings, _cwd) = start(vec![("everything", everything_stdio())]).await;
    assert!(warnings.is_empty(), "{warnings:?}");
    let names: Vec<String> = set.tools().into_iter().map(|t| t.name).collect();
    for want in [
        "mcp__everything__echo",
        "mcp__everything__get-sum",
        "mcp__everything__get-tiny-image",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    let echo = set.tool("mcp__everything__echo").expect("echo");
    assert!(echo.read_only, "echo says readOnlyHint");
    assert_eq!(echo.parameters["type"], "object");
    assert_eq!(echo.parameters["properties"]["message"]["type"], "string");

    let r = set
        .call("mcp__everything__echo", r#"{"message":"hello mcp"}"#)
        .await;
    assert_eq!(r.status, CallStatus::Ok, "{}", r.text);
    assert!(r.text.contains("hello mcp"), "{}", r.text);

    let r = set.call("mcp__everything__get-tiny-image", "{}").await;
    assert_eq!(r.status, CallStatus::Ok, "{}", r.text);
    assert!(
        r.text.contains("[image 1: image/png, about") && r.text.contains("attached]"),
        "an image is noted in the text: {}",
        r.text
    );
    assert_eq!(r.images.len(), 1, "and goes along as an image");
    assert_eq!(r.images[0].media_type, "image/png");

    let r = set
        .call("mcp__everything__get-resource-links", r#"{"count":2}"#)
        .await;
    assert!(r.text.contains("[resource link: "), "{}", r.text);

    let r = set
        .call(
            "mcp__everything__get-structured-content",
            r#"{"location":"New York"}"#,
        )
        .await;
    assert_eq!(r.status, CallStatus::Ok, "{}", r.text);
    assert!(r.text.contains("temperature"), "{}", r.text);

    // Arguments the server refuses come back as an error for the model, naming the server.
    let r = set.call("mcp__everything__get-sum", r#"{"a":"x"}"#).await;
    assert_eq!(r.status, CallStatus::Error, "{}", r.text);
}

#[tokio::test]
async fn server_everything_over_streamable_http() {
    let server = HttpEverything::start().await;
    let config = ServerConfig {
        url: Some(server.url.clone()),
        startup_timeout_secs: 60,
        ..ServerConfig::default()
    };
    let (set, warnings, _cwd) = start(vec![("remote", config)]).await;
    assert!(warnings.is_empty(), "{warnings:?}");
    let r = set
        .call("mcp__remote__echo", r#"{"message":"over http"}"#)
        .await;
    assert_eq!(r.status, CallStatus::Ok, "{}", r.text);
    assert!(r.text.contains("over http"), "{}", r.text);
}

#[tokio::test]
async fn a_bearer_token_variable_that_is_not_set_is_a_clear_start_error() {
    let config = ServerConfig {
        url: Some("http://127.0.0.1:9/mcp".into()),
        bearer_token_env: Some("SORTIE_TEST_NO_SUCH_TOKEN_VAR".into()),
        ..ServerConfig::default()
    };
    let (set, warnings, _cwd) = start(vec![("docs", config)]).await;
    assert!(set.tools().is_empty());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("MCP server `docs` is left out")
            && warnings[0].contains("SORTIE_TEST_NO_SUCH_TOKEN_VAR"),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn servers_that_do_not_start_are_left_out_by_name_and_the_others_work() {
    let mut silent = faulty(&["--mode", "silent"]);
    silent.startup_timeout_secs = 2;
    let missing = ServerConfig {
        command: Some("/nonexistent/mcp-server".into()),
        ..ServerConfig::default()
    };
    let mut exits = faulty(&["--mode", "exit"]);
    exits.env = [("FAULTY_TOKEN".to_string(), "tok-s3cr3t-value".to_string())].into();
    let (set, warnings, _cwd) = start(vec![
        ("exits", exits),
        ("silent", silent),
        ("missing", missing),
        ("good", faulty(&[])),
    ])
    .await;
    let said = |name: &str, what: &str| {
        assert!(
            warnings.iter().any(
                |w| w.contains(&format!("MCP server `{name}` is left out")) && w.contains(what)
            ),
            "no warning for {name} saying {what:?}: {warnings:#?}"
        )
    };
    said("exits", "missing FAULTY_CONFIG (FAULTY_TOKEN=***)");
    // What the config gave the server is not repeated from its stderr.
    assert!(!format!("{warnings:?}").contains("tok-s3cr3t-value"));
    said("silent", "did not answer `initialize` within 2s");
    said("missing", "/nonexistent/mcp-server");
    let r = set
        .call("mcp__good__echo", r#"{"text":"still here"}"#)
        .await;
    assert_eq!(r.text, "echo: still here");
    let r = set.call("mcp__exits__echo", "{}").await;
    assert_eq!(r.status, CallStatus::Error);
}

#[tokio::test]
async fn a_tool_with_an_invalid_schema_is_left_out_with_a_warning_and_the_rest_are_offered() {
    let (set, warnings, _cwd) = start(vec![("faulty", faulty(&[]))]).await;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("MCP server `faulty`: tool `bad_schema` is left out")
            && warnings[0].contains("\"datetime\""),
        "{warnings:?}"
    );
    assert!(set.tool("mcp__faulty__bad_schema").is_none());
    assert!(set.tool("mcp__faulty__echo").is_some());
}

#[tokio::test]
async fn a_crash_mid_call_is_an_error_naming_the_server_and_it_is_restarted_once() {
    let (set, _, _cwd) = start(vec![("faulty", faulty(&[]))]).await;
    let r = set.call("mcp__faulty__crash", "{}").await;
    assert_eq!(r.status, CallStatus::Error);
    assert!(
        r.text.contains("MCP server `faulty` failed during `crash`")
            && r.text.contains("crashing on purpose")
            && r.text.contains("It was restarted"),
        "{}",
        r.text
    );
    let r = set.call("mcp__faulty__echo", r#"{"text":"again"}"#).await;
    assert_eq!(r.text, "echo: again", "the restarted server answers");
    let r = set.call("mcp__faulty__crash", "{}").await;
    assert!(
        r.text.contains("restarted once already"),
        "no second restart: {}",
        r.text
    );
    assert!(set.tools().is_empty(), "its tools are gone");
    let r = set.call("mcp__faulty__echo", r#"{"text":"x"}"#).await;
    assert_eq!(r.status, CallStatus::Error);
}

#[tokio::test]
async fn a_call_past_its_timeout_is_abandoned_and_the_server_still_answers() {
    let mut config = faulty(&[]);
    config.tool_timeout_secs = 2;
    let (set, _, _cwd) = start(vec![("faulty", config)]).await;
    let started = std::time::Instant::now();
    let r = set.call("mcp__faulty__hang", "{}").await;
    assert_eq!(r.status, CallStatus::TimedOut, "{}", r.text);
    assert!(
        r.text
            .contains("MCP server `faulty`: `hang` did not answer within 2s"),
        "{}",
        r.text
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    let r = set.call("mcp__faulty__echo", r#"{"text":"after"}"#).await;
    assert_eq!(r.text, "echo: after");
}

#[tokio::test]
async fn a_malformed_json_rpc_line_does_not_break_the_connection() {
    let mut config = faulty(&[]);
    config.tool_timeout_secs = 20;
    let (set, _, _cwd) = start(vec![("faulty", config)]).await;
    let r = set.call("mcp__faulty__garbage", "{}").await;
    assert_eq!(r.text, "after garbage", "{r:?}");
    let r = set.call("mcp__faulty__echo", r#"{"text":"fine"}"#).await;
    assert_eq!(r.text, "echo: fine");
}

#[tokio::test]
async fn a_10_mb_result_reaches_the_model_cut_to_the_tool_output_bound() {
    let (set, _, _cwd) = start(vec![("faulty", faulty(&[]))]).await;
    let r = tools::mcp::run(
        Some(&set),
        PermissionPolicy::Auto,
        &DenyAll,
        "mcp__faulty__huge",
        "{}",
    )
    .await;
    assert_eq!(r.outcome, ToolOutcome::Ok);
    assert!(
        r.output.len() <= tools::MAX_OUTPUT + 200,
        "{}",
        r.output.len()
    );
    assert!(r.output.contains("output truncated"), "says it was cut");
}

#[tokio::test]
async fn is_error_and_structured_content_results() {
    let (set, _, _cwd) = start(vec![("faulty", faulty(&[]))]).await;
    let r = set.call("mcp__faulty__fail", "{}").await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (CallStatus::Error, "it went wrong")
    );
    let r = set.call("mcp__faulty__structured", "{}").await;
    assert_eq!(r.text, "see structured\nstructuredContent: {\"answer\":42}");
}

#[tokio::test]
async fn tools_list_changed_refreshes_the_list_between_turns() {
    let (set, _, _cwd) = start(vec![("faulty", faulty(&[]))]).await;
    assert!(set.tool("mcp__faulty__extra").is_none());
    let r = set.call("mcp__faulty__add_tool", "{}").await;
    assert_eq!(r.text, "added");
    // The notification arrives on its own; the next refresh (between turns) lists again.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while set.tool("mcp__faulty__extra").is_none() {
        assert!(std::time::Instant::now() < deadline, "never refreshed");
        set.refresh().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(set.call("mcp__faulty__extra", "{}").await.text, "extra ran");
}

#[tokio::test]
async fn the_permission_policy_governs_mcp_tools_by_their_read_only_hint() {
    let (set, _, _cwd) = start(vec![("faulty", faulty(&[]))]).await;
    let run = |policy, name: &'static str| {
        let set = &set;
        async move { tools::mcp::run(Some(set), policy, &DenyAll, name, r#"{"text":"t"}"#).await }
    };
    let r = run(PermissionPolicy::ReadOnly, "mcp__faulty__write_note").await;
    assert_eq!(r.outcome, ToolOutcome::Denied);
    assert!(
        r.output.contains("MCP server `faulty`") && r.output.contains("`read-only`"),
        "{}",
        r.output
    );
    let r = run(PermissionPolicy::Ask, "mcp__faulty__write_note").await;
    assert_eq!(r.outcome, ToolOutcome::Denied, "nobody to ask: denied");
    let r = run(PermissionPolicy::ReadOnly, "mcp__faulty__echo").await;
    assert_eq!((r.outcome, r.output.as_str()), (ToolOutcome::Ok, "echo: t"));
    let r = run(PermissionPolicy::Auto, "mcp__faulty__write_note").await;
    assert_eq!(
        (r.outcome, r.output.as_str()),
        (ToolOutcome::Ok, "note written")
    );
}

#[tokio::test]
async fn a_server_gets_the_clean_environment_plus_its_own_env_and_passthrough() {
    let mut config = everything_stdio();
    config.env = [(
        "TRACKER_URL".to_string(),
        "https://tracker.test".to_string(),
    )]
    .into();
    config.env_passthrough = vec!["MCP_TEST_PASSED".into(), "SORTIE_TEST_MCP_REFUSED".into()];
    // Names no other test reads; set before this test's server starts.
    std::env::set_var("MCP_TEST_PASSED", "yes");
    std::env::set_var("SORTIE_TEST_MCP_REFUSED", "x");
    let (set, _, _cwd) = start(vec![("everything", config)]).await;
    let r = set.call("mcp__everything__get-env", "{}").await;
    assert_eq!(r.status, CallStatus::Ok, "{}", r.text);
    let env: serde_json::Value = serde_json::from_str(&r.text).expect("env as JSON");
    assert_eq!(env["TRACKER_URL"], json!("https://tracker.test"));
    assert_eq!(env["MCP_TEST_PASSED"], json!("yes"));
    assert!(env.get("PATH").is_some());
    // Sortie's own variables never pass, even when named.
    assert!(env.get("SORTIE_TEST_MCP_REFUSED").is_none(), "{env}");
    assert!(env.get("CARGO_MANIFEST_DIR").is_none(), "{env}");
}
