//! Credentials and pending logins in sled (`credentials` and `oauth_sessions` trees).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::sealed::{is_sealed, Sealer};
use super::{Credential, CredentialId};
use crate::Secret;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("credential store I/O failed: {0}")]
    Sled(#[from] sled::Error),
    #[error("credential `{0}` is unreadable ({1}); remove it with `sortie auth remove {0}`")]
    Corrupt(String, String),
    #[error("credential `{0}` changed under {MAX_CAS_ATTEMPTS} writes in a row; try again")]
    Contended(String),
    /// A shared store (PostgreSQL) failed; the text names it without its password.
    #[error("the credential store failed: {0}")]
    Backend(String),
    /// Another daemon held the credential's lock longer than the wait allows.
    #[error("credential `{id}` stayed locked by another daemon for {waited_secs}s (a refresh that hangs there?); try again")]
    Busy { id: String, waited_secs: u64 },
    /// The key given cannot open what the store holds (another daemon's key).
    #[error("{0}")]
    WrongKey(String),
    /// A call only a sled-backed pool can answer synchronously.
    #[error("{0}")]
    NotHere(String),
}

/// A credential and the stored bytes it was read from.
#[derive(Debug, Clone)]
pub struct Read {
    pub credential: Credential,
    raw: sled::IVec,
}

/// How many times a read-modify-write retries when another writer got in between.
const MAX_CAS_ATTEMPTS: usize = 1_000;

/// The `credentials` tree; with a [`Sealer`], every record is encrypted at rest.
#[derive(Clone)]
pub struct CredentialStore {
    tree: sled::Tree,
    sealer: Option<Arc<Sealer>>,
}

impl CredentialStore {
    /// A store that writes records as plain JSON (tests, benchmarks).
    pub fn new(tree: sled::Tree) -> Self {
        Self { tree, sealer: None }
    }

    /// A store that seals every record it writes with `sealer`'s key.
    pub fn sealed(tree: sled::Tree, sealer: Arc<Sealer>) -> Self {
        Self {
            tree,
            sealer: Some(sealer),
        }
    }

    /// How secrets are kept at rest, for `auth status`.
    pub fn at_rest(&self) -> String {
        match &self.sealer {
            Some(s) => s.describe(),
            None => "stored unencrypted".into(),
        }
    }

    fn encode(&self, c: &Credential) -> Result<Vec<u8>, StoreError> {
        let plain = serde_json::to_vec(c)
            .map_err(|e| StoreError::Corrupt(c.id.0.clone(), e.to_string()))?;
        match &self.sealer {
            Some(s) => s
                .seal(&plain)
                .map_err(|e| StoreError::Corrupt(c.id.0.clone(), e)),
            None => Ok(plain),
        }
    }

    fn decode(&self, key: &str, raw: &[u8]) -> Result<Credential, StoreError> {
        let plain = match &self.sealer {
            Some(s) => s
                .open(raw)
                .map_err(|e| StoreError::Corrupt(key.to_string(), e))?,
            None if is_sealed(raw) => {
                return Err(StoreError::Corrupt(
                    key.to_string(),
                    "it is encrypted and this store has no key".into(),
                ))
            }
            None => raw.to_vec(),
        };
        serde_json::from_slice(&plain)
            .map_err(|e| StoreError::Corrupt(key.to_string(), e.to_string()))
    }

    pub fn get(&self, id: &CredentialId) -> Result<Option<Credential>, StoreError> {
        match self.tree.get(id.0.as_bytes())? {
            None => Ok(None),
            Some(raw) => self.decode(&id.0, &raw).map(Some),
        }
    }

    /// Writes a credential and makes it durable before returning: a rotated refresh token
    /// must be on disk before the new access token is used.
    pub fn put(&self, credential: &Credential) -> Result<(), StoreError> {
        let raw = self.encode(credential)?;
        self.tree.insert(credential.id.0.as_bytes(), raw)?;
        durable(&self.tree)?;
        Ok(())
    }

    /// Rewrites every plain record sealed (records written before sealing existed); returns
    /// how many. Unreadable records are left as they are.
    pub fn seal_all(&self) -> Result<usize, StoreError> {
        if self.sealer.is_none() {
            return Ok(0);
        }
        let mut sealed = 0;
        for entry in self.tree.iter() {
            let (key, raw) = entry?;
            if is_sealed(&raw) {
                continue;
            }
            let id = CredentialId(String::from_utf8_lossy(&key).into_owned());
            if self.update(&id, |_| {})?.is_some() {
                sealed += 1;
            }
        }
        Ok(sealed)
    }

    /// Changes the stored record in place and makes it durable: `change` runs on the current
    /// record (again, when another writer got in between), so no concurrent write is lost.
    /// `None` when the credential is gone.
    pub fn update(
        &self,
        id: &CredentialId,
        change: impl FnMut(&mut Credential),
    ) -> Result<Option<Credential>, StoreError> {
        let updated = self.update_unflushed(id, change)?;
        if updated.is_some() {
            durable(&self.tree)?;
        }
        Ok(updated)
    }

    /// [`CredentialStore::update`] without waiting for the disk, for use counters: losing
    /// one on a crash is harmless.
    pub fn update_unflushed(
        &self,
        id: &CredentialId,
        mut change: impl FnMut(&mut Credential),
    ) -> Result<Option<Credential>, StoreError> {
        let key = id.0.as_bytes();
        for _ in 0..MAX_CAS_ATTEMPTS {
            let Some(old) = self.tree.get(key)? else {
                return Ok(None);
            };
            let mut c = self.decode(&id.0, &old)?;
            change(&mut c);
            let new = self.encode(&c)?;
            if self
                .tree
                .compare_and_swap(key, Some(&old), Some(new))?
                .is_ok()
            {
                return Ok(Some(c));
            }
        }
        Err(StoreError::Contended(id.0.clone()))
    }

    pub fn remove(&self, id: &CredentialId) -> Result<bool, StoreError> {
        let existed = self.tree.remove(id.0.as_bytes())?.is_some();
        durable(&self.tree)?;
        Ok(existed)
    }

    /// Every readable credential, in id order, and a note for each unreadable one.
    pub fn all(&self) -> Result<(Vec<Credential>, Vec<String>), StoreError> {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for entry in self.tree.iter() {
            let (key, raw) = entry?;
            match self.decode(&String::from_utf8_lossy(&key), &raw) {
                Ok(c) => out.push(c),
                Err(e) => problems.push(format!("{e}; skipped")),
            }
        }
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok((out, problems))
    }

    /// The credentials of one provider, oldest first.
    pub fn for_provider(&self, provider: &str) -> Result<Vec<Credential>, StoreError> {
        Ok(self
            .read_provider(provider)?
            .into_iter()
            .map(|r| r.credential)
            .collect())
    }

    /// [`CredentialStore::for_provider`], each with the stored bytes it was read from, so a
    /// change right after can compare-and-swap without reading it again (the lease path).
    pub fn read_provider(&self, provider: &str) -> Result<Vec<Read>, StoreError> {
        let mut out = Vec::new();
        for entry in self.tree.scan_prefix(format!("{provider}#").as_bytes()) {
            let (key, raw) = entry?;
            // Unreadable records are reported by `all`; the pool just skips them.
            if let Ok(c) = self.decode(&String::from_utf8_lossy(&key), &raw) {
                if c.provider == provider {
                    out.push(Read { credential: c, raw });
                }
            }
        }
        out.sort_by(|a, b| {
            let (a, b) = (&a.credential, &b.credential);
            (a.created_at, &a.id).cmp(&(b.created_at, &b.id))
        });
        Ok(out)
    }

    /// [`CredentialStore::update_unflushed`] starting from a record as read: when it is
    /// still what the store holds, one compare-and-swap and no second read.
    pub fn update_read(
        &self,
        read: &Read,
        mut change: impl FnMut(&mut Credential),
    ) -> Result<Option<Credential>, StoreError> {
        let mut c = read.credential.clone();
        change(&mut c);
        let new = self.encode(&c)?;
        let key = c.id.0.as_bytes();
        if self
            .tree
            .compare_and_swap(key, Some(&read.raw), Some(new))?
            .is_ok()
        {
            return Ok(Some(c));
        }
        self.update_unflushed(&read.credential.id, change)
    }

    /// The next free id for a provider: `<provider>#<n>`.
    pub fn next_id(&self, provider: &str) -> Result<CredentialId, StoreError> {
        let prefix = format!("{provider}#");
        let mut highest = 0u32;
        for key in self.tree.scan_prefix(prefix.as_bytes()).keys() {
            let key = key?;
            if let Some(n) = String::from_utf8_lossy(&key)
                .strip_prefix(&prefix)
                .and_then(|n| n.parse::<u32>().ok())
            {
                highest = highest.max(n);
            }
        }
        Ok(CredentialId(format!("{provider}#{}", highest + 1)))
    }
}

/// A login started but not finished: what is needed to finish it after a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    pub provider: String,
    pub verifier: Secret,
    pub redirect_uri: String,
    pub authorize_url: String,
    /// The credential a reconnect updates in place.
    pub credential: Option<CredentialId>,
    pub label: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// The `oauth_sessions` tree: pending logins by `state`, each with a TTL.
#[derive(Clone)]
pub struct PendingLogins {
    tree: sled::Tree,
}

impl PendingLogins {
    pub fn new(tree: sled::Tree) -> Self {
        Self { tree }
    }

    pub fn put(&self, login: &PendingLogin) -> Result<(), StoreError> {
        let raw = serde_json::to_vec(login)
            .map_err(|e| StoreError::Corrupt(login.state.clone(), e.to_string()))?;
        self.tree.insert(login.state.as_bytes(), raw)?;
        durable(&self.tree)?;
        Ok(())
    }

    /// A live pending login by state; expired or unreadable ones are dropped.
    pub fn get(&self, state: &str) -> Result<Option<PendingLogin>, StoreError> {
        let Some(raw) = self.tree.get(state.as_bytes())? else {
            return Ok(None);
        };
        match serde_json::from_slice::<PendingLogin>(&raw) {
            Ok(p) if p.expires_at > Utc::now() => Ok(Some(p)),
            _ => {
                self.tree.remove(state.as_bytes())?;
                Ok(None)
            }
        }
    }

    /// The newest live pending login of a provider, if any.
    pub fn latest_for(&self, provider: &str) -> Result<Option<PendingLogin>, StoreError> {
        let mut best: Option<PendingLogin> = None;
        let keys: Vec<_> = self.tree.iter().keys().collect::<Result<_, _>>()?;
        for key in keys {
            if let Some(p) = self.get(&String::from_utf8_lossy(&key))? {
                if p.provider == provider
                    && best.as_ref().is_none_or(|b| b.expires_at < p.expires_at)
                {
                    best = Some(p);
                }
            }
        }
        Ok(best)
    }

    pub fn remove(&self, state: &str) -> Result<(), StoreError> {
        self.tree.remove(state.as_bytes())?;
        durable(&self.tree)?;
        Ok(())
    }
}

/// Flushes `tree` to disk. On a multi-threaded tokio runtime the wait for the disk happens
/// with the worker handed off (`block_in_place`), so the runtime's other tasks (the API,
/// other missions' streams) go on meanwhile; elsewhere it simply waits.
fn durable(tree: &sled::Tree) -> sled::Result<usize> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| tree.flush())
        }
        _ => tree.flush(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthMode, CredentialStatus, OAuthTokens};

    fn pending(state: &str, provider: &str, minutes: i64) -> PendingLogin {
        PendingLogin {
            state: state.into(),
            provider: provider.into(),
            verifier: Secret::new("verifier-secret"),
            redirect_uri: "http://127.0.0.1:1/callback".into(),
            authorize_url: "https://idp/authorize?state=x".into(),
            credential: None,
            label: None,
            expires_at: Utc::now() + chrono::Duration::minutes(minutes),
        }
    }

    #[test]
    fn pending_logins_survive_a_reopen_within_their_ttl_and_expire_after() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let db = sled::open(dir.path()).expect("db");
            let logins = PendingLogins::new(db.open_tree("oauth_sessions").expect("tree"));
            logins.put(&pending("live", "corp", 10)).expect("put");
            logins.put(&pending("stale", "corp", -1)).expect("put");
            db.flush().expect("flush");
        }
        // sled lets go of its file lock a moment after the last handle drops: on a loaded
        // machine a reopen at once can meet it still held (bounded wait).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let db = loop {
            match sled::open(dir.path()) {
                Ok(db) => break db,
                Err(e) if std::time::Instant::now() >= deadline => panic!("reopen: {e}"),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        };
        let logins = PendingLogins::new(db.open_tree("oauth_sessions").expect("tree"));
        assert_eq!(
            logins
                .get("live")
                .expect("get")
                .expect("still there")
                .verifier
                .expose(),
            "verifier-secret"
        );
        assert!(
            logins.get("stale").expect("get").is_none(),
            "an expired login is dropped"
        );
        assert_eq!(
            logins
                .latest_for("corp")
                .expect("latest")
                .expect("one")
                .state,
            "live"
        );
        assert!(logins.latest_for("other").expect("latest").is_none());
    }

    #[test]
    fn debug_output_of_a_credential_shows_no_secret() {
        let c = Credential {
            id: CredentialId("x#1".into()),
            provider: "x".into(),
            label: "l".into(),
            auth_mode: AuthMode::OAuth,
            api_key: Some(Secret::new("sk-very-secret-1")),
            oauth: Some(OAuthTokens {
                access_token: Some(Secret::new("at-very-secret-2")),
                refresh_token: Some(Secret::new("rt-very-secret-3")),
                expires_at: None,
                token_type: "Bearer".into(),
                scopes: vec![],
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
        };
        let shown = format!(
            "{c:?} {}",
            serde_json::to_string(&c.summary()).expect("json")
        );
        for secret in ["very-secret-1", "very-secret-2", "very-secret-3"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    /// The durable writes hand the worker off on a multi-threaded runtime and simply wait
    /// on a current-thread one (where `block_in_place` would panic) or outside any runtime.
    #[test]
    fn durable_writes_work_on_every_kind_of_runtime_and_outside_one() {
        let dir = tempfile::tempdir().expect("dir");
        let db = sled::Config::new()
            .temporary(true)
            .path(dir.path().join("db"))
            .open()
            .expect("db");
        let logins = PendingLogins::new(db.open_tree("oauth_sessions").expect("tree"));
        logins
            .put(&pending("outside", "corp", 10))
            .expect("outside a runtime");
        let current = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt");
        current
            .block_on(async { logins.put(&pending("current", "corp", 10)) })
            .expect("current");
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .expect("rt");
        let logins = std::sync::Arc::new(logins);
        let l = logins.clone();
        multi
            .block_on(async move {
                tokio::spawn(async move { l.put(&pending("worker", "corp", 10)) })
                    .await
                    .expect("join")
            })
            .expect("multi");
        for state in ["outside", "current", "worker"] {
            assert!(logins.get(state).expect("get").is_some(), "{state}");
        }
    }
}
