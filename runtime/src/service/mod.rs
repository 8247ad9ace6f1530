//! What Sortie does on a data dir, for every front end (the CLI, the TUI through the
//! daemon, the daemon's routes): missions, accounts, schedules, models, the demo. No
//! terminal output and no HTTP here: callers show the results.

pub mod account_store;
pub mod accounts;
pub mod budgets;
pub mod credentials;
pub mod demo;
pub mod forks;
mod key_hint;
pub mod mcp;
pub mod mcp_login;
pub mod missions;
pub mod models;
pub mod notify;
pub mod revocation;
pub mod sandboxing;
pub mod schedules;
pub mod store_copy;
pub mod store_migrate;
pub mod usage;
pub mod worktree;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use sortie_missions::{SharedStore, Store};
use sortie_transports::auth::{Credentials, StaticKey};
use sortie_transports::claude_code::{ClaudeCode, ClaudeCodeConfig};
use sortie_transports::direct::{
    AnthropicAuth, AnthropicConfig, AnthropicMessages, OpenAiChat, OpenAiChatConfig,
    OpenAiResponses, ResponsesConfig,
};
use sortie_transports::Transport;

use crate::config::{ProviderKind, ResolvedProvider};

/// Opens the store, as its one owner: first kills what a Sortie process that owned it and
/// died left running (its tools, its Claude Code CLI), so nothing runs twice on resume.
pub fn open_store(home: &Path) -> anyhow::Result<Store> {
    let store = open_store_only(home)?;
    for line in sandboxing::sweep(home) {
        tracing::warn!("{line}");
        eprintln!("sortie: {line}");
    }
    Ok(store)
}

/// The stores a command that does its work in this process works on.
pub struct HereStores {
    /// The data dir's sled store: credentials and pending logins, unless the missions are
    /// on PostgreSQL (then they are there: see [`account_store::AccountStore`]).
    pub local: Store,
    /// Missions, events and schedules: `local`, or the PostgreSQL store of `[store]`.
    pub missions: SharedStore,
}

/// Opens the stores of the data dir at `home` for this process (see [`open_store`]).
pub async fn open_here(home: &Path) -> anyhow::Result<HereStores> {
    open_here_with(home, &crate::config::Config::load(home)?).await
}

/// [`open_here`] for a command that has read `config.toml` already.
pub async fn open_here_with(
    home: &Path,
    config: &crate::config::Config,
) -> anyhow::Result<HereStores> {
    let local = open_store(home)?;
    let missions = mission_store(&local, config).await?;
    Ok(HereStores { local, missions })
}

/// The store missions are kept in, as `[store]` (or `SORTIE_STORE_URL`) says: the data
/// dir's sled store `local`, or a PostgreSQL database (connected, its schema brought up to
/// this build's; one from a newer sortie is refused).
pub async fn mission_store(
    local: &Store,
    config: &crate::config::Config,
) -> anyhow::Result<SharedStore> {
    match config.store.location().map_err(anyhow::Error::msg)? {
        crate::config::StoreLocation::Sled => Ok(Arc::new(local.clone())),
        crate::config::StoreLocation::Postgres(url) => {
            Ok(Arc::new(open_postgres(&url, config).await?))
        }
    }
}

/// Connects to the PostgreSQL store at `url` (errors name it without its password).
pub async fn open_postgres(
    url: &str,
    config: &crate::config::Config,
) -> anyhow::Result<sortie_missions::postgres::PgStore> {
    let options = sortie_missions::postgres::PgOptions {
        connect_timeout: std::time::Duration::from_secs(config.store.connect_timeout_secs),
        pool_size: config.store.pool_size,
        ..Default::default()
    };
    Ok(sortie_missions::postgres::PgStore::open_with(url, options).await?)
}

fn open_store_only(home: &Path) -> anyhow::Result<Store> {
    match Store::open(home) {
        Err(sortie_missions::StoreError::Locked { .. })
            if crate::api::instance::info_path(home).exists() =>
        {
            anyhow::bail!(
                "the sortie daemon serving {} holds the store; this command does not go through the daemon: stop it with `sortie serve --stop`, run the command, then start it again",
                home.display()
            )
        }
        other => Ok(other?),
    }
}

/// Builds the transport for a resolved provider; `credentials` (the pool) win over the
/// provider's configured key.
pub fn transport_for(
    provider: &ResolvedProvider,
    credentials: Option<Credentials>,
) -> anyhow::Result<Arc<dyn Transport>> {
    if let Some(server) = provider.name.strip_prefix(crate::config::mcp_login::PREFIX) {
        anyhow::bail!(
            "`{}` is the login of MCP server `{server}`, not a model provider",
            provider.name
        );
    }
    let key_var = provider
        .api_key_var
        .clone()
        .filter(|_| credentials.is_none());
    let transport: Arc<dyn Transport> = match provider.kind {
        ProviderKind::ClaudeCode => {
            let settings = provider
                .claude_code
                .clone()
                .context("a claude-code provider without its settings")?;
            let mut config = ClaudeCodeConfig::new(settings.program);
            config.base_url = (!provider.base_url.is_empty()).then(|| provider.base_url.clone());
            config.credentials = credentials.or_else(|| {
                provider
                    .api_key
                    .clone()
                    .map(|key| Credentials::new(StaticKey::new(&provider.name, Some(key))))
            });
            config.home = settings.home;
            config.idle_timeout = provider.idle_timeout;
            config.max_retries = settings.max_retries;
            config.extra_args = settings.args;
            config.env = settings.env;
            Arc::new(ClaudeCode::new(config))
        }
        ProviderKind::Anthropic => {
            let mut config = AnthropicConfig::new(&provider.base_url);
            config.auth = provider.api_key.clone().map(AnthropicAuth::ApiKey);
            config.credentials = credentials;
            config.headers = provider.headers.clone();
            config.idle_timeout = provider.idle_timeout;
            config.thinking_budget = provider.thinking_budget;
            config.prompt_cache = provider.prompt_cache;
            if let Some(max) = provider.max_tokens {
                config.max_tokens = max;
            }
            Arc::new(AnthropicMessages::new(config)?)
        }
        ProviderKind::OpenaiResponses => {
            let mut config = ResponsesConfig::new(&provider.base_url);
            config.api_key = provider.api_key.clone();
            config.credentials = credentials;
            config.headers = provider.headers.clone();
            config.idle_timeout = provider.idle_timeout;
            config.prompt_cache = provider.prompt_cache;
            Arc::new(OpenAiResponses::new(config)?)
        }
        _ => {
            let mut config = OpenAiChatConfig::new(&provider.base_url);
            config.api_key = provider.api_key.clone();
            config.credentials = credentials;
            config.headers = provider.headers.clone();
            config.stream = provider.stream;
            config.idle_timeout = provider.idle_timeout;
            config.prompt_cache = provider.prompt_cache;
            Arc::new(OpenAiChat::new(config)?)
        }
    };
    Ok(key_hint::naming_the_key(transport, &provider.name, key_var))
}
