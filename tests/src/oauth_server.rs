//! A real OAuth 2.0 authorization server for tests: panva/oidc-provider, run by Node from
//! `tests/oauth-server/` (installed by `scripts/test.sh`), on a free loopback port.
//! Also a minimal "browser" that plays the person: it follows redirects and submits the
//! server's confirmation forms.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The client id the server registers: a public native client.
pub const CLIENT_ID: &str = "sortie-cli";

/// A running authorization server; dropping it stops the process.
pub struct OAuthServer {
    _child: tokio::process::Child,
    pub issuer: String,
}

fn server_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("oauth-server")
}

impl OAuthServer {
    /// Starts the server with access tokens that live `access_token_ttl` seconds.
    pub async fn start(access_token_ttl: u64) -> Self {
        let dir = server_dir();
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "the test OAuth server is not installed: run ./scripts/test.sh (it runs `npm ci` in {})",
            dir.display()
        );
        let mut child = tokio::process::Command::new("node")
            .arg("server.mjs")
            .current_dir(&dir)
            .env("AT_TTL", access_token_ttl.to_string())
            .stdin(Stdio::piped()) // the server exits when this pipe closes
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start node (is Node.js installed?)");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read server output") {
                if let Some(port) = line.strip_prefix("READY ") {
                    return port.trim().parse::<u16>().expect("port");
                }
            }
            panic!("the OAuth server exited before it was ready");
        })
        .await
        .expect("the OAuth server started in time");
        // Keep reading: a closed stdout would kill the server on its next log line (EPIPE).
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            _child: child,
            issuer: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The server's process id (to pause it with SIGSTOP, as a hung server would be).
    pub fn pid(&self) -> u32 {
        self._child.id().expect("the OAuth server is running")
    }

    /// Counters kept by the server: token_requests, refresh_grants, code_grants,
    /// device_grants, revocations.
    pub async fn stats(&self) -> Value {
        reqwest::get(format!("{}/test/stats", self.issuer))
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats JSON")
    }

    /// A protected endpoint: 200 with a valid token, else 401.
    pub fn resource_url(&self) -> String {
        format!("{}/v1/models", self.issuer)
    }

    /// The same endpoint answering xAI-style 403 `[WKE=unauthenticated:...]` instead of 401.
    pub fn xai_resource_url(&self) -> String {
        format!("{}/xai/v1/models", self.issuer)
    }
}

/// Plays the person at the browser.
pub struct Browser {
    http: reqwest::Client,
}

impl Default for Browser {
    fn default() -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::limited(20))
                .build()
                .expect("browser"),
        }
    }
}

impl Browser {
    /// Opens a URL, follows every redirect (to a loopback callback too), and submits the
    /// hidden-field forms the server shows (confirmations), up to a few times. Returns the
    /// last page's URL and text.
    pub async fn approve(&self, url: &str) -> (String, String) {
        let form_re = regex::Regex::new(
            r#"(?s)<form[^>]*method="post"[^>]*action="([^"]+)"[^>]*>(.*?)</form>"#,
        )
        .expect("re");
        let input_re =
            regex::Regex::new(r#"<input type="hidden" name="([^"]+)" value="([^"]*)"/>"#)
                .expect("re");
        let mut response = self.http.get(url).send().await.expect("open the URL");
        for _ in 0..5 {
            let at = response.url().to_string();
            let page = response.text().await.unwrap_or_default();
            let Some(form) = form_re.captures(&page) else {
                return (at, page);
            };
            let fields: Vec<(String, String)> = input_re
                .captures_iter(&form[2])
                .map(|c| (c[1].to_string(), c[2].to_string()))
                .collect();
            response = self
                .http
                .post(&form[1])
                .form(&fields)
                .send()
                .await
                .expect("submit");
        }
        let at = response.url().to_string();
        (at, response.text().await.unwrap_or_default())
    }

    /// Follows redirects from `url` without visiting the final one when it starts with
    /// `stop_at` (a redirect URI nobody listens on): returns that final URL.
    pub async fn redirect_target(&self, url: &str, stop_at: &str) -> String {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let mut next = url.to_string();
        for _ in 0..10 {
            let response = http.get(&next).send().await.expect("follow");
            let Some(location) = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
            else {
                panic!("no redirect from {next} (status {})", response.status());
            };
            next = reqwest::Url::parse(&next)
                .expect("url")
                .join(location)
                .expect("join")
                .to_string();
            if next.starts_with(stop_at) {
                return next;
            }
        }
        panic!("too many redirects");
    }
}

/// A client of the test server, from its discovery document.
pub async fn client_for(server: &OAuthServer) -> sortie_transports::auth::oauth::OAuthClient {
    use sortie_transports::auth::oauth::OAuthClient;
    let scopes = vec!["openid".into(), "offline_access".into(), "api".into()];
    OAuthClient::new(
        OAuthClient::discover(&server.issuer, CLIENT_ID, scopes)
            .await
            .expect("discovery"),
    )
}

/// An active OAuth credential of provider `corp` holding `tokens`.
pub fn oauth_credential(
    id: &str,
    tokens: &sortie_transports::auth::oauth::TokenSet,
) -> sortie_transports::auth::Credential {
    use sortie_transports::auth::{
        AuthMode, Credential, CredentialId, CredentialStatus, OAuthTokens,
    };
    Credential {
        id: CredentialId(id.into()),
        provider: "corp".into(),
        label: "test".into(),
        auth_mode: AuthMode::OAuth,
        api_key: None,
        oauth: Some(OAuthTokens {
            access_token: Some(tokens.access_token.clone()),
            refresh_token: tokens.refresh_token.clone(),
            expires_at: tokens.expires_at,
            token_type: tokens.token_type.clone(),
            scopes: tokens.scopes.clone(),
            account_id: None,
            issued_at: None,
        }),
        status: CredentialStatus::Active,
        created_at: chrono::Utc::now(),
        last_used: None,
        use_count: 0,
        refresh_count: 0,
        last_error: None,
        pending_revocations: Vec::new(),
    }
}
