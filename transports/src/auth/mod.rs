//! Credentials: the store, the pool every transport leases from, and the OAuth flows that
//! obtain and refresh tokens.

mod credential;
pub mod oauth;
pub mod os_keyring;
mod pool;
pub mod presets;
pub mod sealed;
mod source;
mod store;

pub use credential::{
    AuthMode, Credential, CredentialId, CredentialStatus, CredentialSummary, OAuthTokens,
    PendingRevocation,
};
pub use pool::{Lease, OAuthResolver, Pool, PoolError, Strategy};
pub use source::{pool_error, CredentialSource, Credentials, LeaseFuture, PoolSource, StaticKey};
pub use store::{CredentialStore, PendingLogin, PendingLogins, Read};
