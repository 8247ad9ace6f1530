//! Provider settings that parse but cannot be honoured: refused with what to change,
//! instead of being silently ignored.

use std::path::Path;

use crate::config::{ConfigError, ProviderKind};

/// `stream = false` is honoured by the Chat Completions kinds only; elsewhere it would be
/// silently ignored, so it is refused.
pub fn stream_setting(
    name: &str,
    kind: ProviderKind,
    stream: Option<bool>,
    path: &Path,
) -> Result<(), ConfigError> {
    if stream == Some(false)
        && matches!(
            kind,
            ProviderKind::Anthropic | ProviderKind::OpenaiResponses
        )
    {
        return Err(ConfigError::Provider(format!(
            "provider `{name}`: `stream = false` is not supported by kind `{}` (its answers always stream); remove the key from [providers.{name}] of {}",
            kind.as_str(),
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_false_is_refused_where_answers_always_stream() {
        let path = Path::new("/h/config.toml");
        for kind in [ProviderKind::Anthropic, ProviderKind::OpenaiResponses] {
            let err = stream_setting("p", kind, Some(false), path).expect_err("refused");
            assert!(err.to_string().contains("stream = false"), "{err}");
            assert!(err.to_string().contains("/h/config.toml"), "{err}");
            assert!(stream_setting("p", kind, Some(true), path).is_ok());
        }
        assert!(stream_setting("p", ProviderKind::OpenaiCompatible, Some(false), path).is_ok());
    }
}
