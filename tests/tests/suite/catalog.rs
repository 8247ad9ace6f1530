//! `sortie models`, the model cache, the unlisted-model warning, and cost per turn.

use serde_json::{json, Value};
use sortie_tests::anthropic_wire::{turn, Block};
use sortie_tests::daemon::DaemonProc;
use sortie_tests::{sortie, write_local_config, MockProvider, Reply};

use sortie_tests::{run_to_end as run, text};

#[tokio::test]
async fn models_are_listed_filtered_cached_and_refreshed() {
    models_listing(false).await;
}

/// The same through a running daemon (it holds the store and lists with its pool).
#[tokio::test]
async fn models_are_listed_through_a_running_daemon() {
    models_listing(true).await;
}

async fn models_listing(with_daemon: bool) {
    let mock = MockProvider::start().await;
    mock.push(Reply::json(json!({"object": "list", "data": [
        {"id": "mock-model", "object": "model", "owned_by": "me"},
        {"id": "text-embedding-3-small", "object": "model", "owned_by": "me"},
        {"id": "another-chat", "object": "model", "owned_by": "me"}
    ]})));
    let home = tempfile::tempdir().expect("home");
    write_local_config(home.path(), &mock.base_url(), "");
    let _daemon = match with_daemon {
        true => Some(DaemonProc::start(home.path()).await),
        false => None,
    };

    let mut cmd = sortie(home.path());
    cmd.args(["models", "--json"]);
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["provider"], "local");
    let ids: Vec<&str> = doc["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| m["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, ["another-chat", "mock-model"]);
    assert_eq!(mock.paths(), ["/v1/models"]);

    // Cached: no second request.
    let mut cmd = sortie(home.path());
    cmd.args(["models"]);
    let out = run(cmd).await;
    assert!(
        text(&out.stdout).contains("2 chat models from `local`"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(mock.hits(), 1);

    // --refresh fetches again; a failure keeps the cached list and says so.
    mock.push(Reply::error(500, r#"{"error":{"message":"boom"}}"#));
    let mut cmd = sortie(home.path());
    cmd.args(["models", "--refresh"]);
    let out = run(cmd).await;
    assert!(out.status.success());
    assert_eq!(mock.hits(), 2);
    assert!(
        text(&out.stderr).contains("cannot refresh the model list"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("mock-model"));
}

#[tokio::test]
async fn a_model_missing_from_the_cached_list_runs_with_a_warning() {
    let mock = MockProvider::start().await;
    mock.push(Reply::json(json!({"data": [{"id": "listed-model"}]})));
    mock.push(Reply::text("fine"));
    let home = tempfile::tempdir().expect("home");
    write_local_config(home.path(), &mock.base_url(), "");
    let mut cmd = sortie(home.path());
    cmd.args(["models"]);
    assert!(run(cmd).await.status.success());

    let mut cmd = sortie(home.path());
    cmd.args(["run", "--json", "--model", "unlisted-model", "hi", "--cwd"])
        .arg(home.path());
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let warning = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "warning")
        .expect("a warning event");
    assert!(warning["message"]
        .as_str()
        .expect("message")
        .contains("`unlisted-model` is not in provider `local`"));
}

#[tokio::test]
async fn listing_models_without_a_reachable_provider_is_a_clear_error() {
    let home = tempfile::tempdir().expect("home");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    write_local_config(home.path(), &format!("http://127.0.0.1:{port}/v1"), "");
    let mut cmd = sortie(home.path());
    cmd.args(["models"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot list the models of `local`: [network]"),
        "{err}"
    );
}

#[tokio::test]
async fn an_anthropic_provider_from_config_runs_and_is_priced() {
    let mock = MockProvider::start().await;
    mock.push(turn(
        &[Block::Text("Hello from the mock Claude.")],
        "end_turn",
    ));
    mock.push(turn(&[Block::Text("Say hello")], "end_turn"));
    let home = tempfile::tempdir().expect("home");
    std::fs::write(
        home.path().join("config.toml"),
        format!(
            "default_provider = \"claude\"\n\n[providers.claude]\nkind = \"anthropic\"\nbase_url = \"{}\"\napi_key_env = \"SORTIE_TEST_ANTHROPIC_KEY\"\nmodel = \"claude-mock\"\n\n[prices.\"claude-mock\"]\ninput = 3.0\noutput = 15.0\ncache_read = 0.3\n",
            mock.root_url()
        ),
    )
    .expect("config");
    let mut cmd = sortie(home.path());
    cmd.env("SORTIE_TEST_ANTHROPIC_KEY", "sk-ant-xyz-0000000")
        .args(["run", "say hello", "--cwd"])
        .arg(home.path());
    let out = run(cmd).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("Hello from the mock Claude."), "{stdout}");
    // The turn and the title (the second reply) each: 25 in, 40 out, 5 cache read:
    // 25*3 + 40*15 + 5*0.3 = 676.5 µ$; the mission counts both: $0.0014 (4 places).
    assert!(
        stdout.contains("50 in / 80 out tokens, 10 cached · $0.0014"),
        "{stdout}"
    );
    assert_eq!(mock.request_headers()[0]["x-api-key"], "sk-ant-xyz-0000000");

    let mut cmd = sortie(home.path());
    cmd.args(["missions", "--json"]);
    let list: Value = serde_json::from_slice(&run(cmd).await.stdout).expect("json");
    let cost = list[0]["cost_usd"].as_f64().expect("cost");
    assert!((cost - 2.0 * 0.0006765).abs() < 1e-9, "{cost}");
    assert_eq!(list[0]["transport"], "anthropic");
}
