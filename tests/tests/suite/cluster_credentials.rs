//! One credential pool for every daemon of a PostgreSQL store, through the real binary:
//! two data dirs (two daemons) on one database with one key (`[store] key_env`). What is
//! stored through one is listed and used through the other; an expired OAuth token makes
//! one refresh for a hundred missions on both; a store without its key, or with another
//! key, is refused at start; and no secret reaches any output or log.

use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};
use sortie_missions::postgres::PgStore;
use sortie_tests::accounts::with_input;
use sortie_tests::cluster::{config, Node, KEY_ENV};
use sortie_tests::daemon::DaemonProc;
use sortie_tests::oauth_server::{client_for, oauth_credential, Browser, OAuthServer};
use sortie_tests::postgres::Cluster;
use sortie_tests::{run_to_end, text, MockProvider, Reply};
use sortie_transports::auth::oauth::{OAuthClient, TokenSet};
use sortie_transports::auth::sealed::Sealer;
use sortie_transports::auth::{CredentialBackend, CredentialId};
use tokio::io::AsyncBufReadExt;

/// A 32-byte key in base64, distinct per `seed`.
pub(crate) fn key(seed: u8) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([seed; 32])
}

/// Panics when `haystack` holds any of `secrets` (named by `what`).
pub(crate) fn assert_no_secret(what: &str, haystack: &str, secrets: &[&str]) {
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        assert!(
            !haystack.contains(secret),
            "{what} shows a secret:\n{haystack}"
        );
    }
}

async fn list(node: &Node) -> Vec<Value> {
    let out = run_to_end(node.cmd(&["auth", "list", "--json"])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// `sortie auth login corp --device` on `node`, approved in the test browser; its output.
async fn device_login(node: &Node) -> String {
    let mut cmd = tokio::process::Command::from(node.cmd(&["auth", "login", "corp", "--device"]));
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn sortie");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut out = String::new();
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if line.starts_with("(or open ") {
                let url = line
                    .split_whitespace()
                    .find(|w| w.starts_with("http://"))
                    .expect("url")
                    .trim_end_matches(')')
                    .to_string();
                tokio::spawn(async move { Browser::default().approve(&url).await });
            }
            out.push_str(&line);
            out.push('\n');
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the login finished in time");
    let status = child.wait().await.expect("wait");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut e, &mut err).await;
    }
    assert!(status.success(), "{out}{err}");
    format!("{out}{err}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_and_a_login_stored_through_one_daemon_are_listed_and_removed_through_the_other() {
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let server = OAuthServer::start(600).await;
    let mock = MockProvider::start().await;
    let shared = key(21);
    let text_of = config(&mock.base_url(), Some(&server.issuer), true);
    let (a, b) = (
        Node::new(&url, Some(&shared), &text_of),
        Node::new(&url, Some(&shared), &text_of),
    );
    let (da, db) = (a.daemon().await, b.daemon().await);

    // An API key, through daemon A.
    let added = with_input(a.cmd(&["auth", "add-key", "corp"]), "sk-cluster-secret-123");
    assert!(added.status.success(), "{}", text(&added.stderr));
    // A login, through daemon A.
    let login_out = device_login(&a).await;
    let rows = list(&b).await;
    let modes: Vec<&str> = rows
        .iter()
        .map(|r| r["auth_mode"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert!(
        modes.contains(&"api_key") && modes.contains(&"oauth"),
        "{rows:#?}"
    );
    // A data dir with no daemon of its own reads the same pool in its own process.
    let c = Node::new(&url, Some(&shared), &text_of);
    assert_eq!(list(&c).await.len(), 2);
    let status = run_to_end(c.cmd(&["auth", "status"])).await;
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert!(
        text(&status.stdout).contains(&format!("key from ${KEY_ENV}")),
        "{}",
        text(&status.stdout)
    );

    // Removed through B: gone for A.
    let key_id = rows
        .iter()
        .find(|r| r["auth_mode"] == "api_key")
        .and_then(|r| r["id"].as_str())
        .expect("the key's id")
        .to_string();
    let removed = run_to_end(b.cmd(&["auth", "remove", &key_id])).await;
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    assert_eq!(list(&a).await.len(), 1);

    // The key is in the table sealed, never in the clear, and in no output or log.
    let client = sortie_tests::postgres::connect(&url).await;
    let dump: String = client
        .query("SELECT encode(record, 'escape') FROM credentials", &[])
        .await
        .expect("read the table")
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    assert_no_secret("the credentials table", &dump, &["sk-cluster-secret-123"]);
    let secrets = ["sk-cluster-secret-123", shared.as_str(), cluster.password()];
    assert_no_secret("the login", &login_out, &secrets);
    assert_no_secret("daemon A's log", &da.log(), &secrets);
    assert_no_secret("daemon B's log", &db.log(), &secrets);
    assert_no_secret("auth status", &text(&status.stdout), &secrets);
}

/// A login at the test server, as the first daemon stored it.
async fn login(client: &OAuthClient) -> TokenSet {
    let callback = sortie_transports::auth::oauth::CallbackServer::bind(None, "/callback")
        .await
        .expect("bind");
    let pkce = sortie_transports::auth::oauth::Pkce::new();
    let url = client
        .authorize_url(&pkce, "cluster-state", &callback.redirect_uri)
        .expect("authorize url");
    let browser = tokio::spawn(async move { Browser::default().approve(&url).await });
    let got = callback
        .wait("cluster-state", Duration::from_secs(30))
        .await
        .expect("callback");
    browser.await.expect("browser");
    client
        .exchange_code(&got.code, &pkce.verifier, &callback.redirect_uri, None)
        .await
        .expect("exchange")
}

fn stat(stats: &Value, name: &str) -> u64 {
    stats[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} in {stats}"))
}

/// Waits (bounded) until every mission of `ids` ended; their records.
async fn wait_all_ended(d: &DaemonProc, ids: &[String]) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let mut records = Vec::new();
        for id in ids {
            let (_, m) = d.get(&format!("/missions/{id}")).await;
            if matches!(m["status"].as_str(), Some("queued" | "running") | None) {
                break;
            }
            records.push(m);
        }
        if records.len() == ids.len() {
            return records;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "missions still running after 180s\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_missions_on_two_daemons_with_an_expired_token_make_one_refresh() {
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let server = OAuthServer::start(600).await;
    let mock = MockProvider::start().await;
    mock.repeat(Reply::text("done"));
    let shared = key(22);
    // The expired login, stored as a daemon of the cluster stores it.
    std::env::set_var("SORTIE_TEST_CLUSTER_REFRESH_KEY", &shared);
    let sealer = Sealer::from_env("SORTIE_TEST_CLUSTER_REFRESH_KEY").expect("key");
    let creds = PgStore::open(&url)
        .await
        .expect("open")
        .credentials(std::sync::Arc::new(sealer))
        .await
        .expect("credentials");
    let tokens = login(&client_for(&server).await).await;
    let mut expired = oauth_credential("corp#1", &tokens);
    expired.oauth.as_mut().expect("oauth").expires_at =
        Some(Utc::now() - chrono::Duration::minutes(1));
    creds.put(&expired).await.expect("put");

    let text_of = config(&mock.base_url(), Some(&server.issuer), true);
    let (a, b) = (
        Node::new(&url, Some(&shared), &text_of),
        Node::new(&url, Some(&shared), &text_of),
    );
    let (da, db) = (a.daemon().await, b.daemon().await);
    let cwd = tempfile::tempdir().expect("cwd");
    let before = server.stats().await;
    let mut ids = Vec::new();
    for i in 0..100 {
        let d = if i % 2 == 0 { &da } else { &db };
        let (status, m) = d
            .post(
                "/missions",
                json!({"prompt": format!("mission {i}"), "cwd": cwd.path()}),
            )
            .await;
        assert_eq!(status, 201, "{m}\n{}", d.log());
        ids.push(m["id"].as_str().expect("id").to_string());
    }
    let records = wait_all_ended(&da, &ids).await;
    for m in &records {
        assert_eq!(
            m["status"],
            "completed",
            "{m:#}\nA: {}\nB: {}",
            da.log(),
            db.log()
        );
    }
    let after = server.stats().await;
    assert_eq!(
        stat(&after, "refresh_grants") - stat(&before, "refresh_grants"),
        1,
        "one refresh for both daemons: {before} -> {after}"
    );
    assert_eq!(
        stat(&after, "token_requests") - stat(&before, "token_requests"),
        1
    );
    let stored = creds
        .get(&CredentialId("corp#1".into()))
        .await
        .expect("get")
        .expect("there");
    assert_eq!(stored.refresh_count, 1);
    let fresh = stored
        .bearer()
        .expect("a new access token")
        .expose()
        .to_string();
    let sent: Vec<String> = mock
        .request_headers()
        .iter()
        .filter_map(|h| h.get("authorization")?.to_str().ok().map(str::to_string))
        .collect();
    assert!(sent.len() >= 100, "{} requests", sent.len());
    assert!(
        sent.iter().all(|h| h == &format!("Bearer {fresh}")),
        "every request carries the one refreshed token"
    );

    // No token, refresh token, key or password in any output, log or event.
    let new_refresh = stored
        .oauth
        .as_ref()
        .and_then(|o| o.refresh_token.as_ref())
        .map(|s| s.expose().to_string())
        .unwrap_or_default();
    let old_refresh = tokens
        .refresh_token
        .as_ref()
        .map(|s| s.expose().to_string())
        .unwrap_or_default();
    let secrets = [
        tokens.access_token.expose(),
        old_refresh.as_str(),
        fresh.as_str(),
        new_refresh.as_str(),
        shared.as_str(),
        cluster.password(),
    ];
    assert_no_secret("daemon A's log", &da.log(), &secrets);
    assert_no_secret("daemon B's log", &db.log(), &secrets);
    let (_, events) = db.get(&format!("/missions/{}/events", ids[0])).await;
    assert_no_secret("a mission's events", &events.to_string(), &secrets);
    let listed = run_to_end(a.cmd(&["auth", "list", "--json"])).await;
    assert_no_secret("auth list", &text(&listed.stdout), &secrets);
    assert_no_secret("auth list", &text(&listed.stderr), &secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_store_without_its_key_or_with_another_key_is_refused_at_start() {
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let mock = MockProvider::start().await;
    let refused = |node: &Node, args: &[&str]| {
        let mut cmd = node.cmd(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        run_to_end(cmd)
    };
    // No key_env at all.
    let none = Node::new(&url, None, &config(&mock.base_url(), None, false));
    for args in [&["serve"][..], &["auth", "list"][..]] {
        let out = refused(&none, args).await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("[store] key_env must name a variable holding a 32-byte base64 key shared by the daemons; make one with `openssl rand -base64 32`"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // key_env names a variable that is not set, or that holds no key.
    let unset = Node::new(&url, None, &config(&mock.base_url(), None, true));
    let out = refused(&unset, &["serve"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!("${KEY_ENV}")) && text(&out.stderr).contains("not set"),
        "{}",
        text(&out.stderr)
    );
    let short = Node::new(
        &url,
        Some("c2hvcnQ="),
        &config(&mock.base_url(), None, true),
    );
    let out = refused(&short, &["serve"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not 32"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stderr).contains("c2hvcnQ="),
        "{}",
        text(&out.stderr)
    );

    // The first daemon's key seals the store; another key is turned away with what to do.
    let first = Node::new(&url, Some(&key(23)), &config(&mock.base_url(), None, true));
    let d = first.daemon().await;
    let other = Node::new(&url, Some(&key(24)), &config(&mock.base_url(), None, true));
    let out = refused(&other, &["serve"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("is not the one the credentials"), "{err}");
    assert!(err.contains("same key as the others"), "{err}");
    assert_no_secret(
        "the refusal",
        &err,
        &[&key(23), &key(24), cluster.password()],
    );
    drop(d);
}

/// Polls a login daemon `d` runs until it is no longer pending (bounded).
async fn wait_login(d: &DaemonProc, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let (_, v) = d.get(&format!("/auth/logins/{id}")).await;
        if v["state"] != "pending" {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "login {id} still pending\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paste_login_started_through_one_daemon_is_finished_through_the_other() {
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let server = OAuthServer::start(600).await;
    let mock = MockProvider::start().await;
    let shared = key(25);
    let text_of = config(&mock.base_url(), Some(&server.issuer), true);
    let (a, b) = (
        Node::new(&url, Some(&shared), &text_of),
        Node::new(&url, Some(&shared), &text_of),
    );
    let (da, db) = (a.daemon().await, b.daemon().await);
    let body = json!({"provider": "corp", "flow": "paste"});
    let (status, on_a) = da.post("/auth/logins", body.clone()).await;
    assert_eq!(status, 201, "{on_a}\n{}", da.log());
    // The login A started is in the shared store: B resumes it (the same URL, state and
    // verifier), and the code pasted there completes it.
    let (status, on_b) = db.post("/auth/logins", body).await;
    assert_eq!(status, 201, "{on_b}\n{}", db.log());
    assert_eq!(on_b["prompt"]["resumed"], true, "{on_b:#}");
    let login_url = on_a["prompt"]["url"].as_str().expect("url");
    assert_eq!(on_b["prompt"]["url"].as_str(), Some(login_url));
    let landed = Browser::default()
        .redirect_target(login_url, "http://127.0.0.1:1/callback")
        .await;
    let id_b = on_b["id"].as_str().expect("id");
    let (status, v) = db
        .post(
            &format!("/auth/logins/{id_b}/code"),
            json!({"code": landed}),
        )
        .await;
    assert!(status < 300, "{status} {v}");
    let done = wait_login(&db, id_b).await;
    assert_eq!(done["state"], "completed", "{done:#}\n{}", db.log());
    let (_, listed) = da.get("/credentials").await;
    let rows = listed["credentials"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(rows.len(), 1, "{listed:#}");
    assert_eq!(rows[0]["status"]["state"], "active", "{listed:#}");
    let client = sortie_tests::postgres::connect(&url).await;
    let pending: i64 = client
        .query_one("SELECT count(*) FROM pending_logins", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(pending, 0, "the finished login is forgotten");
    let id_a = on_a["id"].as_str().expect("id");
    da.delete(&format!("/auth/logins/{id_a}")).await;
    let secrets = [shared.as_str(), cluster.password(), landed.as_str()];
    assert_no_secret("daemon A's log", &da.log(), &secrets);
    assert_no_secret("daemon B's log", &db.log(), &secrets);
}

/// `sortie auth login mcp:docs` on `node`, approved in the test browser; its output.
async fn mcp_login(node: &Node) -> String {
    let mut cmd =
        tokio::process::Command::from(node.cmd(&["auth", "login", "mcp:docs", "--no-browser"]));
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn sortie");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut out = String::new();
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if let Some(url) = line
                .split_whitespace()
                .find(|w| w.starts_with("http://") && w.contains("code_challenge="))
            {
                let url = url.to_string();
                tokio::spawn(async move { Browser::default().approve(&url).await });
            }
            out.push_str(&line);
            out.push('\n');
        }
    };
    tokio::time::timeout(Duration::from_secs(90), read)
        .await
        .expect("the login finished in time");
    let status = child.wait().await.expect("wait");
    assert!(status.success(), "{out}");
    out
}

/// A mission through `d` whose model searches the docs server once; the tool's result.
async fn search_through(d: &DaemonProc, mock: &MockProvider, query: &str) -> String {
    mock.push(Reply::tool_call(
        "c1",
        "mcp__docs__search",
        json!({"query": query}),
    ));
    mock.push(Reply::text("done"));
    let cwd = tempfile::tempdir().expect("cwd");
    let (status, m) = d
        .post(
            "/missions",
            json!({"prompt": "search the docs", "cwd": cwd.path()}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_str().expect("id");
    let events = d.wait_events(id, sortie_tests::daemon::ended).await;
    events
        .iter()
        .find(|e| e["type"] == "tool_result")
        .map(Value::to_string)
        .unwrap_or_else(|| format!("no tool result in {events:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_login_made_through_one_daemon_serves_the_other_which_never_refreshes_it_with_another_client(
) {
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let auth = OAuthServer::start(3600).await;
    let docs = sortie_tests::mcp_oauth::ProtectedMcp::start(&auth).await;
    let mock = MockProvider::start().await;
    let shared = key(26);
    let text_of = config(&mock.base_url(), None, true) + &docs.toml("docs", "");
    let (a, b) = (
        Node::new(&url, Some(&shared), &text_of),
        Node::new(&url, Some(&shared), &text_of),
    );
    let (da, db) = (a.daemon().await, b.daemon().await);
    let out = mcp_login(&a).await;
    assert!(out.contains("logged in: mcp:docs#1"), "{out}");
    let result = search_through(&db, &mock, "from b").await;
    assert!(result.contains("protected result for: from b"), "{result}");

    // The token runs out. B, which has not the client A registered, does not refresh it
    // with a client of its own (the refresh token would be refused, and the login lost for
    // every daemon): the login stays active, and A refreshes it.
    std::env::set_var("SORTIE_TEST_CLUSTER_MCP_KEY", &shared);
    let sealer = Sealer::from_env("SORTIE_TEST_CLUSTER_MCP_KEY").expect("key");
    let creds = PgStore::open(&url)
        .await
        .expect("open")
        .credentials(std::sync::Arc::new(sealer))
        .await
        .expect("credentials");
    let id = CredentialId("mcp:docs#1".into());
    let mut expire = |c: &mut sortie_transports::auth::Credential| {
        c.oauth.as_mut().expect("tokens").expires_at =
            Some(Utc::now() - chrono::Duration::minutes(1));
    };
    creds.update(&id, &mut expire).await.expect("update");
    let before = auth.stats().await["refresh_grants"].as_u64().expect("n");
    let result = search_through(&db, &mock, "expired on b").await;
    assert!(!result.contains("protected result"), "{result}");
    let stored = creds.get(&id).await.expect("get").expect("there");
    assert_eq!(
        stored.status,
        sortie_transports::auth::CredentialStatus::Active,
        "{:?}",
        stored.status
    );
    assert!(
        stored
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("another daemon")),
        "{:?}",
        stored.last_error
    );
    assert_eq!(
        auth.stats().await["refresh_grants"].as_u64().expect("n"),
        before,
        "B sent no refresh"
    );
    let result = search_through(&da, &mock, "refreshed by a").await;
    assert!(
        result.contains("protected result for: refreshed by a"),
        "{result}"
    );
    assert_eq!(
        auth.stats().await["refresh_grants"].as_u64().expect("n"),
        before + 1
    );
    let secrets = [shared.as_str(), cluster.password()];
    assert_no_secret("daemon A's log", &da.log(), &secrets);
    assert_no_secret("daemon B's log", &db.log(), &secrets);
}
