//! One credential pool for several daemons, on the real PostgreSQL test cluster and the
//! real OAuth server: a refresh under the credential's row lock serves every daemon (the
//! rotated refresh token is sent once), a cooldown one daemon sets is seen by the others,
//! tokens are sealed at rest with the key the daemons share, and a wrong key is refused.
//! Each "daemon" here is a pool with its own connections to the database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use sortie_missions::postgres::{CredentialOptions, PgCredentials, PgStore};
use sortie_tests::oauth_server::{client_for, oauth_credential, Browser, OAuthServer};
use sortie_tests::postgres::{connect, Cluster};
use sortie_transports::auth::oauth::{CallbackServer, OAuthClient, Pkce, TokenSet};
use sortie_transports::auth::sealed::Sealer;
use sortie_transports::auth::{
    AuthMode, Credential, CredentialBackend, CredentialId, CredentialStatus, PendingLogin,
    PendingLoginBackend, Pool, PoolError, StoreError, Strategy,
};
use sortie_transports::Secret;

/// A 32-byte key in base64, distinct per `seed`.
fn key(seed: u8) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([seed; 32])
}

/// The key in a variable of its own (tests run in parallel in one process).
fn sealer(var: &str, seed: u8) -> Arc<Sealer> {
    std::env::set_var(var, key(seed));
    Arc::new(Sealer::from_env(var).expect("key from the environment"))
}

/// A daemon's view of the database: its own connection pool and credential store.
async fn daemon(url: &str, sealer: &Arc<Sealer>) -> PgCredentials {
    PgStore::open(url)
        .await
        .expect("open")
        .credentials(sealer.clone())
        .await
        .expect("credentials")
}

async fn login(client: &OAuthClient) -> TokenSet {
    let callback = CallbackServer::bind(None, "/callback").await.expect("bind");
    let pkce = Pkce::new();
    let url = client
        .authorize_url(&pkce, "pg-state", &callback.redirect_uri)
        .expect("authorize url");
    let browser = tokio::spawn(async move { Browser::default().approve(&url).await });
    let got = callback
        .wait("pg-state", Duration::from_secs(30))
        .await
        .expect("callback");
    browser.await.expect("browser");
    client
        .exchange_code(&got.code, &pkce.verifier, &callback.redirect_uri, None)
        .await
        .expect("exchange")
}

fn api_key(id: &str, key: &str) -> Credential {
    Credential {
        id: CredentialId(id.into()),
        provider: "corp".into(),
        label: "key".into(),
        auth_mode: AuthMode::ApiKey,
        api_key: Some(Secret::new(key)),
        oauth: None,
        status: CredentialStatus::Active,
        created_at: Utc::now(),
        last_used: None,
        use_count: 0,
        refresh_count: 0,
        last_error: None,
        pending_revocations: Vec::new(),
    }
}

fn stat(stats: &serde_json::Value, name: &str) -> u64 {
    stats[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} in {stats}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_daemons_with_an_expired_token_make_one_refresh_for_100_requests() {
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let server = OAuthServer::start(600).await;
    let key = sealer("SORTIE_TEST_PG_KEY_REFRESH", 1);
    let (a, b) = (daemon(&url, &key).await, daemon(&url, &key).await);
    let tokens = login(&client_for(&server).await).await;
    let mut expired = oauth_credential("corp#1", &tokens);
    expired.oauth.as_mut().expect("oauth").expires_at =
        Some(Utc::now() - chrono::Duration::minutes(1));
    a.put(&expired).await.expect("put");
    let first_refresh = tokens.refresh_token.clone().expect("refresh token");
    let pool = |creds: PgCredentials, client: OAuthClient| {
        Arc::new(Pool::on(Arc::new(creds), Strategy::FillFirst).with_oauth("corp", client))
    };
    let pools = [
        pool(a, client_for(&server).await),
        pool(b.clone(), client_for(&server).await),
    ];
    let before = server.stats().await;
    let requests: Vec<_> = (0..100)
        .map(|i| {
            let pool = pools[i % 2].clone();
            tokio::spawn(async move { pool.lease("corp").await })
        })
        .collect();
    let mut secrets = std::collections::HashSet::new();
    for r in requests {
        let lease = r.await.expect("join").expect("every request gets a lease");
        secrets.insert(lease.secret.expose().to_string());
    }
    let after = server.stats().await;
    assert_eq!(
        stat(&after, "token_requests") - stat(&before, "token_requests"),
        1,
        "one request to the token endpoint for both daemons: {before} -> {after}"
    );
    assert_eq!(
        stat(&after, "refresh_grants") - stat(&before, "refresh_grants"),
        1
    );
    assert_eq!(secrets.len(), 1, "every request carries the one new token");
    assert!(!secrets.contains(tokens.access_token.expose()));
    let stored = b
        .get(&CredentialId("corp#1".into()))
        .await
        .expect("get")
        .expect("there");
    assert_eq!(
        stored.status,
        CredentialStatus::Active,
        "{:?}",
        stored.status
    );
    assert_eq!(stored.refresh_count, 1);
    assert_eq!(stored.use_count, 100);
    let rotated = stored.oauth.expect("oauth").refresh_token.expect("rotated");
    assert_ne!(
        rotated.expose(),
        first_refresh.expose(),
        "the server rotates"
    );
    // The rotated token was never sent (the server revokes a grant whose token is reused):
    // the next refresh with it is granted.
    let next = client_for(&server)
        .await
        .refresh(&rotated)
        .await
        .expect("the rotated refresh token is still good");
    assert!(next.refresh_token.is_some());
}

#[tokio::test]
async fn a_cooldown_set_by_one_daemon_is_seen_by_the_other() {
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let key = sealer("SORTIE_TEST_PG_KEY_COOL", 2);
    let (a, b) = (daemon(&url, &key).await, daemon(&url, &key).await);
    a.put(&api_key("corp#1", "sk-cool-1")).await.expect("put");
    let (pool_a, pool_b) = (
        Pool::on(Arc::new(a), Strategy::FillFirst),
        Pool::on(Arc::new(b), Strategy::FillFirst),
    );
    pool_b.lease("corp").await.expect("usable before the 429");
    let until = Utc::now() + chrono::Duration::minutes(10);
    let cooling = CredentialStatus::CoolingDown {
        until,
        reason: "429 from the provider".into(),
    };
    pool_a
        .set_status(&CredentialId("corp#1".into()), cooling)
        .await
        .expect("cool down");
    match pool_b.lease("corp").await {
        Err(PoolError::Exhausted { next_usable, .. }) => {
            let next = next_usable.expect("when it is usable again");
            assert!(
                (next - until).num_milliseconds().abs() < 1,
                "{next} vs {until}"
            );
        }
        other => panic!("the other daemon skips the cooling credential: {other:?}"),
    }
    // The status is readable in the table without the key.
    let raw = connect(&url).await;
    let row = raw
        .query_one(
            "SELECT status, cooling_until FROM credentials WHERE id = 'corp#1'",
            &[],
        )
        .await
        .expect("select");
    assert_eq!(row.get::<_, &str>(0), "cooling_down");
    assert!(row.get::<_, Option<chrono::DateTime<Utc>>>(1).is_some());
    // Once it has run out, the other daemon uses it again.
    let past = CredentialStatus::CoolingDown {
        until: Utc::now() - chrono::Duration::seconds(1),
        reason: "429".into(),
    };
    pool_a
        .set_status(&CredentialId("corp#1".into()), past)
        .await
        .expect("set");
    pool_b
        .lease("corp")
        .await
        .expect("usable after the cooldown");
}

#[tokio::test]
async fn tokens_and_verifiers_in_the_tables_are_sealed() {
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let key = sealer("SORTIE_TEST_PG_KEY_SEALED", 3);
    let creds = daemon(&url, &key).await;
    let mut c = api_key("corp#1", "sk-plain-never-1");
    c.auth_mode = AuthMode::OAuth;
    c.oauth = Some(sortie_transports::auth::OAuthTokens {
        access_token: Some(Secret::new("at-plain-never-2")),
        refresh_token: Some(Secret::new("rt-plain-never-3")),
        expires_at: None,
        token_type: "Bearer".into(),
        scopes: Vec::new(),
        account_id: None,
        issued_at: None,
    });
    creds.put(&c).await.expect("put");
    let login = PendingLogin {
        state: "st-1".into(),
        provider: "corp".into(),
        verifier: Secret::new("verifier-plain-never-4"),
        redirect_uri: "http://127.0.0.1:1/callback".into(),
        authorize_url: "https://idp/authorize".into(),
        credential: None,
        label: None,
        expires_at: Utc::now() + chrono::Duration::minutes(10),
    };
    let logins = creds.pending_logins();
    logins.put(&login).await.expect("put login");
    let raw = connect(&url).await;
    let mut stored = Vec::new();
    for sql in [
        "SELECT record FROM credentials",
        "SELECT record FROM pending_logins",
    ] {
        for row in raw.query(sql, &[]).await.expect("select") {
            stored.push(String::from_utf8_lossy(row.get::<_, &[u8]>(0)).into_owned());
        }
    }
    assert_eq!(stored.len(), 2);
    for text in &stored {
        for secret in [
            "sk-plain-never-1",
            "at-plain-never-2",
            "rt-plain-never-3",
            "verifier-plain-never-4",
            "corp#1",
        ] {
            assert!(
                !text.contains(secret),
                "{secret} is in the table in the clear"
            );
        }
    }
    // Read back through the store, they are whole.
    let back = creds.get(&c.id).await.expect("get").expect("there");
    assert_eq!(back, c);
    let back = logins.get("st-1").await.expect("get").expect("live");
    assert_eq!(back.verifier.expose(), "verifier-plain-never-4");
    assert_eq!(
        logins
            .latest_for("corp")
            .await
            .expect("latest")
            .map(|p| p.state),
        Some("st-1".into())
    );
    logins.remove("st-1").await.expect("remove");
    assert!(logins.get("st-1").await.expect("get").is_none());
    // A record written in the clear behind the store's back is refused, not used.
    raw.execute(
        "UPDATE credentials SET record = convert_to('{\"id\":\"corp#1\"}', 'UTF8')",
        &[],
    )
    .await
    .expect("update");
    let err = creds.get(&c.id).await.expect_err("unsealed");
    assert!(err.to_string().contains("unsealed"), "{err}");
}

#[tokio::test]
async fn a_daemon_with_another_key_or_none_is_refused_clearly() {
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let right = sealer("SORTIE_TEST_PG_KEY_RIGHT", 4);
    let creds = daemon(&url, &right).await;
    creds
        .put(&api_key("corp#1", "sk-key-1"))
        .await
        .expect("put");
    let wrong = sealer("SORTIE_TEST_PG_KEY_WRONG", 5);
    let store = PgStore::open(&url).await.expect("open");
    let err = store.credentials(wrong).await.expect_err("another key");
    let text = err.to_string();
    assert!(matches!(err, StoreError::WrongKey(_)), "{text}");
    assert!(text.contains("$SORTIE_TEST_PG_KEY_WRONG"), "{text}");
    assert!(text.contains("not the one"), "{text}");
    assert!(
        !text.contains(&key(5)) && !text.contains(cluster.password()),
        "{text}"
    );
    // What key_env names must be there, base64, and 32 bytes.
    let err = Sealer::from_env("SORTIE_TEST_PG_KEY_UNSET").expect_err("unset");
    assert!(
        err.contains("$SORTIE_TEST_PG_KEY_UNSET") && err.contains("openssl rand -base64 32"),
        "{err}"
    );
    std::env::set_var("SORTIE_TEST_PG_KEY_BAD", "not base64 at all!");
    let err = Sealer::from_env("SORTIE_TEST_PG_KEY_BAD").expect_err("bad");
    assert!(err.contains("not base64"), "{err}");
    std::env::set_var("SORTIE_TEST_PG_KEY_SHORT", key(6).get(..8).expect("short"));
    let err = Sealer::from_env("SORTIE_TEST_PG_KEY_SHORT").expect_err("short");
    assert!(err.contains("not 32"), "{err}");
}

#[tokio::test]
async fn a_write_waits_for_another_daemons_lock_at_most_lock_timeout() {
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let key = sealer("SORTIE_TEST_PG_KEY_LOCK", 7);
    let store = PgStore::open(&url).await.expect("open");
    let options = CredentialOptions {
        lock_timeout: Duration::from_secs(1),
        refresh_timeout: Duration::from_millis(500),
    };
    let creds = store.credentials_with(key, options).await.expect("creds");
    creds
        .put(&api_key("corp#1", "sk-lock-1"))
        .await
        .expect("put");
    // Another daemon in the middle of a refresh holds the row.
    let mut other = connect(&url).await;
    let tx = other.transaction().await.expect("begin");
    tx.query(
        "SELECT 1 FROM credentials WHERE id = 'corp#1' FOR UPDATE",
        &[],
    )
    .await
    .expect("lock");
    let pool = Pool::on(Arc::new(creds), Strategy::FillFirst);
    let started = Instant::now();
    let err = pool
        .set_status(
            &CredentialId("corp#1".into()),
            CredentialStatus::Disconnected,
        )
        .await
        .expect_err("the row stays locked");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.to_string().contains("stayed locked by another daemon"),
        "{err}"
    );
    // A lease does not wait for the lock to count its use (waiting would end in the
    // same refusal).
    pool.lease("corp")
        .await
        .expect("lease while the row is locked");
    // The synchronous calls of sled pools say what to use instead.
    let err = pool
        .cool_down(&CredentialId("corp#1".into()), Utc::now(), "429")
        .expect_err("no sync write on a shared store");
    assert!(err.to_string().contains("Pool::set_status"), "{err}");
    tx.rollback().await.expect("rollback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_token_endpoint_holds_the_credentials_lock_at_most_refresh_timeout() {
    use nix::sys::signal::{kill, Signal};
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let server = OAuthServer::start(600).await;
    let key = sealer("SORTIE_TEST_PG_KEY_HUNG", 8);
    let options = CredentialOptions {
        lock_timeout: Duration::from_secs(10),
        refresh_timeout: Duration::from_secs(2),
    };
    let mut pools = Vec::new();
    for _ in 0..2 {
        let creds = PgStore::open(&url)
            .await
            .expect("open")
            .credentials_with(key.clone(), options.clone())
            .await
            .expect("creds");
        pools.push(Arc::new(
            Pool::on(Arc::new(creds), Strategy::FillFirst)
                .with_oauth("corp", client_for(&server).await),
        ));
    }
    let tokens = login(&client_for(&server).await).await;
    let mut expired = oauth_credential("corp#1", &tokens);
    expired.oauth.as_mut().expect("oauth").expires_at =
        Some(Utc::now() - chrono::Duration::minutes(1));
    pools[0].backend().put(&expired).await.expect("put");
    let pid = nix::unistd::Pid::from_raw(server.pid() as i32);
    kill(pid, Signal::SIGSTOP).expect("pause the OAuth server");
    let started = Instant::now();
    let leases: Vec<_> = pools
        .iter()
        .map(|p| {
            let p = p.clone();
            tokio::spawn(async move { p.lease("corp").await })
        })
        .collect();
    let mut errors = Vec::new();
    for l in leases {
        errors.push(
            l.await
                .expect("join")
                .expect_err("no token while the server hangs"),
        );
    }
    let waited = started.elapsed();
    kill(pid, Signal::SIGCONT).expect("resume the OAuth server");
    for err in &errors {
        assert!(matches!(err, PoolError::RefreshFailed { .. }), "{err}");
        assert!(
            err.to_string().contains("did not answer within 2s"),
            "{err}"
        );
    }
    // Each daemon's refresh held the lock at most 2 s, one after the other.
    assert!(waited < Duration::from_secs(20), "{waited:?}");
    let stored = pools[1]
        .backend()
        .get(&expired.id)
        .await
        .expect("get")
        .expect("there");
    assert_eq!(
        stored.status,
        CredentialStatus::Active,
        "an outage keeps the login"
    );
    assert!(stored
        .last_error
        .is_some_and(|e| e.contains("did not answer")));
    assert_eq!(
        stored.oauth.expect("oauth").refresh_token,
        tokens.refresh_token
    );
}
