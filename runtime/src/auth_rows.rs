//! How stored credentials are shown: the rows of `sortie auth list|status` (and
//! `GET /credentials`), what to do next about each, expiry countdowns, live probes, and
//! how the secrets are kept at rest.

use std::path::Path;
use std::sync::Arc;

use chrono::Utc;

use sortie_missions::Store;
use sortie_transports::auth::{
    AuthMode, Credential, CredentialId, CredentialStatus, CredentialSummary, Credentials, Pool,
};

use crate::auth_cmd::{credential_store, key_path, shared_pool};
use crate::config::Config;
use crate::render::Style;

/// How stored secrets are kept, for `auth list` / `auth status`.
pub fn at_rest_note(home: &Path) -> String {
    match sortie_transports::auth::os_keyring::key_place(&key_path(&home.join("store"))) {
        Some(place) => format!("secrets: encrypted at rest (ChaCha20-Poly1305), key {place}"),
        None => "secrets: none stored yet (they are encrypted at rest when stored)".into(),
    }
}

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

/// When a credential expires, for people: `-` (a key), `expired`, `in 42m`, `in 7h`.
pub fn expiry_text(c: &CredentialSummary, now: chrono::DateTime<Utc>) -> String {
    match (c.auth_mode, c.expires_at) {
        (AuthMode::ApiKey, _) => "-".into(),
        (AuthMode::OAuth, None) => "unknown".into(),
        (AuthMode::OAuth, Some(at)) => {
            let left = at - now;
            if left.num_seconds() <= 0 {
                "expired".into()
            } else if left.num_seconds() < 60 {
                format!("in {}s", left.num_seconds())
            } else if left.num_minutes() < 120 {
                format!("in {}m", left.num_minutes().max(1))
            } else {
                format!("in {}h", left.num_hours())
            }
        }
    }
}

/// Every stored credential as it is now; with `probe`, after one live call each (which may
/// refresh a token). Unreadable rows come back as problems.
pub async fn credential_rows(
    store: &Store,
    config: &Config,
    pool: Option<&Arc<Pool>>,
    probe: bool,
) -> anyhow::Result<(Vec<CredentialRow>, Vec<String>)> {
    let creds = credential_store(store)?;
    let (all, problems) = creds.all()?;
    let mut probes: Vec<Option<Probe>> = vec![None; all.len()];
    if probe {
        let pool = match pool {
            Some(p) => p.clone(),
            None => shared_pool(store, config)?,
        };
        for (i, c) in all.iter().enumerate() {
            probes[i] = Some(match probe_one(&pool, config, c).await {
                Ok(detail) => Probe { ok: true, detail },
                Err(detail) => Probe { ok: false, detail },
            });
        }
    }
    // A probe may have refreshed a token: show the rows as they are now.
    let rows = all
        .into_iter()
        .zip(probes)
        .map(|(c, probe)| {
            let c = match probe {
                Some(_) => creds.get(&c.id).ok().flatten().unwrap_or(c),
                None => c,
            };
            CredentialRow {
                probe,
                ..CredentialRow::new(&c)
            }
        })
        .collect();
    Ok((rows, problems))
}

/// `sortie auth list|status`: a table, or the rows as JSON.
pub fn print_rows(rows: &[CredentialRow], problems: &[String], json: bool) -> anyhow::Result<()> {
    for p in problems {
        eprintln!("warning: {p}");
    }
    if json {
        println!("{}", serde_json::to_string_pretty(rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no credentials yet; add one with `sortie auth login <provider>` or `sortie auth add-key <provider>`");
        return Ok(());
    }
    let s = Style::detect();
    let now = Utc::now();
    println!(
        "{}",
        s.bold(&format!(
            "{:<16} {:<8} {:<20} {:<10} {:<14} NEXT",
            "ID", "MODE", "STATUS", "EXPIRES", "LABEL"
        ))
    );
    for row in rows {
        let c = &row.summary;
        println!(
            "{:<16} {:<8} {:<20} {:<10} {:<14} {}",
            c.id,
            c.auth_mode.as_str(),
            c.status.name(),
            expiry_text(c, now),
            c.label.chars().take(14).collect::<String>(),
            row.next_step
        );
        if let Some(error) = &c.last_error {
            println!(
                "  {} {error} (still {}; tried again on next use)",
                s.yellow("! last refresh failed:"),
                c.status.name()
            );
        }
        match &row.probe {
            Some(Probe { ok: true, detail }) => println!("  {} {detail}", s.green("✓ probe:")),
            Some(Probe { ok: false, detail }) => println!("  {} {detail}", s.red("✗ probe:")),
            None => {}
        }
    }
    Ok(())
}

/// One cheap live call with this very credential: the provider's models endpoint.
async fn probe_one(pool: &Arc<Pool>, config: &Config, c: &Credential) -> Result<String, String> {
    let provider = config
        .provider(Some(&c.provider))
        .map_err(|e| e.to_string())?;
    let source = OneCredential {
        pool: pool.clone(),
        id: c.id.clone(),
    };
    let transport = crate::cli::transport_for(&provider, Some(Credentials::new(source)))
        .map_err(|e| e.to_string())?;
    match transport.list_models().await {
        Ok(models) => Ok(format!("{} models listed", models.len())),
        Err(e) => Err(format!("[{}] {}", e.class, e.message)),
    }
}

/// Leases one given credential (for probes).
pub struct OneCredential {
    pub pool: Arc<Pool>,
    pub id: CredentialId,
}

impl sortie_transports::auth::CredentialSource for OneCredential {
    fn lease(&self) -> sortie_transports::auth::LeaseFuture<'_> {
        Box::pin(async move {
            self.pool
                .lease_id(&self.id)
                .await
                .map_err(sortie_transports::auth::pool_error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_countdowns_show_seconds_under_a_minute() {
        let now = Utc::now();
        let summary = |secs: i64| CredentialSummary {
            id: CredentialId("p#1".into()),
            provider: "p".into(),
            label: String::new(),
            auth_mode: AuthMode::OAuth,
            status: CredentialStatus::Active,
            expires_at: Some(now + chrono::Duration::seconds(secs)),
            has_refresh_token: true,
            account_id: None,
            scopes: vec![],
            last_used: None,
            use_count: 0,
            refresh_count: 0,
            last_error: None,
            pending_revocations: 0,
        };
        assert_eq!(expiry_text(&summary(5), now), "in 5s");
        assert_eq!(expiry_text(&summary(59), now), "in 59s");
        assert_eq!(expiry_text(&summary(90), now), "in 1m");
        assert_eq!(expiry_text(&summary(-1), now), "expired");
        assert_eq!(expiry_text(&summary(3 * 3600), now), "in 3h");
    }
}
