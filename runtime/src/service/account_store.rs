//! Where this process keeps credentials and pending logins: the data dir's sled store, or,
//! when the store is PostgreSQL, its tables, shared by every daemon on the database and
//! sealed with the key named by `[store] key_env` (one pool: one refresh serves them all).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use sortie_missions::postgres::PgStore;
use sortie_missions::{SharedStore, Store};
use sortie_transports::auth::sealed::Sealer;
use sortie_transports::auth::{
    CredentialBackend, CredentialStore, PendingLoginBackend, PendingLogins, Pool, Strategy,
};

use super::accounts::credential_store;
use crate::config::{Config, StoreLocation};

/// What a PostgreSQL store needs before it can hold credentials.
pub const KEY_ENV_NEEDED: &str = "[store] key_env must name a variable holding a 32-byte base64 key shared by the daemons; make one with `openssl rand -base64 32`";

/// Credentials and pending logins, wherever this process keeps them. Cheap to clone.
#[derive(Clone)]
pub struct AccountStore {
    pub credentials: Arc<dyn CredentialBackend>,
    pub pending: Arc<dyn PendingLoginBackend>,
    /// The sled store, when that is where they are: a pool on it keeps its synchronous
    /// calls, exactly as before the store could be shared.
    sled: Option<CredentialStore>,
}

impl AccountStore {
    /// The accounts of a process whose missions are in `missions`: the tables of a
    /// PostgreSQL store, else the sled store `local` of the data dir.
    pub async fn open(
        local: &Store,
        missions: &SharedStore,
        config: &Config,
    ) -> anyhow::Result<Self> {
        match missions.as_postgres() {
            Some(pg) => Self::postgres(pg, config).await,
            None => Self::sled(local),
        }
    }

    /// The accounts of the data dir at `home` for a command run in this process.
    pub async fn here(home: &Path, config: &Config) -> anyhow::Result<Self> {
        let stores = super::open_here_with(home, config).await?;
        Self::open(&stores.local, &stores.missions, config).await
    }

    /// The sealed credential tree and the pending logins of the data dir's sled store.
    pub fn sled(local: &Store) -> anyhow::Result<Self> {
        let creds = credential_store(local)?;
        let pending = PendingLogins::new(local.db().open_tree("oauth_sessions")?);
        Ok(Self {
            credentials: Arc::new(creds.clone()),
            pending: Arc::new(pending),
            sled: Some(creds),
        })
    }

    /// The credential tables of a PostgreSQL store, sealed with the shared key; a key that
    /// is not the one the stored credentials are sealed with is refused.
    pub async fn postgres(pg: &PgStore, config: &Config) -> anyhow::Result<Self> {
        let sealer = shared_key(config)?;
        let creds = pg.credentials(Arc::new(sealer)).await?;
        Ok(Self {
            pending: Arc::new(creds.pending_logins()),
            credentials: Arc::new(creds),
            sled: None,
        })
    }

    /// Whether these are shared with other daemons (a PostgreSQL store).
    pub fn is_shared(&self) -> bool {
        self.sled.is_none()
    }

    /// A pool on these credentials.
    pub fn pool(&self, strategy: Strategy) -> Pool {
        match &self.sled {
            Some(store) => Pool::new(store.clone(), strategy),
            None => Pool::on(self.credentials.clone(), strategy),
        }
    }
}

/// The key that seals credentials in a shared store, from the variable `[store] key_env`
/// names; a clear refusal when there is none or it is not a key.
pub fn shared_key(config: &Config) -> anyhow::Result<Sealer> {
    let var = config
        .store
        .key_env
        .as_deref()
        .filter(|v| !v.trim().is_empty())
        .context(KEY_ENV_NEEDED)?;
    Sealer::from_env(var).map_err(|e| anyhow::anyhow!("{e} ({KEY_ENV_NEEDED})"))
}

/// How stored secrets are kept, for `auth list` / `auth status`: in the shared store when
/// `[store]` names one, else beside the data dir's store.
pub fn at_rest_note(home: &Path) -> Option<String> {
    let config = Config::load(home).ok()?;
    match config.store.location().ok()? {
        StoreLocation::Sled => None,
        StoreLocation::Postgres(_) => Some(format!(
            "secrets: encrypted at rest (ChaCha20-Poly1305) in the shared store, key from ${}",
            config.store.key_env.as_deref().unwrap_or("?")
        )),
    }
}
