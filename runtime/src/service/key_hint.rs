//! A refused key from the environment names its variable: a 401 on a key Sortie read from
//! `$NAME` says so, and what to do, instead of a bare "HTTP 401".

use std::sync::Arc;

use futures::StreamExt;
use sortie_transports::{ErrorClass, Transport, TransportError, TurnFuture, TurnRequest};

/// `transport` as it is, or, when its key came from the variable `var` (no stored
/// credential), wrapped so that an authentication failure names the variable.
pub fn naming_the_key(
    transport: Arc<dyn Transport>,
    provider: &str,
    var: Option<String>,
) -> Arc<dyn Transport> {
    match var {
        Some(var) => Arc::new(KeyFromEnv {
            inner: transport,
            hint: hint(provider, &var),
        }),
        None => transport,
    }
}

fn hint(provider: &str, var: &str) -> String {
    format!(
        "the API key comes from ${var}: check its value, or store a credential with `sortie auth add-key {provider}` / `sortie auth login {provider}`"
    )
}

struct KeyFromEnv {
    inner: Arc<dyn Transport>,
    hint: String,
}

/// Adds the hint to a refusal of the key; every other error passes as it is.
fn with_hint(mut error: TransportError, hint: &str) -> TransportError {
    if error.class == ErrorClass::AuthExpired && error.credential.is_none() {
        error.message = format!("{} ({hint})", error.message);
    }
    error
}

impl Transport for KeyFromEnv {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn runs_tools(&self) -> bool {
        self.inner.runs_tools()
    }

    fn stream_turn(&self, request: TurnRequest) -> TurnFuture<'_> {
        Box::pin(async move {
            let hint = self.hint.clone();
            match self.inner.stream_turn(request).await {
                Ok(events) => Ok(events
                    .map(move |item| item.map_err(|e| with_hint(e, &hint)))
                    .boxed()),
                Err(e) => Err(with_hint(e, &self.hint)),
            }
        })
    }

    fn list_models(&self) -> sortie_transports::ModelsFuture<'_> {
        Box::pin(async move {
            self.inner
                .list_models()
                .await
                .map_err(|e| with_hint(e, &self.hint))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_refused_key_without_a_stored_credential_gets_the_hint() {
        let h = hint("openai", "OPENAI_API_KEY");
        let refused = TransportError::new(ErrorClass::AuthExpired, "HTTP 401: bad key");
        let with = with_hint(refused, &h);
        assert!(
            with.message.starts_with("HTTP 401: bad key ("),
            "{}",
            with.message
        );
        assert!(with.message.contains("$OPENAI_API_KEY"), "{}", with.message);
        assert!(with.message.contains("sortie auth add-key openai"));
        let busy = TransportError::new(ErrorClass::Network, "connection reset");
        assert_eq!(with_hint(busy, &h).message, "connection reset");
    }
}
