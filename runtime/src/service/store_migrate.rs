//! `sortie store migrate`: brings the configured PostgreSQL store's schema up to this
//! build's, and says from which version to which. The sled store has nothing to migrate
//! (it upgrades itself when opened); a schema from a newer sortie is refused.

use std::path::Path;

use serde::Serialize;
use sortie_missions::postgres::{PgOptions, PgStore, PG_SCHEMA_VERSION};

use crate::config::{Config, StoreLocation};

/// What `sortie store migrate` found and did.
#[derive(Debug, Clone, Serialize)]
pub struct Migrated {
    /// `postgres` or `sled`.
    pub backend: &'static str,
    /// The database's URL without its password, or the sled store's path.
    pub store: String,
    /// The schema version before and after (PostgreSQL only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<i64>,
    /// How many migrations this run applied.
    pub applied: usize,
    /// The schema this build writes (PostgreSQL only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest: Option<i64>,
}

/// The connection options of `[store]`, with at most `pool_size` connections.
pub fn pg_options(config: &Config, pool_size: usize) -> PgOptions {
    PgOptions {
        connect_timeout: std::time::Duration::from_secs(config.store.connect_timeout_secs),
        pool_size: pool_size.min(config.store.pool_size).max(1),
        ..Default::default()
    }
}

/// Migrates the store `config` names (`[store] url` with `password_env`, or
/// `SORTIE_STORE_URL`); the sled store of `home` has nothing to migrate.
pub async fn migrate(home: &Path, config: &Config) -> anyhow::Result<Migrated> {
    let url = match config.store.location().map_err(anyhow::Error::msg)? {
        StoreLocation::Sled => {
            return Ok(Migrated {
                backend: "sled",
                store: home.join("store").display().to_string(),
                before: None,
                after: None,
                applied: 0,
                latest: None,
            })
        }
        StoreLocation::Postgres(url) => url,
    };
    let store = PgStore::connect_with(&url, pg_options(config, 2))?;
    let before = store.found_schema_version().await?;
    let applied = store.migrate().await?;
    let after = store.schema_version().await?;
    Ok(Migrated {
        backend: "postgres",
        store: store.url().to_string(),
        before: Some(before),
        after: Some(after),
        applied,
        latest: Some(PG_SCHEMA_VERSION),
    })
}
