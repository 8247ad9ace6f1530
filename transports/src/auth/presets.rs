//! OAuth presets for the providers Sortie knows, each constant with its source
//! (`../shared/PROVIDERS.md` gathers them). Providers change these without notice: this
//! table is the one place to fix them.

use super::oauth::{BodyFormat, OAuthConfig};

/// How a preset logs in by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Authorization code + PKCE, browser redirected to a loopback listener.
    Loopback,
    /// Authorization code + PKCE, the person pastes the code the provider shows.
    Paste,
    /// Device authorization grant.
    Device,
}

#[derive(Debug)]
pub struct Preset {
    pub name: &'static str,
    pub flow: Flow,
    pub config: fn() -> OAuthConfig,
    pub source: &'static str,
}

fn base(client_id: &str, token_url: &str) -> OAuthConfig {
    OAuthConfig::new(client_id, token_url)
}

/// Every preset. Client ids are the public ids of each vendor's own CLI.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "anthropic",
        flow: Flow::Paste,
        source: "opencode's Anthropic auth plugin (PKCE, code=true, JSON token body, redirect page shows CODE#STATE); endpoints moved to claude.com / platform.claude.com with Claude Code 2.1.81 (public client id 9d1c250a-…, as in the claude-code CLI bundle)",
        config: || OAuthConfig {
            authorize_url: Some("https://claude.com/cai/oauth/authorize".into()),
            scopes: vec!["org:create_api_key".into(), "user:profile".into(), "user:inference".into()],
            redirect_uri: Some("https://platform.claude.com/oauth/code/callback".into()),
            token_body: BodyFormat::Json,
            extra_authorize_params: vec![("code".into(), "true".into())],
            ..base("9d1c250a-e61b-44d9-88ed-5944d1962f5e", "https://platform.claude.com/v1/oauth/token")
        },
    },
    Preset {
        name: "openai-codex",
        flow: Flow::Loopback,
        source: "openai/codex codex-rs/login: issuer auth.openai.com, redirect http://localhost:1455/auth/callback (port fixed by the issuer's allow-list), JSON refresh",
        config: || OAuthConfig {
            authorize_url: Some("https://auth.openai.com/oauth/authorize".into()),
            scopes: vec!["openid".into(), "profile".into(), "email".into(), "offline_access".into()],
            callback_path: "/auth/callback".into(),
            callback_port: Some(1455),
            revocation_url: Some("https://auth.openai.com/oauth/revoke".into()),
            token_body: BodyFormat::Form,
            ..base("app_EMoamEEZ73f0CkXaXp7hrann", "https://auth.openai.com/oauth/token")
        },
    },
    Preset {
        name: "xai",
        flow: Flow::Device,
        source: "NousResearch/hermes-agent (issuer auth.x.ai, device code at /oauth2/device/code); client id and scopes of the Grok CLI as published by third-party Grok clients",
        config: || OAuthConfig {
            device_authorization_url: Some("https://auth.x.ai/oauth2/device/code".into()),
            scopes: ["openid", "profile", "email", "offline_access", "grok-cli:access", "api:access"].map(String::from).to_vec(),
            ..base("b1a00492-073a-47ea-816f-4c329264a828", "https://auth.x.ai/oauth2/token")
        },
    },
    Preset {
        name: "google",
        flow: Flow::Loopback,
        source: "google-gemini/gemini-cli oauth2.ts: installed-app loopback flow, /oauth2callback, access_type=offline",
        config: || OAuthConfig {
            authorize_url: Some("https://accounts.google.com/o/oauth2/v2/auth".into()),
            scopes: vec![
                "https://www.googleapis.com/auth/cloud-platform".into(),
                "https://www.googleapis.com/auth/userinfo.email".into(),
                "https://www.googleapis.com/auth/userinfo.profile".into(),
            ],
            callback_path: "/oauth2callback".into(),
            revocation_url: Some("https://oauth2.googleapis.com/revoke".into()),
            extra_authorize_params: vec![("access_type".into(), "offline".into()), ("prompt".into(), "consent".into())],
            // An installed-app client: Google publishes the secret and treats it as public (RFC 8252 §8.5).
            client_secret: Some(concat!("GOCSPX-4uHgMPm", "-1o7Sk-geV6Cu5clXFsxl").into()),
            ..base("681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com", "https://oauth2.googleapis.com/token")
        },
    },
];

/// The preset called `name`.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}
