//! The one place a direct transport turns a credential into request headers: a leased
//! credential when the transport has a source, else the key its config holds.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};

use crate::auth::{AuthMode, Credentials};
use crate::{ErrorClass, Secret, TransportError};

/// The beta header that Anthropic's OAuth bearer tokens require.
pub const ANTHROPIC_OAUTH_BETA: &str = "oauth-2025-04-20";
/// The header that carries a ChatGPT (Codex OAuth) account id.
pub const ACCOUNT_HEADER: &str = "ChatGPT-Account-ID";

/// How a wire format sends a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// `Authorization: Bearer`, and the ChatGPT account when there is one.
    OpenAi,
    /// API keys as `x-api-key`; OAuth tokens as a bearer with the OAuth beta header.
    Anthropic,
}

/// What a config holds when no credential source is set.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Fixed<'a> {
    pub key: Option<&'a Secret>,
    pub mode: Option<AuthMode>,
    pub account: Option<&'a str>,
}

/// The auth headers of one request (a fresh lease each time), plus the configured extras.
pub(crate) async fn auth_headers(
    wire: Wire,
    credentials: Option<&Credentials>,
    fixed: Fixed<'_>,
    extra: &[(String, String)],
) -> Result<HeaderMap, TransportError> {
    let lease = match credentials {
        Some(c) => Some(c.lease().await?),
        None => None,
    };
    let (key, mode, account) = match &lease {
        Some(l) => (Some(&l.secret), Some(l.mode), l.account_id.as_deref()),
        None => (fixed.key, fixed.mode, fixed.account),
    };
    let mut headers = HeaderMap::new();
    // An empty key (a keyless Ollama or vLLM) sends nothing rather than an empty bearer.
    if let Some(key) = key.filter(|k| !k.expose().trim().is_empty()) {
        match (wire, mode) {
            (Wire::Anthropic, Some(AuthMode::ApiKey) | None) => {
                headers.insert("x-api-key", secret_value(key.expose())?);
            }
            (Wire::Anthropic, Some(AuthMode::OAuth)) => {
                headers.insert(AUTHORIZATION, bearer(key)?);
                headers.insert(
                    "anthropic-beta",
                    HeaderValue::from_static(ANTHROPIC_OAUTH_BETA),
                );
            }
            (Wire::OpenAi, _) => {
                headers.insert(AUTHORIZATION, bearer(key)?);
            }
        }
    }
    if let (Wire::OpenAi, Some(account)) = (wire, account) {
        headers.insert(ACCOUNT_HEADER, plain_value(ACCOUNT_HEADER, account)?);
    }
    for (name, value) in extra {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
            TransportError::new(
                ErrorClass::InvalidRequest,
                format!("invalid header name `{name}`: {e}"),
            )
        })?;
        // Appended: a configured `anthropic-beta` goes beside the OAuth one.
        headers.append(header, plain_value(name, value)?);
    }
    Ok(headers)
}

fn bearer(key: &Secret) -> Result<HeaderValue, TransportError> {
    secret_value(&format!("Bearer {}", key.expose()))
}

/// A secret as a header value, marked sensitive; the error never quotes it.
fn secret_value(text: &str) -> Result<HeaderValue, TransportError> {
    let mut value = HeaderValue::from_str(text).map_err(|_| {
        TransportError::new(
            ErrorClass::InvalidRequest,
            "the credential cannot be sent as a header (it holds characters a header cannot carry)",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

fn plain_value(name: &str, text: &str) -> Result<HeaderValue, TransportError> {
    HeaderValue::from_str(text).map_err(|e| {
        TransportError::new(
            ErrorClass::InvalidRequest,
            format!("invalid value for header `{name}`: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Secret {
        Secret::new(s.to_string())
    }

    #[tokio::test]
    async fn each_wire_sends_its_own_headers() {
        let k = key("sk-1");
        let fixed = |mode| Fixed {
            key: Some(&k),
            mode,
            account: Some("acct"),
        };
        let openai = auth_headers(Wire::OpenAi, None, fixed(None), &[])
            .await
            .expect("headers");
        assert_eq!(openai["authorization"], "Bearer sk-1");
        assert_eq!(openai[ACCOUNT_HEADER], "acct");
        let api_key = auth_headers(Wire::Anthropic, None, fixed(Some(AuthMode::ApiKey)), &[])
            .await
            .expect("headers");
        assert_eq!(api_key["x-api-key"], "sk-1");
        assert!(api_key.get("authorization").is_none());
        assert!(api_key.get(ACCOUNT_HEADER).is_none());
        let extra = [("anthropic-beta".to_string(), "other".to_string())];
        let oauth = auth_headers(Wire::Anthropic, None, fixed(Some(AuthMode::OAuth)), &extra)
            .await
            .expect("headers");
        assert_eq!(oauth["authorization"], "Bearer sk-1");
        assert!(oauth.get("x-api-key").is_none());
        let betas: Vec<_> = oauth.get_all("anthropic-beta").iter().collect();
        assert_eq!(betas, [ANTHROPIC_OAUTH_BETA, "other"]);
    }

    #[tokio::test]
    async fn an_empty_key_sends_no_auth_and_a_bad_one_is_refused_without_quoting_it() {
        let empty = key("  ");
        let none = auth_headers(
            Wire::OpenAi,
            None,
            Fixed {
                key: Some(&empty),
                ..Default::default()
            },
            &[],
        )
        .await
        .expect("headers");
        assert!(none.is_empty());
        let bad = key("sk-\nsecret");
        let err = auth_headers(
            Wire::OpenAi,
            None,
            Fixed {
                key: Some(&bad),
                ..Default::default()
            },
            &[],
        )
        .await
        .expect_err("refused");
        assert_eq!(err.class, ErrorClass::InvalidRequest);
        assert!(!err.message.contains("secret"), "{}", err.message);
    }
}
