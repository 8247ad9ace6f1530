//! The device authorization grant (RFC 8628).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{parse_token_response, OAuthClient, OAuthError, TokenSet};
use crate::Secret;

/// What the device endpoint answered: the code a person types, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceAuthorization {
    pub device_code: Secret,
    pub user_code: String,
    pub verification_uri: String,
    #[serde(default)]
    pub verification_uri_complete: Option<String>,
    pub expires_in: u64,
    #[serde(default)]
    pub interval: Option<u64>,
}

/// One poll's answer.
#[derive(Debug)]
pub enum DevicePoll {
    Pending,
    SlowDown,
    Done(TokenSet),
}

impl OAuthClient {
    /// Starts a device login.
    pub async fn device_start(&self) -> Result<DeviceAuthorization, OAuthError> {
        let url = self
            .config
            .device_authorization_url
            .as_deref()
            .ok_or_else(|| {
                OAuthError::Invalid(
                    "this provider has no device authorization endpoint; log in without --device"
                        .into(),
                )
            })?;
        let mut params = vec![("client_id", self.config.client_id.clone())];
        if !self.config.scopes.is_empty() {
            params.push(("scope", self.config.scopes.join(" ")));
        }
        let response = self
            .http
            .post(url)
            .form(&params)
            .send()
            .await
            .map_err(|e| OAuthError::Transient(format!("cannot reach {url}: {e}")))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| OAuthError::Transient(e.to_string()))?;
        if !(200..300).contains(&status) {
            return Err(parse_token_response(status, &body)
                .err()
                .unwrap_or_else(|| {
                    OAuthError::BadResponse(format!("the device endpoint answered HTTP {status}"))
                }));
        }
        serde_json::from_slice(&body).map_err(|e| {
            OAuthError::BadResponse(format!(
                "the device endpoint's answer is missing fields: {e}"
            ))
        })
    }

    /// Polls the token endpoint once.
    pub async fn device_poll(&self, auth: &DeviceAuthorization) -> Result<DevicePoll, OAuthError> {
        let params = [
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:device_code".to_string(),
            ),
            ("device_code", auth.device_code.expose().to_string()),
            ("client_id", self.config.client_id.clone()),
        ];
        let url = &self.config.token_url;
        let response = self
            .http
            .post(url)
            .form(&params)
            .send()
            .await
            .map_err(|e| {
                OAuthError::Transient(format!("cannot reach the token endpoint {url}: {e}"))
            })?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| OAuthError::Transient(e.to_string()))?;
        let doc = serde_json::from_slice::<Value>(&body).ok();
        let text = |k: &str| {
            doc.as_ref()
                .and_then(|v| v.get(k).and_then(Value::as_str).map(String::from))
        };
        let code = text("error");
        // The server's own words, when it gave a reason.
        let detail = text("error_description")
            .map(|d| format!(": {}", crate::classify::redact(&d)))
            .unwrap_or_default();
        match code.as_deref() {
            Some("authorization_pending") => Ok(DevicePoll::Pending),
            Some("slow_down") => Ok(DevicePoll::SlowDown),
            Some("expired_token") => Err(OAuthError::Permanent(
                "the device code expired before it was approved; run the login again".into(),
            )),
            Some("access_denied") => Err(OAuthError::Permanent(format!(
                "the login was denied{detail}"
            ))),
            _ => parse_token_response(status, &body).map(DevicePoll::Done),
        }
    }

    /// Polls until the person approves, at the server's interval (5 s when unsaid), adding
    /// 5 s for good on each `slow_down`. `first_interval` overrides the starting interval.
    pub async fn device_wait(
        &self,
        auth: &DeviceAuthorization,
        first_interval: Option<Duration>,
        mut on_slow_down: impl FnMut(Duration),
    ) -> Result<TokenSet, OAuthError> {
        let mut interval =
            first_interval.unwrap_or(Duration::from_secs(auth.interval.unwrap_or(5).max(1)));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(auth.expires_in.max(1));
        // A dropped connection between polls is not the person's answer: poll again, a few times.
        let mut transient = 0;
        loop {
            tokio::time::sleep(interval).await;
            if tokio::time::Instant::now() > deadline {
                return Err(OAuthError::Permanent(
                    "the device code expired before it was approved; run the login again".into(),
                ));
            }
            let poll = match self.device_poll(auth).await {
                Err(OAuthError::Transient(e)) if transient < 3 => {
                    transient += 1;
                    tracing::debug!("device poll failed ({e}); polling again");
                    continue;
                }
                other => other?,
            };
            transient = 0;
            match poll {
                DevicePoll::Pending => {}
                DevicePoll::SlowDown => {
                    interval += Duration::from_secs(5);
                    on_slow_down(interval);
                }
                DevicePoll::Done(tokens) => return Ok(tokens),
            }
        }
    }
}
