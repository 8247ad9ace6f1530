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
use std::time::Duration;

use serde::Deserialize;
use sortie_missions::PermissionPolicy;
use sortie_transports::auth::presets::{self, Flow, Preset};
use sortie_transports::auth::Strategy;
use sortie_transports::claude_code::HomeDir;
use sortie_transports::{Price, Secret};

mod limits;
mod provider_checks;
mod redact;
pub(crate) mod sandbox;
mod tools;
pub use limits::DaemonLimits;
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

/// The kinds of provider. The OpenAI-compatible presets only differ in their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    OpenaiCompatible,
    Openai,
    Xai,
    Openrouter,
    Ollama,
    Vllm,
    OpenaiResponses,
    Anthropic,
    ClaudeCode,
}

impl ProviderKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ProviderKind::OpenaiCompatible => "openai-compatible",
            ProviderKind::Openai => "openai",
            ProviderKind::Xai => "xai",
            ProviderKind::Openrouter => "openrouter",
            ProviderKind::Ollama => "ollama",
            ProviderKind::Vllm => "vllm",
            ProviderKind::OpenaiResponses => "openai-responses",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::ClaudeCode => "claude-code",
        }
    }

    /// Default base URL, key variable and model of each preset.
    fn preset(&self) -> KindDefaults {
        let p = |base_url, api_key_env, model| KindDefaults {
            base_url,
            api_key_env,
            model,
        };
        match self {
            ProviderKind::Openai => p(
                Some("https://api.openai.com/v1"),
                Some("OPENAI_API_KEY"),
                Some("gpt-4.1-mini"),
            ),
            ProviderKind::Xai => p(
                Some("https://api.x.ai/v1"),
                Some("XAI_API_KEY"),
                Some("grok-4"),
            ),
            ProviderKind::Openrouter => p(
                Some("https://openrouter.ai/api/v1"),
                Some("OPENROUTER_API_KEY"),
                None,
            ),
            ProviderKind::Ollama => p(Some("http://127.0.0.1:11434/v1"), None, None),
            ProviderKind::OpenaiResponses => p(
                Some("https://api.openai.com/v1"),
                Some("OPENAI_API_KEY"),
                Some("gpt-4.1-mini"),
            ),
            ProviderKind::Anthropic => p(
                Some("https://api.anthropic.com"),
                Some("ANTHROPIC_API_KEY"),
                Some("claude-sonnet-4-5"),
            ),
            ProviderKind::Vllm => p(Some("http://127.0.0.1:8000/v1"), None, None),
            _ => p(None, None, None),
        }
    }
}

struct KindDefaults {
    base_url: Option<&'static str>,
    api_key_env: Option<&'static str>,
    model: Option<&'static str>,
}

/// One `[providers.NAME]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    pub base_url: Option<String>,
    /// The environment variable that holds the API key (the key itself never goes in the file).
    pub api_key_env: Option<String>,
    pub model: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `false` asks for whole answers instead of a stream.
    pub stream: Option<bool>,
    /// Seconds a stream may stay silent before the turn times out (default 120).
    pub idle_timeout_secs: Option<u64>,
    /// Anthropic: `max_tokens` of each request (default 8192).
    pub max_tokens: Option<u32>,
    /// Anthropic: extended thinking budget in tokens (off when absent).
    pub thinking_budget: Option<u32>,
    /// OAuth login for this provider (see [`OAuthTable`]).
    pub oauth: Option<OAuthTable>,
    /// Use a built-in OAuth preset: anthropic, openai-codex, xai, google.
    pub oauth_preset: Option<String>,
    /// The provider whose stored credentials this one leases (default: its own name; for
    /// `claude-code`, `anthropic`).
    pub credentials: Option<String>,
    /// claude-code: the `claude` executable (default `claude`, looked up on PATH).
    pub program: Option<String>,
    /// claude-code: the CLI's HOME: `mission` (one owner-only directory per mission under
    /// the data dir, the default), `inherit` (yours: its own login and settings) or a path.
    pub home: Option<String>,
    /// claude-code: `CLAUDE_CODE_MAX_RETRIES` (default 0: Sortie's recovery retries).
    pub max_retries: Option<u32>,
    /// claude-code: more arguments for every run.
    #[serde(default)]
    pub args: Vec<String>,
    /// claude-code: more environment for every run.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// How a `claude-code` provider runs the CLI.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaudeCodeSettings {
    pub program: String,
    pub home: HomeDir,
    pub max_retries: u32,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// How a login runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowName {
    Loopback,
    Paste,
    Device,
}

impl From<FlowName> for Flow {
    fn from(f: FlowName) -> Self {
        match f {
            FlowName::Loopback => Flow::Loopback,
            FlowName::Paste => Flow::Paste,
            FlowName::Device => Flow::Device,
        }
    }
}

/// `[providers.NAME.oauth]`: an issuer to discover, or explicit endpoints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthTable {
    /// Discovery: `<issuer>/.well-known/openid-configuration` or `oauth-authorization-server`.
    pub issuer: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub device_authorization_url: Option<String>,
    pub revocation_url: Option<String>,
    pub client_id: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// loopback (default when there is an authorize endpoint), paste or device.
    pub flow: Option<FlowName>,
    /// Fixed port for the loopback callback (default: any free port).
    pub callback_port: Option<u16>,
    /// A fixed redirect URI (for paste flows that land on a provider page).
    pub redirect_uri: Option<String>,
}

/// Where a provider's OAuth settings come from.
#[derive(Debug, Clone)]
pub enum OAuthSpec {
    Table(OAuthTable),
    Preset(&'static Preset),
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
    providers: BTreeMap<String, ProviderConfig>,
    #[serde(default)]
    prices: BTreeMap<String, Price>,
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
}

/// A provider ready to use: every default and override applied.
#[derive(Debug, Clone)]
pub struct ResolvedProvider {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub model: Option<String>,
    pub headers: Vec<(String, String)>,
    pub stream: bool,
    pub idle_timeout: Duration,
    pub max_tokens: Option<u32>,
    pub thinking_budget: Option<u32>,
    /// Why no key could be found, when a key is needed and none is set; a stored credential
    /// (`sortie auth ...`) makes this moot.
    pub missing_key: Option<String>,
    pub oauth: Option<OAuthSpec>,
    /// The provider whose stored credentials this one leases.
    pub credentials_from: String,
    /// How to run the CLI, for a `claude-code` provider.
    pub claude_code: Option<ClaudeCodeSettings>,
}

pub const DEFAULT_MAX_TURNS: u32 = 50;

/// `config.toml` as the daemon reads it for every mission it starts: parsed again only when
/// the file changed (its size, times or inode differ), so a thousand missions started at
/// once do not read and parse it a thousand times, and an edit is seen by the next mission.
pub struct ConfigCache {
    home: PathBuf,
    last: std::sync::Mutex<Option<(Option<FileStamp>, std::sync::Arc<Config>)>>,
}

/// What tells one version of a file from another without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    /// Change time and inode (a file replaced through a rename keeps neither).
    changed: (i64, i64),
    inode: u64,
}

/// The stamp of the file at `path`; `None` when there is no file.
fn file_stamp(path: &Path) -> std::io::Result<Option<FileStamp>> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    #[cfg(unix)]
    let (changed, inode) = {
        use std::os::unix::fs::MetadataExt;
        ((meta.ctime(), meta.ctime_nsec()), meta.ino())
    };
    #[cfg(not(unix))]
    let (changed, inode) = ((0, 0), 0);
    Ok(Some(FileStamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        changed,
        inode,
    }))
}

impl ConfigCache {
    pub fn new(home: PathBuf) -> Self {
        Self {
            home,
            last: std::sync::Mutex::new(None),
        }
    }

    /// The config as the file now says; a file that cannot be read or parsed is an error
    /// every time, as with [`Config::load`].
    pub fn load(&self) -> Result<std::sync::Arc<Config>, ConfigError> {
        let path = self.home.join("config.toml");
        // Stamped before reading: a change in between is seen at the next load.
        let Ok(stamp) = file_stamp(&path) else {
            return Config::load(&self.home).map(std::sync::Arc::new);
        };
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, config)) = &*last {
            if *seen == stamp {
                return Ok(config.clone());
            }
        }
        let config = std::sync::Arc::new(Config::load(&self.home)?);
        *last = Some((stamp, config.clone()));
        Ok(config)
    }
}

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

/// Providers that exist without any config: one per OpenAI-compatible preset.
fn builtin(name: &str) -> Option<ProviderConfig> {
    let kind = match name {
        "openai" => ProviderKind::Openai,
        "xai" => ProviderKind::Xai,
        "openrouter" => ProviderKind::Openrouter,
        "ollama" => ProviderKind::Ollama,
        "anthropic" => ProviderKind::Anthropic,
        "codex" => ProviderKind::OpenaiResponses,
        "claude-code" => ProviderKind::ClaudeCode,
        _ => return None,
    };
    Some(ProviderConfig {
        kind,
        base_url: None,
        api_key_env: None,
        model: None,
        headers: BTreeMap::new(),
        stream: None,
        idle_timeout_secs: None,
        max_tokens: None,
        thinking_budget: None,
        oauth: None,
        oauth_preset: None,
        credentials: None,
        program: None,
        home: None,
        max_retries: None,
        args: Vec::new(),
        env: BTreeMap::new(),
    })
    .map(|mut c| {
        if name == "codex" {
            // ChatGPT (Codex) accounts log in with OAuth and use the Codex backend.
            c.base_url = Some("https://chatgpt.com/backend-api/codex".into());
            c.oauth_preset = Some("openai-codex".into());
        }
        c
    })
}

fn provider_names(configured: &BTreeMap<String, ProviderConfig>) -> Vec<String> {
    let mut names: Vec<String> = configured.keys().cloned().collect();
    for b in [
        "openai",
        "anthropic",
        "xai",
        "openrouter",
        "ollama",
        "codex",
        "claude-code",
    ] {
        if !configured.contains_key(b) {
            names.push(b.to_string());
        }
    }
    names
}

/// The OAuth settings of a provider: its table, the preset it names, or the preset of a
/// built-in provider with the same name.
fn oauth_spec(
    name: &str,
    table: Option<OAuthTable>,
    preset_name: Option<&str>,
) -> Result<Option<OAuthSpec>, ConfigError> {
    if let Some(table) = table {
        if table.issuer.is_none() && table.token_url.is_none() {
            return Err(ConfigError::Provider(format!(
                "[providers.{name}.oauth] needs `issuer` (for discovery) or `token_url`"
            )));
        }
        return Ok(Some(OAuthSpec::Table(table)));
    }
    let wanted = preset_name.or(match name {
        "anthropic" | "xai" | "google" => Some(name),
        _ => None,
    });
    match wanted {
        None => Ok(None),
        Some(p) => presets::preset(p)
            .map(|p| Some(OAuthSpec::Preset(p)))
            .ok_or_else(|| {
                let known: Vec<&str> = presets::PRESETS.iter().map(|p| p.name).collect();
                ConfigError::Provider(format!(
                    "unknown oauth_preset `{p}` for provider `{name}`; known: {}",
                    known.join(", ")
                ))
            }),
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn resolve(
    name: &str,
    config: ProviderConfig,
    path: &Path,
) -> Result<ResolvedProvider, ConfigError> {
    let kind = config.kind;
    if kind == ProviderKind::ClaudeCode {
        return resolve_claude_code(name, config, path);
    }
    provider_checks::stream_setting(name, kind, config.stream, path)?;
    let preset = kind.preset();
    // OPENAI_BASE_URL / OPENAI_API_KEY override the `openai` kind, so any OpenAI-compatible
    // endpoint works with two variables and no file.
    let env_base = (kind == ProviderKind::Openai)
        .then(|| env("OPENAI_BASE_URL"))
        .flatten();
    let key_optional = kind == ProviderKind::OpenaiCompatible && config.api_key_env.is_none()
        || env_base.is_some();
    let base_url = env_base
        .or(config.base_url)
        .or(preset.base_url.map(String::from))
        .ok_or_else(|| {
            ConfigError::Provider(format!(
                "provider `{name}` has no base_url; set it in [providers.{name}] of {}",
                path.display()
            ))
        })?;
    let key_env = config
        .api_key_env
        .clone()
        .or(preset.api_key_env.map(String::from));
    let api_key = key_env
        .as_deref()
        .and_then(env)
        .map(|key| Secret::new(key.trim()));
    let no_key = api_key.is_none();
    Ok(ResolvedProvider {
        name: name.to_string(),
        kind,
        base_url,
        api_key,
        model: config.model.or(preset.model.map(String::from)),
        headers: config.headers.into_iter().collect(),
        stream: config.stream.unwrap_or(true),
        idle_timeout: Duration::from_secs(config.idle_timeout_secs.unwrap_or(120).max(1)),
        max_tokens: config.max_tokens,
        thinking_budget: config.thinking_budget,
        missing_key: match (&key_env, no_key) {
            (Some(var), true) if !key_optional => Some(format!(
                "provider `{name}` needs an API key in ${var}, which is not set; or store a credential with `sortie auth add-key {name}` / `sortie auth login {name}` (try `sortie demo` to see sortie run without one)"
            )),
            _ => None,
        },
        oauth: oauth_spec(name, config.oauth, config.oauth_preset.as_deref())?,
        credentials_from: config.credentials.unwrap_or_else(|| name.to_string()),
        claude_code: None,
    })
}

/// A `claude-code` provider: the CLI, where it keeps its state, and whose credentials it
/// runs with. Without a stored credential or `ANTHROPIC_API_KEY` the CLI uses its own login.
fn resolve_claude_code(
    name: &str,
    config: ProviderConfig,
    path: &Path,
) -> Result<ResolvedProvider, ConfigError> {
    let data_dir = path.parent().unwrap_or(Path::new("."));
    let home = match config.home.as_deref().map(str::trim) {
        None | Some("mission") => HomeDir::PerConversation(data_dir.join("claude-code")),
        Some("inherit") => HomeDir::Inherit,
        Some("") => {
            return Err(ConfigError::Provider(format!(
                "[providers.{name}] home is empty; use \"mission\", \"inherit\" or a directory"
            )))
        }
        Some(dir) => HomeDir::Fixed(PathBuf::from(dir)),
    };
    let key_env = config
        .api_key_env
        .clone()
        .unwrap_or_else(|| "ANTHROPIC_API_KEY".to_string());
    Ok(ResolvedProvider {
        name: name.to_string(),
        kind: ProviderKind::ClaudeCode,
        base_url: config.base_url.unwrap_or_default(),
        api_key: env(&key_env).map(|key| Secret::new(key.trim())),
        model: config.model.or(Some("sonnet".to_string())),
        headers: Vec::new(),
        stream: true,
        idle_timeout: Duration::from_secs(config.idle_timeout_secs.unwrap_or(600).max(1)),
        max_tokens: None,
        thinking_budget: None,
        missing_key: None,
        oauth: None,
        credentials_from: config
            .credentials
            .unwrap_or_else(|| "anthropic".to_string()),
        claude_code: Some(ClaudeCodeSettings {
            program: config.program.unwrap_or_else(|| "claude".to_string()),
            home,
            max_retries: config.max_retries.unwrap_or(0),
            args: config.args,
            env: config.env.into_iter().collect(),
        }),
    })
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
