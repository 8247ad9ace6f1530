//! The protocol checks of a login: the authorization response's `iss` (RFC 9207), the
//! discovered metadata's `issuer` (RFC 8414), no empty `scope`, the server's reason for a
//! denied device login, and a loopback callback that ignores requests of other logins.

use std::time::Duration;

use sortie_tests::oauth_server::{client_for, Browser, OAuthServer, CLIENT_ID};
use sortie_tests::{MockProvider, Reply};
use sortie_transports::auth::oauth::{
    parse_pasted, pasted_issuer, CallbackServer, DeviceAuthorization, OAuthClient, OAuthConfig,
    OAuthError, Pkce,
};
use sortie_transports::Secret;

#[tokio::test]
async fn a_callback_with_a_wrong_state_is_ignored_and_the_login_still_completes() {
    let server = OAuthServer::start(60).await;
    let client = client_for(&server).await;
    let callback = CallbackServer::bind(None, "/callback").await.expect("bind");
    let pkce = Pkce::new();
    let url = client
        .authorize_url(&pkce, "the-real-state", &callback.redirect_uri)
        .expect("url");
    let redirect_uri = callback.redirect_uri.clone();
    let person = tokio::spawn(async move {
        // A stale tab and a forged refusal arrive first; both are turned away.
        for stray in [
            format!("{redirect_uri}?code=stolen&state=another-login"),
            format!("{redirect_uri}?error=access_denied&state=forged"),
            format!("{redirect_uri}?error=access_denied"),
        ] {
            let r = reqwest::get(&stray).await.expect("stray request");
            assert_eq!(r.status(), 400, "{stray}");
        }
        Browser::default().approve(&url).await
    });
    let got = callback
        .wait("the-real-state", Duration::from_secs(30))
        .await
        .expect("the real callback still completes the login");
    person.await.expect("person");
    assert_eq!(got.state, "the-real-state");
    assert_ne!(got.code, "stolen");
    client
        .check_issuer(got.iss.as_deref())
        .expect("the real issuer");
    client
        .exchange_code(&got.code, &pkce.verifier, &callback.redirect_uri, None)
        .await
        .expect("exchange");
}

#[tokio::test]
async fn a_pasted_redirect_from_a_foreign_issuer_is_refused() {
    let server = OAuthServer::start(60).await;
    let client = client_for(&server).await;
    let redirect_uri = "http://127.0.0.1:9/callback";
    let pkce = Pkce::new();
    let url = client
        .authorize_url(&pkce, "paste-state", redirect_uri)
        .expect("url");
    let landed = Browser::default().redirect_target(&url, redirect_uri).await;
    let iss = pasted_issuer(&landed).expect("the server sends iss");
    client.check_issuer(Some(&iss)).expect("its own issuer");

    let forged = reqwest::Url::parse_with_params(
        redirect_uri,
        &[
            ("code", parse_pasted(&landed).expect("parse").0.as_str()),
            ("state", "paste-state"),
            ("iss", "https://attacker.example"),
        ],
    )
    .expect("url")
    .to_string();
    let err = client
        .check_issuer(pasted_issuer(&forged).as_deref())
        .expect_err("a foreign iss");
    assert!(
        matches!(&err, OAuthError::Invalid(m) if m.contains("attacker.example") && m.contains("run the login again")),
        "{err}"
    );
}

#[tokio::test]
async fn discovery_refuses_metadata_that_names_another_issuer() {
    let mock = MockProvider::start().await;
    mock.push(Reply::json(serde_json::json!({
        "issuer": "https://someone-else.example",
        "authorization_endpoint": "https://someone-else.example/auth",
        "token_endpoint": "https://someone-else.example/token"
    })));
    let err = OAuthClient::discover(&mock.root_url(), "c", vec![])
        .await
        .expect_err("a foreign issuer");
    assert!(
        err.to_string().contains("someone-else.example") && err.to_string().contains("issuer"),
        "{err}"
    );
}

#[tokio::test]
async fn without_scopes_the_authorize_url_and_device_request_send_no_scope() {
    let mut config = OAuthConfig::new(CLIENT_ID, "http://127.0.0.1:9/token");
    config.authorize_url = Some("http://127.0.0.1:9/auth".into());
    let url = OAuthClient::new(config)
        .authorize_url(&Pkce::new(), "s", "http://127.0.0.1:9/callback")
        .expect("url");
    assert!(!url.contains("scope"), "{url}");

    let (device_url, request) = capture_one(
        r#"{"device_code":"dc","user_code":"U","verification_uri":"http://x/device","expires_in":60}"#,
    )
    .await;
    let mut config = OAuthConfig::new(CLIENT_ID, "http://127.0.0.1:9/token");
    config.device_authorization_url = Some(device_url);
    OAuthClient::new(config)
        .device_start()
        .await
        .expect("start");
    let request = request.await.expect("captured");
    assert!(request.contains("client_id=sortie-cli"), "{request}");
    assert!(!request.contains("scope"), "{request}");
}

/// A one-request HTTP server: answers `json` and hands back the raw request it got.
async fn capture_one(json: &'static str) -> (String, tokio::task::JoinHandle<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/device", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        // Read the head, then as many body bytes as content-length says.
        loop {
            let n = socket.read(&mut buf).await.expect("read");
            raw.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&raw).to_lowercase();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if raw.len() >= end + 4 + length || n == 0 {
                    break;
                }
            } else if n == 0 {
                break;
            }
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
            json.len()
        );
        socket.write_all(response.as_bytes()).await.expect("write");
        String::from_utf8_lossy(&raw).into_owned()
    });
    (url, task)
}

#[tokio::test]
async fn a_denied_device_login_keeps_the_servers_reason() {
    let mock = MockProvider::start().await;
    mock.push(Reply::error(
        400,
        r#"{"error":"access_denied","error_description":"your administrator blocked this app"}"#,
    ));
    let config = OAuthConfig::new(CLIENT_ID, format!("{}/token", mock.root_url()));
    let auth = DeviceAuthorization {
        device_code: Secret::new("dc"),
        user_code: "U".into(),
        verification_uri: "http://x/device".into(),
        verification_uri_complete: None,
        expires_in: 60,
        interval: Some(1),
    };
    let err = OAuthClient::new(config)
        .device_poll(&auth)
        .await
        .expect_err("denied");
    assert!(
        matches!(&err, OAuthError::Permanent(m) if m.contains("denied") && m.contains("your administrator blocked this app")),
        "{err}"
    );
}
