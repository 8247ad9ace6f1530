//! Discovery for a protected resource, as MCP's authorization spec chains it: the
//! resource's metadata (RFC 9728) names its authorization server, whose metadata (RFC 8414,
//! or OpenID discovery) gives the endpoints, and dynamic client registration (RFC 7591)
//! gives a client id where the server offers it.
//!
//! Written here on reqwest rather than taken from rmcp's `auth` feature: that feature
//! brings its own token store, refresh loop and `oauth2` client, while Sortie's logins
//! already run through [`super::OAuthClient`], the pending-login store and the sealed
//! credential store; what was missing is these three small requests.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{excerpt, same_issuer, OAuthError};
use crate::Secret;

/// What a protected resource says of itself (RFC 9728 §2).
#[derive(Debug, Clone, PartialEq)]
pub struct ProtectedResource {
    /// Its resource identifier: the `resource` parameter of a login for it (RFC 8707).
    pub resource: String,
    pub authorization_servers: Vec<String>,
    pub scopes_supported: Vec<String>,
}

/// An authorization server's endpoints (RFC 8414 §2).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerMetadata {
    pub issuer: String,
    pub authorize_url: Option<String>,
    pub token_url: String,
    pub revocation_url: Option<String>,
    pub registration_endpoint: Option<String>,
    pub code_challenge_methods: Vec<String>,
}

/// A client registered dynamically (RFC 7591 §3.2.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredClient {
    pub client_id: String,
    /// Set when the server made it a confidential client anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// The `resource_metadata` URL of a `WWW-Authenticate: Bearer ...` challenge (RFC 9728 §5.1).
pub fn resource_metadata_of(challenge: &str) -> Option<String> {
    let at = challenge.find("resource_metadata=")? + "resource_metadata=".len();
    let rest = &challenge[at..];
    let value = match rest.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"')?],
        None => rest.split([',', ' ']).next()?,
    };
    (!value.is_empty()).then(|| value.to_string())
}

/// Asks the resource without a token, as an MCP client's first request would be sent,
/// and returns the `resource_metadata` of its 401 challenge, if it gives one.
pub async fn challenge(resource_url: &str) -> Option<String> {
    let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "sortie", "version": env!("CARGO_PKG_VERSION")}}});
    let response = http()
        .post(resource_url)
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .ok()?;
    if response.status().as_u16() != 401 {
        return None;
    }
    let header = response.headers().get("www-authenticate")?.to_str().ok()?;
    resource_metadata_of(header)
}

/// The well-known places of a resource's metadata: with its path, then at the root.
fn resource_metadata_urls(resource_url: &str) -> Result<Vec<String>, OAuthError> {
    let url = reqwest::Url::parse(resource_url)
        .map_err(|e| OAuthError::Invalid(format!("`{resource_url}` is not a URL: {e}")))?;
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    let mut out = Vec::new();
    if !path.is_empty() {
        out.push(format!(
            "{origin}/.well-known/oauth-protected-resource{path}"
        ));
    }
    out.push(format!("{origin}/.well-known/oauth-protected-resource"));
    Ok(out)
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<Option<Value>, OAuthError> {
    let response = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| OAuthError::Transient(format!("cannot reach {url}: {e}")))?;
    let status = response.status();
    if status.as_u16() == 404 || status.as_u16() == 405 {
        return Ok(None);
    }
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(OAuthError::Transient(format!(
            "{url} answered HTTP {}: {}",
            status.as_u16(),
            excerpt(&text)
        )));
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| OAuthError::BadResponse(format!("{url} is not a JSON document: {e}")))
}

fn strings(doc: &Value, key: &str) -> Vec<String> {
    doc.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// The metadata of the protected resource at `resource_url`: from `hint` (a challenge's
/// `resource_metadata`) when given, else probed at the well-known places.
pub async fn protected_resource(
    resource_url: &str,
    hint: Option<String>,
) -> Result<ProtectedResource, OAuthError> {
    let http = http();
    let urls = match hint {
        Some(url) => vec![url],
        None => resource_metadata_urls(resource_url)?,
    };
    for url in &urls {
        let Some(doc) = get_json(&http, url).await? else {
            continue;
        };
        let resource = doc
            .get("resource")
            .and_then(Value::as_str)
            .ok_or_else(|| OAuthError::BadResponse(format!("{url} has no `resource`")))?
            .to_string();
        // RFC 9728 §3.3: the metadata must be for the resource asked about.
        let asked = resource_url.trim_end_matches('/');
        if !(asked == resource.trim_end_matches('/')
            || asked.starts_with(&format!("{}/", resource.trim_end_matches('/'))))
        {
            return Err(OAuthError::Invalid(format!(
                "{url} describes resource `{resource}`, not `{resource_url}`; nothing was used"
            )));
        }
        let authorization_servers = strings(&doc, "authorization_servers");
        if authorization_servers.is_empty() {
            return Err(OAuthError::BadResponse(format!(
                "{url} names no `authorization_servers`"
            )));
        }
        return Ok(ProtectedResource {
            resource,
            authorization_servers,
            scopes_supported: strings(&doc, "scopes_supported"),
        });
    }
    Err(OAuthError::Invalid(format!(
        "`{resource_url}` publishes no protected-resource metadata (tried {}); it may not use OAuth — set `bearer_token_env`, or give `[oauth] issuer`-style settings it documents",
        urls.join(", ")
    )))
}

/// The metadata of authorization server `issuer`: RFC 8414's well-known place, then
/// OpenID discovery's (with the issuer's path inserted, then appended).
pub async fn authorization_server(issuer: &str) -> Result<ServerMetadata, OAuthError> {
    let url = reqwest::Url::parse(issuer)
        .map_err(|e| OAuthError::Invalid(format!("issuer `{issuer}` is not a URL: {e}")))?;
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    let mut urls = vec![format!(
        "{origin}/.well-known/oauth-authorization-server{path}"
    )];
    urls.push(format!("{origin}/.well-known/openid-configuration{path}"));
    if !path.is_empty() {
        urls.push(format!("{origin}{path}/.well-known/openid-configuration"));
    }
    let http = http();
    for url in &urls {
        let Some(doc) = get_json(&http, url).await? else {
            continue;
        };
        let field = |k: &str| doc.get(k).and_then(Value::as_str).map(String::from);
        match field("issuer") {
            Some(said) if same_issuer(&said, issuer) => {}
            said => {
                return Err(OAuthError::Invalid(format!(
                    "{url} says its issuer is {}, not `{issuer}`; nothing was used",
                    said.map(|s| format!("`{s}`"))
                        .unwrap_or_else(|| "nothing".into())
                )))
            }
        }
        let token_url = field("token_endpoint")
            .ok_or_else(|| OAuthError::BadResponse(format!("{url} has no `token_endpoint`")))?;
        return Ok(ServerMetadata {
            issuer: issuer.trim_end_matches('/').to_string(),
            authorize_url: field("authorization_endpoint"),
            token_url,
            revocation_url: field("revocation_endpoint"),
            registration_endpoint: field("registration_endpoint"),
            code_challenge_methods: strings(&doc, "code_challenge_methods_supported"),
        });
    }
    Err(OAuthError::Invalid(format!(
        "authorization server `{issuer}` publishes no metadata (tried {})",
        urls.join(", ")
    )))
}

/// Registers Sortie as a public native client with loopback `redirect_uri` (RFC 7591,
/// RFC 8252 §8.4: the port may differ at each login). No `scope` is registered: a
/// resource server's scopes are often not the authorization server's own (RFC 8707), and
/// each login asks for its scopes anyway.
pub async fn register(endpoint: &str, redirect_uri: &str) -> Result<RegisteredClient, OAuthError> {
    let body = json!({
        "client_name": "Sortie",
        "application_type": "native",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    let response = http()
        .post(endpoint)
        .header("accept", "application/json")
        .json(&body)
        .send()
        .await
        .map_err(|e| OAuthError::Transient(format!("cannot reach {endpoint}: {e}")))?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let doc: Value = serde_json::from_str(&text).map_err(|_| {
        OAuthError::BadResponse(format!(
            "client registration at {endpoint} answered HTTP {status} with a body that is not JSON: {:?}",
            excerpt(&text)
        ))
    })?;
    let client_id = doc.get("client_id").and_then(Value::as_str);
    match client_id {
        Some(id) if (200..300).contains(&status) && !id.is_empty() => Ok(RegisteredClient {
            client_id: id.to_string(),
            client_secret: doc
                .get("client_secret")
                .and_then(Value::as_str)
                .map(|s| Secret::new(s.to_string())),
        }),
        _ => Err(OAuthError::Invalid(format!(
            "client registration at {endpoint} was refused (HTTP {status}): {}{}",
            doc.get("error")
                .and_then(Value::as_str)
                .unwrap_or("no client_id"),
            doc.get("error_description")
                .and_then(Value::as_str)
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_metadata_url_is_read_from_a_challenge() {
        assert_eq!(
            resource_metadata_of(r#"Bearer error="invalid_token", resource_metadata="http://h/.well-known/oauth-protected-resource/mcp""#).as_deref(),
            Some("http://h/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(
            resource_metadata_of("Bearer resource_metadata=http://h/m, scope=x").as_deref(),
            Some("http://h/m")
        );
        assert_eq!(resource_metadata_of(r#"Bearer realm="x""#), None);
    }

    #[test]
    fn resource_metadata_is_looked_for_with_the_path_then_at_the_root() {
        assert_eq!(
            resource_metadata_urls("https://mcp.example.com/v1/mcp/").expect("urls"),
            [
                "https://mcp.example.com/.well-known/oauth-protected-resource/v1/mcp",
                "https://mcp.example.com/.well-known/oauth-protected-resource"
            ]
        );
    }
}
