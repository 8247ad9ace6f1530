//! How stored credentials are shown: the rows of `sortie auth list|status` (and
//! `GET /credentials`), what to do next about each, expiry countdowns, live probes, and
//! how the secrets are kept at rest.

use std::path::Path;
use std::sync::Arc;

use sortie_transports::auth::{Credential, CredentialId, Credentials, Pool};

use super::account_store::AccountStore;
use super::accounts::{key_path, shared_pool};
use crate::api::{CredentialRow, Probe};
use crate::config::Config;

/// How stored secrets are kept, for `auth list` / `auth status`.
pub fn at_rest_note(home: &Path) -> String {
    if let Some(shared) = super::account_store::at_rest_note(home) {
        return shared;
    }
    match sortie_transports::auth::os_keyring::key_place(&key_path(&home.join("store"))) {
        Some(place) => format!("secrets: encrypted at rest (ChaCha20-Poly1305), key {place}"),
        None => "secrets: none stored yet (they are encrypted at rest when stored)".into(),
    }
}

/// Every stored credential as it is now; with `probe`, after one live call each (which may
/// refresh a token). Unreadable rows come back as problems.
pub async fn credential_rows(
    accounts: &AccountStore,
    config: &Config,
    pool: Option<&Arc<Pool>>,
    probe: bool,
) -> anyhow::Result<(Vec<CredentialRow>, Vec<String>)> {
    let creds = &accounts.credentials;
    let (all, problems) = creds.all().await?;
    let mut probes: Vec<Option<Probe>> = vec![None; all.len()];
    if probe {
        let pool = match pool {
            Some(p) => p.clone(),
            None => shared_pool(accounts, config).await?,
        };
        for (i, c) in all.iter().enumerate() {
            probes[i] = Some(match probe_one(&pool, config, c).await {
                Ok(detail) => Probe { ok: true, detail },
                Err(detail) => Probe { ok: false, detail },
            });
        }
    }
    // A probe may have refreshed a token: show the rows as they are now.
    let mut rows = Vec::with_capacity(all.len());
    for (c, probe) in all.into_iter().zip(probes) {
        let c = match probe {
            Some(_) => creds.get(&c.id).await.ok().flatten().unwrap_or(c),
            None => c,
        };
        rows.push(CredentialRow {
            probe,
            ..CredentialRow::new(&c)
        });
    }
    Ok((rows, problems))
}

/// One cheap live call with this very credential: the provider's models endpoint.
async fn probe_one(pool: &Arc<Pool>, config: &Config, c: &Credential) -> Result<String, String> {
    if let Some(server) = c.provider.strip_prefix(crate::config::mcp_login::PREFIX) {
        return Err(format!(
            "an MCP server's login has no models to list; `sortie mcp tools {server}` tries it"
        ));
    }
    let provider = config
        .provider(Some(&c.provider))
        .map_err(|e| e.to_string())?;
    let source = OneCredential {
        pool: pool.clone(),
        id: c.id.clone(),
    };
    let transport = super::transport_for(&provider, Some(Credentials::new(source)))
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
