//! Accounts on the wire: a credential as `GET /credentials` (and `sortie auth list --json`)
//! shows it, and what a person does to finish a login.

use chrono::Utc;
use sortie_transports::auth::{AuthMode, Credential, CredentialStatus, CredentialSummary};

/// A credential as `sortie auth list --json` and `GET /credentials` show it: its summary
/// (no secret), what to do next, and the probe's answer when one was made.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CredentialRow {
    #[serde(flatten)]
    pub summary: CredentialSummary,
    pub next_step: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
}

/// The answer of one live call made with a credential.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Probe {
    pub ok: bool,
    pub detail: String,
}

impl CredentialRow {
    pub fn new(c: &Credential) -> Self {
        let summary = c.summary();
        Self {
            next_step: next_step(&summary),
            summary,
            probe: None,
        }
    }
}

/// What a person should do next about a credential.
pub fn next_step(c: &CredentialSummary) -> String {
    match &c.status {
        CredentialStatus::Active => match c.expires_at {
            Some(at)
                if at <= Utc::now() && c.auth_mode == AuthMode::OAuth && !c.has_refresh_token =>
            {
                format!(
                    "expired with no refresh token: sortie auth reconnect {}",
                    c.id
                )
            }
            _ => "nothing".into(),
        },
        CredentialStatus::CoolingDown { until, .. } => {
            format!("wait until {}", until.format("%H:%M:%S UTC"))
        }
        CredentialStatus::NeedsReauth { .. } | CredentialStatus::Disconnected => {
            format!("sortie auth reconnect {}", c.id)
        }
        CredentialStatus::EntitlementBlocked { .. } => {
            "check the account's subscription; no login can fix this".into()
        }
    }
}

/// What a person does to finish a login: open a URL (and enter a code, or paste one back).
/// The CLI prints it, the daemon's API returns it, the TUI shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoginPrompt {
    pub provider: String,
    /// `loopback`, `paste` or `device`.
    pub flow: String,
    /// The page to open: the authorize URL, or the device verification page.
    pub url: String,
    /// The device verification page with the code filled in, when the server gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_complete: Option<String>,
    /// The code to enter on the verification page (device flow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_code: Option<String>,
    /// Where the browser comes back to (loopback flow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// The code the provider shows (or the URL the browser lands on) must be pasted back.
    pub needs_code: bool,
    pub expires_at: chrono::DateTime<Utc>,
    /// A paste login started earlier (even before a restart) and resumed.
    pub resumed: bool,
}
