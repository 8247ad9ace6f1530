//! `[providers.X] prompt_cache` and `prompt_cache_ttl`: the provider's prompt caching.

use sortie_transports::direct::{CacheTtl, PromptCache};

use super::ConfigError;

/// The prompt-cache settings of provider `name`: on unless `prompt_cache = false`; a TTL of
/// `"5m"` (the default) or `"1h"` (Anthropic only; others ignore it).
pub fn resolve(
    name: &str,
    enabled: Option<bool>,
    ttl: Option<&str>,
) -> Result<PromptCache, ConfigError> {
    let ttl = match ttl.map(str::trim) {
        None | Some("5m") => CacheTtl::FiveMinutes,
        Some("1h") => CacheTtl::OneHour,
        Some(other) => {
            return Err(ConfigError::Provider(format!(
                "[providers.{name}] prompt_cache_ttl = \"{other}\" is not a TTL the providers offer; use \"5m\" or \"1h\""
            )))
        }
    };
    Ok(PromptCache {
        enabled: enabled.unwrap_or(true),
        ttl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_by_default_off_on_request_and_a_bad_ttl_is_refused() {
        assert_eq!(
            resolve("a", None, None).expect("ok"),
            PromptCache::default()
        );
        let off = resolve("a", Some(false), Some("1h")).expect("ok");
        assert!(!off.enabled);
        assert_eq!(off.ttl, CacheTtl::OneHour);
        let err = resolve("claude", None, Some("2h")).expect_err("bad ttl");
        assert!(err.to_string().contains("\"5m\" or \"1h\""), "{err}");
    }
}
