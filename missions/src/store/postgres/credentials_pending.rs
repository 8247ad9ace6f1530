//! Pending logins (a login started and not yet finished) in PostgreSQL, sealed like the
//! credentials (the PKCE verifier is a secret): any daemon of the store can finish a login
//! another one started.

use async_trait::async_trait;
use chrono::Utc;
use sortie_transports::auth::{PendingLogin, PendingLoginBackend, StoreError};

use super::credentials::PgCredentials;

/// The pending logins of a PostgreSQL store ([`PgCredentials::pending_logins`]).
#[derive(Clone, Debug)]
pub struct PgPendingLogins(PgCredentials);

impl PgCredentials {
    /// The store's pending logins, sealed with the same key.
    pub fn pending_logins(&self) -> PgPendingLogins {
        PgPendingLogins(self.clone())
    }
}

impl std::ops::Deref for PgPendingLogins {
    type Target = PgCredentials;
    fn deref(&self) -> &PgCredentials {
        &self.0
    }
}

#[async_trait]
impl PendingLoginBackend for PgPendingLogins {
    async fn put(&self, login: &PendingLogin) -> Result<(), StoreError> {
        let record = self.seal(&login.state, login)?;
        let client = self
            .store
            .client()
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        client
            .execute(
                "INSERT INTO pending_logins (state, provider, expires_at, record)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (state) DO UPDATE SET provider = $2, expires_at = $3, record = $4",
                &[&login.state, &login.provider, &login.expires_at, &record],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(())
    }

    /// Expired or unreadable ones are dropped.
    async fn get(&self, state: &str) -> Result<Option<PendingLogin>, StoreError> {
        let client = self
            .store
            .client()
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let row = client
            .query_opt(
                "SELECT record FROM pending_logins WHERE state = $1",
                &[&state],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        match self.open::<PendingLogin>(state, row.get::<_, &[u8]>(0)) {
            Ok(p) if p.expires_at > Utc::now() => Ok(Some(p)),
            _ => {
                PendingLoginBackend::remove(self, state).await?;
                Ok(None)
            }
        }
    }

    async fn latest_for(&self, provider: &str) -> Result<Option<PendingLogin>, StoreError> {
        let client = self
            .store
            .client()
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        client
            .execute("DELETE FROM pending_logins WHERE expires_at <= now()", &[])
            .await
            .map_err(|e| self.failed(&e))?;
        let rows = client
            .query(
                "SELECT state, record FROM pending_logins WHERE provider = $1
                 ORDER BY expires_at DESC",
                &[&provider],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        // The newest that opens (one sealed with a lost key is skipped).
        Ok(rows.iter().find_map(|r| {
            self.open::<PendingLogin>(r.get(0), r.get::<_, &[u8]>(1))
                .ok()
                .filter(|p| p.expires_at > Utc::now())
        }))
    }

    async fn remove(&self, state: &str) -> Result<(), StoreError> {
        let client = self
            .store
            .client()
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        client
            .execute("DELETE FROM pending_logins WHERE state = $1", &[&state])
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(())
    }
}
