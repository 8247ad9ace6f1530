//! `$SORTIE_HOME/config.toml`: named providers and defaults, with env overrides.
//!
//! ```toml
//! default_provider = "local"
//!
//! [providers.local]
//! kind = "openai-compatible"
//! base_url = "http://127.0.0.1:8000/v1"
//! api_key_env = "LOCAL_API_KEY"   # optional
//! model = "some-model"
//!
//! [providers.claude-code]          # built in; shown with its defaults
//! kind = "claude-code"
//! model = "sonnet"
//! credentials = "anthropic"        # lease `sortie auth` credentials of this provider
//! program = "claude"
//! home = "mission"                 # or "inherit", or a directory
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sortie_missions::PermissionPolicy;
use sortie_transports::auth::Strategy;
use sortie_transports::Price;

mod budget;
mod cache;
pub mod cluster;
mod instructions;
mod limits;
mod mcp;
pub mod mcp_login;
mod notify;
mod prompt_cache;
mod provider_checks;
mod providers;
mod redact;
pub(crate) mod sandbox;
mod store;
mod tools;
pub use budget::BudgetConfig;
pub use cache::ConfigCache;
pub use instructions::InstructionsConfig;
pub use limits::DaemonLimits;
pub use notify::NotifyConfig;
use providers::{builtin, provider_names, resolve};
pub use providers::{
    ClaudeCodeSettings, FlowName, OAuthSpec, OAuthTable, ProviderConfig, ProviderKind,
    ResolvedProvider,
};
pub use store::{StoreConfig, StoreLocation, STORE_URL_ENV};
pub use tools::ToolsConfig;

/// What a bad config file looks like to the user: the file, the key, the line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}, line {line}: `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
    #[error("{0}")]
    Provider(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    default_provider: Option<toml::Spanned<String>>,
    max_turns: Option<toml::Spanned<u32>>,
    permission: Option<toml::Spanned<String>>,
    pool_strategy: Option<toml::Spanned<String>>,
    #[serde(default)]
    fallback: Vec<toml::Spanned<String>>,
    #[serde(default)]
    auxiliary: AuxiliaryConfig,
    #[serde(default)]
    recovery: RecoveryConfig,
    #[serde(default)]
    daemon: DaemonConfig,
    #[serde(default)]
    sandbox: sortie_sandbox::SandboxPolicy,
    #[serde(default)]
    tools: ToolsConfig,
    #[serde(default)]
    instructions: InstructionsConfig,
    #[serde(default)]
    mcp_servers: mcp::McpServersFile,
    #[serde(default)]
    providers: BTreeMap<String, ProviderConfig>,
    #[serde(default)]
    prices: BTreeMap<String, Price>,
    #[serde(default)]
    budget: budget::BudgetFile,
    #[serde(default)]
    notify: notify::NotifyFile,
    #[serde(default)]
    store: store::StoreFile,
    #[serde(default)]
    cluster: cluster::ClusterConfig,
}

/// `[auxiliary]`: the client for titles and compression.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuxiliaryConfig {
    /// A cheap model for titles and summaries; default: the mission's own provider and model.
    pub provider: Option<String>,
    pub model: Option<String>,
    pub titles: bool,
    /// Compress when the history passes this fraction of `context_window` tokens.
    pub compress_at: f64,
    pub context_window: u64,
    /// Messages at the end that compression keeps as they are.
    pub keep_last: usize,
}

impl Default for AuxiliaryConfig {
    fn default() -> Self {
        Self {
            provider: None,
            model: None,
            titles: true,
            compress_at: 0.8,
            context_window: 128_000,
            keep_last: 6,
        }
    }
}

/// `[recovery]`: the bounds of the recovery engine.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecoveryConfig {
    /// Retries with backoff for overloads, 5xx, network errors and timeouts (default 4).
    pub max_backoffs: Option<u32>,
    /// Longest wait for rate-limited credentials in one turn, in seconds (default 300).
    pub max_wait_secs: Option<u64>,
}

/// `[daemon]`: `sortie serve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// The API's port on 127.0.0.1; 0 picks a free one (clients find it in daemon.json).
    pub port: u16,
    /// Missions running at once; more wait in the queue.
    pub max_concurrent: usize,
    /// Missions running at once per provider, e.g. `{ anthropic = 2 }`.
    pub per_provider: BTreeMap<String, usize>,
    /// Resume the missions a crash or stop interrupted when the daemon starts.
    pub resume_interrupted: bool,
    /// `sortie run`, `resume`, `missions`, `show`, `schedule` and `demo` start the daemon when
    /// none runs (the TUI always does).
    pub autostart: bool,
    /// A daemon started that way exits after this long idle (no mission, no schedule to
    /// fire, no request).
    pub idle_exit_secs: u64,
    /// A tool call of an `ask` mission waits this long for an answer, then is denied.
    pub approval_timeout_secs: u64,
    /// `[daemon.limits]`: bounds under floods.
    pub limits: DaemonLimits,
    /// Its name among the daemons of a shared store (default: the host name).
    pub name: Option<String>,
    /// What it offers missions started with `--on LABEL`.
    pub labels: Vec<String>,
    /// How long its hold on a mission lasts without a heartbeat (shared store only).
    pub lease_secs: u64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            port: 0,
            max_concurrent: 8,
            per_provider: BTreeMap::new(),
            resume_interrupted: true,
            autostart: true,
            idle_exit_secs: 900,
            approval_timeout_secs: 900,
            limits: Default::default(),
            name: None,
            labels: Vec::new(),
            lease_secs: 30,
        }
    }
}

/// The loaded configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub default_provider: Option<String>,
    pub max_turns: u32,
    pub permission: PermissionPolicy,
    pub providers: BTreeMap<String, ProviderConfig>,
    /// USD per million tokens, by model name (`[prices."model"]`).
    pub prices: BTreeMap<String, Price>,
    /// How the credential pool picks among a provider's credentials.
    pub pool_strategy: Strategy,
    /// `provider/model` pairs to move to, in order, when a model keeps failing.
    pub fallback: Vec<(String, String)>,
    pub auxiliary: AuxiliaryConfig,
    pub recovery: RecoveryConfig,
    pub daemon: DaemonConfig,
    /// `[sandbox]`: where what a mission runs is confined.
    pub sandbox: sortie_sandbox::SandboxPolicy,
    pub tools: ToolsConfig,
    /// `[instructions]`: project instructions in the system prompt.
    pub instructions: InstructionsConfig,
    /// `[mcp_servers.NAME]`: where missions take tools from beside the built-in ones.
    pub mcp_servers: BTreeMap<String, sortie_missions::mcp::ServerConfig>,
    /// `[budget]`: default limits per mission, and daily caps.
    pub budget: BudgetConfig,
    /// `[notify]`: where notices go (webhook, command).
    pub notify: NotifyConfig,
    /// `[store]`: the sled store of the data dir, or a shared PostgreSQL database.
    pub store: StoreConfig,
    /// `[cluster]`: caps across the daemons of a shared store.
    pub cluster: cluster::ClusterConfig,
}

pub const DEFAULT_MAX_TURNS: u32 = 50;

impl Config {
    /// Loads `home/config.toml`; a missing file is an empty config.
    pub fn load(home: &Path) -> Result<Self, ConfigError> {
        let path = home.join("config.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        Self::parse(&path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: redact::parse_error(&e, text),
        })?;
        let invalid =
            |span: std::ops::Range<usize>, key: &str, message: String| ConfigError::Invalid {
                path: path.to_path_buf(),
                line: text[..span.start.min(text.len())].matches('\n').count() + 1,
                key: key.to_string(),
                message,
            };
        let permission = match &file.permission {
            None => PermissionPolicy::Auto,
            Some(p) => p
                .get_ref()
                .parse()
                .map_err(|m| invalid(p.span(), "permission", m))?,
        };
        let pool_strategy = match &file.pool_strategy {
            None => Strategy::FillFirst,
            Some(p) => p
                .get_ref()
                .parse()
                .map_err(|m| invalid(p.span(), "pool_strategy", m))?,
        };
        let mut fallback = Vec::new();
        for entry in &file.fallback {
            match entry.get_ref().split_once('/') {
                Some((p, m)) if !p.is_empty() && !m.is_empty() => {
                    fallback.push((p.to_string(), m.to_string()))
                }
                _ => {
                    return Err(invalid(
                        entry.span(),
                        "fallback",
                        format!("`{}` is not `provider/model`", entry.get_ref()),
                    ))
                }
            }
        }
        if !(0.0..=1.0).contains(&file.auxiliary.compress_at) {
            return Err(ConfigError::Provider(format!(
                "{}: [auxiliary] compress_at must be between 0 and 1",
                path.display()
            )));
        }
        let max_turns = match &file.max_turns {
            None => DEFAULT_MAX_TURNS,
            Some(n) if *n.get_ref() == 0 => {
                return Err(invalid(n.span(), "max_turns", "must be at least 1".into()))
            }
            Some(n) => *n.get_ref(),
        };
        if let Some(name) = &file.default_provider {
            let known =
                file.providers.contains_key(name.get_ref()) || builtin(name.get_ref()).is_some();
            if !known {
                return Err(invalid(
                    name.span(),
                    "default_provider",
                    format!(
                        "no provider named `{}`; define [providers.{}] or use one of: {}",
                        name.get_ref(),
                        name.get_ref(),
                        provider_names(&file.providers).join(", ")
                    ),
                ));
            }
        }
        sandbox::check(path, &file.sandbox, &file.tools, &file.providers)?;
        let notify = file.notify.check(invalid)?;
        let store = file.store.check(invalid)?;
        cluster::check(path, &file.daemon, &file.cluster)?;
        Ok(Self {
            path: path.to_path_buf(),
            default_provider: file.default_provider.map(|s| s.into_inner()),
            max_turns,
            permission,
            providers: file.providers,
            prices: file.prices,
            pool_strategy,
            fallback,
            auxiliary: file.auxiliary,
            recovery: file.recovery,
            daemon: file.daemon,
            sandbox: file.sandbox,
            tools: file.tools,
            instructions: file.instructions,
            mcp_servers: file.mcp_servers.check(path, text)?,
            budget: file.budget.check(path)?,
            notify,
            store,
            cluster: file.cluster,
        })
    }

    /// Every provider name a user can pass to `--provider`.
    pub fn provider_names(&self) -> Vec<String> {
        provider_names(&self.providers)
    }

    /// The provider `name` (or the default one), with presets, env and key applied.
    pub fn provider(&self, name: Option<&str>) -> Result<ResolvedProvider, ConfigError> {
        let name = name
            .map(str::to_string)
            .or_else(|| self.default_provider.clone())
            .unwrap_or_else(|| "openai".to_string());
        if let Some(server) = name.strip_prefix(mcp_login::PREFIX) {
            return self.mcp_login(server);
        }
        let config = match self.providers.get(&name) {
            Some(c) => c.clone(),
            None => builtin(&name).ok_or_else(|| {
                ConfigError::Provider(format!(
                    "unknown provider `{name}`; known providers: {} (add [providers.{name}] to {})",
                    self.provider_names().join(", "),
                    self.path.display()
                ))
            })?,
        };
        resolve(&name, config, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/h/config.toml"), text)
    }

    #[test]
    fn the_cache_parses_the_file_again_only_when_it_changed() {
        let home = tempfile::tempdir().expect("home");
        let file = home.path().join("config.toml");
        let cache = ConfigCache::new(home.path().to_path_buf());
        let none = cache.load().expect("no file is an empty config");
        assert_eq!(none.default_provider, None);
        std::fs::write(&file, "default_provider = \"openai\"\n").expect("write");
        let first = cache.load().expect("load");
        assert_eq!(first.default_provider.as_deref(), Some("openai"));
        let again = cache.load().expect("load");
        assert!(std::sync::Arc::ptr_eq(&first, &again), "not parsed again");
        // The same size, written through a new file and a rename.
        let next = home.path().join("config.toml.new");
        std::fs::write(&next, "default_provider = \"ollama\"\n").expect("write");
        std::fs::rename(&next, &file).expect("rename");
        let changed = cache.load().expect("load");
        assert_eq!(changed.default_provider.as_deref(), Some("ollama"));
        std::fs::write(&file, "default_provider = [").expect("write");
        assert!(
            matches!(cache.load(), Err(ConfigError::Parse { .. })),
            "a broken file is an error, not the last good config"
        );
        assert!(matches!(cache.load(), Err(ConfigError::Parse { .. })));
        std::fs::remove_file(&file).expect("remove");
        assert_eq!(cache.load().expect("load").default_provider, None);
    }

    #[test]
    fn the_documented_shape_parses() {
        let c = parse(
            r#"
default_provider = "local"

[providers.local]
kind = "openai-compatible"
base_url = "http://127.0.0.1:8000/v1"
model = "some-model"
"#,
        )
        .expect("parses");
        let p = c.provider(None).expect("resolves");
        assert_eq!(p.name, "local");
        assert_eq!(p.base_url, "http://127.0.0.1:8000/v1");
        assert_eq!(p.model.as_deref(), Some("some-model"));
        assert!(p.api_key.is_none());
    }

    #[test]
    fn a_typo_names_the_file_and_line() {
        let err = parse("default_provider = \"x\"\n[providers.x]\nkind = \"openai-compatible\"\nbase_ur = \"y\"\n")
            .expect_err("unknown key");
        let text = err.to_string();
        assert!(text.starts_with("/h/config.toml"), "{text}");
        assert!(text.contains("line 4"), "{text}");
        assert!(text.contains("base_ur"), "{text}");
    }

    #[test]
    fn an_unknown_default_provider_names_the_key_and_line() {
        let err = parse("\n\ndefault_provider = \"nope\"\n").expect_err("unknown provider");
        let text = err.to_string();
        assert!(text.contains("line 3"), "{text}");
        assert!(text.contains("`default_provider`"), "{text}");
        assert!(text.contains("no provider named `nope`"), "{text}");
    }

    #[test]
    fn a_bad_permission_value_is_explained() {
        let err = parse("permission = \"yolo\"\n").expect_err("bad policy");
        assert!(
            err.to_string().contains("expected auto, read-only or ask"),
            "{err}"
        );
    }

    #[test]
    fn unknown_providers_list_the_known_ones() {
        let err = parse("")
            .expect("empty")
            .provider(Some("nope"))
            .expect_err("unknown");
        let text = err.to_string();
        assert!(text.contains("unknown provider `nope`"));
        assert!(
            text.contains("openai, anthropic, xai, openrouter, ollama, codex"),
            "{text}"
        );
    }

    #[test]
    fn prices_and_anthropic_settings_parse() {
        let c = parse(
            "[providers.claude]\nkind = \"anthropic\"\napi_key_env = \"PATH\"\nthinking_budget = 2048\n\n[prices.\"claude-x\"]\ninput = 3.0\noutput = 15.0\ncache_read = 0.3\n",
        )
        .expect("parses");
        assert_eq!(c.prices["claude-x"].output, 15.0);
        let p = c.provider(Some("claude")).expect("resolves");
        assert_eq!(p.base_url, "https://api.anthropic.com");
        assert_eq!(p.thinking_budget, Some(2048));
        let err =
            parse("[prices.m]\ninput = 1.0\noutput = 2.0\ncahce_read = 1.0\n").expect_err("typo");
        assert!(err.to_string().contains("cahce_read"), "{err}");
    }

    #[test]
    fn a_missing_key_variable_is_named() {
        let c = parse("[providers.p]\nkind = \"openai-compatible\"\nbase_url = \"http://x/v1\"\napi_key_env = \"SORTIE_TEST_UNSET_KEY_VAR\"\n")
            .expect("parses");
        let p = c.provider(Some("p")).expect("resolves");
        assert!(p.api_key.is_none());
        assert!(p
            .missing_key
            .expect("a hint")
            .contains("$SORTIE_TEST_UNSET_KEY_VAR"));
    }
}
