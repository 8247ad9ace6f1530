//! `[providers.NAME]`: the kinds, the built-in providers, and how a name resolves to the
//! settings a transport is made from (keys from the environment, OAuth presets).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sortie_transports::auth::presets::{self, Flow, Preset};
use sortie_transports::claude_code::HomeDir;
use sortie_transports::Secret;

use super::ConfigError;

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
    /// `false` sends no prompt-cache fields (`cache_control`, `prompt_cache_key`).
    pub prompt_cache: Option<bool>,
    /// Anthropic's cache lifetime: `"5m"` (default) or `"1h"`.
    pub prompt_cache_ttl: Option<String>,
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
    /// The login of an MCP server (`mcp:NAME`): discovered from the server.
    Mcp(super::mcp_login::McpLogin),
}

/// A provider ready to use: every default and override applied.
#[derive(Debug, Clone)]
pub struct ResolvedProvider {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub api_key: Option<Secret>,
    /// The environment variable `api_key` was read from, named when the key is refused.
    pub api_key_var: Option<String>,
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
    /// Prompt caching (`prompt_cache`, `prompt_cache_ttl`).
    pub prompt_cache: sortie_transports::direct::PromptCache,
}

/// Providers that exist without any config: one per OpenAI-compatible preset.
pub(super) fn builtin(name: &str) -> Option<ProviderConfig> {
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
        prompt_cache: None,
        prompt_cache_ttl: None,
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

pub(super) fn provider_names(configured: &BTreeMap<String, ProviderConfig>) -> Vec<String> {
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
pub(super) fn oauth_spec(
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

pub(super) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub(super) fn resolve(
    name: &str,
    config: ProviderConfig,
    path: &Path,
) -> Result<ResolvedProvider, ConfigError> {
    let kind = config.kind;
    if kind == ProviderKind::ClaudeCode {
        return resolve_claude_code(name, config, path);
    }
    super::provider_checks::stream_setting(name, kind, config.stream, path)?;
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
        api_key_var: key_env.clone().filter(|_| !no_key),
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
        prompt_cache: super::prompt_cache::resolve(
            name,
            config.prompt_cache,
            config.prompt_cache_ttl.as_deref(),
        )?,
    })
}

/// A `claude-code` provider: the CLI, where it keeps its state, and whose credentials it
/// runs with. Without a stored credential or `ANTHROPIC_API_KEY` the CLI uses its own login.
pub(super) fn resolve_claude_code(
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
    let api_key = env(&key_env).map(|key| Secret::new(key.trim()));
    Ok(ResolvedProvider {
        name: name.to_string(),
        kind: ProviderKind::ClaudeCode,
        base_url: config.base_url.unwrap_or_default(),
        api_key_var: api_key.as_ref().map(|_| key_env.clone()),
        api_key,
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
        prompt_cache: Default::default(),
    })
}
