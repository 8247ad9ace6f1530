//! `sortie store migrate` and `sortie store copy`, through the real binary against the real
//! PostgreSQL test cluster: a data dir with real missions (a mock provider's, the demo's),
//! schedules, a models cache, an API key, an OAuth login and a pending login is copied,
//! then read back through the binary on PostgreSQL and compared with the sled side. A copy
//! run again writes nothing; a target holding another mission under the same id is refused
//! before anything is written; no secret reaches any output or a table in the clear.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use sortie_missions::postgres::PgStore;
use sortie_tests::accounts::sortie_with_input;
use sortie_tests::daemon::DaemonProc;
use sortie_tests::postgres::Cluster;
use sortie_tests::{run_to_end as run, sortie, text, write_local_config, MockProvider, Reply};
use sortie_transports::auth::sealed::Sealer;
use sortie_transports::auth::{
    AuthMode, Credential, CredentialBackend, CredentialId, CredentialStatus, CredentialStore,
    OAuthTokens, PendingLogin, PendingLoginBackend, PendingLogins,
};
use sortie_transports::Secret;

const API_KEY: &str = "sk-copy-api-key-never-shown-1";
const ACCESS: &str = "at-copy-access-never-shown-2";
const REFRESH: &str = "rt-copy-refresh-never-shown-3";
const VERIFIER: &str = "verifier-copy-never-shown-4";
/// The variables the copy reads the password and the key from.
const PW_VAR: &str = "SORTIE_TEST_COPY_DB_PW";
const KEY_VAR: &str = "SORTIE_TEST_COPY_KEY";

/// The shared key, base64 (as `openssl rand -base64 32` prints one).
fn store_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([7u8; 32])
}

/// `url` without its password (what the copy is told with `--to`).
fn bare(url: &str) -> String {
    url.replace(&format!(":{}@", Cluster::shared().password()), "@")
}

/// Outputs the tests check for secrets.
fn all_text(outputs: &[&Output]) -> String {
    outputs
        .iter()
        .map(|o| format!("{}{}", text(&o.stdout), text(&o.stderr)))
        .collect()
}

fn assert_no_secret(outputs: &[&Output]) {
    let all = all_text(outputs);
    for secret in [
        Cluster::shared().password(),
        API_KEY,
        ACCESS,
        REFRESH,
        VERIFIER,
        store_key().as_str(),
    ] {
        assert!(!all.contains(secret), "a secret leaked: {secret} in\n{all}");
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn json_of(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).expect("JSON on stdout")
}

/// `sortie ARGS` on `home`, on the PostgreSQL store `url` when given.
async fn sortie_on(home: &Path, url: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = sortie(home);
    cmd.args(args);
    if let Some(url) = url {
        cmd.env("SORTIE_STORE_URL", url).env(KEY_VAR, store_key());
    }
    run(cmd).await
}

/// `sortie store copy --to URL (no password) --password-env --key-env --json ARGS`.
async fn copy(home: &Path, url: &str, args: &[&str]) -> Output {
    let mut cmd = sortie(home);
    cmd.args([
        "store",
        "copy",
        "--to",
        &bare(url),
        "--password-env",
        PW_VAR,
    ])
    .args(["--key-env", KEY_VAR, "--json"])
    .args(args)
    .env(PW_VAR, Cluster::shared().password())
    .env(KEY_VAR, store_key());
    run(cmd).await
}

/// Opens the sled store of `home` once no sortie process holds it (bounded wait).
fn open_sled(home: &Path) -> sled::Db {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match sled::Config::new().path(home.join("store")).open() {
            Ok(db) => return db,
            Err(e) if std::time::Instant::now() > deadline => panic!("open the store: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn oauth_credential() -> Credential {
    Credential {
        id: CredentialId("corp#1".into()),
        provider: "corp".into(),
        label: "corp login".into(),
        auth_mode: AuthMode::OAuth,
        api_key: None,
        oauth: Some(OAuthTokens {
            access_token: Some(Secret::new(ACCESS)),
            refresh_token: Some(Secret::new(REFRESH)),
            expires_at: Some(Utc::now() + chrono::Duration::hours(1)),
            token_type: "Bearer".into(),
            scopes: vec!["openid".into()],
            account_id: Some("acct-1".into()),
            issued_at: None,
        }),
        status: CredentialStatus::Active,
        created_at: Utc::now(),
        last_used: None,
        use_count: 3,
        refresh_count: 1,
        last_error: None,
        pending_revocations: Vec::new(),
    }
}

fn pending_login() -> PendingLogin {
    PendingLogin {
        state: "copy-state-1".into(),
        provider: "corp".into(),
        verifier: Secret::new(VERIFIER),
        redirect_uri: "http://127.0.0.1:1/callback".into(),
        authorize_url: "https://idp.example/authorize".into(),
        credential: None,
        label: None,
        expires_at: Utc::now() + chrono::Duration::hours(2),
    }
}

/// Stores the OAuth login and a pending login in `home`'s sled store, as Sortie does
/// (credentials sealed with `store.key`, which `auth add-key` made); returns every
/// credential and the pending login as stored.
fn store_logins(home: &Path) -> (Vec<Credential>, PendingLogin) {
    let db = open_sled(home);
    let sealer = Sealer::from_key_file(&home.join("store.key")).expect("store.key");
    let creds =
        CredentialStore::sealed(db.open_tree("credentials").expect("tree"), Arc::new(sealer));
    creds.put(&oauth_credential()).expect("put the OAuth login");
    let pending = pending_login();
    PendingLogins::new(db.open_tree("oauth_sessions").expect("tree"))
        .put(&pending)
        .expect("put the pending login");
    let (all, problems) = creds.all().expect("credentials");
    assert!(problems.is_empty(), "{problems:?}");
    db.flush().expect("flush");
    (all, pending)
}

/// A data dir with two missions (a mock provider's with a tool call, the demo's), two
/// schedules, a cached model list, an API key, an OAuth login and a pending login.
/// Returns the credentials and the pending login as stored.
async fn populate(home: &Path, mock: &MockProvider, cwd: &Path) -> (Vec<Credential>, PendingLogin) {
    // The key of the shared store, read once it is the store (the sled side has no use for it).
    write_local_config(
        home,
        &mock.base_url(),
        &format!("\n[store]\nkey_env = \"{KEY_VAR}\"\n"),
    );
    mock.push(Reply::json(json!({"object": "list", "data": [
        {"id": "mock-model", "object": "model", "owned_by": "me"}
    ]})));
    ok(&sortie_on(home, None, &["models", "--json"]).await);
    mock.push(Reply::tool_call(
        "c1",
        "write_file",
        json!({"path": "note.txt", "content": "x"}),
    ));
    mock.push(Reply::text("Created note.txt."));
    let mut cmd = sortie(home);
    cmd.args(["run", "make a note", "--cwd"]).arg(cwd);
    ok(&run(cmd).await);
    ok(&sortie_on(home, None, &["demo", "--pace-ms", "0"]).await);
    ok(&sortie_on(
        home,
        None,
        &["schedule", "add", "--every", "1h", "check the build"],
    )
    .await);
    ok(&sortie_on(
        home,
        None,
        &[
            "schedule",
            "add",
            "--cron",
            "0 9 * * 1-5",
            "--name",
            "daily",
            "summarise",
        ],
    )
    .await);
    ok(&sortie_with_input(
        home,
        &["auth", "add-key", "local"],
        API_KEY,
    ));
    store_logins(home)
}

/// What the binary shows of the store: the missions, each one with its log, the schedules
/// and the cached models.
async fn views(home: &Path, url: Option<&str>) -> (Value, Vec<Value>, Value, Value) {
    let missions = json_of(&sortie_on(home, url, &["missions", "--json"]).await);
    let mut shows = Vec::new();
    for m in missions.as_array().expect("missions") {
        let id = m["id"].as_str().expect("id");
        shows.push(json_of(
            &sortie_on(home, url, &["show", id, "--json"]).await,
        ));
    }
    let schedules = json_of(&sortie_on(home, url, &["schedule", "ls", "--json"]).await);
    let models = json_of(&sortie_on(home, url, &["models", "--json"]).await);
    (missions, shows, schedules, models)
}

fn counted(report: &Value, what: &str) -> (u64, u64) {
    let c = &report[what];
    (
        c["sled"].as_u64().unwrap_or(u64::MAX),
        c["postgres"].as_u64().unwrap_or(u64::MAX),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_store_reads_back_the_same_through_the_binary_and_a_second_copy_writes_nothing() {
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    let mock = MockProvider::start().await;
    let (credentials, pending) = populate(home.path(), &mock, cwd.path()).await;
    assert_eq!(credentials.len(), 2, "the API key and the OAuth login");
    let sled_side = views(home.path(), None).await;
    assert_eq!(sled_side.0.as_array().map(Vec::len), Some(2));

    // On the empty database the binary lists no mission: what it lists later is the copy.
    let empty = sortie_on(home.path(), Some(&url), &["missions", "--json"]).await;
    assert_eq!(json_of(&empty), json!([]));

    // Credentials to copy and no key to seal them with: refused, nothing written.
    let mut cmd = sortie(home.path());
    cmd.args(["store", "copy", "--to", &url]);
    let no_key = run(cmd).await;
    assert_eq!(no_key.status.code(), Some(2), "{}", text(&no_key.stderr));
    assert!(
        text(&no_key.stderr).contains("key_env") && text(&no_key.stderr).contains(KEY_VAR),
        "{}",
        text(&no_key.stderr)
    );

    let first = copy(home.path(), &url, &["--progress-every", "1"]).await;
    let report = json_of(&first);
    assert!(
        text(&first.stderr).contains("copied 1 of 2 missions"),
        "progress: {}",
        text(&first.stderr)
    );
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["to"], bare(&url));
    assert_eq!(counted(&report, "missions"), (2, 2));
    let (events, events_pg) = counted(&report, "events");
    assert!(events > 20 && events == events_pg, "{report:#}");
    assert_eq!(counted(&report, "schedules"), (2, 2));
    assert_eq!(counted(&report, "credentials"), (2, 2));
    assert_eq!(counted(&report, "pending_logins"), (1, 1));
    assert_eq!(counted(&report, "models"), (1, 1));
    assert_eq!(
        (report["copied"].as_u64(), report["already_there"].as_u64()),
        (Some(2), Some(0))
    );

    // The same missions, logs, schedules and models, read through the binary on PostgreSQL.
    let requests = mock.paths().len();
    let pg_side = views(home.path(), Some(&url)).await;
    assert_eq!(pg_side.0, sled_side.0, "missions");
    assert_eq!(pg_side.1, sled_side.1, "missions and their events");
    assert_eq!(pg_side.2, sled_side.2, "schedules");
    assert_eq!(pg_side.3, sled_side.3, "the cached models");
    assert_eq!(
        mock.paths().len(),
        requests,
        "the models came from the copied cache"
    );

    // Run again: nothing written, the same counts.
    let db = url.rsplit('/').next().expect("db").to_string();
    let sql = cluster.connect(&db).await;
    let rows = "SELECT (SELECT count(*) FROM missions), (SELECT count(*) FROM events),
                (SELECT count(*) FROM schedules), (SELECT count(*) FROM credentials)";
    let before = sql.query_one(rows, &[]).await.expect("count");
    let second = copy(home.path(), &url, &[]).await;
    let again = json_of(&second);
    assert_eq!(again["ok"], true, "{again:#}");
    assert_eq!(
        (again["copied"].as_u64(), again["already_there"].as_u64()),
        (Some(0), Some(2))
    );
    for what in [
        "missions",
        "events",
        "schedules",
        "credentials",
        "pending_logins",
        "models",
    ] {
        assert_eq!(counted(&again, what), counted(&report, what), "{what}");
    }
    let after = sql.query_one(rows, &[]).await.expect("count");
    for i in 0..4 {
        assert_eq!(
            before.get::<_, i64>(i),
            after.get::<_, i64>(i),
            "column {i}"
        );
    }

    // A copy that stopped before the second mission: run again, it copies just that one.
    let second_id = sled_side.0[1]["id"].as_str().expect("id").to_string();
    let uuid: uuid::Uuid = second_id.parse().expect("uuid");
    sql.execute("DELETE FROM missions WHERE id = $1", &[&uuid])
        .await
        .expect("delete");
    let third = copy(home.path(), &url, &[]).await;
    let completed = json_of(&third);
    assert_eq!(completed["ok"], true, "{completed:#}");
    assert_eq!(
        (
            completed["copied"].as_u64(),
            completed["already_there"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let after = sql.query_one(rows, &[]).await.expect("count");
    for i in 0..4 {
        assert_eq!(
            before.get::<_, i64>(i),
            after.get::<_, i64>(i),
            "column {i}"
        );
    }
    assert_eq!(views(home.path(), Some(&url)).await.1, sled_side.1);

    // Sealed in the tables, and the same credentials once opened with the shared key.
    for row in sql
        .query(
            "SELECT record FROM credentials UNION ALL SELECT record FROM pending_logins",
            &[],
        )
        .await
        .expect("records")
    {
        let raw: Vec<u8> = row.get(0);
        assert!(raw.starts_with(b"SRT1"), "a record not sealed");
        let lossy = String::from_utf8_lossy(&raw);
        for secret in [API_KEY, ACCESS, REFRESH, VERIFIER] {
            assert!(!lossy.contains(secret), "{secret} in the clear in a table");
        }
    }
    std::env::set_var(KEY_VAR, store_key());
    let sealer = Arc::new(Sealer::from_env(KEY_VAR).expect("key"));
    let pg = PgStore::open(&url)
        .await
        .expect("open")
        .credentials(sealer)
        .await
        .expect("creds");
    let (copied, problems) = pg.all().await.expect("all");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(copied, credentials);
    let login = pg.pending_logins().get(&pending.state).await.expect("get");
    assert_eq!(login, Some(pending));
    assert_no_secret(&[&empty, &no_key, &first, &second, &third]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_holding_a_different_mission_under_the_same_id_is_refused_before_anything_is_written(
) {
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    let mock = MockProvider::start().await;
    write_local_config(home.path(), &mock.base_url(), "");
    mock.push(Reply::text("first answer"));
    let mut cmd = sortie(home.path());
    cmd.args(["run", "say something", "--cwd"]).arg(cwd.path());
    ok(&run(cmd).await);
    let missions = json_of(&sortie_on(home.path(), None, &["missions", "--json"]).await);
    let id = missions[0]["id"].as_str().expect("id").to_string();
    // No credential in this data dir: no key needed. No --to: the configured store.
    let first = sortie_on(home.path(), Some(&url), &["store", "copy"]).await;
    let table = ok(&first);
    assert!(table.contains("missions"), "{table}");
    assert!(table.contains("1 missions copied"), "{table}");

    // The mission goes on in sled after the copy, and a new one starts: the target's copy
    // of the first now differs.
    mock.push(Reply::text("second answer"));
    let mut cmd = sortie(home.path());
    cmd.args(["resume", &id, "and more"]);
    ok(&run(cmd).await);
    mock.push(Reply::text("another mission"));
    let mut cmd = sortie(home.path());
    cmd.args(["run", "another one", "--cwd"]).arg(cwd.path());
    ok(&run(cmd).await);

    let refused = copy(home.path(), &url, &[]).await;
    let err = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(err.contains("refusing to copy"), "{err}");
    assert!(err.contains(&id), "names the mission: {err}");
    assert!(err.contains("nothing was copied"), "{err}");
    assert!(!err.contains(cluster.password()), "{err}");
    let db = url.rsplit('/').next().expect("db").to_string();
    let n: i64 = cluster
        .connect(&db)
        .await
        .query_one("SELECT count(*) FROM missions", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, 1, "the new mission was not copied either");
    assert_no_secret(&[&first, &refused]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_brings_a_fresh_database_up_then_has_nothing_to_do_and_refuses_a_newer_schema() {
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let home = tempfile::tempdir().expect("home");
    let latest = sortie_missions::postgres::PG_SCHEMA_VERSION;

    let first = sortie_on(home.path(), Some(&url), &["store", "migrate", "--json"]).await;
    let m = json_of(&first);
    assert_eq!(m["backend"], "postgres");
    assert_eq!(m["store"], bare(&url));
    assert_eq!(
        (
            m["before"].as_i64(),
            m["after"].as_i64(),
            m["applied"].as_i64()
        ),
        (Some(0), Some(latest), Some(latest))
    );
    let again = sortie_on(home.path(), Some(&url), &["store", "migrate", "--json"]).await;
    let m = json_of(&again);
    assert_eq!(
        (
            m["before"].as_i64(),
            m["after"].as_i64(),
            m["applied"].as_i64()
        ),
        (Some(latest), Some(latest), Some(0))
    );
    let help = ok(&sortie_on(home.path(), None, &["store", "--help"]).await);
    for step in [
        "initdb",
        "sortie store migrate",
        "sortie store copy --to",
        "[store]",
    ] {
        assert!(help.contains(step), "`store --help` teaches {step}: {help}");
    }
    let plain = sortie_on(home.path(), Some(&url), &["store", "migrate"]).await;
    assert!(ok(&plain).contains(&format!("schema {latest}, up to date")));

    // A schema from a newer sortie.
    let db = url.rsplit('/').next().expect("db").to_string();
    cluster
        .connect(&db)
        .await
        .execute(
            "INSERT INTO sortie_migrations (version, name) VALUES ($1, 'from the future')",
            &[&(latest + 1)],
        )
        .await
        .expect("insert");
    let newer = sortie_on(home.path(), Some(&url), &["store", "migrate"]).await;
    let err = text(&newer.stderr);
    assert_eq!(newer.status.code(), Some(2), "{err}");
    assert!(err.contains("written by a newer sortie"), "{err}");
    assert!(err.contains(&bare(&url)), "{err}");

    // The sled store: nothing to migrate, said so.
    let sled = sortie_on(home.path(), None, &["store", "migrate"]).await;
    assert!(
        ok(&sled).contains("nothing to migrate"),
        "{}",
        text(&sled.stdout)
    );
    let sled = json_of(&sortie_on(home.path(), None, &["store", "migrate", "--json"]).await);
    assert_eq!(
        (sled["backend"].as_str(), sled["applied"].as_i64()),
        (Some("sled"), Some(0))
    );
    assert_no_secret(&[&first, &again, &plain, &newer]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_named_without_its_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let secret = "Unre4chable-copy-pw";
    let url = format!("postgres://sortie:{secret}@127.0.0.1:{port}/missions");
    let shown = format!("postgres://sortie@127.0.0.1:{port}/missions");
    let home = tempfile::tempdir().expect("home");
    let mut cmd = sortie(home.path());
    cmd.args(["store", "copy", "--to", &url]);
    let copied = run(cmd).await;
    let migrated = sortie_on(home.path(), Some(&url), &["store", "migrate"]).await;
    for out in [&copied, &migrated] {
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!("cannot reach the PostgreSQL store at {shown}")),
            "{err}"
        );
        assert!(!all_text(&[out]).contains(secret), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_holding_the_store_is_named_with_how_to_stop_it() {
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let home = tempfile::tempdir().expect("home");
    let mock = MockProvider::start().await;
    write_local_config(home.path(), &mock.base_url(), "");
    let _daemon = DaemonProc::start(home.path()).await;
    let refused = copy(home.path(), &url, &[]).await;
    let err = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(err.contains("sortie serve --stop"), "{err}");
    assert_no_secret(&[&refused]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_log_goes_over_in_batches_with_every_event_in_order() {
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let home = tempfile::tempdir().expect("home");
    let id = {
        let store = sortie_missions::Store::open(home.path()).expect("open");
        let m = store
            .create_mission(sortie_tests::postgres::store_spec("a long one"))
            .expect("create");
        // More events than one statement carries, and more bytes (8 of 700 kB).
        for i in 0..1200 {
            let text = match i % 150 {
                0 => format!("{i} {}", "x".repeat(700_000)),
                _ => format!("message {i}"),
            };
            store
                .append(&m.id, sortie_missions::MissionEvent::UserMessage { text })
                .expect("append");
        }
        store.flush_all().await.expect("flush");
        m.id.to_string()
    };
    let sled_side = json_of(&sortie_on(home.path(), None, &["show", &id, "--json"]).await);
    assert_eq!(sled_side["events"].as_array().map(Vec::len), Some(1202));
    let out = copy(home.path(), &url, &[]).await;
    let report = json_of(&out);
    assert_eq!(counted(&report, "events"), (1202, 1202), "{report:#}");
    let pg_side = json_of(&sortie_on(home.path(), Some(&url), &["show", &id, "--json"]).await);
    assert!(pg_side == sled_side, "the log differs on PostgreSQL");
}
