//! `[store]`: where missions, events and schedules are kept. Without it (and without
//! `SORTIE_STORE_URL`), the embedded sled store in the data dir; with a `postgres://` URL,
//! a PostgreSQL database several daemons can share.
//!
//! ```toml
//! [store]
//! url = "postgres://sortie@db.internal:5432/sortie"   # never with a password in it
//! password_env = "SORTIE_DB_PASSWORD"   # the variable that holds the password
//! key_env = "SORTIE_STORE_KEY"          # the key the daemons share (credentials at rest)
//! pool_size = 16                        # connections per process
//! connect_timeout_secs = 10             # the longest connecting (or waiting for one) takes
//! ```
//!
//! `SORTIE_STORE_URL`, when set, is used instead of `url` (it may carry the password).

use serde::Deserialize;

use super::ConfigError;

/// The variable that names the store instead of `[store] url`.
pub const STORE_URL_ENV: &str = "SORTIE_STORE_URL";

/// `[store]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StoreFile {
    url: Option<toml::Spanned<String>>,
    password_env: Option<String>,
    key_env: Option<String>,
    pool_size: Option<toml::Spanned<usize>>,
    connect_timeout_secs: Option<toml::Spanned<u64>>,
}

/// `[store]`, checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoreConfig {
    /// A `postgres://` URL without a password; `None`: the sled store of the data dir.
    pub url: Option<String>,
    /// The environment variable holding the database password.
    pub password_env: Option<String>,
    /// The environment variable holding the key that seals credentials at rest.
    pub key_env: Option<String>,
    pub pool_size: usize,
    pub connect_timeout_secs: u64,
}

/// Where the store is, once the environment is read.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreLocation {
    /// The embedded sled store of the data dir.
    Sled,
    /// A PostgreSQL database, by a URL that may hold the password (never print it: print
    /// the store's `location()`).
    Postgres(String),
}

impl StoreFile {
    /// Checks `[store]`; `invalid` makes an error naming the key and its line.
    pub(super) fn check(
        self,
        invalid: impl Fn(std::ops::Range<usize>, &str, String) -> ConfigError,
    ) -> Result<StoreConfig, ConfigError> {
        let mut out = StoreConfig {
            pool_size: 16,
            connect_timeout_secs: 10,
            ..Default::default()
        };
        if let Some(url) = &self.url {
            check_url(url.get_ref()).map_err(|m| invalid(url.span(), "store.url", m))?;
            if has_password(url.get_ref()) {
                return Err(invalid(
                    url.span(),
                    "store.url",
                    "holds a password; a password never goes in the file: remove it and name the variable that holds it with `password_env = \"SORTIE_DB_PASSWORD\"` (or set SORTIE_STORE_URL)".into(),
                ));
            }
            out.url = Some(url.get_ref().clone());
        }
        if let Some(n) = &self.pool_size {
            if !(1..=256).contains(n.get_ref()) {
                return Err(invalid(
                    n.span(),
                    "store.pool_size",
                    format!("is {}; it must be between 1 and 256", n.get_ref()),
                ));
            }
            out.pool_size = *n.get_ref();
        }
        if let Some(n) = &self.connect_timeout_secs {
            if !(1..=600).contains(n.get_ref()) {
                return Err(invalid(
                    n.span(),
                    "store.connect_timeout_secs",
                    format!("is {}; it must be between 1 and 600", n.get_ref()),
                ));
            }
            out.connect_timeout_secs = *n.get_ref();
        }
        out.password_env = self.password_env;
        out.key_env = self.key_env;
        Ok(out)
    }
}

impl StoreConfig {
    /// Where the store is: `SORTIE_STORE_URL`, else `[store] url` with the password from
    /// `password_env`, else the sled store.
    pub fn location(&self) -> Result<StoreLocation, String> {
        if let Ok(url) = std::env::var(STORE_URL_ENV) {
            if !url.trim().is_empty() {
                check_url(&url).map_err(|m| format!("{STORE_URL_ENV} {m}"))?;
                return Ok(StoreLocation::Postgres(url));
            }
        }
        let Some(url) = &self.url else {
            return Ok(StoreLocation::Sled);
        };
        let Some(var) = &self.password_env else {
            return Ok(StoreLocation::Postgres(url.clone()));
        };
        let password = std::env::var(var).map_err(|_| {
            format!("[store] password_env names {var}, which is not set; set it to the database password")
        })?;
        with_password(url, &password).map(StoreLocation::Postgres)
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| format!("is not a URL ({e}); write it as `postgres://user@host:5432/db`"))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(format!(
            "is a `{}` URL; the store takes `postgres://user@host:5432/db`",
            parsed.scheme()
        ));
    }
    Ok(())
}

fn has_password(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| u.password().is_some())
}

/// `url` with `password` set in it (percent-encoded).
fn with_password(url: &str, password: &str) -> Result<String, String> {
    let mut parsed = reqwest::Url::parse(url).map_err(|e| format!("[store] url: {e}"))?;
    parsed
        .set_password(Some(password))
        .map_err(|()| "[store] url has no host to log in to".to_string())?;
    Ok(parsed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<StoreConfig, String> {
        let file: StoreFile = toml::from_str(text).map_err(|e| e.to_string())?;
        file.check(|_, key, m| ConfigError::Invalid {
            path: "config.toml".into(),
            line: 1,
            key: key.into(),
            message: m,
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_password_in_the_file_is_refused_and_password_env_fills_it_in() {
        let err = check("url = \"postgres://sortie:hunter2@db/sortie\"").unwrap_err();
        assert!(err.contains("never goes in the file"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = check("url = \"mysql://db/x\"").unwrap_err();
        assert!(err.contains("postgres://"), "{err}");
        let err = check("pool_size = 0").unwrap_err();
        assert!(err.contains("between 1 and 256"), "{err}");
        let ok = check("url = \"postgres://sortie@db:5432/sortie\"").expect("ok");
        assert_eq!(ok.pool_size, 16);
        let url = with_password(ok.url.as_deref().unwrap(), "p@ss word").expect("url");
        assert_eq!(url, "postgres://sortie:p%40ss%20word@db:5432/sortie");
    }
}
