//! Where credentials and pending logins are kept, as traits: the sled trees of one daemon
//! ([`CredentialStore`], [`PendingLogins`]), or tables several daemons share (the
//! PostgreSQL store in `sortie-missions`).
//!
//! The sync/async boundary: these traits are async, and the pool calls only them. A
//! shared store is reached over the network and a refresh may wait on another daemon's
//! row lock; an async call lets the tokio worker run other missions meanwhile, where a
//! blocking one would hold it (and deadlock a current-thread runtime outright). The sled
//! implementation answers at once (its reads are in memory; its flushes already hand
//! the worker off with `block_in_place`), so wrapping it costs nothing, and its own
//! synchronous methods stay as they are for the CLI and the existing callers.

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::store::StoreError;
use super::{Credential, CredentialId, CredentialStore, PendingLogin, PendingLogins, PoolError};
use crate::Secret;

/// A change to a stored record; it may run more than once (on a newer record, when
/// another writer got in between).
pub type Change = Box<dyn FnMut(&mut Credential) + Send>;

/// What a refresh decided, to be written to the locked record before the lock is let go.
pub struct RefreshStep {
    /// The change to the record (new tokens, a status, `last_error`); none writes nothing.
    pub change: Option<Change>,
    /// Why the refresh failed, handed back once the change is stored.
    pub failure: Option<PoolError>,
}

/// The refresh itself (the request to the token endpoint): given the record as locked,
/// what to write.
pub type RefreshFn<'a> = Box<
    dyn FnOnce(Credential) -> Pin<Box<dyn Future<Output = RefreshStep> + Send + 'a>> + Send + 'a,
>;

/// How [`CredentialBackend::refresh_locked`] ended.
#[derive(Debug)]
pub enum Locked {
    /// The stored token is not the one the caller saw: someone (another task, another
    /// daemon) refreshed meanwhile. The record as stored; nothing was refreshed.
    AlreadyFresh(Credential),
    /// The refresh ran: the record as written, and why it failed if it did.
    Ran(Credential, Option<PoolError>),
    /// No such credential.
    Missing,
}

/// Whether `stored` still carries the token a caller saw (`seen`): then it is the one to
/// refresh. A credential with no access token at all is always refreshed.
pub fn still_stale(stored: &Credential, seen: Option<&Secret>) -> bool {
    let current = stored.bearer();
    current.is_none() || current == seen
}

/// Credentials, wherever they are kept.
#[async_trait]
pub trait CredentialBackend: Send + Sync {
    /// How secrets are kept at rest, for `auth status`.
    fn at_rest(&self) -> String;
    async fn get(&self, id: &CredentialId) -> Result<Option<Credential>, StoreError>;
    /// Stores a credential (new or replaced), durable when it returns.
    async fn put(&self, credential: &Credential) -> Result<(), StoreError>;
    /// Changes the stored record in place, durable when it returns; `None` when it is gone.
    /// No concurrent write is lost (the change runs on the current record).
    async fn update(
        &self,
        id: &CredentialId,
        change: &mut (dyn for<'c> FnMut(&'c mut Credential) + Send),
    ) -> Result<Option<Credential>, StoreError>;
    /// Counts a use (`last_used`, `use_count`) and returns the record as it is now. Losing
    /// a count is harmless: a backend may skip it rather than wait for a lock.
    async fn count_use(
        &self,
        id: &CredentialId,
        at: DateTime<Utc>,
    ) -> Result<Option<Credential>, StoreError>;
    async fn remove(&self, id: &CredentialId) -> Result<bool, StoreError>;
    /// Every readable credential, oldest first, and a note for each unreadable one.
    async fn all(&self) -> Result<(Vec<Credential>, Vec<String>), StoreError>;
    /// The credentials of one provider, oldest first (unreadable ones skipped).
    async fn for_provider(&self, provider: &str) -> Result<Vec<Credential>, StoreError>;
    /// The next free id for a provider: `<provider>#<n>`.
    async fn next_id(&self, provider: &str) -> Result<CredentialId, StoreError>;
    /// Refreshes under the credential's lock, so that one refresh serves every holder of
    /// the store: locks the record; when its access token is no longer `seen`, returns it
    /// as [`Locked::AlreadyFresh`] without refreshing; else runs `refresh` while holding
    /// the lock and stores its change before letting go. A rotated refresh token is thus
    /// never sent twice. Bounded: the wait for the lock and the refresh each time out.
    async fn refresh_locked(
        &self,
        id: &CredentialId,
        seen: Option<&Secret>,
        refresh: RefreshFn<'_>,
    ) -> Result<Locked, StoreError>;
}

/// Logins started and not yet finished, wherever they are kept.
#[async_trait]
pub trait PendingLoginBackend: Send + Sync {
    async fn put(&self, login: &PendingLogin) -> Result<(), StoreError>;
    /// A live pending login by state; an expired one is dropped.
    async fn get(&self, state: &str) -> Result<Option<PendingLogin>, StoreError>;
    /// The newest live pending login of a provider, if any.
    async fn latest_for(&self, provider: &str) -> Result<Option<PendingLogin>, StoreError>;
    async fn remove(&self, state: &str) -> Result<(), StoreError>;
}

/// The sled store: its own methods. Its lock is the pool's in-process one (sled has one
/// process), so [`CredentialBackend::refresh_locked`] reads, refreshes and writes.
#[async_trait]
impl CredentialBackend for CredentialStore {
    fn at_rest(&self) -> String {
        CredentialStore::at_rest(self)
    }

    async fn get(&self, id: &CredentialId) -> Result<Option<Credential>, StoreError> {
        CredentialStore::get(self, id)
    }

    async fn put(&self, credential: &Credential) -> Result<(), StoreError> {
        CredentialStore::put(self, credential)
    }

    async fn update(
        &self,
        id: &CredentialId,
        change: &mut (dyn for<'c> FnMut(&'c mut Credential) + Send),
    ) -> Result<Option<Credential>, StoreError> {
        CredentialStore::update(self, id, |c| change(c))
    }

    async fn count_use(
        &self,
        id: &CredentialId,
        at: DateTime<Utc>,
    ) -> Result<Option<Credential>, StoreError> {
        self.update_unflushed(id, |c| {
            c.last_used = Some(at);
            c.use_count += 1;
        })
    }

    async fn remove(&self, id: &CredentialId) -> Result<bool, StoreError> {
        CredentialStore::remove(self, id)
    }

    async fn all(&self) -> Result<(Vec<Credential>, Vec<String>), StoreError> {
        CredentialStore::all(self)
    }

    async fn for_provider(&self, provider: &str) -> Result<Vec<Credential>, StoreError> {
        CredentialStore::for_provider(self, provider)
    }

    async fn next_id(&self, provider: &str) -> Result<CredentialId, StoreError> {
        CredentialStore::next_id(self, provider)
    }

    async fn refresh_locked(
        &self,
        id: &CredentialId,
        seen: Option<&Secret>,
        refresh: RefreshFn<'_>,
    ) -> Result<Locked, StoreError> {
        let Some(c) = CredentialStore::get(self, id)? else {
            return Ok(Locked::Missing);
        };
        if !still_stale(&c, seen) {
            return Ok(Locked::AlreadyFresh(c));
        }
        let step = refresh(c.clone()).await;
        let Some(mut change) = step.change else {
            return Ok(Locked::Ran(c, step.failure));
        };
        // Applied to the record as it is now, so a lease or cooldown written meanwhile is
        // kept; durable before anyone uses a new access token.
        let written = CredentialStore::update(self, id, &mut *change)?;
        Ok(match written {
            Some(c) => Locked::Ran(c, step.failure),
            None => Locked::Missing,
        })
    }
}

#[async_trait]
impl PendingLoginBackend for PendingLogins {
    async fn put(&self, login: &PendingLogin) -> Result<(), StoreError> {
        PendingLogins::put(self, login)
    }

    async fn get(&self, state: &str) -> Result<Option<PendingLogin>, StoreError> {
        PendingLogins::get(self, state)
    }

    async fn latest_for(&self, provider: &str) -> Result<Option<PendingLogin>, StoreError> {
        PendingLogins::latest_for(self, provider)
    }

    async fn remove(&self, state: &str) -> Result<(), StoreError> {
        PendingLogins::remove(self, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthMode, CredentialStatus};

    fn credential(token: &str) -> Credential {
        Credential {
            id: CredentialId("corp#1".into()),
            provider: "corp".into(),
            label: "l".into(),
            auth_mode: AuthMode::OAuth,
            api_key: None,
            oauth: Some(crate::auth::OAuthTokens {
                access_token: Some(Secret::new(token)),
                refresh_token: Some(Secret::new("rt")),
                expires_at: None,
                token_type: String::new(),
                scopes: Vec::new(),
                account_id: None,
                issued_at: None,
            }),
            status: CredentialStatus::Active,
            created_at: Utc::now(),
            last_used: None,
            use_count: 0,
            refresh_count: 0,
            last_error: None,
            pending_revocations: Vec::new(),
        }
    }

    /// The sled backend refreshes only a token the caller saw, and stores the change.
    #[tokio::test]
    async fn sled_refresh_locked_refreshes_only_the_token_the_caller_saw() {
        let dir = tempfile::tempdir().expect("dir");
        let db = sled::open(dir.path()).expect("db");
        let store = CredentialStore::new(db.open_tree("credentials").expect("tree"));
        store.put(&credential("at-1")).expect("put");
        let id = CredentialId("corp#1".into());
        let never: RefreshFn<'_> = Box::new(|_| panic!("a fresh token is not refreshed"));
        let seen = Secret::new("at-0");
        match CredentialBackend::refresh_locked(&store, &id, Some(&seen), never).await {
            Ok(Locked::AlreadyFresh(c)) => assert_eq!(c.bearer().map(|s| s.expose()), Some("at-1")),
            other => panic!("{other:?}"),
        }
        let run: RefreshFn<'_> = Box::new(|_| {
            Box::pin(async {
                RefreshStep {
                    change: Some(Box::new(|c: &mut Credential| {
                        if let Some(o) = c.oauth.as_mut() {
                            o.access_token = Some(Secret::new("at-2"));
                        }
                    })),
                    failure: None,
                }
            })
        });
        let seen = Secret::new("at-1");
        match CredentialBackend::refresh_locked(&store, &id, Some(&seen), run).await {
            Ok(Locked::Ran(c, None)) => assert_eq!(c.bearer().map(|s| s.expose()), Some("at-2")),
            other => panic!("{other:?}"),
        }
        let stored = store.get(&id).expect("get").expect("there");
        assert_eq!(stored.bearer().map(|s| s.expose()), Some("at-2"));
        let gone = CredentialId("corp#9".into());
        let never: RefreshFn<'_> = Box::new(|_| panic!("nothing to refresh"));
        assert!(matches!(
            CredentialBackend::refresh_locked(&store, &gone, None, never).await,
            Ok(Locked::Missing)
        ));
    }
}
