//! The strategies that act on a credential of the pool: refresh it, set it aside, cool
//! it down. Each returns the step's outcome for the event and what the turn does next.

use chrono::Utc;
use sortie_transports::auth::{AuthMode, CredentialStatus, Pool, PoolError};
use sortie_transports::{CredentialTag, ErrorClass, TransportError};

use backoff::backoff::Backoff;

use super::{seconds, Attempts, Mark, Next, Recovery};

impl Recovery {
    /// The pool and the credential that failed: `decide` chose a credential strategy only
    /// with both.
    fn pool_and_tag<'a>(&'a self, error: &TransportError) -> (&'a Pool, CredentialTag) {
        (
            self.pool.as_deref().expect("decided with a pool"),
            error.credential.clone().expect("decided with a tag"),
        )
    }

    /// [`super::Strategy::Refresh`]: refresh the credential once (shared by every caller).
    pub(super) async fn refresh(
        &self,
        error: &TransportError,
        attempts: &mut Attempts,
    ) -> (String, Next) {
        let (pool, tag) = self.pool_and_tag(error);
        attempts.refreshed.push(tag.id.clone());
        match pool.refresh_after(&tag).await {
            Ok(c) if c.auth_mode == AuthMode::ApiKey => {
                key_refused(pool, &tag, error, attempts).await
            }
            Ok(_) => ("refreshed; retrying".to_string(), Next::Retry),
            // A refused refresh marked the credential needs_reauth: another one may serve.
            Err(e @ PoolError::NeedsReauth { .. }) => {
                (format!("refresh failed ({e}); rotating"), Next::Retry)
            }
            Err(e @ PoolError::RefreshFailed { .. }) => {
                self.refresh_outage(e, &tag, attempts).await
            }
            Err(e) => (
                format!("refresh failed for now ({e}); retrying"),
                Next::Retry,
            ),
        }
    }

    /// [`super::Strategy::Rotate`]: set the credential aside, so the next try takes another.
    pub(super) async fn rotate(
        &self,
        mark: Mark,
        error: &TransportError,
        attempts: &mut Attempts,
    ) -> (String, Next) {
        attempts.rotations += 1;
        let (pool, tag) = self.pool_and_tag(error);
        let result = match mark {
            Mark::Entitlement => {
                attempts.entitlement = Some(error.clone());
                CredentialStatus::EntitlementBlocked {
                    reason: error.message.clone(),
                }
            }
            Mark::RejectedAfterRefresh => CredentialStatus::NeedsReauth {
                reason: "still rejected after a refresh".into(),
            },
        };
        // Through the pool's backend: on a shared store every daemon sees the mark.
        let result = pool.set_status(&tag.id, result).await;
        match result {
            Ok(()) => (
                format!("{} set aside; trying another credential", tag.id),
                Next::Retry,
            ),
            Err(e) => (
                format!("cannot update {}: {e}", tag.id),
                Next::Fail(error.clone()),
            ),
        }
    }

    /// [`super::Strategy::CoolDown`]: the credential rests until `wait` has passed.
    pub(super) async fn cool_down(
        &self,
        wait: std::time::Duration,
        error: &TransportError,
        attempts: &mut Attempts,
    ) -> (String, Next) {
        attempts.rotations += 1;
        let (pool, tag) = self.pool_and_tag(error);
        let until = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
        let cooling = CredentialStatus::CoolingDown {
            until,
            reason: error.message.clone(),
        };
        match pool.set_status(&tag.id, cooling).await {
            Ok(()) => (
                format!(
                    "{} cooling down for {}; {}",
                    tag.id,
                    seconds(wait),
                    if pool.other_usable(&tag.id).await {
                        "trying another credential"
                    } else {
                        "no other credential to use meanwhile"
                    }
                ),
                Next::Retry,
            ),
            Err(e) => (
                format!("cannot cool {} down: {e}", tag.id),
                Next::Fail(error.clone()),
            ),
        }
    }

    /// The authorization server is down or slow (network, timeout, 5xx): the login is not
    /// revoked. Back off within the turn's bound and let the refresh be tried again; past
    /// the bound, fail as the network failure it is (never `needs_reauth`).
    async fn refresh_outage(
        &self,
        e: PoolError,
        tag: &sortie_transports::CredentialTag,
        attempts: &mut Attempts,
    ) -> (String, Next) {
        attempts.refreshed.retain(|id| id != &tag.id);
        if attempts.backoffs >= self.policy.max_backoffs {
            let message = format!(
                "{e} (the authorization server is unreachable; the login is kept: try again later)"
            );
            return (
                format!("refresh failed for now ({e}); giving up"),
                Next::Fail(TransportError::new(ErrorClass::Network, message)),
            );
        }
        attempts.backoffs += 1;
        let delay = attempts
            .backoff
            .next_backoff()
            .unwrap_or(self.policy.max_backoff)
            .min(self.policy.max_backoff);
        tokio::time::sleep(delay).await;
        (
            format!(
                "refresh failed for now ({e}); backed off {:.1}s (attempt {})",
                delay.as_secs_f32(),
                attempts.backoffs
            ),
            Next::Retry,
        )
    }
}

/// A 401 on an API key: nothing can be refreshed. The key is set aside at once (a person
/// must store another), and the event says a gateway may be relaying its upstream's 401.
async fn key_refused(
    pool: &Pool,
    tag: &sortie_transports::CredentialTag,
    error: &TransportError,
    attempts: &mut Attempts,
) -> (String, Next) {
    attempts.rotations += 1;
    let status = error
        .status
        .map(|s| format!("HTTP {s}"))
        .unwrap_or_else(|| "refused".into());
    let reason = format!(
        "the API key was refused ({status}); behind a gateway, the gateway may be relaying its upstream's refusal"
    );
    let status = CredentialStatus::NeedsReauth {
        reason: reason.clone(),
    };
    match pool.set_status(&tag.id, status).await {
        Ok(()) => (
            format!(
                "{} is an API key, nothing to refresh: {reason}; set aside",
                tag.id
            ),
            Next::Retry,
        ),
        Err(e) => (
            format!("cannot update {}: {e}", tag.id),
            Next::Fail(error.clone()),
        ),
    }
}
