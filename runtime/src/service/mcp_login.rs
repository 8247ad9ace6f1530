//! Logins to MCP servers (`sortie auth login mcp:NAME`): the OAuth client found by MCP's
//! discovery chain (protected-resource metadata, then the authorization server's), with
//! the client registered once (RFC 7591) and remembered, sealed, in the data dir; and the
//! tokens a server's connection sends, leased from the credential pool.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use sortie_missions::mcp::{BoxFuture, Login, ServerConfig, TokenSource};
use sortie_transports::auth::oauth::resource::{self, RegisteredClient, ServerMetadata};
use sortie_transports::auth::oauth::{OAuthClient, OAuthConfig};
use sortie_transports::auth::os_keyring::sealer_for_store;
use sortie_transports::auth::{Pool, PoolError};
use sortie_transports::Secret;

use crate::config::mcp_login::{McpLogin, PREFIX};
use crate::config::Config;

/// The file of registered clients, sealed with the store's key.
const CLIENTS_FILE: &str = "mcp-clients";

/// A client registered at an authorization server for one MCP server.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Registration {
    issuer: String,
    resource: String,
    client: RegisteredClient,
}

/// The OAuth client of a login to `login.server`: discovery from the server's URL, the
/// configured `client_id`, else the client registered earlier, else a new registration.
pub async fn oauth_client(login: &McpLogin) -> anyhow::Result<OAuthClient> {
    client_as(login, true).await
}

/// The client that refreshes the tokens of a login kept in a shared store: as
/// [`oauth_client`], but never a new registration. The login may have been made through
/// another daemon, with a client registered there: a refresh token sent with another
/// client is refused, and the login would be marked as needing a new one for every
/// daemon. Without the registration here the refresh fails for now (an outage: the login
/// stays active), and the daemon that registered it refreshes it.
pub async fn refresh_client(login: &McpLogin) -> anyhow::Result<OAuthClient> {
    client_as(login, false).await
}

async fn client_as(login: &McpLogin, may_register: bool) -> anyhow::Result<OAuthClient> {
    let at = format!("MCP server `{}` ({})", login.server, login.url);
    let hint = resource::challenge(&login.url).await;
    let protected = resource::protected_resource(&login.url, hint)
        .await
        .with_context(|| format!("{at}: reading its protected-resource metadata"))?;
    let issuer = &protected.authorization_servers[0];
    let meta = resource::authorization_server(issuer)
        .await
        .with_context(|| format!("{at}: reading the metadata of its authorization server"))?;
    // MCP's authorization spec: PKCE with S256, and a server that does not say it supports
    // it is not used.
    if !meta.code_challenge_methods.iter().any(|m| m == "S256") {
        bail!("{at}: its authorization server {issuer} does not list PKCE S256 in `code_challenge_methods_supported`; Sortie logs in only with PKCE");
    }
    let scopes = match &login.settings.scopes {
        s if s.is_empty() => protected.scopes_supported.clone(),
        s => s.clone(),
    };
    let client = client_of(login, &meta, &protected.resource, may_register).await?;
    let resource = vec![("resource".to_string(), protected.resource.clone())];
    let config = OAuthConfig {
        client_secret: client.client_secret.map(|s| s.expose().to_string()),
        authorize_url: meta.authorize_url.clone(),
        revocation_url: meta.revocation_url.clone(),
        scopes,
        issuer: Some(meta.issuer.clone()),
        extra_authorize_params: resource.clone(),
        extra_token_params: resource,
        ..OAuthConfig::new(client.client_id, meta.token_url.clone())
    };
    if config.authorize_url.is_none() {
        bail!("{at}: its authorization server {issuer} has no `authorization_endpoint`");
    }
    Ok(OAuthClient::new(config))
}

/// The client to log in as: `[mcp_servers.NAME.oauth] client_id`, else the registration
/// kept from an earlier login, else a new one where the server offers registration.
async fn client_of(
    login: &McpLogin,
    meta: &ServerMetadata,
    resource: &str,
    may_register: bool,
) -> anyhow::Result<RegisteredClient> {
    let server = &login.server;
    if let Some(id) = &login.settings.client_id {
        let secret = match &login.settings.client_secret_env {
            Some(var) => Some(Secret::new(std::env::var(var).map_err(|_| {
                anyhow::anyhow!("[mcp_servers.{server}.oauth] `client_secret_env` names `{var}`, which is not set")
            })?)),
            None => None,
        };
        return Ok(RegisteredClient {
            client_id: id.clone(),
            client_secret: secret,
        });
    }
    let mut kept = read_clients(&login.home)?;
    if let Some(r) = kept.get(server) {
        if r.issuer == meta.issuer && r.resource == resource {
            return Ok(r.client.clone());
        }
    }
    if !may_register {
        bail!(
            "MCP server `{server}`: its login was made through another daemon of the shared store, with an OAuth client registered there; that daemon refreshes its tokens (set `client_id` in [mcp_servers.{server}.oauth] so that every daemon can)"
        );
    }
    let Some(endpoint) = &meta.registration_endpoint else {
        bail!(
            "MCP server `{server}`: its authorization server {} does not register clients (no `registration_endpoint`); set `client_id` in [mcp_servers.{server}.oauth] (and `client_secret_env` if the client has a secret)",
            meta.issuer
        );
    };
    // The loopback callback's port changes at each login (RFC 8252 §7.3).
    let client = resource::register(endpoint, "http://127.0.0.1/callback")
        .await
        .with_context(|| format!("MCP server `{server}`: registering Sortie as a client"))?;
    kept.insert(
        server.clone(),
        Registration {
            issuer: meta.issuer.clone(),
            resource: resource.to_string(),
            client: client.clone(),
        },
    );
    write_clients(&login.home, &kept)?;
    Ok(client)
}

fn clients_path(home: &Path) -> PathBuf {
    home.join(CLIENTS_FILE)
}

fn sealer(home: &Path) -> anyhow::Result<Arc<sortie_transports::auth::sealed::Sealer>> {
    sealer_for_store(&super::accounts::key_path(&home.join("store"))).map_err(anyhow::Error::msg)
}

fn read_clients(home: &Path) -> anyhow::Result<BTreeMap<String, Registration>> {
    let path = clients_path(home);
    let raw = match std::fs::read(&path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let plain = sealer(home)?.open(&raw).map_err(|e| {
        anyhow::anyhow!(
            "{} cannot be opened ({e}); remove it and log in again",
            path.display()
        )
    })?;
    serde_json::from_slice(&plain)
        .with_context(|| format!("{} is damaged; remove it and log in again", path.display()))
}

fn write_clients(home: &Path, clients: &BTreeMap<String, Registration>) -> anyhow::Result<()> {
    let path = clients_path(home);
    let sealed = sealer(home)?
        .seal(&serde_json::to_vec(clients)?)
        .map_err(anyhow::Error::msg)?;
    let tmp = path.with_extension("new");
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        file.write_all(&sealed)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The tokens of server `server`'s login, from the credential pool of provider
/// `mcp:SERVER`.
struct PoolTokens {
    pool: Arc<Pool>,
    provider: String,
}

impl TokenSource for PoolTokens {
    fn token(&self) -> BoxFuture<'_, Result<Option<String>, String>> {
        Box::pin(async move {
            match self.pool.lease(&self.provider).await {
                Ok(lease) => Ok(Some(lease.secret.expose().to_string())),
                Err(PoolError::NoCredentials { .. }) => Ok(None),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    fn refresh<'a>(&'a self, stale: &'a str) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let lease = self
                .pool
                .lease(&self.provider)
                .await
                .map_err(|e| e.to_string())?;
            if lease.secret.expose() != stale {
                return Ok(lease.secret.expose().to_string());
            }
            let c = self
                .pool
                .refresh(&lease.credential, Some(&lease.secret))
                .await
                .map_err(|e| e.to_string())?;
            c.bearer()
                .map(|s| s.expose().to_string())
                .ok_or_else(|| format!("{} has no access token after a refresh", c.id))
        })
    }

    fn login_command(&self) -> String {
        format!("sortie auth login {}", self.provider)
    }
}

/// The logins of a data dir whose store this process cannot open (a daemon holds it): a
/// server that wants its login says why there is none.
struct Unreadable {
    provider: String,
    why: String,
}

impl TokenSource for Unreadable {
    fn token(&self) -> BoxFuture<'_, Result<Option<String>, String>> {
        Box::pin(std::future::ready(Err(self.why.clone())))
    }

    fn refresh<'a>(&'a self, _stale: &'a str) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(std::future::ready(Err(self.why.clone())))
    }

    fn login_command(&self) -> String {
        format!("sortie auth login {}", self.provider)
    }
}

/// The servers with the tokens of their logins attached (every `url` server without
/// `bearer_token_env`; one without a stored login connects without a token).
pub fn with_logins(config: &Config, pool: &Arc<Pool>) -> BTreeMap<String, ServerConfig> {
    config
        .mcp_servers
        .iter()
        .map(|(name, c)| {
            let mut c = c.clone();
            if c.may_log_in() {
                c.login = Some(Login(Arc::new(PoolTokens {
                    pool: pool.clone(),
                    provider: format!("{PREFIX}{name}"),
                })));
            }
            (name.clone(), c)
        })
        .collect()
}

/// For `sortie mcp ...` run here: `chosen` with their logins attached, from the store of
/// this data dir (when a daemon holds it, without them, and a note says so).
pub async fn logins_here(
    home: &Path,
    config: &Config,
    chosen: Vec<(String, ServerConfig)>,
) -> Vec<(String, ServerConfig)> {
    if !chosen.iter().any(|(_, c)| c.may_log_in()) {
        return chosen;
    }
    let pool = match async {
        let accounts = super::account_store::AccountStore::here(home, config).await?;
        super::accounts::shared_pool(&accounts, config).await
    }
    .await
    {
        Ok(pool) => pool,
        Err(e) => {
            // A server that wants its login then says why it has none here.
            let why = format!("the stored logins cannot be read by this command: {e:#}");
            return chosen
                .into_iter()
                .map(|(name, c)| {
                    let login = c.may_log_in().then(|| {
                        Login(Arc::new(Unreadable {
                            provider: format!("{PREFIX}{name}"),
                            why: why.clone(),
                        }) as Arc<dyn TokenSource>)
                    });
                    (name, ServerConfig { login, ..c })
                })
                .collect();
        }
    };
    let attached = with_logins(config, &pool);
    chosen
        .into_iter()
        .map(|(name, c)| {
            let login = attached.get(&name).and_then(|a| a.login.clone());
            (name, ServerConfig { login, ..c })
        })
        .collect()
}

/// An MCP server whose login is missing, as the TUI's accounts screen lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginNeeded {
    pub server: String,
    /// `mcp:NAME`: what `sortie auth login` takes.
    pub provider: String,
    pub why: String,
}

/// How long the probe of a server without `[oauth]` may take.
const PROBE: std::time::Duration = std::time::Duration::from_secs(5);

/// The servers one can log in to that have no stored login (`credentials`: the stored
/// ones) and want one: `[mcp_servers.NAME.oauth]` says so, or the server publishes
/// protected-resource metadata (probed, each within a few seconds, all at once). A stored login
/// that needs a new one is listed with the credentials, not here.
pub async fn logins_needed(
    config: &Config,
    credentials: &[crate::api::CredentialRow],
) -> Vec<LoginNeeded> {
    let wanted = config
        .mcp_servers
        .iter()
        .filter(|(_, c)| c.may_log_in())
        .map(|(name, c)| (name.clone(), format!("{PREFIX}{name}"), c.clone()))
        .filter(|(_, provider, _)| !credentials.iter().any(|r| &r.summary.provider == provider));
    let checks = wanted.map(|(server, provider, c)| async move {
        let why = if c.oauth.is_some() {
            Some("not logged in".to_string())
        } else {
            let url = c.url.clone().unwrap_or_default();
            // Its protected-resource metadata (RFC 9728): a GET with no side effect, where
            // a request to the endpoint itself would open a session on a server that
            // wants no login.
            match tokio::time::timeout(PROBE, resource::protected_resource(&url, None)).await {
                Ok(Ok(_)) => Some("it is an OAuth-protected server: not logged in".to_string()),
                _ => None,
            }
        };
        why.map(|why| LoginNeeded {
            server,
            provider,
            why,
        })
    });
    futures::future::join_all(checks)
        .await
        .into_iter()
        .flatten()
        .collect()
}
