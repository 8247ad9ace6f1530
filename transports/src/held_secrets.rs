//! Every secret value this process holds (API keys from the config or the environment,
//! stored credentials, OAuth tokens, the daemon's bearer token), so that it is masked
//! wherever text leaves the process: an event, a log line, an error. Prefix rules
//! (`sk-`, `eyJ` ...) catch secrets of known shapes; this catches the others, such as a
//! provider echoing a key without a known prefix in a 401 body.

use std::sync::{Arc, RwLock};

/// Shorter values are not masked: they would mask ordinary words.
const MIN_LEN: usize = 8;
/// The most values kept; the oldest go first (a long-running daemon refreshes tokens).
const MAX_HELD: usize = 4096;

static HELD: RwLock<Vec<Arc<str>>> = RwLock::new(Vec::new());

/// Remembers a secret value to mask. Called by [`crate::Secret`] for every secret made.
pub fn hold(value: &str) {
    let value = value.trim();
    if value.len() < MIN_LEN {
        return;
    }
    let mut held = HELD.write().unwrap_or_else(|p| p.into_inner());
    if held.iter().any(|h| &**h == value) {
        return;
    }
    if held.len() >= MAX_HELD {
        held.remove(0);
    }
    held.push(Arc::from(value));
}

/// True when `bytes` contain a held secret (cheap when there are none).
pub fn found_in(bytes: &[u8]) -> bool {
    let held = HELD.read().unwrap_or_else(|p| p.into_inner());
    held.iter()
        .any(|h| bytes.windows(h.len()).any(|w| w == h.as_bytes()))
}

/// `text` with every held secret replaced by `***`.
pub fn mask(text: &str) -> String {
    let held = HELD.read().unwrap_or_else(|p| p.into_inner());
    let mut out = text.to_string();
    // Longest first, so a secret that contains another is masked whole.
    let mut by_len: Vec<&Arc<str>> = held.iter().filter(|h| out.contains(&***h)).collect();
    by_len.sort_by_key(|h| std::cmp::Reverse(h.len()));
    for h in by_len {
        out = out.replace(&**h, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_value_is_masked_wherever_it_appears() {
        hold("plainkeywithoutprefix0123");
        hold("short");
        let text = "HTTP 401: invalid key plainkeywithoutprefix0123 (short)";
        assert!(found_in(text.as_bytes()));
        assert_eq!(mask(text), "HTTP 401: invalid key *** (short)");
        assert!(!found_in(b"nothing here"));
    }
}
