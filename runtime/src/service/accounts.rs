//! Accounts on a data dir: the sealed credential store and the pool, logins (loopback,
//! paste, device), API keys, logout with revocation, removal. Secrets are never shown.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::Utc;
use sortie_missions::Store;
use sortie_transports::auth::oauth::{
    parse_pasted, pasted_issuer, random_token, CallbackServer, OAuthClient, OAuthConfig, Pkce,
    TokenSet,
};
use sortie_transports::auth::os_keyring::sealer_for_store;
use sortie_transports::auth::presets::Flow;
use sortie_transports::auth::{
    AuthMode, Credential, CredentialId, CredentialStatus, CredentialStore, Credentials,
    OAuthResolver, OAuthTokens, PendingLogin, PendingLoginBackend, Pool, PoolSource,
};
use sortie_transports::Secret;

pub use super::account_store::AccountStore;
use super::revocation::{self, Revoked};
use crate::api::LoginPrompt;
use crate::config::{Config, OAuthSpec, ResolvedProvider};

/// How long a started login stays valid (and survives a restart).
const LOGIN_TTL: chrono::Duration = chrono::Duration::minutes(10);

/// The OAuth client of a provider and its default flow; discovery runs here when needed.
pub async fn oauth_client(provider: &ResolvedProvider) -> anyhow::Result<(OAuthClient, Flow)> {
    let spec = provider.oauth.as_ref().with_context(|| {
        format!(
            "provider `{}` has no OAuth login; add a [providers.{}.oauth] table (issuer, client_id, scopes) or use `sortie auth add-key {}`",
            provider.name, provider.name, provider.name
        )
    })?;
    Ok(match spec {
        OAuthSpec::Preset(p) => (OAuthClient::new((p.config)()), p.flow),
        OAuthSpec::Mcp(login) => (super::mcp_login::oauth_client(login).await?, Flow::Loopback),
        OAuthSpec::Table(t) => {
            let mut config = match (&t.issuer, &t.token_url) {
                (Some(issuer), None) => {
                    OAuthClient::discover(issuer, &t.client_id, t.scopes.clone())
                        .await
                        .with_context(|| format!("OAuth discovery for `{}`", provider.name))?
                }
                (_, Some(token_url)) => OAuthConfig {
                    scopes: t.scopes.clone(),
                    issuer: t.issuer.clone(),
                    ..OAuthConfig::new(t.client_id.clone(), token_url.clone())
                },
                (None, None) => bail!(
                    "[providers.{}.oauth] needs `issuer` or `token_url`",
                    provider.name
                ),
            };
            // Explicit endpoints win over discovered ones.
            config.authorize_url = t.authorize_url.clone().or(config.authorize_url);
            config.device_authorization_url = t
                .device_authorization_url
                .clone()
                .or(config.device_authorization_url);
            config.revocation_url = t.revocation_url.clone().or(config.revocation_url);
            config.callback_port = t.callback_port.or(config.callback_port);
            config.redirect_uri = t.redirect_uri.clone().or(config.redirect_uri);
            let flow = t
                .flow
                .map(Flow::from)
                .unwrap_or(if config.authorize_url.is_some() {
                    Flow::Loopback
                } else {
                    Flow::Device
                });
            (OAuthClient::new(config), flow)
        }
    })
}

/// The credential tree, sealed with the store's key (in the OS keyring, or `store.key`
/// beside the store); records written before sealing are sealed now.
pub fn credential_store(store: &Store) -> anyhow::Result<CredentialStore> {
    let tree = store.db().open_tree("credentials")?;
    let sealer = sealer_for_store(&key_path(store.path())).map_err(anyhow::Error::msg)?;
    let creds = CredentialStore::sealed(tree, sealer);
    creds.seal_all()?;
    Ok(creds)
}

/// The key that seals credentials: `store.key` beside the store directory.
pub fn key_path(store_dir: &Path) -> std::path::PathBuf {
    store_dir.with_file_name("store.key")
}

/// The credential pool of a process whose missions are in `missions` (the shared store's
/// credentials when that is PostgreSQL, else those of the data dir's store `local`).
pub async fn pool_for(
    local: &Store,
    missions: &sortie_missions::SharedStore,
    config: &Config,
) -> anyhow::Result<Arc<Pool>> {
    shared_pool(&AccountStore::open(local, missions, config).await?, config).await
}

/// The credential pool of this process: every stored credential, with the OAuth clients of
/// the providers whose tokens may need refreshing (built on first use, so a login stored
/// after start is refreshed too), refreshed ahead of expiry in the background.
pub async fn shared_pool(accounts: &AccountStore, config: &Config) -> anyhow::Result<Arc<Pool>> {
    let (all, _) = accounts.credentials.all().await?;
    let mut pool = accounts.pool(config.pool_strategy);
    // Every provider that has OAuth tokens or can log in (a daemon stores logins later).
    let mut oauth_providers: std::collections::BTreeSet<String> = all
        .iter()
        .filter(|c| c.auth_mode == AuthMode::OAuth)
        .map(|c| c.provider.clone())
        .collect();
    oauth_providers.extend(
        config
            .provider_names()
            .into_iter()
            .filter(|name| config.provider(Some(name)).is_ok_and(|p| p.oauth.is_some())),
    );
    // Every MCP server one can log in to (`mcp:NAME`).
    oauth_providers.extend(config.mcp_login_providers());
    let shared = accounts.is_shared();
    for name in oauth_providers {
        let Ok(provider) = config.provider(Some(&name)) else {
            continue;
        };
        // Discovery may need the network: it runs on the first refresh, not at start-up.
        let resolve: OAuthResolver = Arc::new(move || {
            let provider = provider.clone();
            Box::pin(async move {
                refresh_client(&provider, shared)
                    .await
                    .map_err(|e| format!("{e:#}"))
            })
        });
        pool = pool.with_oauth_resolver(&name, resolve);
    }
    let pool = Arc::new(pool);
    pool.spawn_proactive(Duration::from_secs(30));
    Ok(pool)
}

/// The client that refreshes `provider`'s tokens; on a shared store, an MCP server's is
/// never registered anew for it (see [`super::mcp_login::refresh_client`]).
async fn refresh_client(provider: &ResolvedProvider, shared: bool) -> anyhow::Result<OAuthClient> {
    match &provider.oauth {
        Some(OAuthSpec::Mcp(login)) if shared => super::mcp_login::refresh_client(login).await,
        _ => oauth_client(provider).await.map(|(client, _)| client),
    }
}

/// Leases from the pool for `provider`, when it has stored credentials.
pub async fn credentials_for(
    pool: &Arc<Pool>,
    provider: &ResolvedProvider,
) -> anyhow::Result<Option<Credentials>> {
    if pool
        .backend()
        .for_provider(&provider.credentials_from)
        .await?
        .is_empty()
    {
        return Ok(None);
    }
    Ok(Some(Credentials::new(PoolSource {
        pool: pool.clone(),
        provider: provider.credentials_from.clone(),
    })))
}

/// The provider whose credentials `name` runs with (`claude-code` runs with `anthropic`'s),
/// and a note saying so when that is another one.
pub fn credential_owner(
    config: &Config,
    name: &str,
) -> anyhow::Result<(ResolvedProvider, Option<String>)> {
    let provider = config.provider(Some(name))?;
    if provider.credentials_from == provider.name {
        return Ok((provider, None));
    }
    let note = format!(
        "`{}` runs with the credentials of `{}`; storing this one there",
        provider.name, provider.credentials_from
    );
    Ok((
        config.provider(Some(&provider.credentials_from))?,
        Some(note),
    ))
}

/// Which flow a login uses: the flag, else the provider's default.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlowFlags {
    pub device: bool,
    pub paste: bool,
    /// The loopback flow even where the provider's default is another one.
    pub loopback: bool,
    pub no_browser: bool,
}

impl FlowFlags {
    /// The flow asked for by name (`flow` in the API's login body); `None`: the provider's
    /// default.
    pub fn requested(&self) -> Option<&'static str> {
        if self.device {
            Some("device")
        } else if self.paste {
            Some("paste")
        } else if self.loopback {
            Some("loopback")
        } else {
            None
        }
    }
}

pub fn open_browser(url: &str) -> bool {
    let has_display = std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some()
        || cfg!(target_os = "macos");
    if !has_display || std::env::var_os("CI").is_some() {
        return false;
    }
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}

/// A started login: its prompt, and what finishing it waits for.
pub struct Login {
    pub prompt: LoginPrompt,
    client: OAuthClient,
    pending: Arc<dyn PendingLoginBackend>,
    provider: ResolvedProvider,
    label: Option<String>,
    existing: Option<CredentialId>,
    wait: Wait,
}

enum Wait {
    Device(sortie_transports::auth::oauth::DeviceAuthorization),
    Loopback(CallbackServer, PendingLogin),
    Paste(PendingLogin),
}

fn flow_name(flow: Flow) -> &'static str {
    match flow {
        Flow::Loopback => "loopback",
        Flow::Paste => "paste",
        Flow::Device => "device",
    }
}

/// Starts a login to `provider` (`existing`: a reconnect that updates that credential).
pub async fn start_login(
    accounts: &AccountStore,
    provider: &ResolvedProvider,
    flags: FlowFlags,
    label: Option<String>,
    existing: Option<CredentialId>,
) -> anyhow::Result<Login> {
    let (client, default_flow) = oauth_client(provider).await?;
    let flow = if flags.device {
        Flow::Device
    } else if flags.paste {
        Flow::Paste
    } else if flags.loopback {
        Flow::Loopback
    } else {
        default_flow
    };
    let pending = accounts.pending.clone();
    let mut prompt = LoginPrompt {
        provider: provider.name.clone(),
        flow: flow_name(flow).into(),
        url: String::new(),
        url_complete: None,
        user_code: None,
        redirect_uri: None,
        needs_code: flow == Flow::Paste,
        expires_at: Utc::now() + LOGIN_TTL,
        resumed: false,
    };
    let wait = match flow {
        Flow::Device => {
            let auth = client.device_start().await?;
            prompt.url = auth.verification_uri.clone();
            prompt.url_complete = auth.verification_uri_complete.clone();
            prompt.user_code = Some(auth.user_code.clone());
            prompt.expires_at = Utc::now() + chrono::Duration::seconds(auth.expires_in as i64);
            Wait::Device(auth)
        }
        Flow::Loopback => {
            let callback =
                CallbackServer::bind(client.config.callback_port, &client.config.callback_path)
                    .await?;
            let redirect_uri = client
                .config
                .redirect_uri
                .clone()
                .unwrap_or_else(|| callback.redirect_uri.clone());
            let login = begin(
                &client,
                &*pending,
                provider,
                &redirect_uri,
                &label,
                &existing,
            )
            .await?;
            prompt.redirect_uri = Some(redirect_uri);
            Wait::Loopback(callback, login)
        }
        Flow::Paste => {
            let (login, resumed) =
                paste_login(&client, &*pending, provider, &label, &existing).await?;
            prompt.resumed = resumed;
            Wait::Paste(login)
        }
    };
    if let Wait::Loopback(_, login) | Wait::Paste(login) = &wait {
        prompt.url = login.authorize_url.clone();
        prompt.expires_at = login.expires_at;
    }
    Ok(Login {
        prompt,
        client,
        pending,
        provider: provider.clone(),
        label,
        existing,
        wait,
    })
}

/// The pending login of a paste flow, and whether it is one started earlier (even before
/// a restart) and still valid, resumed as is (a loopback login's leftovers are not).
async fn paste_login(
    client: &OAuthClient,
    pending: &dyn PendingLoginBackend,
    provider: &ResolvedProvider,
    label: &Option<String>,
    existing: &Option<CredentialId>,
) -> anyhow::Result<(PendingLogin, bool)> {
    // Nobody listens here: the person copies the URL the browser lands on.
    let redirect_uri = client
        .config
        .redirect_uri
        .clone()
        .unwrap_or_else(|| "http://127.0.0.1:1/callback".into());
    let earlier = pending
        .latest_for(&provider.name)
        .await?
        .filter(|p| p.redirect_uri == redirect_uri);
    Ok(match earlier {
        Some(p) => (p, true),
        None => (
            begin(client, pending, provider, &redirect_uri, label, existing).await?,
            false,
        ),
    })
}

impl Login {
    /// Waits for the browser (loopback) or the approval (device), or exchanges the pasted
    /// `code` (paste), then stores the credential. `note` hears about slow-downs.
    pub async fn finish(
        self,
        accounts: &AccountStore,
        code: Option<&str>,
        mut note: impl FnMut(String),
    ) -> anyhow::Result<Credential> {
        let tokens = match &self.wait {
            Wait::Device(auth) => {
                self.client
                    .device_wait(auth, None, |interval| {
                        note(format!(
                            "the server asked to slow down; polling every {}s",
                            interval.as_secs()
                        ))
                    })
                    .await?
            }
            Wait::Loopback(callback, login) => {
                let left = (login.expires_at - Utc::now())
                    .to_std()
                    .unwrap_or(Duration::ZERO);
                let got = callback.wait(&login.state, left).await?;
                self.client.check_issuer(got.iss.as_deref())?;
                self.exchange(login, &got.code).await?
            }
            Wait::Paste(login) => {
                let pasted = code.context("this login needs the code the provider shows")?;
                let (code, state) = parse_pasted(pasted)?;
                self.client.check_issuer(pasted_issuer(pasted).as_deref())?;
                if state.as_ref().is_some_and(|s| s != &login.state) {
                    bail!("the pasted code belongs to another login (its state does not match); nothing was stored — run the login again");
                }
                self.exchange(login, &code).await?
            }
        };
        let (credential, replaced) =
            save_login(accounts, &self.provider, tokens, self.label, self.existing).await?;
        if let Some(old) = replaced {
            // The grant this login replaces must not stay usable.
            let revoked =
                revocation::revoke(&self.client, vec![(old, "refresh_token".into())]).await;
            if !revoked.pending.is_empty() {
                note(format!("the replaced login: {}", revoked.note()));
                let mut keep = |c: &mut Credential| {
                    c.pending_revocations
                        .extend(revoked.pending.iter().cloned())
                };
                return Ok(accounts
                    .credentials
                    .update(&credential.id, &mut keep)
                    .await?
                    .unwrap_or(credential));
            }
        }
        Ok(credential)
    }

    /// Exchanges the code of a started login, then forgets the pending login.
    async fn exchange(&self, login: &PendingLogin, code: &str) -> anyhow::Result<TokenSet> {
        let tokens = self
            .client
            .exchange_code(
                code,
                &login.verifier,
                &login.redirect_uri,
                Some(&login.state),
            )
            .await?;
        self.pending.remove(&login.state).await?;
        Ok(tokens)
    }
}

/// Starts a code login: PKCE, state, the authorize URL, remembered in sled for its TTL.
async fn begin(
    client: &OAuthClient,
    pending: &dyn PendingLoginBackend,
    provider: &ResolvedProvider,
    redirect_uri: &str,
    label: &Option<String>,
    existing: &Option<CredentialId>,
) -> anyhow::Result<PendingLogin> {
    let pkce = Pkce::new();
    let state = random_token(24);
    let login = PendingLogin {
        authorize_url: client.authorize_url(&pkce, &state, redirect_uri)?,
        state,
        provider: provider.name.clone(),
        verifier: pkce.verifier,
        redirect_uri: redirect_uri.to_string(),
        credential: existing.clone(),
        label: label.clone(),
        expires_at: Utc::now() + LOGIN_TTL,
    };
    pending.put(&login).await?;
    Ok(login)
}

/// Stores fresh tokens: into `existing`, or into the credential of the same account, or a
/// new one. A new login never duplicates a row for the same account.
async fn save_login(
    accounts: &AccountStore,
    provider: &ResolvedProvider,
    tokens: TokenSet,
    label: Option<String>,
    existing: Option<CredentialId>,
) -> anyhow::Result<(Credential, Option<Secret>)> {
    let creds = &accounts.credentials;
    let mine = creds.for_provider(&provider.name).await?;
    let target = match &existing {
        Some(id) => mine.iter().find(|c| &c.id == id).cloned(),
        None => mine
            .iter()
            .find(|c| {
                let same_account = tokens.account_id.is_some()
                    && c.oauth.as_ref().and_then(|o| o.account_id.clone()) == tokens.account_id;
                let same_label = label.is_some() && Some(&c.label) == label.as_ref();
                c.auth_mode == AuthMode::OAuth && (same_account || same_label)
            })
            .cloned(),
    };
    let mut credential = match target {
        Some(c) => c,
        None => Credential {
            id: creds.next_id(&provider.name).await?,
            provider: provider.name.clone(),
            label: label.clone().unwrap_or_else(|| {
                tokens
                    .account_id
                    .clone()
                    .unwrap_or_else(|| "default".into())
            }),
            auth_mode: AuthMode::OAuth,
            api_key: None,
            oauth: None,
            status: CredentialStatus::Active,
            created_at: Utc::now(),
            last_used: None,
            use_count: 0,
            refresh_count: 0,
            last_error: None,
            pending_revocations: Vec::new(),
        },
    };
    if let Some(label) = label {
        credential.label = label;
    }
    // The grant this login replaces: revoked by the caller once the new one is stored.
    let replaced = credential
        .oauth
        .as_ref()
        .and_then(|o| o.refresh_token.clone())
        .filter(|old| Some(old) != tokens.refresh_token.as_ref());
    credential.auth_mode = AuthMode::OAuth;
    credential.api_key = None;
    credential.status = CredentialStatus::Active;
    credential.oauth = Some(OAuthTokens {
        access_token: Some(tokens.access_token),
        refresh_token: tokens.refresh_token,
        expires_at: tokens.expires_at,
        token_type: tokens.token_type,
        scopes: tokens.scopes,
        account_id: tokens.account_id,
        issued_at: Some(Utc::now()),
    });
    credential.last_error = None;
    creds.put(&credential).await?;
    Ok((credential, replaced))
}

/// `sortie auth add-key` (and `POST /credentials`): stores an API key as a new credential.
pub async fn add_key(
    accounts: &AccountStore,
    provider: &ResolvedProvider,
    label: Option<String>,
    key: &str,
) -> anyhow::Result<Credential> {
    let key = clean_key(key)?;
    let creds = &accounts.credentials;
    let credential = Credential {
        id: creds.next_id(&provider.name).await?,
        provider: provider.name.clone(),
        label: label.unwrap_or_else(|| "api key".into()),
        auth_mode: AuthMode::ApiKey,
        api_key: Some(Secret::new(key)),
        oauth: None,
        status: CredentialStatus::Active,
        created_at: Utc::now(),
        last_used: None,
        use_count: 0,
        refresh_count: 0,
        last_error: None,
        pending_revocations: Vec::new(),
    };
    creds.put(&credential).await?;
    Ok(credential)
}

fn clean_key(key: &str) -> anyhow::Result<String> {
    let key = key.trim().to_string();
    if key.is_empty() {
        bail!("no key was given; pipe it on stdin or type it at the prompt");
    }
    if key.chars().any(char::is_whitespace) {
        bail!("the key contains spaces; give the key alone");
    }
    Ok(key)
}

/// `sortie auth reconnect` of an API-key credential: a new key, in place, active again.
pub async fn replace_key(
    accounts: &AccountStore,
    id: &CredentialId,
    key: &str,
) -> anyhow::Result<Credential> {
    let key = clean_key(key)?;
    let current = get(accounts, id).await?;
    if current.auth_mode != AuthMode::ApiKey {
        bail!("{id} is an OAuth login, not an API key; `sortie auth reconnect {id}` logs in again");
    }
    let mut change = |c: &mut Credential| {
        c.api_key = Some(Secret::new(key.clone()));
        c.status = CredentialStatus::Active;
        c.last_error = None;
    };
    accounts
        .credentials
        .update(id, &mut change)
        .await?
        .with_context(|| format!("unknown credential `{id}` (see `sortie auth list`)"))
}

/// `sortie auth logout`: revoke where possible, clear the secrets, keep the row.
pub async fn logout(
    accounts: &AccountStore,
    config: &Config,
    id: &CredentialId,
) -> anyhow::Result<String> {
    let creds = &accounts.credentials;
    let c = creds
        .get(id)
        .await?
        .with_context(|| format!("unknown credential `{id}` (see `sortie auth list`)"))?;
    // The tokens it holds now, and any whose revocation failed before.
    let mut tokens: Vec<(Secret, String)> = c
        .pending_revocations
        .iter()
        .map(|p| (p.token.clone(), p.hint.clone()))
        .collect();
    if let Some(o) = &c.oauth {
        for (token, hint) in [
            (&o.refresh_token, "refresh_token"),
            (&o.access_token, "access_token"),
        ] {
            if let Some(token) = token {
                tokens.push((token.clone(), hint.to_string()));
            }
        }
    }
    let revoked = if tokens.is_empty() {
        Revoked::default()
    } else {
        let provider = config.provider(Some(&c.provider))?;
        match oauth_client(&provider).await {
            Ok((client, _)) => revocation::revoke(&client, tokens).await,
            Err(e) => revocation::all_pending(tokens, &format!("{e:#}")),
        }
    };
    let mut forget = |c: &mut Credential| {
        if let Some(oauth) = c.oauth.as_mut() {
            oauth.access_token = None;
            oauth.refresh_token = None;
            oauth.expires_at = None;
        }
        c.api_key = None;
        c.status = CredentialStatus::Disconnected;
        c.pending_revocations = revoked.pending.clone();
    };
    creds.update(id, &mut forget).await?;
    if !revoked.pending.is_empty() {
        bail!(
            "{id} is logged out here (its secrets are cleared), but {}; `sortie auth logout {id}` retries it now",
            revoked.note()
        );
    }
    Ok(revoked.note())
}

/// `sortie auth remove`.
pub async fn remove(accounts: &AccountStore, id: &CredentialId) -> anyhow::Result<()> {
    if !accounts.credentials.remove(id).await? {
        bail!("unknown credential `{id}` (see `sortie auth list`)");
    }
    Ok(())
}

/// The credential `id`, or a clear error.
pub async fn get(accounts: &AccountStore, id: &CredentialId) -> anyhow::Result<Credential> {
    accounts
        .credentials
        .get(id)
        .await?
        .with_context(|| format!("unknown credential `{id}` (see `sortie auth list`)"))
}
