//! `mcp:NAME`: the OAuth login of MCP server NAME, seen as a provider of credentials, so
//! that `sortie auth login mcp:NAME`, the sealed credential store, the pool's refreshes and
//! `sortie auth list` treat it as they treat every other login.

use std::path::PathBuf;
use std::time::Duration;

use sortie_missions::mcp::OAuthSettings;

use super::{Config, ConfigError, OAuthSpec, ProviderKind, ResolvedProvider};

/// Every MCP login's provider name starts with this.
pub const PREFIX: &str = "mcp:";

/// What a login to an MCP server needs: its endpoint and `[mcp_servers.NAME.oauth]`.
#[derive(Debug, Clone)]
pub struct McpLogin {
    pub server: String,
    pub url: String,
    pub settings: OAuthSettings,
    /// The data dir (where the registered clients are kept).
    pub home: PathBuf,
}

impl Config {
    /// The provider names of the MCP servers one can log in to (`url` servers without
    /// `bearer_token_env`).
    pub fn mcp_login_providers(&self) -> Vec<String> {
        self.mcp_servers
            .iter()
            .filter(|(_, c)| c.may_log_in())
            .map(|(name, _)| format!("{PREFIX}{name}"))
            .collect()
    }

    /// The provider `mcp:SERVER`: server `SERVER`'s login.
    pub(super) fn mcp_login(&self, server: &str) -> Result<ResolvedProvider, ConfigError> {
        let name = format!("{PREFIX}{server}");
        let Some(config) = self.mcp_servers.get(server) else {
            let known = self.mcp_login_providers();
            return Err(ConfigError::Provider(format!(
                "no MCP server named `{server}` in {}; the ones that log in with OAuth: {}",
                self.path.display(),
                if known.is_empty() {
                    "none (add an [mcp_servers.NAME] table with `url`)".to_string()
                } else {
                    known.join(", ")
                }
            )));
        };
        let Some(url) = config.url.clone() else {
            return Err(ConfigError::Provider(format!(
                "MCP server `{server}` is a stdio server (`command`); it takes its credentials from `env`, not from a login"
            )));
        };
        if config.bearer_token_env.is_some() {
            return Err(ConfigError::Provider(format!(
                "MCP server `{server}` sends the token in `bearer_token_env`; remove that line from [mcp_servers.{server}] to log in with OAuth"
            )));
        }
        let home = self
            .path
            .parent()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(ResolvedProvider {
            name: name.clone(),
            kind: ProviderKind::OpenaiCompatible,
            base_url: url.clone(),
            api_key: None,
            api_key_var: None,
            model: None,
            headers: Vec::new(),
            stream: false,
            idle_timeout: Duration::from_secs(config.tool_timeout_secs),
            max_tokens: None,
            thinking_budget: None,
            missing_key: None,
            oauth: Some(OAuthSpec::Mcp(McpLogin {
                server: server.to_string(),
                url,
                settings: config.oauth.clone().unwrap_or_default(),
                home,
            })),
            credentials_from: name,
            claude_code: None,
            prompt_cache: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use std::path::Path;

    #[test]
    fn an_http_server_is_a_login_provider_and_the_others_say_why_not() {
        let text = r#"
[mcp_servers.docs]
url = "https://mcp.example.com/mcp"
[mcp_servers.docs.oauth]
client_id = "abc"
scopes = ["mcp"]

[mcp_servers.fixed]
url = "https://other.example.com/mcp"
bearer_token_env = "T"

[mcp_servers.local]
command = "x"
"#;
        let config = Config::parse(Path::new("/h/config.toml"), text).expect("config");
        assert_eq!(config.mcp_login_providers(), ["mcp:docs"]);
        let p = config.provider(Some("mcp:docs")).expect("docs");
        assert_eq!(p.name, "mcp:docs");
        assert_eq!(p.credentials_from, "mcp:docs");
        let Some(super::OAuthSpec::Mcp(login)) = p.oauth else {
            panic!("not an MCP login");
        };
        assert_eq!(login.settings.client_id.as_deref(), Some("abc"));
        assert_eq!(login.home, Path::new("/h"));
        let e = config.provider(Some("mcp:fixed")).expect_err("fixed");
        assert!(e.to_string().contains("bearer_token_env"), "{e}");
        let e = config.provider(Some("mcp:local")).expect_err("stdio");
        assert!(e.to_string().contains("stdio"), "{e}");
        let e = config.provider(Some("mcp:nope")).expect_err("unknown");
        assert!(e.to_string().contains("mcp:docs"), "{e}");
        let e = Config::parse(
            Path::new("/h/config.toml"),
            "[mcp_servers.x]\nurl = \"http://h/mcp\"\nbearer_token_env = \"T\"\n[mcp_servers.x.oauth]\nscopes = []\n",
        )
        .expect_err("both");
        assert!(e.to_string().contains("not both"), "{e}");
    }
}
