//! The credential pool under races, outages and short-lived tokens, against the real
//! authorization server: no write is lost while tokens rotate, an unreachable token
//! endpoint is an outage (not a revoked login), and short-lived tokens are not refreshed on
//! every lease.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sortie_tests::accounts::temp_credential_store;
use sortie_tests::oauth_server::{client_for, oauth_credential, Browser, OAuthServer, CLIENT_ID};
use sortie_transports::auth::oauth::{CallbackServer, OAuthClient, OAuthConfig, Pkce, TokenSet};
use sortie_transports::auth::{
    Credential, CredentialId, CredentialStatus, CredentialStore, Pool, PoolError, Strategy,
};
use sortie_transports::ErrorClass;

async fn login(client: &OAuthClient) -> TokenSet {
    let callback = CallbackServer::bind(None, "/callback").await.expect("bind");
    let pkce = Pkce::new();
    let url = client
        .authorize_url(&pkce, "race-state", &callback.redirect_uri)
        .expect("authorize url");
    let browser = tokio::spawn(async move { Browser::default().approve(&url).await });
    let got = callback
        .wait("race-state", Duration::from_secs(30))
        .await
        .expect("callback");
    browser.await.expect("browser");
    client
        .exchange_code(&got.code, &pkce.verifier, &callback.redirect_uri, None)
        .await
        .expect("exchange")
}

fn stored_refresh_token(store: &CredentialStore, id: &CredentialId) -> String {
    store
        .get(id)
        .expect("get")
        .expect("exists")
        .oauth
        .expect("oauth")
        .refresh_token
        .expect("refresh token")
        .expose()
        .to_string()
}

/// A pool over one OAuth credential, `corp#1`, logged in at `server`.
async fn logged_in_pool(
    server: &OAuthServer,
) -> (tempfile::TempDir, CredentialStore, CredentialId, Arc<Pool>) {
    let client = client_for(server).await;
    let tokens = login(&client).await;
    let (dir, store) = temp_credential_store();
    let id = CredentialId("corp#1".into());
    store
        .put(&oauth_credential("corp#1", &tokens))
        .expect("put");
    let pool = Arc::new(Pool::new(store.clone(), Strategy::FillFirst).with_oauth("corp", client));
    (dir, store, id, pool)
}

/// Sixteen tasks leasing until `stop`, each returning how many leases it got. With
/// `must_lease` a refused lease fails the test; without, refusals are expected.
fn leasers(
    pool: &Arc<Pool>,
    stop: &Arc<AtomicBool>,
    must_lease: bool,
) -> Vec<tokio::task::JoinHandle<u64>> {
    (0..16)
        .map(|_| {
            let (pool, stop) = (pool.clone(), stop.clone());
            tokio::spawn(async move {
                let mut leases = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let lease = pool.lease("corp").await;
                    if must_lease {
                        lease.expect("lease while tokens rotate");
                        leases += 1;
                    }
                    tokio::task::yield_now().await;
                }
                leases
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leases_from_many_tasks_never_write_back_a_rotated_refresh_token() {
    let server = OAuthServer::start(600).await;
    let (_dir, store, id, pool) = logged_in_pool(&server).await;
    let stop = Arc::new(AtomicBool::new(false));
    let leasers = leasers(&pool, &stop, true);
    let rounds = 12;
    for round in 0..rounds {
        let current = store.get(&id).expect("get").expect("exists");
        let refreshed = pool
            .refresh(&id, current.bearer())
            .await
            .unwrap_or_else(|e| panic!("refresh {round} with the stored refresh token: {e}"));
        let newest = refreshed
            .oauth
            .and_then(|o| o.refresh_token)
            .expect("rotated refresh token");
        // Give the leases time to write back whatever they read before the refresh.
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(
            stored_refresh_token(&store, &id),
            newest.expose(),
            "round {round}: the stored refresh token is the newest"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let mut leases = 0;
    for l in leasers {
        leases += l.await.expect("join");
    }
    let stored = store.get(&id).expect("get").expect("exists");
    assert_eq!(stored.refresh_count, rounds);
    assert_eq!(stored.use_count, leases, "no use counter was lost either");
    assert_eq!(stored.status, CredentialStatus::Active);
    assert_eq!(
        server.stats().await["refresh_grants"].as_u64().expect("n"),
        rounds,
        "every refresh used a live refresh token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cooldown_or_needs_reauth_set_while_leasing_is_not_undone() {
    let server = OAuthServer::start(600).await;
    let (_dir, store, id, pool) = logged_in_pool(&server).await;
    let stop = Arc::new(AtomicBool::new(false));
    // Leases fail once the credential is set aside: that is the point.
    let leasers = leasers(&pool, &stop, false);
    tokio::time::sleep(Duration::from_millis(50)).await;
    pool.needs_reauth(&id, "revoked by the test").expect("set");
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.store(true, Ordering::Relaxed);
    for l in leasers {
        l.await.expect("join");
    }
    let stored = store.get(&id).expect("get").expect("exists");
    assert_eq!(stored.status.name(), "needs_reauth", "{:?}", stored.status);
}

fn signal(server: &OAuthServer, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(server.pid() as i32);
    nix::sys::signal::kill(pid, signal).expect("signal the OAuth server");
}

/// A credential whose access token has expired: the next lease must refresh it.
fn expired(tokens: &TokenSet) -> Credential {
    let mut c = oauth_credential("corp#1", tokens);
    if let Some(o) = c.oauth.as_mut() {
        o.expires_at = Some(Utc::now() - chrono::Duration::seconds(5));
    }
    c
}

#[tokio::test]
async fn a_hung_token_endpoint_is_an_outage_that_keeps_the_login_active() {
    use nix::sys::signal::Signal;
    let server = OAuthServer::start(600).await;
    let client = client_for(&server).await;
    let tokens = login(&client).await;
    let (_dir, store) = temp_credential_store();
    let id = CredentialId("corp#1".into());
    store.put(&expired(&tokens)).expect("put");
    let client = client.with_timeout(Duration::from_secs(2));
    let pool = Pool::new(store.clone(), Strategy::FillFirst).with_oauth("corp", client);

    signal(&server, Signal::SIGSTOP);
    let err = pool.lease("corp").await.expect_err("no token while paused");
    signal(&server, Signal::SIGCONT);
    assert!(matches!(err, PoolError::RefreshFailed { .. }), "{err}");
    assert_eq!(
        sortie_transports::auth::pool_error(err).class,
        ErrorClass::Network,
        "an outage is backed off from, not a revoked login"
    );
    let stored = store.get(&id).expect("get").expect("exists");
    assert_eq!(stored.status, CredentialStatus::Active);
    let shown = stored
        .summary()
        .last_error
        .expect("the last error is shown");
    assert!(shown.contains("token endpoint"), "{shown}");
}

/// A TCP forwarder to the authorization server that can be taken down (connections
/// refused) and brought back on the same port: an outage that loses no request.
struct Outage {
    port: u16,
    target: std::net::SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Outage {
    fn new(issuer: &str) -> Self {
        let target = issuer
            .trim_start_matches("http://")
            .parse()
            .expect("issuer address");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        Self {
            port,
            target,
            task: None,
        }
    }

    fn up(&mut self) {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("reuseaddr");
        socket
            .bind(([127, 0, 0, 1], self.port).into())
            .expect("bind the forwarder again");
        let listener = socket.listen(64).expect("listen");
        let target = self.target;
        self.task = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    async fn down(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

#[tokio::test]
async fn a_token_endpoint_that_is_down_keeps_the_login_and_the_refresh_succeeds_once_it_is_back() {
    let server = OAuthServer::start(600).await;
    let client = client_for(&server).await;
    let tokens = login(&client).await;
    let (_dir, store) = temp_credential_store();
    let id = CredentialId("corp#1".into());
    store.put(&expired(&tokens)).expect("put");
    let mut outage = Outage::new(&server.issuer);
    let mut config = client.config.clone();
    config.token_url = format!("http://127.0.0.1:{}/token", outage.port);
    let pool =
        Pool::new(store.clone(), Strategy::FillFirst).with_oauth("corp", OAuthClient::new(config));

    let err = pool.lease("corp").await.expect_err("no token while down");
    assert_eq!(
        sortie_transports::auth::pool_error(err).class,
        ErrorClass::Network
    );
    let stored = store.get(&id).expect("get").expect("exists");
    assert_eq!(stored.status, CredentialStatus::Active);
    assert!(stored.last_error.is_some());

    outage.up();
    let lease = pool.lease("corp").await.expect("the server is back");
    assert_ne!(lease.secret.expose(), tokens.access_token.expose());
    let stored = store.get(&id).expect("get").expect("exists");
    assert_eq!(
        stored.last_error, None,
        "cleared by the refresh that worked"
    );
    assert_eq!(stored.refresh_count, 1);
    outage.down().await;
}

#[tokio::test]
async fn a_refused_connection_or_a_5xx_is_an_outage_and_invalid_grant_is_not() {
    let (_dir, store) = temp_credential_store();
    let id = CredentialId("corp#1".into());
    let tokens = TokenSet {
        access_token: sortie_transports::Secret::new("old-access"),
        refresh_token: Some(sortie_transports::Secret::new("old-refresh")),
        expires_at: None,
        token_type: "Bearer".into(),
        scopes: vec![],
        account_id: None,
    };
    // A port nobody listens on: bind one, note it, close it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let mock = sortie_tests::MockProvider::start().await;
    mock.push(sortie_tests::Reply::error(
        503,
        "<html>down for maintenance</html>",
    ));
    mock.push(sortie_tests::Reply::error(
        400,
        r#"{"error":"invalid_grant","error_description":"grant revoked"}"#,
    ));
    for (token_url, outage) in [
        (format!("http://{closed}/token"), true),
        (format!("{}/token", mock.root_url()), true),
        (format!("{}/token", mock.root_url()), false),
    ] {
        store.put(&expired(&tokens)).expect("reset");
        let config = OAuthConfig::new(CLIENT_ID, token_url.clone());
        let pool = Pool::new(store.clone(), Strategy::FillFirst)
            .with_oauth("corp", OAuthClient::new(config));
        let err = pool.lease("corp").await.expect_err("no token");
        let class = sortie_transports::auth::pool_error(err).class;
        let stored = store.get(&id).expect("get").expect("exists");
        if outage {
            assert_eq!(class, ErrorClass::Network, "{token_url}");
            assert_eq!(stored.status, CredentialStatus::Active, "{token_url}");
            assert!(stored.last_error.is_some(), "{token_url}");
        } else {
            assert_eq!(class, ErrorClass::AuthExpired);
            assert_eq!(stored.status.name(), "needs_reauth");
        }
    }
}

#[tokio::test]
async fn short_lived_tokens_are_not_refreshed_on_every_lease_nor_by_an_idle_pool() {
    // 8-second tokens: a fixed 60 s margin would refresh on every lease.
    let server = OAuthServer::start(8).await;
    let client = client_for(&server).await;
    let tokens = login(&client).await;
    let (_dir, store) = temp_credential_store();
    let id = CredentialId("corp#1".into());
    store.put(&expired(&tokens)).expect("put");
    let pool = Pool::new(store.clone(), Strategy::FillFirst).with_oauth("corp", client);
    let refreshes = || async { server.stats().await["refresh_grants"].as_u64().expect("n") };

    pool.lease("corp").await.expect("first lease refreshes");
    for _ in 0..20 {
        pool.lease("corp").await.expect("lease");
    }
    assert_eq!(
        refreshes().await,
        1,
        "one refresh for 21 leases of a fresh token"
    );

    // Unused credentials are left alone by the proactive refresh, even once expired.
    store
        .update(&id, |c| {
            c.last_used = Some(Utc::now() - chrono::Duration::hours(1));
            if let Some(o) = c.oauth.as_mut() {
                o.expires_at = Some(Utc::now() - chrono::Duration::seconds(1));
            }
        })
        .expect("age it");
    assert_eq!(
        pool.refresh_due().await,
        0,
        "an idle pool refreshes nothing"
    );
    assert_eq!(refreshes().await, 1);
    // In use: refreshed ahead.
    store
        .update(&id, |c| c.last_used = Some(Utc::now()))
        .expect("use it");
    assert_eq!(pool.refresh_due().await, 1);
    assert_eq!(refreshes().await, 2);
}
