//! What a credential is, and the view of it that may be shown.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Secret;

/// A credential id: `<provider>#<n>`, e.g. `xai#2`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CredentialId(pub String);

impl fmt::Display for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// How a credential is used: the one source of truth for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    ApiKey,
    #[serde(rename = "oauth")]
    OAuth,
}

impl AuthMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            AuthMode::ApiKey => "api_key",
            AuthMode::OAuth => "oauth",
        }
    }
}

/// Where a credential stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CredentialStatus {
    Active,
    CoolingDown {
        until: DateTime<Utc>,
        reason: String,
    },
    NeedsReauth {
        reason: String,
    },
    Disconnected,
    EntitlementBlocked {
        reason: String,
    },
}

impl CredentialStatus {
    pub fn name(&self) -> &'static str {
        match self {
            CredentialStatus::Active => "active",
            CredentialStatus::CoolingDown { .. } => "cooling_down",
            CredentialStatus::NeedsReauth { .. } => "needs_reauth",
            CredentialStatus::Disconnected => "disconnected",
            CredentialStatus::EntitlementBlocked { .. } => "entitlement_blocked",
        }
    }
}

/// OAuth token material.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthTokens {
    pub access_token: Option<Secret>,
    pub refresh_token: Option<Secret>,
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub token_type: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    /// When the access token was issued: with `expires_at`, its lifetime (how early to
    /// refresh it depends on that).
    #[serde(default)]
    pub issued_at: Option<DateTime<Utc>>,
}

/// A stored credential. `Debug` shows no secret (secrets are [`Secret`]s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credential {
    pub id: CredentialId,
    pub provider: String,
    pub label: String,
    pub auth_mode: AuthMode,
    pub api_key: Option<Secret>,
    pub oauth: Option<OAuthTokens>,
    pub status: CredentialStatus,
    pub created_at: DateTime<Utc>,
    pub last_used: Option<DateTime<Utc>>,
    #[serde(default)]
    pub use_count: u64,
    #[serde(default)]
    pub refresh_count: u64,
    /// Why the last refresh failed for now (an outage of the authorization server); cleared
    /// by the next refresh that succeeds. The credential stays usable meanwhile.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Tokens this credential no longer uses whose revocation at the provider failed (an
    /// outage at logout, or a login that replaced them); retried until it works.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_revocations: Vec<PendingRevocation>,
}

/// A token to revoke (RFC 7009) once the authorization server answers again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingRevocation {
    pub token: Secret,
    /// `refresh_token` or `access_token`.
    pub hint: String,
    /// Why the last attempt failed.
    pub last_error: String,
}

impl Credential {
    /// The secret a request carries now: the key, or the access token.
    pub fn bearer(&self) -> Option<&Secret> {
        match self.auth_mode {
            AuthMode::ApiKey => self.api_key.as_ref(),
            AuthMode::OAuth => self.oauth.as_ref().and_then(|o| o.access_token.as_ref()),
        }
    }

    /// When the access token expires, for OAuth credentials that say.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.oauth.as_ref().and_then(|o| o.expires_at)
    }

    /// The view that may be printed, logged or exported.
    pub fn summary(&self) -> CredentialSummary {
        CredentialSummary {
            id: self.id.clone(),
            provider: self.provider.clone(),
            label: self.label.clone(),
            auth_mode: self.auth_mode,
            status: self.status.clone(),
            expires_at: self.expires_at(),
            has_refresh_token: self
                .oauth
                .as_ref()
                .is_some_and(|o| o.refresh_token.is_some()),
            account_id: self.oauth.as_ref().and_then(|o| o.account_id.clone()),
            scopes: self
                .oauth
                .as_ref()
                .map(|o| o.scopes.clone())
                .unwrap_or_default(),
            last_used: self.last_used,
            use_count: self.use_count,
            refresh_count: self.refresh_count,
            last_error: self.last_error.clone(),
            pending_revocations: self.pending_revocations.len(),
        }
    }
}

/// Everything about a credential except its secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialSummary {
    pub id: CredentialId,
    pub provider: String,
    pub label: String,
    pub auth_mode: AuthMode,
    pub status: CredentialStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub has_refresh_token: bool,
    pub account_id: Option<String>,
    pub scopes: Vec<String>,
    pub last_used: Option<DateTime<Utc>>,
    pub use_count: u64,
    pub refresh_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// How many revocations of replaced or logged-out tokens are still to be made.
    #[serde(default)]
    pub pending_revocations: usize,
}
