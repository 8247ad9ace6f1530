//! The PostgreSQL store: the same missions, events, schedules and models cache as the
//! sled store, in tables several daemons can share (see README "Store backends").
//!
//! - A mission's record and its events change together: an append locks the mission's
//!   row, inserts the event with the next sequence number and updates the record in one
//!   transaction, so sequence numbers are unique and gap-free whoever appends.
//! - The missions a daemon runs are written behind (`behind`): their appends are queued
//!   and written many missions at a time, one statement per round, and made durable by
//!   the runner's flushes, as sled's are.
//! - The schema is created and upgraded by the migrations in `schema/` (see `migrate`);
//!   a database migrated by a newer sortie is refused.
//! - The URL's password never reaches an error or a log: messages name the URL as
//!   [`shown_url`] writes it.
//!
//! Connections come from a small pool (deadpool); making one is bounded by the connect
//! timeout, waiting for a free one by the same.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use super::StoreError;

mod backend;
mod behind;
mod cluster;
mod credentials;
mod credentials_pending;
mod fast_append;
mod import;
mod lease;
mod listen;
mod migrate;
mod missions;
mod schedule_fire;
mod schedules;
mod url;

pub use cluster::{Claim, ClaimRules, Claimed, DaemonEntry, DaemonInfo};
pub use credentials::{CredentialOptions, PgCredentials};
pub use credentials_pending::PgPendingLogins;
pub use import::{Census, Found};
pub use lease::Lease;
pub use listen::{EventListener, Notice};
pub use migrate::SCHEMA_VERSION as PG_SCHEMA_VERSION;
pub use schedule_fire::Firing;
pub use url::shown_url;

/// How the store connects.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// The longest a connection (TCP, authentication, the first answer) may take, and the
    /// longest a query waits for a free connection of the pool.
    pub connect_timeout: Duration,
    /// The most connections this store holds open.
    pub pool_size: usize,
    /// The longest one statement may run, lock waits included (the server cancels it),
    /// unless the URL sets its own `options`. A server host that stopped answering
    /// altogether is found by TCP keepalives and the TCP user timeout, about as fast.
    pub query_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            pool_size: 16,
            query_timeout: Duration::from_secs(60),
        }
    }
}

/// A handle on a PostgreSQL store; cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// The URL without its password, for messages.
    shown: String,
    /// The password, to scrub from any text that reaches an error.
    password: Option<String>,
    options: PgOptions,
    /// Kept to open the listening connection of [`PgStore::listen`].
    config: tokio_postgres::Config,
    /// The daemon this process runs as, once it registered (see `cluster`).
    owner: std::sync::Arc<std::sync::OnceLock<Owner>>,
    /// Records of the missions this process writes, for one-statement appends.
    records: std::sync::Arc<fast_append::Records>,
    /// The write-behind queue of the missions this process runs (see `behind`).
    behind: std::sync::Arc<behind::Behind>,
}

/// The daemon a store handle writes for: missions it creates are held under its lease
/// until it offers them to the queue, and it may not write the log of a mission another
/// live daemon holds.
#[derive(Debug, Clone)]
pub(crate) struct Owner {
    pub name: String,
    /// This start of the daemon.
    pub instance: String,
    pub lease: Duration,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("url", &self.shown).finish()
    }
}

impl PgStore {
    /// Connects to the database at `url` and brings its schema up to this build's
    /// (refusing one from a newer sortie).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, PgOptions::default()).await
    }

    /// [`PgStore::open`] with its connection options.
    pub async fn open_with(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        let store = Self::connect_with(url, options)?;
        store.migrate().await?;
        Ok(store)
    }

    /// A handle on the database at `url` that leaves its schema as it is (`sortie store
    /// migrate` reads the version first). Connections are made on first use.
    pub fn connect_with(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::BadUrl(url::scrub_unparsed(url, &chain(&e))))?;
        config.connect_timeout(options.connect_timeout);
        let query_ms = options.query_timeout.as_millis().max(1);
        if config.get_options().is_none() {
            config.options(format!("-c statement_timeout={query_ms}"));
        }
        config
            .keepalives_idle(Duration::from_secs(15))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3)
            .tcp_user_timeout(options.query_timeout);
        if config.get_application_name().is_none() {
            config.application_name("sortie");
        }
        let shown = shown_url(&config);
        let password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .filter(|p| !p.is_empty());
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(options.connect_timeout))
            .wait_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StoreError::BadUrl(format!("{shown}: {e}")))?;
        Ok(Self {
            pool,
            shown,
            password,
            options,
            config,
            owner: Default::default(),
            records: Default::default(),
            behind: Default::default(),
        })
    }

    /// The URL without its password.
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// A connection of the pool: [`StoreError::Unreachable`] when none can be had in
    /// time, [`StoreError::Database`] when the server refused it (a wrong password).
    pub(super) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| match &e {
            deadpool_postgres::PoolError::Backend(db) if db.as_db_error().is_some() => {
                self.failed(db)
            }
            deadpool_postgres::PoolError::Timeout(_) => self.unreachable(format!(
                "no answer within {}s",
                self.options.connect_timeout.as_secs_f64()
            )),
            deadpool_postgres::PoolError::Backend(other) => self.unreachable(chain(other)),
            other => self.unreachable(chain(other)),
        })
    }

    fn unreachable(&self, error: String) -> StoreError {
        StoreError::Unreachable {
            url: self.shown.clone(),
            error: self.scrub(error),
        }
    }

    /// A failed query as a [`StoreError::Database`].
    pub(super) fn failed(&self, e: &tokio_postgres::Error) -> StoreError {
        StoreError::Database {
            url: self.shown.clone(),
            error: self.scrub(chain(e)),
        }
    }

    /// `text` with the password (should it be there) masked.
    fn scrub(&self, text: String) -> String {
        match &self.password {
            Some(p) if text.contains(p.as_str()) => text.replace(p.as_str(), "***"),
            _ => text,
        }
    }
}

/// An error and its sources, as one line ("db error: ERROR: ...").
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}
