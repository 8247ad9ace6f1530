//! The error a transport returns: always classified, never carrying a secret.

use std::time::Duration;

use crate::ErrorClass;

/// A failed turn, with the class recovery acts on and a message a person can read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    pub class: ErrorClass,
    /// The HTTP status, when the failure came with one.
    pub status: Option<u16>,
    pub message: String,
    /// How long the provider asked us to wait, when it said.
    pub retry_after: Option<Duration>,
    /// The stored credential the failed request was sent with (id and refresh generation).
    pub credential: Option<CredentialTag>,
}

/// Which credential a request used: its id and how many times it had been refreshed then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialTag {
    pub id: crate::auth::CredentialId,
    pub generation: u64,
}

impl TransportError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            status: None,
            message: message.into(),
            retry_after: None,
            credential: None,
        }
    }

    /// An error from an HTTP status, headers and body, classified by [`crate::classify()`].
    pub fn from_http(status: u16, headers: &[(String, String)], body: &[u8]) -> Self {
        let verdict = crate::classify::describe(status, headers, body);
        Self {
            class: verdict.class,
            status: Some(status),
            message: verdict.message,
            retry_after: verdict.retry_after,
            credential: None,
        }
    }
}
