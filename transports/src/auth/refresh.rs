//! The pool's refreshes: once per credential however many callers ask at the same moment.
//! In one process the callers queue on an in-process lock; across daemons sharing a store
//! they queue on the credential's lock in that store ([`CredentialBackend::refresh_locked`]),
//! so one refresh serves every daemon and a rotated refresh token is sent once.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::backend::{still_stale, Locked, RefreshFn, RefreshStep};
use super::oauth::OAuthError;
use super::pool::{apply_tokens, IN_USE};
use super::{AuthMode, Credential, CredentialId, CredentialStatus, Lease, Pool, PoolError};
use crate::Secret;

/// A step that writes `status = needs_reauth` and fails with it.
fn needs_reauth(id: &CredentialId, reason: String) -> RefreshStep {
    let failure = PoolError::NeedsReauth {
        id: id.clone(),
        reason: reason.clone(),
    };
    RefreshStep {
        change: Some(Box::new(move |c: &mut Credential| {
            c.status = CredentialStatus::NeedsReauth {
                reason: reason.clone(),
            }
        })),
        failure: Some(failure),
    }
}

/// A step for an outage: the credential stays active, with why the refresh failed.
fn outage(id: &CredentialId, reason: String) -> RefreshStep {
    let failure = PoolError::RefreshFailed {
        id: id.clone(),
        reason: reason.clone(),
    };
    RefreshStep {
        change: Some(Box::new(move |c: &mut Credential| {
            c.last_error = Some(reason.clone())
        })),
        failure: Some(failure),
    }
}

impl Pool {
    /// Refreshes a credential's token, once, however many callers ask together: a caller
    /// whose `stale` token was already replaced gets the new one without a second request.
    pub async fn refresh(
        &self,
        id: &CredentialId,
        stale: Option<&Secret>,
    ) -> Result<Credential, PoolError> {
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;
        // Without the store's lock first: a token refreshed while we waited (here or by
        // another daemon) is taken as it is.
        let c = self
            .backend
            .get(id)
            .await?
            .ok_or_else(|| PoolError::Unknown(id.clone()))?;
        if c.auth_mode != AuthMode::OAuth || !still_stale(&c, stale) {
            return Ok(c);
        }
        let run: RefreshFn<'_> = Box::new(|locked| Box::pin(self.refresh_step(locked)));
        match self.backend.refresh_locked(id, stale, run).await? {
            Locked::Missing => Err(PoolError::Unknown(id.clone())),
            Locked::AlreadyFresh(c) => Ok(c),
            Locked::Ran(_, Some(failure)) => Err(failure),
            Locked::Ran(c, None) if c.status == CredentialStatus::Disconnected => {
                Err(PoolError::NeedsReauth {
                    id: c.id.clone(),
                    reason: "logged out while its token was being refreshed".into(),
                })
            }
            Locked::Ran(c, None) => Ok(c),
        }
    }

    /// The request to the token endpoint for a locked record, and what to write after it.
    async fn refresh_step(&self, c: Credential) -> RefreshStep {
        if c.auth_mode != AuthMode::OAuth {
            return RefreshStep {
                change: None,
                failure: None,
            };
        }
        let Some(refresh_token) = c.oauth.as_ref().and_then(|o| o.refresh_token.clone()) else {
            return needs_reauth(
                &c.id,
                "the access token expired and there is no refresh token".into(),
            );
        };
        let Some(slot) = self.oauth.get(&c.provider) else {
            let reason = format!(
                "provider `{}` has no OAuth settings to refresh with",
                c.provider
            );
            return needs_reauth(&c.id, reason);
        };
        let client = match slot.get().await {
            Ok(client) => client,
            Err(reason) => return outage(&c.id, reason),
        };
        match client.refresh(&refresh_token).await {
            // Applied to the record as it is then, so a lease or cooldown written
            // meanwhile is kept; durable before anyone uses the new access token.
            Ok(tokens) => RefreshStep {
                change: Some(Box::new(move |c: &mut Credential| apply_tokens(c, &tokens))),
                failure: None,
            },
            Err(OAuthError::Permanent(reason)) => {
                needs_reauth(&c.id, format!("refresh refused: {reason}"))
            }
            // An outage, not a revoked login: the credential stays active, with why.
            Err(e) => outage(&c.id, e.to_string()),
        }
    }

    /// After an `AuthExpired` answer: refresh that credential (once, shared) and return a
    /// new lease on it.
    pub async fn auth_expired(&self, lease: &Lease) -> Result<Lease, PoolError> {
        let c = self.refresh(&lease.credential, Some(&lease.secret)).await?;
        let secret = c.bearer().cloned().ok_or_else(|| PoolError::NeedsReauth {
            id: c.id.clone(),
            reason: "no access token after refresh".into(),
        })?;
        Ok(Lease {
            secret,
            account_id: c.oauth.as_ref().and_then(|o| o.account_id.clone()),
            generation: c.refresh_count,
            ..lease.clone()
        })
    }

    /// After an `AuthExpired` answer to a request sent with `tag`: refresh that credential
    /// unless someone already did since (same single flight as [`Pool::refresh`]).
    pub async fn refresh_after(&self, tag: &crate::CredentialTag) -> Result<Credential, PoolError> {
        let current = self
            .backend
            .get(&tag.id)
            .await?
            .ok_or_else(|| PoolError::Unknown(tag.id.clone()))?;
        if current.refresh_count != tag.generation && current.status == CredentialStatus::Active {
            return Ok(current);
        }
        let stale = current.bearer().cloned();
        self.refresh(&tag.id, stale.as_ref()).await
    }

    /// Refreshes every OAuth credential leased within [`IN_USE`] that expires within its
    /// margin; returns how many were refreshed. Run it periodically (see [`Pool::spawn_proactive`]).
    pub async fn refresh_due(&self) -> usize {
        let Ok((all, _)) = self.backend.all().await else {
            return 0;
        };
        let mut done = 0;
        let recent = Utc::now() - chrono::Duration::from_std(IN_USE).unwrap_or_default();
        for c in all {
            // A credential nobody leased lately is refreshed when next leased, not ahead:
            // an idle daemon does not talk to the authorization server.
            if c.status == CredentialStatus::Active
                && c.last_used.is_some_and(|at| at >= recent)
                && self.near_expiry(&c)
                && c.oauth.as_ref().is_some_and(|o| o.refresh_token.is_some())
            {
                let stale = c.bearer().cloned();
                match self.refresh(&c.id, stale.as_ref()).await {
                    Ok(_) => done += 1,
                    Err(e) => tracing::warn!("proactive refresh of {}: {e}", c.id),
                }
            }
        }
        done
    }

    /// Retries the revocations that failed (logouts and replaced logins during an outage);
    /// returns how many went through. Each stays pending until its server answers.
    pub async fn retry_revocations(&self) -> usize {
        let Ok((all, _)) = self.backend.all().await else {
            return 0;
        };
        let mut done = 0;
        for c in all
            .into_iter()
            .filter(|c| !c.pending_revocations.is_empty())
        {
            let Some(client) = self.oauth.get(&c.provider) else {
                continue;
            };
            let Ok(client) = client.get().await else {
                continue;
            };
            for pending in &c.pending_revocations {
                let result = client.revoke(&pending.token, &pending.hint).await;
                let token = pending.token.clone();
                let mut note = |c: &mut Credential| match &result {
                    Ok(_) => c.pending_revocations.retain(|p| p.token != token),
                    Err(e) => {
                        for p in c
                            .pending_revocations
                            .iter_mut()
                            .filter(|p| p.token == token)
                        {
                            p.last_error = e.to_string();
                        }
                    }
                };
                let outcome = self.backend.update(&c.id, &mut note).await;
                match (&result, outcome) {
                    (Ok(_), Ok(_)) => done += 1,
                    (Err(e), _) => tracing::warn!("revoking a token of {} failed again: {e}", c.id),
                    (_, Err(e)) => tracing::warn!("cannot update {}: {e}", c.id),
                }
            }
        }
        done
    }

    /// Runs [`Pool::refresh_due`] every `every` until the pool is dropped.
    pub fn spawn_proactive(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(pool) = weak.upgrade() else { return };
                pool.refresh_due().await;
                pool.retry_revocations().await;
            }
        })
    }
}
