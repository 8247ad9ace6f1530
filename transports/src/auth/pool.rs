//! The credential pool: leases for every request, cooldown and rotation, and refresh that
//! happens once per credential however many callers ask at the same moment.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::oauth::{OAuthClient, TokenSet};
use super::store::StoreError;
use super::{
    AuthMode, Credential, CredentialBackend, CredentialId, CredentialStatus, CredentialStore,
};
use crate::Secret;

/// How the pool picks among usable credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// The first usable credential, until it cools down.
    #[default]
    FillFirst,
    RoundRobin,
    LeastUsed,
}

impl FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fill-first" => Ok(Self::FillFirst),
            "round-robin" => Ok(Self::RoundRobin),
            "least-used" => Ok(Self::LeastUsed),
            other => Err(format!(
                "unknown pool strategy `{other}` (expected fill-first, round-robin or least-used)"
            )),
        }
    }
}

/// The right to send one request with a credential.
#[derive(Debug, Clone)]
pub struct Lease {
    pub credential: CredentialId,
    pub provider: String,
    pub mode: AuthMode,
    /// The API key or access token to send.
    pub secret: Secret,
    pub account_id: Option<String>,
    /// The credential's refresh count when leased: a refresh after a failure happens only
    /// if nobody refreshed since.
    pub generation: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("provider `{provider}` has no credentials; add one with `sortie auth login {provider}` or `sortie auth add-key {provider}`")]
    NoCredentials { provider: String },
    #[error("no usable credential for `{provider}`: {}{}", states.join("; "), next_usable.map(|t| format!(" — the first is usable again at {}", t.format("%H:%M:%S UTC"))).unwrap_or_default())]
    Exhausted {
        provider: String,
        states: Vec<String>,
        next_usable: Option<DateTime<Utc>>,
    },
    #[error("credential {id} needs a new login: {reason} (run `sortie auth reconnect {id}`)")]
    NeedsReauth { id: CredentialId, reason: String },
    #[error("refreshing credential {id} failed for now: {reason}")]
    RefreshFailed { id: CredentialId, reason: String },
    #[error("unknown credential `{0}` (see `sortie auth list`)")]
    Unknown(CredentialId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Builds a provider's OAuth client when it is first needed.
pub type OAuthResolver = Arc<
    dyn Fn() -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<OAuthClient, String>> + Send>,
        > + Send
        + Sync,
>;

/// A provider's OAuth client, built once: given, or resolved on first use.
pub(super) struct OAuthSlot {
    client: tokio::sync::OnceCell<Arc<OAuthClient>>,
    resolve: Option<OAuthResolver>,
}

impl OAuthSlot {
    pub(super) async fn get(&self) -> Result<Arc<OAuthClient>, String> {
        self.client
            .get_or_try_init(|| async {
                match &self.resolve {
                    Some(resolve) => resolve().await.map(Arc::new),
                    None => Err("no OAuth client".to_string()),
                }
            })
            .await
            .cloned()
    }
}

/// Credentials of every provider, with the OAuth client that refreshes each provider's tokens.
/// It runs on any [`CredentialBackend`]: the sled store ([`Pool::new`]) or a store several
/// daemons share ([`Pool::on`]), whose refreshes and cooldowns every daemon then sees.
pub struct Pool {
    pub(super) backend: Arc<dyn CredentialBackend>,
    /// The sled store, for the synchronous calls only it can answer.
    sled: Option<CredentialStore>,
    strategy: Strategy,
    /// Refresh this long before expiry.
    pub margin: Duration,
    pub(super) oauth: HashMap<String, OAuthSlot>,
    locks: Mutex<HashMap<CredentialId, Arc<tokio::sync::Mutex<()>>>>,
    turn: AtomicUsize,
}

fn describe(c: &Credential) -> String {
    match &c.status {
        CredentialStatus::CoolingDown { until, reason } => {
            format!(
                "{} cooling down until {} ({reason})",
                c.id,
                until.format("%H:%M:%S UTC")
            )
        }
        CredentialStatus::NeedsReauth { reason } => {
            format!("{} needs a new login ({reason})", c.id)
        }
        CredentialStatus::EntitlementBlocked { reason } => {
            format!("{} is not entitled ({reason})", c.id)
        }
        CredentialStatus::Disconnected => format!("{} is logged out", c.id),
        CredentialStatus::Active => format!("{} active", c.id),
    }
}

/// A credential leased this recently is in use: its token is refreshed ahead of expiry.
pub const IN_USE: Duration = Duration::from_secs(10 * 60);

/// A cooldown that has run out.
pub(super) fn cooled_off(status: &CredentialStatus, now: DateTime<Utc>) -> bool {
    matches!(status, CredentialStatus::CoolingDown { until, .. } if *until <= now)
}

/// Puts a token endpoint's answer into a credential: the new access token, the rotated
/// refresh token (servers that keep the old one send none), expiry, scopes, account. A
/// credential logged out meanwhile stays logged out; a cooldown stays.
pub(super) fn apply_tokens(c: &mut Credential, tokens: &TokenSet) {
    if c.status == CredentialStatus::Disconnected {
        return;
    }
    let oauth = c.oauth.get_or_insert_with(|| super::OAuthTokens {
        access_token: None,
        refresh_token: None,
        expires_at: None,
        token_type: String::new(),
        scopes: Vec::new(),
        account_id: None,
        issued_at: None,
    });
    oauth.access_token = Some(tokens.access_token.clone());
    oauth.issued_at = Some(Utc::now());
    if let Some(rotated) = &tokens.refresh_token {
        oauth.refresh_token = Some(rotated.clone());
    }
    oauth.expires_at = tokens.expires_at;
    if !tokens.scopes.is_empty() {
        oauth.scopes = tokens.scopes.clone();
    }
    if tokens.account_id.is_some() {
        oauth.account_id = tokens.account_id.clone();
    }
    c.last_error = None;
    if !matches!(c.status, CredentialStatus::CoolingDown { .. }) {
        c.status = CredentialStatus::Active;
    }
    c.refresh_count += 1;
}

impl Pool {
    /// A pool on the sled store.
    pub fn new(store: CredentialStore, strategy: Strategy) -> Self {
        let mut pool = Self::on(Arc::new(store.clone()), strategy);
        pool.sled = Some(store);
        pool
    }

    /// A pool on any credential backend (a shared PostgreSQL store among them).
    pub fn on(backend: Arc<dyn CredentialBackend>, strategy: Strategy) -> Self {
        Self {
            backend,
            sled: None,
            strategy,
            margin: Duration::from_secs(60),
            oauth: HashMap::new(),
            locks: Mutex::new(HashMap::new()),
            turn: AtomicUsize::new(0),
        }
    }

    /// Registers the OAuth client that refreshes `provider`'s tokens.
    pub fn with_oauth(mut self, provider: &str, client: OAuthClient) -> Self {
        let slot = OAuthSlot {
            client: tokio::sync::OnceCell::new_with(Some(Arc::new(client))),
            resolve: None,
        };
        self.oauth.insert(provider.to_string(), slot);
        self
    }

    /// Registers how to build `provider`'s OAuth client (discovery may need the network);
    /// it runs on the first refresh that needs it, not before.
    pub fn with_oauth_resolver(mut self, provider: &str, resolve: OAuthResolver) -> Self {
        self.oauth.insert(
            provider.to_string(),
            OAuthSlot {
                client: tokio::sync::OnceCell::new(),
                resolve: Some(resolve),
            },
        );
        self
    }

    /// The sled store of a pool made with [`Pool::new`]. A pool on another backend has
    /// none: use [`Pool::backend`] there.
    ///
    /// # Panics
    /// On a pool made with [`Pool::on`] (a caller that was not moved to the backend).
    pub fn store(&self) -> &CredentialStore {
        self.sled.as_ref().expect(
            "Pool::store is for sled pools; this pool is on a shared backend: use Pool::backend",
        )
    }

    /// Where the credentials are kept, whatever the backend.
    pub fn backend(&self) -> &Arc<dyn CredentialBackend> {
        &self.backend
    }

    pub(super) fn lock_for(&self, id: &CredentialId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(id.clone()).or_default().clone()
    }

    /// How long before expiry a token is refreshed: [`Pool::margin`], but at most a quarter
    /// of the token's lifetime, so short-lived tokens are not refreshed on every lease.
    fn margin_for(&self, c: &Credential) -> chrono::Duration {
        let cap = chrono::Duration::from_std(self.margin).unwrap_or_default();
        let lifetime = c
            .oauth
            .as_ref()
            .and_then(|o| Some(o.expires_at? - o.issued_at?))
            .filter(|l| *l > chrono::Duration::zero());
        match lifetime {
            Some(lifetime) => cap.min(lifetime / 4),
            None => cap,
        }
    }

    pub(super) fn near_expiry(&self, c: &Credential) -> bool {
        c.auth_mode == AuthMode::OAuth
            && c.expires_at()
                .is_some_and(|at| at - self.margin_for(c) <= Utc::now())
    }

    /// A lease on a usable credential of `provider`, refreshing an OAuth token first when it
    /// is expired or about to be.
    pub async fn lease(&self, provider: &str) -> Result<Lease, PoolError> {
        let mut all = self.backend.for_provider(provider).await?;
        if all.is_empty() {
            return Err(PoolError::NoCredentials {
                provider: provider.to_string(),
            });
        }
        let now = Utc::now();
        // A cooldown that has run out makes the credential usable again (unless someone
        // changed the status meanwhile: the write re-checks the current record).
        for c in all.iter_mut() {
            if cooled_off(&c.status, now) {
                let mut wake = |c: &mut Credential| {
                    if cooled_off(&c.status, now) {
                        c.status = CredentialStatus::Active;
                    }
                };
                if let Some(current) = self.backend.update(&c.id, &mut wake).await? {
                    *c = current;
                }
            }
        }
        let mut usable: Vec<&Credential> = all
            .iter()
            .filter(|c| c.status == CredentialStatus::Active)
            .collect();
        match self.strategy {
            Strategy::FillFirst => {}
            Strategy::RoundRobin => {
                if !usable.is_empty() {
                    let k = self.turn.fetch_add(1, Ordering::Relaxed) % usable.len();
                    usable.rotate_left(k);
                }
            }
            Strategy::LeastUsed => usable.sort_by_key(|c| c.use_count),
        }
        let mut problems = Vec::new();
        let mut outage = None;
        for candidate in usable {
            match self.ready(candidate.clone()).await {
                Ok(ready) => {
                    // Counters only: the tokens and status stay what the store has now (a
                    // record changed since it was read is read again, never overwritten).
                    let c = self
                        .backend
                        .count_use(&ready.id, Utc::now())
                        .await?
                        .ok_or_else(|| PoolError::Unknown(ready.id.clone()))?;
                    return lease_of(&c);
                }
                Err(e @ PoolError::Store(_)) => return Err(e),
                Err(e @ PoolError::RefreshFailed { .. }) => {
                    problems.push(e.to_string());
                    outage.get_or_insert(e);
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        // A refresh that failed for now (the authorization server is down) is an outage to
        // back off from, not a reason to ask for a new login.
        if let Some(e) = outage {
            return Err(e);
        }
        let fresh = self.backend.for_provider(provider).await?;
        let mut states: Vec<String> = fresh.iter().map(describe).collect();
        states.extend(problems);
        let next_usable = fresh
            .iter()
            .filter_map(|c| match &c.status {
                CredentialStatus::CoolingDown { until, .. } => Some(*until),
                _ => None,
            })
            .min();
        Err(PoolError::Exhausted {
            provider: provider.to_string(),
            states,
            next_usable,
        })
    }

    /// A lease on one given credential (probes, `auth status --probe`).
    pub async fn lease_id(&self, id: &CredentialId) -> Result<Lease, PoolError> {
        let c = self
            .backend
            .get(id)
            .await?
            .ok_or_else(|| PoolError::Unknown(id.clone()))?;
        if !matches!(
            c.status,
            CredentialStatus::Active | CredentialStatus::CoolingDown { .. }
        ) {
            return Err(PoolError::Exhausted {
                provider: c.provider.clone(),
                states: vec![describe(&c)],
                next_usable: None,
            });
        }
        let c = self.ready(c).await?;
        lease_of(&c)
    }

    /// Makes a credential sendable: keys as they are; OAuth tokens refreshed when due.
    async fn ready(&self, c: Credential) -> Result<Credential, PoolError> {
        if c.auth_mode == AuthMode::ApiKey {
            return Ok(c);
        }
        let has_access = c.bearer().is_some();
        if has_access && !self.near_expiry(&c) {
            return Ok(c);
        }
        let stale = c.bearer().cloned();
        self.refresh(&c.id, stale.as_ref()).await
    }

    /// Sets a credential's status in the store (every daemon sharing it sees it).
    pub async fn set_status(
        &self,
        id: &CredentialId,
        status: CredentialStatus,
    ) -> Result<(), PoolError> {
        self.backend
            .update(id, &mut |c| c.status = status.clone())
            .await?
            .ok_or_else(|| PoolError::Unknown(id.clone()))?;
        Ok(())
    }

    /// Whether `id`'s provider has another credential that is active now.
    pub async fn other_usable(&self, id: &CredentialId) -> bool {
        let Ok(Some(c)) = self.backend.get(id).await else {
            return false;
        };
        self.backend
            .for_provider(&c.provider)
            .await
            .is_ok_and(|all| {
                all.iter()
                    .any(|o| o.id != *id && o.status == CredentialStatus::Active)
            })
    }

    /// The synchronous status write of a sled pool ([`Pool::set_status`] on any backend).
    fn set_status_now(&self, id: &CredentialId, status: CredentialStatus) -> Result<(), PoolError> {
        let store = self.sled.as_ref().ok_or_else(|| {
            StoreError::NotHere(format!(
                "cannot mark {id} without waiting on the shared credential store; this call must be made with Pool::set_status"
            ))
        })?;
        store
            .update(id, |c| c.status = status.clone())?
            .ok_or_else(|| PoolError::Unknown(id.clone()))?;
        Ok(())
    }

    /// Whether `id`'s provider has another credential that is active now (sled pools;
    /// [`Pool::other_usable`] on any backend).
    pub fn has_other_usable(&self, id: &CredentialId) -> bool {
        let Some(store) = &self.sled else {
            return false;
        };
        let Ok(Some(c)) = store.get(id) else {
            return false;
        };
        store.for_provider(&c.provider).is_ok_and(|all| {
            all.iter()
                .any(|o| o.id != *id && o.status == CredentialStatus::Active)
        })
    }

    /// A credential a person must log in to again.
    pub fn needs_reauth(&self, id: &CredentialId, reason: &str) -> Result<(), PoolError> {
        self.set_status_now(
            id,
            CredentialStatus::NeedsReauth {
                reason: reason.to_string(),
            },
        )
    }

    /// After an `Entitlement` answer: no refresh can help; the credential is set aside.
    pub fn entitlement_blocked(&self, id: &CredentialId, reason: &str) -> Result<(), PoolError> {
        self.set_status_now(
            id,
            CredentialStatus::EntitlementBlocked {
                reason: reason.to_string(),
            },
        )
    }

    /// After a rate limit or quota answer: the credential rests until `until`.
    pub fn cool_down(
        &self,
        id: &CredentialId,
        until: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), PoolError> {
        self.set_status_now(
            id,
            CredentialStatus::CoolingDown {
                until,
                reason: reason.to_string(),
            },
        )
    }
}

/// A lease on a credential as stored now.
pub(super) fn lease_of(c: &Credential) -> Result<Lease, PoolError> {
    let secret = c.bearer().cloned().ok_or_else(|| PoolError::NeedsReauth {
        id: c.id.clone(),
        reason: "no secret stored".into(),
    })?;
    Ok(Lease {
        credential: c.id.clone(),
        provider: c.provider.clone(),
        mode: c.auth_mode,
        secret,
        account_id: c.oauth.as_ref().and_then(|o| o.account_id.clone()),
        generation: c.refresh_count,
    })
}
