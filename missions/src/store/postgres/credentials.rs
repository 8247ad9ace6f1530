//! The credential pool's records in PostgreSQL, shared by every daemon of the store.
//!
//! - Each record is sealed with the key the daemons share (`[store] key_env`): a table
//!   never holds a token in the clear, and a record that is not sealed is refused. A key
//!   check sealed by the first daemon refuses another key at start.
//! - A refresh holds the credential's row lock (`SELECT ... FOR UPDATE`) from reading the
//!   refresh token to storing the rotated one, so one refresh serves every daemon. The
//!   wait for the lock is bounded (`lock_timeout`), and so is the refresh.
//! - Statuses (cooldowns included) are in the record every daemon reads at each lease.
//! - Use counters are kept beside the record (`credential_uses`), so counting a lease never
//!   waits for a refresh holding the record's row.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use sortie_transports::auth::sealed::{is_sealed, Sealer};
use sortie_transports::auth::{
    still_stale, Credential, CredentialBackend, CredentialId, CredentialStatus, Locked, PoolError,
    RefreshFn, RefreshStep, StoreError,
};
use sortie_transports::Secret;
use tokio_postgres::error::SqlState;

use super::PgStore;

/// What the key check seals.
const PROBE: &[u8] = b"sortie credential key check";

/// How long a credential's lock is waited for, and a refresh may take.
#[derive(Debug, Clone)]
pub struct CredentialOptions {
    /// The longest a write waits for another daemon's lock on the same credential. Longer
    /// than `refresh_timeout`, so a refresh in progress elsewhere is waited out.
    pub lock_timeout: Duration,
    /// The longest a refresh (the token endpoint's answer) may hold the lock.
    pub refresh_timeout: Duration,
}

impl Default for CredentialOptions {
    fn default() -> Self {
        Self {
            lock_timeout: Duration::from_secs(45),
            refresh_timeout: Duration::from_secs(30),
        }
    }
}

/// The credentials and pending logins of a PostgreSQL store; cheap to clone.
#[derive(Clone)]
pub struct PgCredentials {
    pub(super) store: PgStore,
    pub(super) sealer: Arc<Sealer>,
    options: CredentialOptions,
}

impl std::fmt::Debug for PgCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCredentials")
            .field("url", &self.store.url())
            .finish()
    }
}

impl PgStore {
    /// The store's credentials, sealed with `sealer` (from `[store] key_env`, see
    /// [`Sealer::from_env`]). Refused when the store's credentials were sealed with
    /// another key.
    pub async fn credentials(&self, sealer: Arc<Sealer>) -> Result<PgCredentials, StoreError> {
        self.credentials_with(sealer, CredentialOptions::default())
            .await
    }

    /// [`PgStore::credentials`] with its timeouts.
    pub async fn credentials_with(
        &self,
        sealer: Arc<Sealer>,
        options: CredentialOptions,
    ) -> Result<PgCredentials, StoreError> {
        let creds = PgCredentials {
            store: self.clone(),
            sealer,
            options,
        };
        creds.check_key().await?;
        Ok(creds)
    }
}

/// The status column of a record: its name, and until when it cools down.
fn status_columns(c: &Credential) -> (&'static str, Option<DateTime<Utc>>) {
    let until = match &c.status {
        CredentialStatus::CoolingDown { until, .. } => Some(*until),
        _ => None,
    };
    (c.status.name(), until)
}

impl PgCredentials {
    /// Seals the probe when the store has none yet (the first daemon's key), then opens
    /// it: another key is refused with what to do.
    async fn check_key(&self) -> Result<(), StoreError> {
        let sealed = self.sealer.seal(PROBE).map_err(StoreError::Backend)?;
        let client = self.store.client().await.map_err(backend)?;
        client
            .execute(
                "INSERT INTO credential_key (probe) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&sealed],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        let probe: Vec<u8> = client
            .query_one("SELECT probe FROM credential_key", &[])
            .await
            .map_err(|e| self.failed(&e))?
            .get(0);
        match self.sealer.open(&probe) {
            Ok(plain) if plain == PROBE => Ok(()),
            _ => Err(StoreError::WrongKey(format!(
                "the key {} is not the one the credentials at {} are sealed with; give this daemon the same key as the others (the key of the daemon that stored the first credential)",
                self.sealer.origin(),
                self.store.url()
            ))),
        }
    }

    /// A failed query, as the credential store's error (the URL without its password).
    pub(super) fn failed(&self, e: &tokio_postgres::Error) -> StoreError {
        backend(self.store.failed(e))
    }

    pub(super) fn seal<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<Vec<u8>, StoreError> {
        let plain = serde_json::to_vec(value)
            .map_err(|e| StoreError::Corrupt(key.into(), e.to_string()))?;
        self.sealer
            .seal(&plain)
            .map_err(|e| StoreError::Corrupt(key.into(), e))
    }

    /// A sealed record, opened; one stored in the clear is refused.
    pub(super) fn open<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
        raw: &[u8],
    ) -> Result<T, StoreError> {
        if !is_sealed(raw) {
            return Err(StoreError::Corrupt(
                key.into(),
                "it is stored unsealed in the shared store, which keeps no token in the clear"
                    .into(),
            ));
        }
        let plain = self
            .sealer
            .open(raw)
            .map_err(|e| StoreError::Corrupt(key.into(), e))?;
        serde_json::from_slice(&plain).map_err(|e| StoreError::Corrupt(key.into(), e.to_string()))
    }

    /// A row of [`READ`], opened, with its counters.
    fn read(&self, row: &tokio_postgres::Row) -> (String, Result<Credential, StoreError>) {
        let id: String = row.get(0);
        let c = self
            .open::<Credential>(&id, row.get::<_, &[u8]>(1))
            .map(|mut c| {
                if let Some(count) = row.get::<_, Option<i64>>(2) {
                    c.use_count = u64::try_from(count).unwrap_or_default();
                    c.last_used = row.get(3);
                }
                c
            });
        (id, c)
    }

    /// Writes a record's row (in `tx`, whose lock on it the caller holds).
    async fn write(&self, tx: &Transaction<'_>, c: &Credential) -> Result<(), StoreError> {
        let record = self.seal(&c.id.0, c)?;
        let (status, until) = status_columns(c);
        tx.execute(
            "UPDATE credentials SET status = $2, cooling_until = $3, record = $4 WHERE id = $1",
            &[&c.id.0, &status, &until, &record],
        )
        .await
        .map_err(|e| self.failed(&e))?;
        Ok(())
    }

    /// Locks a credential's row in `tx` and reads it. Waits at most `lock_timeout`.
    async fn lock(
        &self,
        tx: &Transaction<'_>,
        id: &CredentialId,
    ) -> Result<Option<Credential>, StoreError> {
        let ms = self.options.lock_timeout.as_millis().max(1);
        tx.batch_execute(&format!("SET LOCAL lock_timeout = {ms}"))
            .await
            .map_err(|e| self.failed(&e))?;
        let sql = format!("{READ} WHERE c.id = $1 FOR UPDATE OF c");
        let row = tx.query_opt(&sql, &[&id.0]).await.map_err(|e| {
            if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
                StoreError::Busy {
                    id: id.0.clone(),
                    waited_secs: self.options.lock_timeout.as_secs(),
                }
            } else {
                self.failed(&e)
            }
        })?;
        row.map(|r| self.read(&r).1).transpose()
    }

    /// Every credential (of `provider`, when given), oldest first, each opened or why not.
    async fn rows(
        &self,
        provider: Option<&str>,
    ) -> Result<Vec<(String, Result<Credential, StoreError>)>, StoreError> {
        let client = self.store.client().await.map_err(backend)?;
        let rows = match provider {
            Some(p) => {
                let sql = format!("{READ} WHERE c.provider = $1 ORDER BY c.created_at, c.id");
                client.query(&sql, &[&p]).await
            }
            None => {
                let sql = format!("{READ} ORDER BY c.created_at, c.id");
                client.query(&sql, &[]).await
            }
        }
        .map_err(|e| self.failed(&e))?;
        Ok(rows.iter().map(|r| self.read(r)).collect())
    }
}

/// The columns a credential is read from: the sealed record and its use counters.
const READ: &str = "SELECT c.id, c.record, u.use_count, u.last_used
     FROM credentials c LEFT JOIN credential_uses u ON u.id = c.id";

/// A store error of the PostgreSQL store, as the credential store's.
fn backend(e: crate::StoreError) -> StoreError {
    StoreError::Backend(e.to_string())
}

#[async_trait]
impl CredentialBackend for PgCredentials {
    fn at_rest(&self) -> String {
        format!("{}, in {}", self.sealer.describe(), self.store.url())
    }

    async fn get(&self, id: &CredentialId) -> Result<Option<Credential>, StoreError> {
        let client = self.store.client().await.map_err(backend)?;
        let row = client
            .query_opt(&format!("{READ} WHERE c.id = $1"), &[&id.0])
            .await
            .map_err(|e| self.failed(&e))?;
        row.map(|r| self.read(&r).1).transpose()
    }

    async fn put(&self, c: &Credential) -> Result<(), StoreError> {
        let record = self.seal(&c.id.0, c)?;
        let (status, until) = status_columns(c);
        let client = self.store.client().await.map_err(backend)?;
        client
            .execute(
                "INSERT INTO credentials (id, provider, created_at, status, cooling_until, record)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (id) DO UPDATE SET provider = $2, created_at = $3, status = $4,
                     cooling_until = $5, record = $6",
                &[
                    &c.id.0,
                    &c.provider,
                    &c.created_at,
                    &status,
                    &until,
                    &record,
                ],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(())
    }

    async fn update(
        &self,
        id: &CredentialId,
        change: &mut (dyn for<'c> FnMut(&'c mut Credential) + Send),
    ) -> Result<Option<Credential>, StoreError> {
        let mut client = self.store.client().await.map_err(backend)?;
        let tx = client.transaction().await.map_err(|e| self.failed(&e))?;
        let Some(mut c) = self.lock(&tx, id).await? else {
            return Ok(None);
        };
        change(&mut c);
        self.write(&tx, &c).await?;
        tx.commit().await.map_err(|e| self.failed(&e))?;
        Ok(Some(c))
    }

    /// Counted beside the record: a refresh holding the record's row is not waited for.
    async fn count_use(
        &self,
        id: &CredentialId,
        at: DateTime<Utc>,
    ) -> Result<Option<Credential>, StoreError> {
        let client = self.store.client().await.map_err(backend)?;
        let counted = client
            .execute(
                "INSERT INTO credential_uses (id, use_count, last_used)
                 SELECT id, 1, $2 FROM credentials WHERE id = $1
                 ON CONFLICT (id) DO UPDATE SET use_count = credential_uses.use_count + 1,
                     last_used = greatest(credential_uses.last_used, $2)",
                &[&id.0, &at],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        drop(client);
        if counted == 0 {
            return Ok(None);
        }
        self.get(id).await
    }

    async fn remove(&self, id: &CredentialId) -> Result<bool, StoreError> {
        let client = self.store.client().await.map_err(backend)?;
        let n = client
            .execute(
                "WITH u AS (DELETE FROM credential_uses WHERE id = $1)
                 DELETE FROM credentials WHERE id = $1",
                &[&id.0],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(n > 0)
    }

    async fn all(&self) -> Result<(Vec<Credential>, Vec<String>), StoreError> {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for (_, c) in self.rows(None).await? {
            match c {
                Ok(c) => out.push(c),
                Err(e) => problems.push(format!("{e}; skipped")),
            }
        }
        Ok((out, problems))
    }

    async fn for_provider(&self, provider: &str) -> Result<Vec<Credential>, StoreError> {
        // Unreadable records are reported by `all`; the pool just skips them.
        Ok(self
            .rows(Some(provider))
            .await?
            .into_iter()
            .filter_map(|(_, c)| c.ok())
            .collect())
    }

    async fn next_id(&self, provider: &str) -> Result<CredentialId, StoreError> {
        let prefix = format!("{provider}#");
        let client = self.store.client().await.map_err(backend)?;
        let rows = client
            .query(
                "SELECT id FROM credentials WHERE provider = $1",
                &[&provider],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        let highest = rows
            .iter()
            .filter_map(|r| {
                r.get::<_, &str>(0)
                    .strip_prefix(&prefix)
                    .and_then(|n| n.parse::<u32>().ok())
            })
            .max()
            .unwrap_or(0);
        Ok(CredentialId(format!("{provider}#{}", highest + 1)))
    }

    async fn refresh_locked(
        &self,
        id: &CredentialId,
        seen: Option<&Secret>,
        refresh: RefreshFn<'_>,
    ) -> Result<Locked, StoreError> {
        let mut client = self.store.client().await.map_err(backend)?;
        let tx = client.transaction().await.map_err(|e| self.failed(&e))?;
        let Some(mut c) = self.lock(&tx, id).await? else {
            return Ok(Locked::Missing);
        };
        if !still_stale(&c, seen) {
            // Another daemon refreshed while this one waited for the lock.
            return Ok(Locked::AlreadyFresh(c));
        }
        let limit = self.options.refresh_timeout;
        let step = match tokio::time::timeout(limit, refresh(c.clone())).await {
            Ok(step) => step,
            // An outage, as the refresh itself reports one: the login stays active with
            // why, and the refresh token stays the one stored, for the next try.
            Err(_) => {
                let reason = format!(
                    "the token endpoint did not answer within {}s",
                    limit.as_secs()
                );
                let note = reason.clone();
                RefreshStep {
                    change: Some(Box::new(move |c: &mut Credential| {
                        c.last_error = Some(note.clone())
                    })),
                    failure: Some(PoolError::RefreshFailed {
                        id: id.clone(),
                        reason,
                    }),
                }
            }
        };
        if let Some(mut change) = step.change {
            change(&mut c);
            self.write(&tx, &c).await?;
        }
        tx.commit().await.map_err(|e| self.failed(&e))?;
        Ok(Locked::Ran(c, step.failure))
    }
}
