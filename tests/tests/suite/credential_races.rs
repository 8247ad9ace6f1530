//! The credential pool under races, outages and short-lived tokens, against the real
//! authorization server: no write is lost while tokens rotate, an unreachable token
//! endpoint is an outage (not a revoked login), and short-lived tokens are not refreshed on
//! every lease.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sortie_tests::oauth_server::{Browser, OAuthServer, CLIENT_ID};
use sortie_transports::auth::oauth::{CallbackServer, OAuthClient, Pkce, TokenSet};
use sortie_transports::auth::{
    AuthMode, Credential, CredentialId, CredentialStatus, CredentialStore, OAuthTokens, Pool,
    Strategy,
};

async fn client_for(server: &OAuthServer) -> OAuthClient {
    let scopes = vec!["openid".into(), "offline_access".into(), "api".into()];
    OAuthClient::new(
        OAuthClient::discover(&server.issuer, CLIENT_ID, scopes)
            .await
            .expect("discovery"),
    )
}

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

fn store() -> (tempfile::TempDir, CredentialStore) {
    let dir = tempfile::tempdir().expect("dir");
    let db = sled::open(dir.path().join("db")).expect("sled");
    (
        dir,
        CredentialStore::new(db.open_tree("credentials").expect("tree")),
    )
}

fn credential(tokens: &TokenSet) -> Credential {
    Credential {
        id: CredentialId("corp#1".into()),
        provider: "corp".into(),
        label: "race".into(),
        auth_mode: AuthMode::OAuth,
        api_key: None,
        oauth: Some(OAuthTokens {
            access_token: Some(tokens.access_token.clone()),
            refresh_token: tokens.refresh_token.clone(),
            expires_at: tokens.expires_at,
            token_type: tokens.token_type.clone(),
            scopes: tokens.scopes.clone(),
            account_id: None,
        }),
        status: CredentialStatus::Active,
        created_at: Utc::now(),
        last_used: None,
        use_count: 0,
        refresh_count: 0,
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leases_from_many_tasks_never_write_back_a_rotated_refresh_token() {
    let server = OAuthServer::start(600).await;
    let client = client_for(&server).await;
    let tokens = login(&client).await;
    let (_dir, store) = store();
    let id = CredentialId("corp#1".into());
    store.put(&credential(&tokens)).expect("put");
    let pool = Arc::new(Pool::new(store.clone(), Strategy::FillFirst).with_oauth("corp", client));

    let stop = Arc::new(AtomicBool::new(false));
    let mut leasers = Vec::new();
    for _ in 0..16 {
        let (pool, stop) = (pool.clone(), stop.clone());
        leasers.push(tokio::spawn(async move {
            let mut leases = 0u64;
            while !stop.load(Ordering::Relaxed) {
                pool.lease("corp").await.expect("lease while tokens rotate");
                leases += 1;
                tokio::task::yield_now().await;
            }
            leases
        }));
    }
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
    let client = client_for(&server).await;
    let tokens = login(&client).await;
    let (_dir, store) = store();
    let id = CredentialId("corp#1".into());
    store.put(&credential(&tokens)).expect("put");
    let pool = Arc::new(Pool::new(store.clone(), Strategy::FillFirst).with_oauth("corp", client));
    let stop = Arc::new(AtomicBool::new(false));
    let mut leasers = Vec::new();
    for _ in 0..16 {
        let (pool, stop) = (pool.clone(), stop.clone());
        leasers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // Fails once the credential is set aside: that is the point.
                let _ = pool.lease("corp").await;
                tokio::task::yield_now().await;
            }
        }));
    }
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
