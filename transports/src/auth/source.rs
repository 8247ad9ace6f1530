//! Where a transport gets the secret for each request: a fixed key, or a lease from the pool.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::{AuthMode, CredentialId, Lease, Pool, PoolError};
use crate::{CredentialTag, ErrorClass, Secret, TransportError};

/// The future of a lease.
pub type LeaseFuture<'a> = Pin<Box<dyn Future<Output = Result<Lease, TransportError>> + Send + 'a>>;

/// Gives each request its credential.
pub trait CredentialSource: Send + Sync {
    fn lease(&self) -> LeaseFuture<'_>;
}

/// A key from the environment or config: the same for every request (or none).
pub struct StaticKey {
    lease: Option<Lease>,
}

impl StaticKey {
    pub fn new(provider: &str, key: Option<Secret>) -> Self {
        Self {
            lease: key.map(|secret| Lease {
                credential: CredentialId(format!("{provider}#env")),
                provider: provider.to_string(),
                mode: AuthMode::ApiKey,
                secret,
                account_id: None,
                generation: 0,
            }),
        }
    }
}

impl CredentialSource for StaticKey {
    fn lease(&self) -> LeaseFuture<'_> {
        Box::pin(async move {
            self.lease.clone().ok_or_else(|| {
                TransportError::new(ErrorClass::AuthExpired, "no credential configured")
            })
        })
    }
}

/// Leases from the pool for one provider.
pub struct PoolSource {
    pub pool: Arc<Pool>,
    pub provider: String,
}

impl CredentialSource for PoolSource {
    fn lease(&self) -> LeaseFuture<'_> {
        Box::pin(async move { self.pool.lease(&self.provider).await.map_err(pool_error) })
    }
}

/// How a pool failure looks to a mission: a class recovery can act on, and the message
/// that says what to run.
pub fn pool_error(e: PoolError) -> TransportError {
    match &e {
        PoolError::Exhausted {
            next_usable: Some(at),
            ..
        } => {
            let wait = (*at - chrono::Utc::now()).to_std().unwrap_or_default();
            TransportError {
                class: ErrorClass::RateLimited {
                    retry_after: Some(wait),
                },
                status: None,
                message: e.to_string(),
                retry_after: Some(wait),
                credential: None,
            }
        }
        PoolError::RefreshFailed { .. } | PoolError::Store(_) => {
            TransportError::new(ErrorClass::Network, e.to_string())
        }
        _ => TransportError::new(ErrorClass::AuthExpired, e.to_string()),
    }
}

/// A credential source in a transport's config. It remembers the last lease it gave, so the
/// transport can say which credential a failure came from.
#[derive(Clone)]
pub struct Credentials(
    pub Arc<dyn CredentialSource>,
    Arc<std::sync::Mutex<Option<CredentialTag>>>,
);

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(..)")
    }
}

impl Credentials {
    pub fn new(source: impl CredentialSource + 'static) -> Self {
        Self(Arc::new(source), Arc::default())
    }

    pub async fn lease(&self) -> Result<Lease, TransportError> {
        let lease = match self.0.lease().await {
            Ok(lease) => lease,
            Err(e) => {
                // No credential was used: the failure must not be pinned on the last one.
                *self.1.lock().unwrap_or_else(|p| p.into_inner()) = None;
                return Err(e);
            }
        };
        *self.1.lock().unwrap_or_else(|p| p.into_inner()) = Some(CredentialTag {
            id: lease.credential.clone(),
            generation: lease.generation,
        });
        Ok(lease)
    }

    /// Marks an error with the credential of the last lease.
    pub fn tag(&self, mut error: TransportError) -> TransportError {
        if error.credential.is_none() {
            error.credential = self.1.lock().unwrap_or_else(|p| p.into_inner()).clone();
        }
        error
    }
}
