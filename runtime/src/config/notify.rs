//! `[notify]`: where notices go when a mission ends, needs someone, or a schedule skips a
//! run.
//!
//! ```toml
//! [notify]
//! webhook = "https://hooks.example.com/sortie"   # a signed JSON POST per notice
//! secret_env = "SORTIE_WEBHOOK_SECRET"           # the variable holding the signing key
//! command = ["notify-send", "Sortie"]            # and/or a program, the notice on stdin
//! missions = true          # notices for every mission unless `--no-notify` (default true)
//! attempts = 5             # webhook tries per notice
//! timeout_secs = 10        # the longest one try (or the command) may take
//! retry_secs = 2           # the first wait between tries, doubled each time
//! max_secs = 120           # the longest a notice is tried, waits included
//! ```

use serde::Deserialize;

use super::ConfigError;

/// `[notify]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NotifyFile {
    webhook: Option<toml::Spanned<String>>,
    secret_env: Option<String>,
    command: Option<toml::Spanned<Vec<String>>>,
    missions: Option<bool>,
    attempts: Option<toml::Spanned<u32>>,
    timeout_secs: Option<toml::Spanned<u64>>,
    retry_secs: Option<u64>,
    max_secs: Option<toml::Spanned<u64>>,
}

/// `[notify]`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyConfig {
    /// An http(s) URL that receives each notice as a signed JSON POST.
    pub webhook: Option<String>,
    /// The environment variable that holds the webhook's signing secret.
    pub secret_env: Option<String>,
    /// A program and its arguments, run with the notice JSON on stdin.
    pub command: Vec<String>,
    /// Missions send notices unless they say `--no-notify` (false: only with `--notify`).
    pub missions: bool,
    pub attempts: u32,
    pub timeout_secs: u64,
    pub retry_secs: u64,
    pub max_secs: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            webhook: None,
            secret_env: None,
            command: Vec::new(),
            missions: true,
            attempts: 5,
            timeout_secs: 10,
            retry_secs: 2,
            max_secs: 120,
        }
    }
}

impl NotifyConfig {
    /// True when notices go somewhere.
    pub fn is_set(&self) -> bool {
        self.webhook.is_some() || !self.command.is_empty()
    }
}

impl NotifyFile {
    /// Checks `[notify]`; `invalid` makes an error naming the key and its line.
    pub(super) fn check(
        self,
        invalid: impl Fn(std::ops::Range<usize>, &str, String) -> ConfigError,
    ) -> Result<NotifyConfig, ConfigError> {
        let mut out = NotifyConfig::default();
        if let Some(url) = &self.webhook {
            let parsed = reqwest::Url::parse(url.get_ref());
            match parsed {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => {
                    return Err(invalid(
                        url.span(),
                        "notify.webhook",
                        "is not an http(s) URL (write it as `https://host/path`)".into(),
                    ))
                }
            }
            out.webhook = Some(url.get_ref().clone());
        }
        if let Some(command) = &self.command {
            if command
                .get_ref()
                .first()
                .is_none_or(|p| p.trim().is_empty())
            {
                return Err(invalid(
                    command.span(),
                    "notify.command",
                    "names no program (write it as `[\"notify-send\", \"Sortie\"]`)".into(),
                ));
            }
            out.command = command.get_ref().clone();
        }
        for (value, key) in [
            (
                self.attempts
                    .as_ref()
                    .map(|a| (a.span(), u64::from(*a.get_ref()))),
                "notify.attempts",
            ),
            (
                self.timeout_secs.as_ref().map(|a| (a.span(), *a.get_ref())),
                "notify.timeout_secs",
            ),
            (
                self.max_secs.as_ref().map(|a| (a.span(), *a.get_ref())),
                "notify.max_secs",
            ),
        ] {
            if let Some((span, 0)) = value {
                return Err(invalid(span, key, "must be at least 1".into()));
            }
        }
        out.secret_env = self.secret_env;
        out.missions = self.missions.unwrap_or(true);
        out.attempts = self.attempts.map_or(out.attempts, |a| a.into_inner());
        out.timeout_secs = self
            .timeout_secs
            .map_or(out.timeout_secs, |a| a.into_inner());
        out.retry_secs = self.retry_secs.unwrap_or(out.retry_secs);
        out.max_secs = self.max_secs.map_or(out.max_secs, |a| a.into_inner());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    #[test]
    fn a_webhook_that_is_not_http_names_the_file_and_line() {
        let err = Config::parse(
            Path::new("/h/config.toml"),
            "[notify]\nsecret_env = \"S\"\nwebhook = \"ftp://example.com/x\"\n",
        )
        .expect_err("not http");
        let text = err.to_string();
        assert!(text.starts_with("/h/config.toml, line 3"), "{text}");
        assert!(text.contains("notify.webhook"), "{text}");
        assert!(text.contains("http(s)"), "{text}");
    }

    #[test]
    fn the_documented_shape_parses() {
        let c = Config::parse(
            Path::new("/h/config.toml"),
            "[notify]\nwebhook = \"https://hooks.example.com/s\"\nsecret_env = \"S\"\ncommand = [\"notify-send\", \"Sortie\"]\nattempts = 3\n",
        )
        .expect("parses");
        assert_eq!(
            c.notify.webhook.as_deref(),
            Some("https://hooks.example.com/s")
        );
        assert_eq!(c.notify.command, ["notify-send", "Sortie"]);
        assert_eq!(c.notify.attempts, 3);
        assert!(c.notify.missions);
        let err = Config::parse(Path::new("/h/c.toml"), "[notify]\ncommand = []\n")
            .expect_err("empty command");
        assert!(err.to_string().contains("notify.command"), "{err}");
    }
}
