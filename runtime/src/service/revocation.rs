//! Revoking tokens a credential gives up (logout, or a login that replaces them): at once
//! when the authorization server answers, else kept on the credential as pending and
//! retried (by the daemon's pool, and by `sortie auth logout` again) — never silently lost.

use sortie_transports::auth::oauth::OAuthClient;
use sortie_transports::auth::PendingRevocation;
use sortie_transports::Secret;

/// What became of a set of revocations.
#[derive(Debug, Default)]
pub struct Revoked {
    /// Revoked at the provider.
    pub done: usize,
    /// The provider has no revocation endpoint: nothing to do.
    pub unsupported: bool,
    /// Still to do, with why they failed.
    pub pending: Vec<PendingRevocation>,
}

impl Revoked {
    /// One line for people.
    pub fn note(&self) -> String {
        match (self.pending.first(), self.unsupported, self.done) {
            (Some(p), _, _) => format!(
                "revoking {} token(s) at the provider failed ({}); kept pending and retried",
                self.pending.len(),
                p.last_error
            ),
            (None, true, _) => "the provider has no revocation endpoint; tokens forgotten".into(),
            (None, false, 0) => "secrets cleared".into(),
            (None, false, _) => "tokens revoked".into(),
        }
    }
}

/// Revokes each `(token, hint)`; those that fail come back as pending.
pub async fn revoke(client: &OAuthClient, tokens: Vec<(Secret, String)>) -> Revoked {
    let mut out = Revoked::default();
    for (token, hint) in tokens {
        match client.revoke(&token, &hint).await {
            Ok(true) => out.done += 1,
            Ok(false) => out.unsupported = true,
            Err(e) => out.pending.push(PendingRevocation {
                token,
                hint,
                last_error: e.to_string(),
            }),
        }
    }
    out
}

/// The same tokens, pending because no client could be built (`why`: discovery failed ...).
pub fn all_pending(tokens: Vec<(Secret, String)>, why: &str) -> Revoked {
    Revoked {
        pending: tokens
            .into_iter()
            .map(|(token, hint)| PendingRevocation {
                token,
                hint,
                last_error: why.to_string(),
            })
            .collect(),
        ..Revoked::default()
    }
}
