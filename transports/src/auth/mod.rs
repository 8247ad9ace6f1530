//! Credentials: the store, the pool every transport leases from, and the OAuth flows that
//! obtain and refresh tokens.

mod backend;
mod credential;
pub mod oauth;
pub mod os_keyring;
mod pool;
pub mod presets;
mod refresh;
pub mod sealed;
mod source;
mod store;

pub use backend::{
    still_stale, Change, CredentialBackend, Locked, PendingLoginBackend, RefreshFn, RefreshStep,
};
pub use credential::{
    AuthMode, Credential, CredentialId, CredentialStatus, CredentialSummary, OAuthTokens,
    PendingRevocation,
};
pub use pool::{Lease, OAuthResolver, Pool, PoolError, Strategy};
pub use source::{pool_error, CredentialSource, Credentials, LeaseFuture, PoolSource, StaticKey};
pub use store::{CredentialStore, PendingLogin, PendingLogins, Read, StoreError};
