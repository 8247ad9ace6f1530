//! OAuth 2.0 for native apps: authorization code + PKCE (loopback or pasted code), the
//! device grant, refresh, revocation and discovery (RFC 6749, 7636, 8252, 8628, 7009, 8414).

mod device;
mod loopback;
mod paste;
mod pkce;
pub mod resource;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use device::{DeviceAuthorization, DevicePoll};
pub use loopback::{Callback, CallbackServer};
pub use paste::{parse_pasted, pasted_issuer};
pub use pkce::{challenge_of, random_token, Pkce};

use crate::classify::redact;
use crate::Secret;

/// How a token endpoint wants its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// `application/x-www-form-urlencoded`, as RFC 6749 says.
    #[default]
    Form,
    /// JSON (Anthropic's token endpoint, Codex's refresh).
    Json,
}

/// Where and how one OAuth client talks to its authorization server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthConfig {
    pub client_id: String,
    /// Installed-app clients (Google) have a public secret; confidential ones are not supported.
    #[serde(default)]
    pub client_secret: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: String,
    pub device_authorization_url: Option<String>,
    pub revocation_url: Option<String>,
    pub scopes: Vec<String>,
    /// A fixed redirect URI (e.g. a provider page that shows the code to paste). When
    /// absent, a loopback URI `http://127.0.0.1:<port><callback_path>` is used.
    pub redirect_uri: Option<String>,
    pub callback_path: String,
    /// Port for the loopback callback; `None` picks a free one (RFC 8252 §7.3).
    pub callback_port: Option<u16>,
    pub token_body: BodyFormat,
    /// Extra query parameters on the authorize URL (e.g. `code=true`).
    pub extra_authorize_params: Vec<(String, String)>,
    /// The issuer the metadata came from: an authorization response's `iss` (RFC 9207)
    /// must name it.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Extra parameters on every token request (code exchange and refresh), e.g. the
    /// `resource` of RFC 8707.
    #[serde(default)]
    pub extra_token_params: Vec<(String, String)>,
}

impl OAuthConfig {
    /// A client with just a token endpoint (form bodies, loopback `/callback` on any port);
    /// set the other endpoints as the provider has them.
    pub fn new(client_id: impl Into<String>, token_url: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: None,
            authorize_url: None,
            token_url: token_url.into(),
            device_authorization_url: None,
            revocation_url: None,
            scopes: Vec::new(),
            redirect_uri: None,
            callback_path: "/callback".into(),
            callback_port: None,
            token_body: BodyFormat::Form,
            extra_authorize_params: Vec::new(),
            issuer: None,
            extra_token_params: Vec::new(),
        }
    }
}

/// Tokens from a token endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSet {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_at: Option<DateTime<Utc>>,
    pub token_type: String,
    pub scopes: Vec<String>,
    pub account_id: Option<String>,
}

/// Why an OAuth step failed. `Permanent` means a person must log in again.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OAuthError {
    /// `invalid_grant`, `access_denied`, `expired_token` ...: retrying cannot help.
    #[error("{0}")]
    Permanent(String),
    /// Network trouble or a 5xx: worth trying again later.
    #[error("{0}")]
    Transient(String),
    /// The server answered something that is not OAuth (no access_token, not JSON ...).
    #[error("{0}")]
    BadResponse(String),
    /// The request or the callback was wrong (state mismatch, error redirect, missing config).
    #[error("{0}")]
    Invalid(String),
}

/// Talks to one authorization server.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub config: OAuthConfig,
    http: reqwest::Client,
}

/// The token endpoint's error codes that no retry can fix (RFC 6749 §5.2, RFC 8628 §3.5).
const PERMANENT: &[&str] = &[
    "invalid_grant",
    "invalid_client",
    "unauthorized_client",
    "access_denied",
    "expired_token",
    "refresh_token_expired",
    "refresh_token_reused",
    "refresh_token_invalidated",
];

impl OAuthClient {
    pub fn new(config: OAuthConfig) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self { config, http }
    }

    /// The same client with another limit on each request (30 s unless set).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        self
    }

    /// Reads an issuer's metadata (`/.well-known/openid-configuration`, then
    /// `/.well-known/oauth-authorization-server`) into a config.
    pub async fn discover(
        issuer: &str,
        client_id: &str,
        scopes: Vec<String>,
    ) -> Result<OAuthConfig, OAuthError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap_or_default();
        let base = issuer.trim_end_matches('/');
        let mut last = String::new();
        for path in [
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
        ] {
            let url = format!("{base}{path}");
            match http.get(&url).send().await {
                Ok(r) if r.status().is_success() => {
                    let doc: Value = r.json().await.map_err(|e| {
                        OAuthError::BadResponse(format!(
                            "{url} is not a JSON metadata document: {e}"
                        ))
                    })?;
                    let field = |k: &str| doc.get(k).and_then(Value::as_str).map(String::from);
                    let token_url = field("token_endpoint").ok_or_else(|| {
                        OAuthError::BadResponse(format!("{url} has no `token_endpoint`; set token_url in the provider's [oauth] table"))
                    })?;
                    let authorize_url = field("authorization_endpoint");
                    let device_authorization_url = field("device_authorization_endpoint");
                    if authorize_url.is_none() && device_authorization_url.is_none() {
                        return Err(OAuthError::BadResponse(format!(
                            "{url} has neither `authorization_endpoint` nor `device_authorization_endpoint`"
                        )));
                    }
                    // RFC 8414 §3.3: the metadata must be the configured issuer's own.
                    match field("issuer") {
                        Some(said) if same_issuer(&said, base) => {}
                        said => {
                            return Err(OAuthError::Invalid(format!(
                                "{url} says its issuer is {}, not the configured {base}; check `issuer` in the provider's [oauth] table",
                                said.map(|s| format!("`{s}`")).unwrap_or_else(|| "nothing".into())
                            )))
                        }
                    }
                    return Ok(OAuthConfig {
                        client_id: client_id.to_string(),
                        client_secret: None,
                        authorize_url,
                        token_url,
                        device_authorization_url,
                        revocation_url: field("revocation_endpoint"),
                        scopes,
                        redirect_uri: None,
                        callback_path: "/callback".into(),
                        callback_port: None,
                        token_body: BodyFormat::Form,
                        extra_authorize_params: Vec::new(),
                        issuer: Some(base.to_string()),
                        extra_token_params: Vec::new(),
                    });
                }
                Ok(r) => last = format!("{url} answered HTTP {}", r.status().as_u16()),
                Err(e) => last = format!("cannot reach {url}: {e}"),
            }
        }
        Err(OAuthError::Transient(format!(
            "discovery failed for issuer {issuer}: {last}"
        )))
    }

    /// The URL a person opens to authorize, with PKCE S256 and `state`.
    pub fn authorize_url(
        &self,
        pkce: &Pkce,
        state: &str,
        redirect_uri: &str,
    ) -> Result<String, OAuthError> {
        let base = self.config.authorize_url.as_deref().ok_or_else(|| {
            OAuthError::Invalid(
                "this provider has no authorization endpoint; use the device flow (--device)"
                    .into(),
            )
        })?;
        let mut url = reqwest::Url::parse(base)
            .map_err(|e| OAuthError::Invalid(format!("bad authorize URL {base}: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in &self.config.extra_authorize_params {
                q.append_pair(k, v);
            }
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.config.client_id)
                .append_pair("redirect_uri", redirect_uri);
            // No scopes configured: no `scope` at all (the server's default), never `scope=`.
            if !self.config.scopes.is_empty() {
                q.append_pair("scope", &self.config.scopes.join(" "));
            }
            q.append_pair("state", state)
                .append_pair("code_challenge", &pkce.challenge)
                .append_pair("code_challenge_method", "S256");
        }
        Ok(url.into())
    }

    /// Checks an authorization response's `iss` (RFC 9207): when both it and the expected
    /// issuer are known they must match, or the code came from another server (a mix-up).
    pub fn check_issuer(&self, iss: Option<&str>) -> Result<(), OAuthError> {
        match (iss, &self.config.issuer) {
            (Some(got), Some(expected)) if !same_issuer(got, expected) => {
                Err(OAuthError::Invalid(format!(
                    "the authorization response came from issuer `{got}`, not `{expected}`; nothing was stored (a mix-up or forged redirect) — run the login again"
                )))
            }
            _ => Ok(()),
        }
    }

    /// Exchanges an authorization code for tokens.
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &Secret,
        redirect_uri: &str,
        state: Option<&str>,
    ) -> Result<TokenSet, OAuthError> {
        let mut params = vec![
            ("grant_type", "authorization_code".to_string()),
            ("client_id", self.config.client_id.clone()),
            ("code", code.to_string()),
            ("redirect_uri", redirect_uri.to_string()),
            ("code_verifier", verifier.expose().to_string()),
        ];
        if let (BodyFormat::Json, Some(state)) = (self.config.token_body, state) {
            params.push(("state", state.to_string()));
        }
        self.token_request(&params).await
    }

    /// Uses a refresh token. The answer may carry a new (rotated) refresh token.
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<TokenSet, OAuthError> {
        let params = vec![
            ("grant_type", "refresh_token".to_string()),
            ("client_id", self.config.client_id.clone()),
            ("refresh_token", refresh_token.expose().to_string()),
        ];
        self.token_request(&params).await
    }

    /// Revokes a token (RFC 7009). Providers without an endpoint: nothing to do.
    pub async fn revoke(&self, token: &Secret, hint: &str) -> Result<bool, OAuthError> {
        let Some(url) = &self.config.revocation_url else {
            return Ok(false);
        };
        let params = [
            ("token", token.expose()),
            ("token_type_hint", hint),
            ("client_id", self.config.client_id.as_str()),
        ];
        let request = match self.config.token_body {
            BodyFormat::Form => self.http.post(url).form(&params),
            BodyFormat::Json => self.http.post(url).json(
                &params
                    .iter()
                    .cloned()
                    .collect::<std::collections::BTreeMap<_, _>>(),
            ),
        };
        let response = request
            .send()
            .await
            .map_err(|e| OAuthError::Transient(format!("cannot reach {url}: {e}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(true);
        }
        let body = response.text().await.unwrap_or_default();
        Err(OAuthError::Transient(format!(
            "revocation at {url} answered HTTP {}: {}",
            status.as_u16(),
            excerpt(&body)
        )))
    }

    pub(crate) async fn token_request(
        &self,
        params: &[(&str, String)],
    ) -> Result<TokenSet, OAuthError> {
        let url = &self.config.token_url;
        let mut params = params.to_vec();
        for (k, v) in &self.config.extra_token_params {
            params.push((k.as_str(), v.clone()));
        }
        if let Some(secret) = &self.config.client_secret {
            params.push(("client_secret", secret.clone()));
        }
        let params = params.as_slice();
        let request = match self.config.token_body {
            BodyFormat::Form => self.http.post(url).form(params),
            BodyFormat::Json => {
                let body: serde_json::Map<String, Value> = params
                    .iter()
                    .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
                    .collect();
                self.http.post(url).json(&body)
            }
        };
        let response = request
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| {
                OAuthError::Transient(format!("cannot reach the token endpoint {url}: {e}"))
            })?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| {
            OAuthError::Transient(format!("reading the token response failed: {e}"))
        })?;
        parse_token_response(status, &body)
    }
}

/// What an authorization server put on a redirect: the code, state and issuer, or its
/// refusal (`error`, `error_description`) as an error.
pub(crate) struct Redirect {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
}

pub(crate) fn read_redirect(url: &reqwest::Url) -> Result<Redirect, OAuthError> {
    let get = |k: &str| {
        url.query_pairs()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(error) = get("error") {
        let detail = get("error_description")
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return Err(OAuthError::Invalid(format!(
            "the authorization server refused the login: {error}{detail}"
        )));
    }
    Ok(Redirect {
        code: get("code"),
        state: get("state").filter(|s| !s.is_empty()),
        iss: get("iss"),
    })
}

/// Issuer identifiers compare as strings, ignoring one trailing slash.
fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

fn excerpt(text: &str) -> String {
    let short: String = text.chars().take(200).collect();
    redact(short.trim())
}

/// Reads a token endpoint answer: tokens, or a classified error. Never echoes a token.
pub fn parse_token_response(status: u16, body: &[u8]) -> Result<TokenSet, OAuthError> {
    let text = String::from_utf8_lossy(body);
    let Ok(doc) = serde_json::from_slice::<Value>(body) else {
        let what = if (500..600).contains(&status) {
            OAuthError::Transient
        } else {
            OAuthError::BadResponse
        };
        return Err(what(format!(
            "the token endpoint answered HTTP {status} with a body that is not JSON: {:?}",
            excerpt(&text)
        )));
    };
    let field = |k: &str| doc.get(k).and_then(Value::as_str).map(String::from);
    if !(200..300).contains(&status) || doc.get("error").is_some() {
        let code = field("error")
            .or_else(|| {
                doc.pointer("/error/type")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .or_else(|| {
                doc.pointer("/error/code")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .unwrap_or_else(|| format!("http_{status}"));
        let description = field("error_description")
            .or_else(|| {
                doc.pointer("/error/message")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .unwrap_or_default();
        let message = redact(&format!(
            "{code}{}{description}",
            if description.is_empty() { "" } else { ": " }
        ));
        return Err(if PERMANENT.contains(&code.as_str()) || status == 401 {
            OAuthError::Permanent(message)
        } else if status >= 500 || status == 429 || code == "temporarily_unavailable" {
            OAuthError::Transient(message)
        } else {
            OAuthError::Invalid(message)
        });
    }
    let access = field("access_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            OAuthError::BadResponse("the token endpoint answered without an access_token".into())
        })?;
    let expires_at = match doc.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let secs = v
                .as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| {
                    OAuthError::BadResponse(format!(
                        "the token endpoint's expires_in is not a number: {v}"
                    ))
                })?;
            if secs <= 0 {
                return Err(OAuthError::BadResponse(format!(
                    "the token endpoint issued a token that is already expired (expires_in = {secs}); check the clocks"
                )));
            }
            Some(Utc::now() + chrono::Duration::seconds(secs.min(10 * 365 * 86_400)))
        }
    };
    Ok(TokenSet {
        access_token: Secret::new(access),
        refresh_token: field("refresh_token")
            .filter(|t| !t.is_empty())
            .map(Secret::new),
        expires_at,
        token_type: field("token_type").unwrap_or_else(|| "Bearer".into()),
        scopes: field("scope")
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default(),
        account_id: field("account_id")
            .or_else(|| field("id_token").as_deref().and_then(account_from_id_token)),
    })
}

/// The account an id token names: the ChatGPT account id in its
/// `https://api.openai.com/auth` claim, else its `sub`.
fn account_from_id_token(jwt: &str) -> Option<String> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims
        .pointer("/https:~1~1api.openai.com~1auth/chatgpt_account_id")
        .or_else(|| claims.get("sub"))
        .and_then(Value::as_str)
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_responses_are_read_or_refused_clearly() {
        let ok = parse_token_response(200, br#"{"access_token":"at","refresh_token":"rt","expires_in":3600,"token_type":"Bearer","scope":"openid api"}"#).expect("ok");
        assert_eq!(ok.access_token.expose(), "at");
        assert_eq!(ok.scopes, ["openid", "api"]);
        assert!(ok.expires_at.expect("expiry") > Utc::now());

        let e = parse_token_response(
            400,
            br#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#,
        )
        .expect_err("grant");
        assert_eq!(
            e,
            OAuthError::Permanent("invalid_grant: grant request is invalid".into())
        );
        let e = parse_token_response(200, br#"{"token_type":"Bearer"}"#).expect_err("no token");
        assert!(matches!(e, OAuthError::BadResponse(m) if m.contains("without an access_token")));
        let e = parse_token_response(502, b"<html>bad gateway</html>").expect_err("html");
        assert!(matches!(e, OAuthError::Transient(m) if m.contains("not JSON")));
        let e = parse_token_response(200, br#"{"access_token":"x","expires_in":-30}"#)
            .expect_err("skew");
        assert!(matches!(e, OAuthError::BadResponse(m) if m.contains("already expired")));
    }

    #[test]
    fn the_codex_account_id_comes_from_the_id_token() {
        use base64::Engine;
        let claims =
            serde_json::json!({"https://api.openai.com/auth": {"chatgpt_account_id": "acct_9"}});
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
        let jwt = format!("h.{payload}.s");
        let t = parse_token_response(
            200,
            format!(r#"{{"access_token":"a","id_token":"{jwt}"}}"#).as_bytes(),
        )
        .expect("ok");
        assert_eq!(t.account_id.as_deref(), Some("acct_9"));
    }
}
