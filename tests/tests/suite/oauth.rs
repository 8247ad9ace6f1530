//! OAuth flows and the credential pool against a real authorization server
//! (panva/oidc-provider on loopback): code + PKCE via loopback and paste, the device grant,
//! refresh with rotation, revocation, single-flight refresh, and what a provider API answers
//! for an expired token.

use sortie_tests::accounts::temp_credential_store;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sortie_tests::oauth_server::{client_for, oauth_credential, Browser, OAuthServer, CLIENT_ID};
use sortie_tests::{MockProvider, Reply};
use sortie_transports::auth::oauth::{
    parse_pasted, CallbackServer, OAuthClient, OAuthConfig, OAuthError, Pkce, TokenSet,
};
use sortie_transports::auth::{
    AuthMode, Credential, CredentialId, CredentialStatus, OAuthTokens, Pool, PoolError, Strategy,
};
use sortie_transports::{classify, ErrorClass, Secret};

/// A full loopback login: returns the tokens.
async fn loopback_login(client: &OAuthClient) -> TokenSet {
    let callback = CallbackServer::bind(None, "/callback").await.expect("bind");
    let pkce = Pkce::new();
    let state = "state-123";
    let url = client
        .authorize_url(&pkce, state, &callback.redirect_uri)
        .expect("authorize url");
    let browser = tokio::spawn(async move { Browser::default().approve(&url).await });
    let got = callback
        .wait(state, Duration::from_secs(30))
        .await
        .expect("callback");
    let (_, page) = browser.await.expect("browser");
    assert!(page.contains("Signed in"), "{page}");
    assert!(
        got.iss.is_some(),
        "the server sends iss (RFC 9207); it is tolerated"
    );
    client
        .exchange_code(
            &got.code,
            &pkce.verifier,
            &callback.redirect_uri,
            Some(state),
        )
        .await
        .expect("exchange")
}

#[tokio::test]
async fn loopback_code_flow_with_pkce_gets_tokens_that_open_the_resource() {
    let server = OAuthServer::start(60).await;
    let client = client_for(&server).await;
    let tokens = loopback_login(&client).await;
    assert!(tokens.refresh_token.is_some());
    assert!(tokens.expires_at.expect("expiry") > Utc::now());
    let ok = reqwest::Client::new()
        .get(server.resource_url())
        .bearer_auth(tokens.access_token.expose())
        .send()
        .await
        .expect("get");
    assert_eq!(ok.status(), 200);
    assert_eq!(server.stats().await["code_grants"], 1);
}

#[tokio::test]
async fn a_pasted_redirect_url_or_code_hash_state_completes_the_login() {
    let server = OAuthServer::start(60).await;
    let client = client_for(&server).await;
    // Nobody listens on this redirect URI: the person copies the URL the browser shows.
    let redirect_uri = "http://127.0.0.1:9/callback";
    let pkce = Pkce::new();
    let url = client
        .authorize_url(&pkce, "paste-state", redirect_uri)
        .expect("url");
    let landed = Browser::default().redirect_target(&url, redirect_uri).await;
    let (code, state) = parse_pasted(&landed).expect("pasted URL");
    assert_eq!(state.as_deref(), Some("paste-state"));
    let (code2, state2) = parse_pasted(&format!("{code}#paste-state")).expect("code#state");
    assert_eq!(
        (code2.as_str(), state2.as_deref()),
        (code.as_str(), Some("paste-state"))
    );
    let tokens = client
        .exchange_code(&code, &pkce.verifier, redirect_uri, state.as_deref())
        .await
        .expect("exchange");
    assert!(!tokens.access_token.expose().is_empty());
    // The same code again is refused: codes are single-use (replay).
    let replay = client
        .exchange_code(&code, &pkce.verifier, redirect_uri, None)
        .await
        .expect_err("replay");
    assert!(
        matches!(replay, OAuthError::Permanent(ref m) if m.contains("invalid_grant")),
        "{replay:?}"
    );
}

#[tokio::test]
async fn a_wrong_state_is_turned_away_and_an_error_redirect_ends_the_login_clearly() {
    let callback = CallbackServer::bind(None, "/callback").await.expect("bind");
    let uri = callback.redirect_uri.clone();
    let forged = tokio::spawn(async move {
        reqwest::get(format!("{uri}?code=abc&state=forged"))
            .await
            .map(|r| r.status().as_u16())
    });
    // The forged request does not end the wait: only the time limit does.
    let err = callback
        .wait("expected", Duration::from_secs(2))
        .await
        .expect_err("nothing valid arrived");
    assert!(err.to_string().contains("within 2s"), "{err}");
    assert_eq!(forged.await.expect("join").expect("get"), 400);

    let callback = CallbackServer::bind(None, "/callback").await.expect("bind");
    let uri = callback.redirect_uri.clone();
    tokio::spawn(async move {
        reqwest::get(format!(
            "{uri}?error=access_denied&error_description=user%20said%20no&state=s"
        ))
        .await
    });
    let err = callback
        .wait("s", Duration::from_secs(10))
        .await
        .expect_err("denied");
    assert!(
        err.to_string().contains("access_denied: user said no"),
        "{err}"
    );
}

#[tokio::test]
async fn the_device_flow_waits_through_pending_and_slow_down() {
    let server = OAuthServer::start(60).await;
    let client = client_for(&server).await;
    let auth = client.device_start().await.expect("device start");
    assert!(!auth.user_code.is_empty());
    let approve_at = auth
        .verification_uri_complete
        .clone()
        .expect("complete uri");
    // The person approves a little later.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        Browser::default().approve(&approve_at).await
    });
    let mut slow_downs = Vec::new();
    // Polling every second is faster than the server allows: it must say slow_down.
    let tokens = client
        .device_wait(&auth, Some(Duration::from_secs(1)), |interval| {
            slow_downs.push(interval)
        })
        .await
        .expect("device login");
    assert!(tokens.refresh_token.is_some());
    assert!(!slow_downs.is_empty(), "the server never said slow_down");
    assert_eq!(
        slow_downs[0],
        Duration::from_secs(6),
        "slow_down adds 5 s to the interval"
    );
    assert_eq!(server.stats().await["device_grants"], 1);
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_is_then_rejected() {
    let server = OAuthServer::start(60).await;
    let client = client_for(&server).await;
    let first = loopback_login(&client).await;
    let old = first.refresh_token.clone().expect("refresh token");
    let second = client.refresh(&old).await.expect("refresh");
    let rotated = second.refresh_token.clone().expect("rotated");
    assert_ne!(rotated, old);
    let reuse = client.refresh(&old).await.expect_err("old token");
    assert!(
        matches!(reuse, OAuthError::Permanent(ref m) if m.starts_with("invalid_grant")),
        "{reuse:?}"
    );
}

#[tokio::test]
async fn revoked_refresh_tokens_stop_working() {
    let server = OAuthServer::start(60).await;
    let client = client_for(&server).await;
    let tokens = loopback_login(&client).await;
    let refresh = tokens.refresh_token.expect("refresh");
    assert!(client
        .revoke(&refresh, "refresh_token")
        .await
        .expect("revoke"));
    assert_eq!(server.stats().await["revocations"], 1);
    assert!(matches!(
        client.refresh(&refresh).await,
        Err(OAuthError::Permanent(_))
    ));
}

#[tokio::test]
async fn an_expired_token_gets_401_or_an_xai_403_and_both_classify_as_auth_expired() {
    let server = OAuthServer::start(1).await;
    let client = client_for(&server).await;
    let tokens = loopback_login(&client).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let http = reqwest::Client::new();
    for url in [server.resource_url(), server.xai_resource_url()] {
        let r = http
            .get(&url)
            .bearer_auth(tokens.access_token.expose())
            .send()
            .await
            .expect("get");
        let status = r.status().as_u16();
        let body = r.bytes().await.expect("body");
        assert!(status == 401 || status == 403, "{url}: {status}");
        assert_eq!(
            classify(status, &[], &body),
            ErrorClass::AuthExpired,
            "{url}"
        );
    }
}

#[tokio::test]
async fn a_hundred_callers_hitting_an_expired_token_cause_exactly_one_refresh() {
    let server = OAuthServer::start(600).await;
    let client = client_for(&server).await;
    let tokens = loopback_login(&client).await;
    let (_dir, store) = temp_credential_store();
    store
        .put(&oauth_credential("corp#1", &tokens))
        .expect("put");
    let pool = Arc::new(Pool::new(store.clone(), Strategy::FillFirst).with_oauth("corp", client));
    let lease = pool.lease("corp").await.expect("lease");
    let before = server.stats().await["refresh_grants"].as_u64().expect("n");

    let mut tasks = Vec::new();
    for _ in 0..100 {
        let pool = pool.clone();
        let lease = lease.clone();
        tasks.push(tokio::spawn(async move { pool.auth_expired(&lease).await }));
    }
    let mut secrets = std::collections::HashSet::new();
    for t in tasks {
        secrets.insert(
            t.await
                .expect("join")
                .expect("refreshed")
                .secret
                .expose()
                .to_string(),
        );
    }
    assert_eq!(
        server.stats().await["refresh_grants"].as_u64().expect("n") - before,
        1,
        "exactly one refresh request"
    );
    assert_eq!(secrets.len(), 1, "every caller got the same new token");
    let stored = store
        .get(&CredentialId("corp#1".into()))
        .expect("get")
        .expect("exists");
    let stored_oauth = stored.oauth.expect("oauth");
    assert_ne!(
        stored_oauth.refresh_token, tokens.refresh_token,
        "the rotated refresh token was persisted"
    );
    assert_eq!(stored.refresh_count, 1);
    assert!(!secrets.contains(tokens.access_token.expose()));
}

#[tokio::test]
async fn invalid_grant_marks_needs_reauth_once_and_never_loops() {
    let server = OAuthServer::start(60).await;
    let client = client_for(&server).await;
    let (_dir, store) = temp_credential_store();
    let mut tokens = loopback_login(&client).await;
    tokens.refresh_token = Some(Secret::new("not-a-real-refresh-token"));
    tokens.expires_at = Some(Utc::now() - chrono::Duration::seconds(10));
    store
        .put(&oauth_credential("corp#1", &tokens))
        .expect("put");
    let pool = Pool::new(store.clone(), Strategy::FillFirst).with_oauth("corp", client);
    let before = server.stats().await["token_requests"].as_u64().expect("n");

    let err = pool.lease("corp").await.expect_err("no usable credential");
    assert!(err.to_string().contains("needs a new login"), "{err}");
    let again = pool.lease("corp").await.expect_err("still none");
    assert!(matches!(again, PoolError::Exhausted { .. }), "{again}");
    assert_eq!(
        server.stats().await["token_requests"].as_u64().expect("n") - before,
        1,
        "one refresh attempt, no loop"
    );
    let stored = store
        .get(&CredentialId("corp#1".into()))
        .expect("get")
        .expect("exists");
    assert!(
        matches!(stored.status, CredentialStatus::NeedsReauth { ref reason } if reason.contains("invalid_grant")),
        "{:?}",
        stored.status
    );
}

#[tokio::test]
async fn an_expired_token_without_a_refresh_token_is_never_sent() {
    let (_dir, store) = temp_credential_store();
    let tokens = TokenSet {
        access_token: Secret::new("expired-at"),
        refresh_token: None,
        expires_at: Some(Utc::now() - chrono::Duration::seconds(5)),
        token_type: "Bearer".into(),
        scopes: vec![],
        account_id: None,
    };
    store
        .put(&oauth_credential("corp#1", &tokens))
        .expect("put");
    let pool = Pool::new(store.clone(), Strategy::FillFirst);
    let err = pool.lease("corp").await.expect_err("must not lease");
    assert!(err.to_string().contains("no refresh token"), "{err}");
    let stored = store
        .get(&CredentialId("corp#1".into()))
        .expect("get")
        .expect("exists");
    assert_eq!(stored.status.name(), "needs_reauth");
}

#[tokio::test]
async fn bad_token_endpoints_leave_the_stored_credential_unchanged() {
    let (_dir, store) = temp_credential_store();
    let tokens = TokenSet {
        access_token: Secret::new("old-access"),
        refresh_token: Some(Secret::new("old-refresh")),
        expires_at: Some(Utc::now() - chrono::Duration::seconds(5)),
        token_type: "Bearer".into(),
        scopes: vec![],
        account_id: None,
    };
    let original = oauth_credential("corp#1", &tokens);
    store.put(&original).expect("put");
    for reply in [
        Reply::error(502, "<html><title>502</title></html>"),
        Reply::json(serde_json::json!({"token_type": "Bearer"})),
        Reply::error(500, "not json at all"),
    ] {
        let mock = MockProvider::start().await;
        mock.push(reply);
        let config = OAuthConfig::new(CLIENT_ID, format!("{}/token", mock.root_url()));
        let pool = Pool::new(store.clone(), Strategy::FillFirst)
            .with_oauth("corp", OAuthClient::new(config));
        let err = pool
            .refresh(&original.id, original.bearer())
            .await
            .expect_err("refresh fails");
        assert!(matches!(err, PoolError::RefreshFailed { .. }), "{err}");
        let mut after = store.get(&original.id).expect("get").expect("exists");
        assert!(after.last_error.take().is_some(), "the failure is shown");
        assert_eq!(after, original, "tokens and status unchanged after: {err}");
    }
}

#[tokio::test]
async fn discovery_without_endpoints_is_a_clear_error() {
    let mock = MockProvider::start().await;
    mock.push(Reply::json(
        serde_json::json!({"issuer": "x", "authorization_endpoint": "https://x/auth"}),
    ));
    let err = OAuthClient::discover(&mock.root_url(), "c", vec![])
        .await
        .expect_err("no token endpoint");
    assert!(err.to_string().contains("no `token_endpoint`"), "{err}");
}

fn key_credential(id: &str, provider: &str, key: &str, mode: AuthMode) -> Credential {
    Credential {
        id: CredentialId(id.into()),
        provider: provider.into(),
        label: id.into(),
        auth_mode: mode,
        api_key: (mode == AuthMode::ApiKey).then(|| Secret::new(key)),
        oauth: (mode == AuthMode::OAuth).then(|| OAuthTokens {
            access_token: Some(Secret::new(key)),
            refresh_token: None,
            expires_at: Some(Utc::now() + chrono::Duration::hours(1)),
            token_type: "Bearer".into(),
            scopes: vec![],
            account_id: None,
            issued_at: None,
        }),
        status: CredentialStatus::Active,
        created_at: Utc::now(),
        last_used: None,
        use_count: 0,
        refresh_count: 0,
        last_error: None,
        pending_revocations: Vec::new(),
    }
}

#[tokio::test]
async fn transports_send_the_leased_credential_by_its_auth_mode_and_rotate() {
    use sortie_tests::anthropic_wire::{turn, Block};
    use sortie_transports::auth::{Credentials, PoolSource};
    use sortie_transports::direct::{
        AnthropicConfig, AnthropicMessages, OpenAiChat, OpenAiChatConfig,
    };
    use sortie_transports::{complete, Message, TurnRequest};

    let (_dir, store) = temp_credential_store();
    store
        .put(&key_credential(
            "claude#1",
            "claude",
            "sk-ant-key-one",
            AuthMode::ApiKey,
        ))
        .expect("put");
    store
        .put(&key_credential(
            "claude#2",
            "claude",
            "oauth-token-two",
            AuthMode::OAuth,
        ))
        .expect("put");
    store
        .put(&key_credential(
            "local#1",
            "local",
            "sk-local-key",
            AuthMode::ApiKey,
        ))
        .expect("put");
    let pool = Arc::new(Pool::new(store.clone(), Strategy::RoundRobin));
    let request = || TurnRequest {
        model: "m".into(),
        messages: vec![Message::user("hi")],
        ..Default::default()
    };

    let mock = MockProvider::start().await;
    mock.push(turn(&[Block::Text("a")], "end_turn"));
    mock.push(turn(&[Block::Text("b")], "end_turn"));
    let mut config = AnthropicConfig::new(mock.root_url());
    config.credentials = Some(Credentials::new(PoolSource {
        pool: pool.clone(),
        provider: "claude".into(),
    }));
    let anthropic = AnthropicMessages::new(config).expect("transport");
    complete(&anthropic, request()).await.expect("first");
    complete(&anthropic, request()).await.expect("second");
    let h = mock.request_headers();
    let modes: Vec<(Option<String>, Option<String>, Option<String>)> = h
        .iter()
        .map(|h| {
            let get = |k: &str| h.get(k).map(|v| v.to_str().unwrap_or("").to_string());
            (
                get("x-api-key"),
                get("authorization"),
                get("anthropic-beta"),
            )
        })
        .collect();
    assert!(
        modes.contains(&(Some("sk-ant-key-one".into()), None, None)),
        "{modes:?}"
    );
    assert!(
        modes.contains(&(
            None,
            Some("Bearer oauth-token-two".into()),
            Some("oauth-2025-04-20".into())
        )),
        "{modes:?}"
    );

    let chat_mock = MockProvider::start().await;
    chat_mock.push(Reply::text("ok"));
    let mut config = OpenAiChatConfig::new(chat_mock.base_url());
    config.credentials = Some(Credentials::new(PoolSource {
        pool: pool.clone(),
        provider: "local".into(),
    }));
    complete(&OpenAiChat::new(config).expect("chat"), request())
        .await
        .expect("chat turn");
    assert_eq!(
        chat_mock.request_headers()[0]["authorization"],
        "Bearer sk-local-key"
    );
    let used = store
        .get(&CredentialId("local#1".into()))
        .expect("get")
        .expect("exists");
    assert_eq!(used.use_count, 1);
}

#[tokio::test]
async fn oauth_clients_are_resolved_on_the_first_refresh_only() {
    use sortie_transports::auth::OAuthResolver;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let mock = MockProvider::start().await;
    mock.repeat(Reply::json(serde_json::json!({"access_token": "fresh", "refresh_token": "rotated", "expires_in": 3600})));
    let (_dir, store) = temp_credential_store();
    let tokens = TokenSet {
        access_token: Secret::new("current"),
        refresh_token: Some(Secret::new("refresh")),
        expires_at: Some(Utc::now() + chrono::Duration::hours(1)),
        token_type: "Bearer".into(),
        scopes: vec![],
        account_id: None,
    };
    let original = oauth_credential("corp#1", &tokens);
    store.put(&original).expect("put");
    let calls = Arc::new(AtomicUsize::new(0));
    let token_url = format!("{}/token", mock.root_url());
    let counted = calls.clone();
    let resolve: OAuthResolver = Arc::new(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        let url = token_url.clone();
        Box::pin(async move { Ok(OAuthClient::new(OAuthConfig::new(CLIENT_ID, url))) })
    });
    let pool = Pool::new(store.clone(), Strategy::FillFirst).with_oauth_resolver("corp", resolve);
    pool.lease("corp").await.expect("lease");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "a fresh token needs no OAuth client"
    );
    pool.refresh(&original.id, Some(&Secret::new("current")))
        .await
        .expect("refresh");
    pool.refresh(&original.id, Some(&Secret::new("fresh")))
        .await
        .expect("refresh again");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "resolved once, then reused"
    );
    assert_eq!(mock.hits(), 2);

    // A discovery that fails is a transient refresh failure; the credential stays as it
    // was, with the failure shown.
    store.put(&original).expect("reset");
    let failing: OAuthResolver =
        Arc::new(|| Box::pin(async { Err("discovery failed: issuer unreachable".to_string()) }));
    let pool = Pool::new(store.clone(), Strategy::FillFirst).with_oauth_resolver("corp", failing);
    let err = pool
        .refresh(&original.id, Some(&Secret::new("current")))
        .await
        .expect_err("no client");
    assert!(
        matches!(err, PoolError::RefreshFailed { ref reason, .. } if reason.contains("issuer unreachable")),
        "{err}"
    );
    let mut after = store.get(&original.id).expect("get").expect("exists");
    assert_eq!(
        after.last_error.take().as_deref(),
        Some("discovery failed: issuer unreachable")
    );
    assert_eq!(after, original);
}
