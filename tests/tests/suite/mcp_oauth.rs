//! OAuth for remote MCP servers through the real binary: `sortie auth login mcp:NAME`
//! against the real authorization server (discovery from the server's protected-resource
//! metadata, dynamic client registration once, PKCE with `resource`), a mission's tool
//! call with the login's token, a refresh on expiry, a revoked login that leaves the
//! server out with a clear "needs login", and no token anywhere in outputs or files.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use sortie_tests::accounts::stored_credential;
use sortie_tests::daemon::DaemonProc;
use sortie_tests::mcp_oauth::ProtectedMcp;
use sortie_tests::oauth_server::{Browser, OAuthServer};
use sortie_tests::{run_to_end, sortie, text, write_local_config, MockProvider, Reply};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Runs `sortie auth login mcp:NAME`, approving the URL it prints as the person would in
/// the browser; returns the exit code and everything it printed.
async fn login(home: &Path, provider: &str) -> (i32, String) {
    let mut cmd = tokio::process::Command::from(sortie(home));
    cmd.args(["auth", "login", provider, "--no-browser"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn sortie");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            out.push_str(&line);
            out.push('\n');
            if let Some(url) = line
                .split_whitespace()
                .find(|w| w.starts_with("http://") && w.contains("code_challenge="))
            {
                let url = url.to_string();
                tokio::spawn(async move { Browser::default().approve(&url).await });
            }
        }
    })
    .await
    .expect("the login finished in time");
    let status = child.wait().await.expect("wait");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut e, &mut err).await;
    }
    (status.code().unwrap_or(-1), format!("{out}{err}"))
}

async fn sortie_out(home: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = sortie(home);
    cmd.args(args);
    run_to_end(cmd).await
}

fn events(out: &std::process::Output) -> Vec<Value> {
    text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
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

/// Every file under `dir`, as bytes (the store, logs, the registered clients ...).
fn all_files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            all_files(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path.display().to_string(), bytes));
        }
    }
}

fn assert_nowhere(secret: &str, what: &str, texts: &[(&str, String)], home: &Path) {
    assert!(secret.len() > 8, "a real {what}");
    for (name, t) in texts {
        assert!(!t.contains(secret), "the {what} appears in {name}");
    }
    let mut files = Vec::new();
    all_files(home, &mut files);
    for (path, bytes) in files {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the {what} appears in {path}"
        );
    }
}

/// A data dir whose config has the mock model and server `docs`.
fn setup(mock: &MockProvider, docs: &ProtectedMcp) -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("home");
    write_local_config(home.path(), &mock.base_url(), &docs.toml("docs", ""));
    home
}

#[tokio::test]
async fn login_registers_once_a_mission_calls_the_protected_tool_and_no_token_leaks() {
    let auth = OAuthServer::start(3600).await;
    let docs = ProtectedMcp::start(&auth).await;
    let mock = MockProvider::start().await;
    let home = setup(&mock, &docs);

    // Before any login: the server answers 401, and `mcp ls` says what to run.
    let ls = sortie_out(home.path(), &["mcp", "ls", "--json"]).await;
    assert!(ls.status.success(), "{}", text(&ls.stderr));
    let rows: Value = serde_json::from_slice(&ls.stdout).expect("JSON");
    assert_eq!(rows[0]["state"], "needs_login", "{rows}");
    let why = rows[0]["error"].as_str().expect("error");
    assert!(
        why.contains("needs login: sortie auth login mcp:docs"),
        "{why}"
    );
    let ls_text = sortie_out(home.path(), &["mcp", "ls"]).await;
    assert!(
        text(&ls_text.stdout).contains("needs login: sortie auth login mcp:docs"),
        "{}",
        text(&ls_text.stdout)
    );

    let (code, out) = login(home.path(), "mcp:docs").await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("logged in: mcp:docs#1"), "{out}");
    assert_eq!(auth.stats().await["registrations"], 1);

    // A mission's scripted model calls the protected tool and reads its result.
    mock.push(Reply::tool_call(
        "c1",
        "mcp__docs__search",
        json!({"query": "oauth"}),
    ));
    mock.push(Reply::text("done"));
    let cwd = tempfile::tempdir().expect("cwd");
    let mut cmd = sortie(home.path());
    cmd.args(["run", "--json", "search the docs", "--cwd"])
        .arg(cwd.path());
    let run = run_to_end(cmd).await;
    assert!(run.status.success(), "{}", text(&run.stderr));
    let lines = events(&run);
    let result = lines
        .iter()
        .find(|l| l["type"] == "tool_result")
        .unwrap_or_else(|| panic!("no tool_result in {lines:?}"));
    assert!(
        result.to_string().contains("protected result for: oauth"),
        "{result}"
    );
    assert!(docs.stats().await["authorized"].as_u64().expect("n") >= 1);

    // Logging in again uses the client registered the first time.
    let (code, out) = login(home.path(), "mcp:docs").await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(auth.stats().await["registrations"], 1, "registered again");

    let list = sortie_out(home.path(), &["auth", "list", "--json"]).await;
    assert!(list.status.success(), "{}", text(&list.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&list.stdout).expect("JSON");
    assert!(
        rows.iter()
            .any(|r| r["provider"] == "mcp:docs" || r["summary"]["provider"] == "mcp:docs"),
        "{rows:?}"
    );
    let tools = sortie_out(
        home.path(),
        &[
            "mcp",
            "call",
            "docs",
            "search",
            r#"{"query":"by hand"}"#,
            "--json",
        ],
    )
    .await;
    assert!(tools.status.success(), "{}", text(&tools.stderr));
    assert!(text(&tools.stdout).contains("protected result for: by hand"));

    let c = stored_credential(home.path(), "mcp:docs#1");
    let oauth = c.oauth.expect("tokens");
    let access = oauth.access_token.expect("access token");
    let refresh = oauth.refresh_token.expect("refresh token");
    let show = sortie_out(home.path(), &["auth", "status"]).await;
    let outputs = [
        ("mcp ls --json", text(&ls.stdout) + &text(&ls.stderr)),
        ("the login", out),
        ("run --json", text(&run.stdout) + &text(&run.stderr)),
        ("auth list --json", text(&list.stdout)),
        ("auth status", text(&show.stdout) + &text(&show.stderr)),
        ("mcp call", text(&tools.stdout) + &text(&tools.stderr)),
    ];
    assert_nowhere(access.expose(), "access token", &outputs, home.path());
    assert_nowhere(refresh.expose(), "refresh token", &outputs, home.path());
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_for_the_mission() {
    let auth = OAuthServer::start(6).await;
    let docs = ProtectedMcp::start(&auth).await;
    let mock = MockProvider::start().await;
    let home = setup(&mock, &docs);
    let (code, out) = login(home.path(), "mcp:docs").await;
    assert_eq!(code, 0, "{out}");
    let expires = stored_credential(home.path(), "mcp:docs#1")
        .oauth
        .and_then(|o| o.expires_at)
        .expect("an expiry");
    // Waits out the token's life (this is the setup, not the assertion).
    while chrono::Utc::now() < expires + chrono::Duration::seconds(1) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = auth.stats().await["refresh_grants"].as_u64().expect("n");
    mock.push(Reply::tool_call(
        "c1",
        "mcp__docs__search",
        json!({"query": "a"}),
    ));
    mock.push(Reply::tool_call(
        "c2",
        "mcp__docs__search",
        json!({"query": "b"}),
    ));
    mock.push(Reply::text("done"));
    let cwd = tempfile::tempdir().expect("cwd");
    let mut cmd = sortie(home.path());
    cmd.args(["run", "--json", "search twice", "--cwd"])
        .arg(cwd.path());
    let run = run_to_end(cmd).await;
    assert!(run.status.success(), "{}", text(&run.stderr));
    let results: Vec<String> = events(&run)
        .iter()
        .filter(|l| l["type"] == "tool_result")
        .map(Value::to_string)
        .collect();
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(
        results[0].contains("protected result for: a"),
        "{results:?}"
    );
    assert!(
        results[1].contains("protected result for: b"),
        "{results:?}"
    );
    let after = auth.stats().await["refresh_grants"].as_u64().expect("n");
    assert_eq!(after - before, 1, "one refresh for the expired token");
}

#[tokio::test]
async fn a_revoked_login_leaves_the_server_out_with_what_to_run_and_the_mission_goes_on() {
    let auth = OAuthServer::start(3600).await;
    let docs = ProtectedMcp::start(&auth).await;
    let mock = MockProvider::start().await;
    let home = setup(&mock, &docs);
    let (code, out) = login(home.path(), "mcp:docs").await;
    assert_eq!(code, 0, "{out}");
    // The authorization server revokes the grant (as an admin or the person would).
    let c = stored_credential(home.path(), "mcp:docs#1");
    let refresh = c
        .oauth
        .and_then(|o| o.refresh_token)
        .expect("refresh token");
    let client_id = registered_client_id(home.path());
    let revoked = reqwest::Client::new()
        .post(format!("{}/token/revocation", auth.issuer))
        .form(&[
            ("token", refresh.expose()),
            ("token_type_hint", "refresh_token"),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .expect("revoke");
    assert!(revoked.status().is_success(), "{}", revoked.status());

    mock.push(Reply::text("done without the docs"));
    let cwd = tempfile::tempdir().expect("cwd");
    let mut cmd = sortie(home.path());
    cmd.args(["run", "--json", "search the docs", "--cwd"])
        .arg(cwd.path());
    let run = run_to_end(cmd).await;
    assert!(run.status.success(), "{}", text(&run.stderr));
    let lines = events(&run);
    let warning = lines
        .iter()
        .filter(|l| l["type"] == "warning")
        .map(Value::to_string)
        .find(|w| w.contains("docs"))
        .unwrap_or_else(|| panic!("no warning about docs in {lines:?}"));
    assert!(
        warning.contains("needs login: sortie auth login mcp:docs"),
        "{warning}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.to_string().contains("done without the docs")),
        "the mission went on: {lines:?}"
    );
    let tools = offered(&mock.requests()[0]);
    assert!(
        !tools.iter().any(|t| t.starts_with("mcp__docs__")),
        "{tools:?}"
    );
    // The login is marked for a new login, and `auth list` says so.
    let list = sortie_out(home.path(), &["auth", "list"]).await;
    assert!(
        text(&list.stdout).contains("mcp:docs#1"),
        "{}",
        text(&list.stdout)
    );
    assert!(
        text(&list.stdout).contains("needs_reauth") || text(&list.stdout).contains("needs reauth"),
        "{}",
        text(&list.stdout)
    );
}

/// The client id registered for server `docs`, from the sealed file of registrations.
fn registered_client_id(home: &Path) -> String {
    let sealer = sortie_transports::auth::sealed::Sealer::from_key_file(&home.join("store.key"))
        .expect("store.key");
    let raw = std::fs::read(home.join("mcp-clients")).expect("registrations");
    assert!(
        sortie_transports::auth::sealed::is_sealed(&raw),
        "registrations are sealed at rest"
    );
    let doc: Value = serde_json::from_slice(&sealer.open(&raw).expect("open")).expect("JSON");
    doc["docs"]["client"]["client_id"]
        .as_str()
        .expect("client id")
        .to_string()
}

/// A mission's scripted model calls `mcp__docs__search` once; returns the run's output.
async fn mission_searching(home: &Path, mock: &MockProvider, query: &str) -> std::process::Output {
    mock.push(Reply::tool_call(
        "c1",
        "mcp__docs__search",
        json!({"query": query}),
    ));
    mock.push(Reply::text("done"));
    let cwd = tempfile::tempdir().expect("cwd");
    let mut cmd = sortie(home);
    cmd.args(["run", "--json", "search the docs", "--cwd"])
        .arg(cwd.path());
    run_to_end(cmd).await
}

fn tool_result_text(run: &std::process::Output) -> String {
    events(run)
        .iter()
        .find(|l| l["type"] == "tool_result")
        .map(Value::to_string)
        .unwrap_or_else(|| format!("no tool_result in {}", text(&run.stdout)))
}

#[tokio::test]
async fn a_token_the_server_refuses_is_refreshed_once_and_the_call_goes_through() {
    let auth = OAuthServer::start(3600).await;
    let docs = ProtectedMcp::start(&auth).await;
    let mock = MockProvider::start().await;
    let home = setup(&mock, &docs);
    let (code, out) = login(home.path(), "mcp:docs").await;
    assert_eq!(code, 0, "{out}");
    // The server stops accepting the access token, which is still valid as far as Sortie
    // (and the authorization server) knows.
    let c = stored_credential(home.path(), "mcp:docs#1");
    let access = c.oauth.and_then(|o| o.access_token).expect("access token");
    docs.refuse(access.expose()).await;
    let before = auth.stats().await["refresh_grants"].as_u64().expect("n");
    let refused_before = docs.stats().await["refused"].as_u64().expect("n");
    let run = mission_searching(home.path(), &mock, "after a 401").await;
    assert!(run.status.success(), "{}", text(&run.stderr));
    let result = tool_result_text(&run);
    assert!(
        result.contains("protected result for: after a 401"),
        "{result}\n{}\n{}",
        text(&run.stdout),
        text(&run.stderr)
    );
    assert!(docs.stats().await["refused"].as_u64().expect("n") > refused_before);
    let after = auth.stats().await["refresh_grants"].as_u64().expect("n");
    assert_eq!(after - before, 1, "one refresh after the 401");
}

#[tokio::test]
async fn the_login_and_the_mission_work_through_a_running_daemon() {
    let auth = OAuthServer::start(3600).await;
    let docs = ProtectedMcp::start(&auth).await;
    let mock = MockProvider::start().await;
    let home = setup(&mock, &docs);
    let daemon = DaemonProc::start(home.path()).await;
    let (code, out) = login(home.path(), "mcp:docs").await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("logged in: mcp:docs#1"), "{out}");
    let run = mission_searching(home.path(), &mock, "via the daemon").await;
    assert!(run.status.success(), "{}", text(&run.stderr));
    let result = tool_result_text(&run);
    assert!(
        result.contains("protected result for: via the daemon"),
        "{result}"
    );
    let log = daemon.log();
    daemon.kill9();
    let c = stored_credential(home.path(), "mcp:docs#1");
    let oauth = c.oauth.expect("tokens");
    let outputs = [
        ("the login", out),
        ("run --json", text(&run.stdout) + &text(&run.stderr)),
        ("the daemon's log", log),
    ];
    for token in [oauth.access_token, oauth.refresh_token]
        .into_iter()
        .flatten()
    {
        assert_nowhere(token.expose(), "token", &outputs, home.path());
    }
}

#[tokio::test]
async fn the_accounts_screen_lists_protected_servers_without_a_login_and_not_open_ones() {
    let auth = OAuthServer::start(3600).await;
    let docs = ProtectedMcp::start(&auth).await;
    let open = sortie_tests::mcp_servers::HttpEverything::start().await;
    let mock = MockProvider::start().await;
    let home = tempfile::tempdir().expect("home");
    let extra = format!(
        "{}{}\n[mcp_servers.open]\nurl = \"{}\"\n\n[mcp_servers.wiki]\nurl = \"http://127.0.0.1:9/mcp\"\n[mcp_servers.wiki.oauth]\nclient_id = \"x\"\n",
        docs.toml("docs", ""),
        docs.toml("fixed", "bearer_token_env = \"SOME_TOKEN\""),
        open.url
    );
    write_local_config(home.path(), &mock.base_url(), &extra);
    let config = sortie::config::Config::load(home.path()).expect("config");
    let needed = sortie::service::mcp_login::logins_needed(&config, &[]).await;
    let names: Vec<&str> = needed.iter().map(|n| n.provider.as_str()).collect();
    assert_eq!(names, ["mcp:docs", "mcp:wiki"], "{needed:?}");

    // Logged in: `docs` is no longer listed (its credential is, with the others).
    let (code, out) = login(home.path(), "mcp:docs").await;
    assert_eq!(code, 0, "{out}");
    let list = sortie_out(home.path(), &["auth", "list", "--json"]).await;
    let rows: Vec<sortie::api::CredentialRow> = serde_json::from_slice(&list.stdout).expect("rows");
    let needed = sortie::service::mcp_login::logins_needed(&config, &rows).await;
    let names: Vec<&str> = needed.iter().map(|n| n.provider.as_str()).collect();
    assert_eq!(names, ["mcp:wiki"], "{needed:?}");
}

#[tokio::test]
async fn a_login_revoked_during_the_mission_gives_the_model_a_clear_error_and_the_mission_goes_on()
{
    let auth = OAuthServer::start(3600).await;
    let docs = ProtectedMcp::start(&auth).await;
    let mock = MockProvider::start().await;
    let home = setup(&mock, &docs);
    let (code, out) = login(home.path(), "mcp:docs").await;
    assert_eq!(code, 0, "{out}");
    // The first call revokes the login (all its tokens) at the authorization server.
    mock.push(Reply::tool_call("c1", "mcp__docs__revoke_me", json!({})));
    mock.push(Reply::tool_call(
        "c2",
        "mcp__docs__search",
        json!({"query": "after"}),
    ));
    mock.push(Reply::text("finished without the docs"));
    let cwd = tempfile::tempdir().expect("cwd");
    let mut cmd = sortie(home.path());
    cmd.args(["run", "--json", "search the docs", "--cwd"])
        .arg(cwd.path());
    let run = run_to_end(cmd).await;
    assert!(run.status.success(), "{}", text(&run.stderr));
    let results: Vec<Value> = events(&run)
        .into_iter()
        .filter(|l| l["type"] == "tool_result")
        .collect();
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(results[0].to_string().contains("revoked"), "{results:?}");
    let second = results[1].to_string();
    assert_eq!(results[1]["outcome"], "error", "{second}");
    assert!(
        second.contains("needs login: sortie auth login mcp:docs"),
        "{second}"
    );
    assert!(
        text(&run.stdout).contains("finished without the docs"),
        "the mission went on"
    );
}
