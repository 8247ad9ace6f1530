//! `sortie auth ...`: log in (loopback, paste, device), add keys, list, probe, reconnect,
//! log out and remove credentials. Secrets are never printed.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::Utc;
use sortie_missions::Store;
use sortie_transports::auth::oauth::{
    parse_pasted, random_token, CallbackServer, OAuthClient, OAuthConfig, Pkce, TokenSet,
};
use sortie_transports::auth::presets::Flow;
use sortie_transports::auth::{
    AuthMode, Credential, CredentialId, CredentialStatus, CredentialStore, Credentials,
    OAuthResolver, OAuthTokens, PendingLogin, PendingLogins, Pool, PoolSource,
};
use sortie_transports::Secret;

use crate::config::{Config, OAuthSpec, ResolvedProvider};
use crate::render::Style;

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
        OAuthSpec::Table(t) => {
            let mut config = match (&t.issuer, &t.token_url) {
                (Some(issuer), None) => {
                    OAuthClient::discover(issuer, &t.client_id, t.scopes.clone())
                        .await
                        .with_context(|| format!("OAuth discovery for `{}`", provider.name))?
                }
                (_, Some(token_url)) => OAuthConfig {
                    scopes: t.scopes.clone(),
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

pub fn credential_store(store: &Store) -> anyhow::Result<CredentialStore> {
    Ok(CredentialStore::new(store.db().open_tree("credentials")?))
}

/// The credential pool of this process: every stored credential, with the OAuth clients of
/// the providers whose tokens may need refreshing (built on first use), refreshed ahead of
/// expiry in the background.
pub fn shared_pool(store: &Store, config: &Config) -> anyhow::Result<Arc<Pool>> {
    let creds = credential_store(store)?;
    let (all, _) = creds.all()?;
    let mut pool = Pool::new(creds, config.pool_strategy);
    let oauth_providers: std::collections::BTreeSet<String> = all
        .iter()
        .filter(|c| c.auth_mode == AuthMode::OAuth)
        .map(|c| c.provider.clone())
        .collect();
    for name in oauth_providers {
        let Ok(provider) = config.provider(Some(&name)) else {
            continue;
        };
        // Discovery may need the network: it runs on the first refresh, not at start-up.
        let resolve: OAuthResolver = Arc::new(move || {
            let provider = provider.clone();
            Box::pin(async move {
                oauth_client(&provider)
                    .await
                    .map(|(client, _)| client)
                    .map_err(|e| format!("{e:#}"))
            })
        });
        pool = pool.with_oauth_resolver(&name, resolve);
    }
    let pool = Arc::new(pool);
    pool.spawn_proactive(Duration::from_secs(30));
    Ok(pool)
}

/// Leases from the pool for `provider`, when it has stored credentials.
pub fn credentials_for(
    pool: &Arc<Pool>,
    provider: &ResolvedProvider,
) -> anyhow::Result<Option<Credentials>> {
    if pool
        .store()
        .for_provider(&provider.credentials_from)?
        .is_empty()
    {
        return Ok(None);
    }
    Ok(Some(Credentials::new(PoolSource {
        pool: pool.clone(),
        provider: provider.credentials_from.clone(),
    })))
}

/// Which flow a login uses: the flag, else the provider's default.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlowFlags {
    pub device: bool,
    pub paste: bool,
    pub no_browser: bool,
}

fn open_browser(url: &str) -> bool {
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

/// Runs a login and stores the credential; `existing` is updated in place (reconnect).
pub async fn login(
    store: &Store,
    provider: &ResolvedProvider,
    flags: FlowFlags,
    label: Option<String>,
    existing: Option<CredentialId>,
) -> anyhow::Result<Credential> {
    let (client, default_flow) = oauth_client(provider).await?;
    let flow = if flags.device {
        Flow::Device
    } else if flags.paste {
        Flow::Paste
    } else if flags.no_browser && default_flow == Flow::Device {
        Flow::Device
    } else {
        default_flow
    };
    let pending = PendingLogins::new(store.db().open_tree("oauth_sessions")?);
    let tokens = match flow {
        Flow::Device => device_login(&client).await?,
        Flow::Loopback => {
            loopback_login(&client, &pending, provider, flags, &label, &existing).await?
        }
        Flow::Paste => paste_login(&client, &pending, provider, &label, &existing).await?,
    };
    save_login(store, provider, tokens, label, existing)
}

async fn device_login(client: &OAuthClient) -> anyhow::Result<TokenSet> {
    let auth = client.device_start().await?;
    println!(
        "To sign in, open {} and enter the code {}",
        auth.verification_uri, auth.user_code
    );
    if let Some(complete) = &auth.verification_uri_complete {
        println!("(or open {complete})");
    }
    println!(
        "Waiting for approval (the code expires in {} minutes)…",
        auth.expires_in / 60
    );
    let _ = std::io::stdout().flush();
    Ok(client
        .device_wait(&auth, None, |interval| {
            eprintln!(
                "the server asked to slow down; polling every {}s",
                interval.as_secs()
            )
        })
        .await?)
}

async fn loopback_login(
    client: &OAuthClient,
    pending: &PendingLogins,
    provider: &ResolvedProvider,
    flags: FlowFlags,
    label: &Option<String>,
    existing: &Option<CredentialId>,
) -> anyhow::Result<TokenSet> {
    let callback =
        CallbackServer::bind(client.config.callback_port, &client.config.callback_path).await?;
    let redirect_uri = client
        .config
        .redirect_uri
        .clone()
        .unwrap_or_else(|| callback.redirect_uri.clone());
    let login = begin(client, pending, provider, &redirect_uri, label, existing)?;
    let url = &login.authorize_url;
    println!(
        "Open this URL to sign in to `{}`:\n\n  {url}\n",
        provider.name
    );
    if !flags.no_browser && open_browser(url) {
        println!("(a browser window was opened)");
    }
    println!("Waiting for the browser to come back to {redirect_uri} …");
    let _ = std::io::stdout().flush();
    let got = callback
        .wait(&login.state, Duration::from_secs(600))
        .await?;
    complete_login(client, pending, &login, &got.code).await
}

/// Exchanges the code of a started login, then forgets the pending login.
async fn complete_login(
    client: &OAuthClient,
    pending: &PendingLogins,
    login: &PendingLogin,
    code: &str,
) -> anyhow::Result<TokenSet> {
    let tokens = client
        .exchange_code(
            code,
            &login.verifier,
            &login.redirect_uri,
            Some(&login.state),
        )
        .await?;
    pending.remove(&login.state)?;
    Ok(tokens)
}

/// Starts a code login: PKCE, state, the authorize URL, remembered in sled for its TTL.
fn begin(
    client: &OAuthClient,
    pending: &PendingLogins,
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
    pending.put(&login)?;
    Ok(login)
}

async fn paste_login(
    client: &OAuthClient,
    pending: &PendingLogins,
    provider: &ResolvedProvider,
    label: &Option<String>,
    existing: &Option<CredentialId>,
) -> anyhow::Result<TokenSet> {
    // A login started earlier (even before a restart) and still valid is resumed as is.
    let login = match pending.latest_for(&provider.name)? {
        Some(p) => {
            println!(
                "Resuming the login started earlier (valid until {}).",
                p.expires_at.format("%H:%M UTC")
            );
            p
        }
        None => {
            // Nobody listens here: the person copies the URL the browser lands on.
            let redirect_uri = client
                .config
                .redirect_uri
                .clone()
                .unwrap_or_else(|| "http://127.0.0.1:1/callback".into());
            begin(client, pending, provider, &redirect_uri, label, existing)?
        }
    };
    println!(
        "Open this URL to sign in to `{}`:\n\n  {}\n",
        provider.name, login.authorize_url
    );
    print!("Then paste the code it shows (or the whole URL the browser lands on): ");
    let _ = std::io::stdout().flush();
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await??;
    let (code, state) = parse_pasted(&line)?;
    if let Some(state) = &state {
        if state != &login.state {
            bail!("the pasted code belongs to another login (its state does not match); nothing was stored — run the login again");
        }
    }
    complete_login(client, pending, &login, &code).await
}

/// Stores fresh tokens: into `existing`, or into the credential of the same account, or a
/// new one. A new login never duplicates a row for the same account.
fn save_login(
    store: &Store,
    provider: &ResolvedProvider,
    tokens: TokenSet,
    label: Option<String>,
    existing: Option<CredentialId>,
) -> anyhow::Result<Credential> {
    let creds = credential_store(store)?;
    let mine = creds.for_provider(&provider.name)?;
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
            id: creds.next_id(&provider.name)?,
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
        },
    };
    if let Some(label) = label {
        credential.label = label;
    }
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
    });
    creds.put(&credential)?;
    Ok(credential)
}

/// `sortie auth add-key`: the key comes from stdin or a hidden prompt, never from argv.
pub fn add_key(
    store: &Store,
    provider: &ResolvedProvider,
    label: Option<String>,
) -> anyhow::Result<Credential> {
    let key = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("API key for `{}` (input hidden): ", provider.name))
            .context("reading the key")?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the key from stdin")?;
        line
    };
    let key = key.trim().to_string();
    if key.is_empty() {
        bail!("no key was given; pipe it on stdin or type it at the prompt");
    }
    if key.chars().any(char::is_whitespace) {
        bail!("the key contains spaces; give the key alone");
    }
    let creds = credential_store(store)?;
    let credential = Credential {
        id: creds.next_id(&provider.name)?,
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
    };
    creds.put(&credential)?;
    Ok(credential)
}

/// What a person should do next about a credential.
pub fn next_step(c: &Credential) -> String {
    match &c.status {
        CredentialStatus::Active => match c.expires_at() {
            Some(at)
                if at <= Utc::now()
                    && c.oauth.as_ref().is_some_and(|o| o.refresh_token.is_none()) =>
            {
                format!(
                    "expired with no refresh token: sortie auth reconnect {}",
                    c.id
                )
            }
            _ => "nothing".into(),
        },
        CredentialStatus::CoolingDown { until, .. } => {
            format!("wait until {}", until.format("%H:%M:%S UTC"))
        }
        CredentialStatus::NeedsReauth { .. } | CredentialStatus::Disconnected => {
            format!("sortie auth reconnect {}", c.id)
        }
        CredentialStatus::EntitlementBlocked { .. } => {
            "check the account's subscription; no login can fix this".into()
        }
    }
}

fn expiry_text(c: &Credential) -> String {
    match (c.auth_mode, c.expires_at()) {
        (AuthMode::ApiKey, _) => "-".into(),
        (AuthMode::OAuth, None) => "unknown".into(),
        (AuthMode::OAuth, Some(at)) => {
            let left = at - Utc::now();
            if left.num_seconds() <= 0 {
                "expired".into()
            } else if left.num_minutes() < 120 {
                format!("in {}m", left.num_minutes().max(1))
            } else {
                format!("in {}h", left.num_hours())
            }
        }
    }
}

/// A credential as JSON (no secret): its summary and the next step it needs.
pub fn credential_json(c: &Credential) -> serde_json::Value {
    let mut v = serde_json::to_value(c.summary()).unwrap_or_default();
    v["next_step"] = serde_json::json!(next_step(c));
    v
}

/// `sortie auth list|status`; with `probe`, one live call per credential.
pub async fn list(
    store: &Store,
    config: &Config,
    json: bool,
    probe: bool,
) -> anyhow::Result<ExitCode> {
    let creds = credential_store(store)?;
    let (all, problems) = creds.all()?;
    for p in &problems {
        eprintln!("warning: {p}");
    }
    let mut health: Vec<Option<Result<String, String>>> = vec![None; all.len()];
    if probe {
        let pool = shared_pool(store, config)?;
        for (i, c) in all.iter().enumerate() {
            health[i] = Some(probe_one(&pool, config, c).await);
        }
    }
    // A probe may have refreshed a token: show the rows as they are now.
    let all: Vec<Credential> = all
        .into_iter()
        .map(|c| creds.get(&c.id).ok().flatten().unwrap_or(c))
        .collect();
    if json {
        let rows: Vec<serde_json::Value> = all
            .iter()
            .zip(&health)
            .map(|(c, h)| {
                let mut v = credential_json(c);
                if let Some(h) = h {
                    v["probe"] = match h {
                        Ok(detail) => serde_json::json!({"ok": true, "detail": detail}),
                        Err(e) => serde_json::json!({"ok": false, "detail": e}),
                    };
                }
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        println!("no credentials yet; add one with `sortie auth login <provider>` or `sortie auth add-key <provider>`");
        return Ok(ExitCode::SUCCESS);
    }
    let s = Style::detect();
    println!(
        "{}",
        s.bold(&format!(
            "{:<16} {:<8} {:<20} {:<10} {:<14} NEXT",
            "ID", "MODE", "STATUS", "EXPIRES", "LABEL"
        ))
    );
    for (c, h) in all.iter().zip(&health) {
        println!(
            "{:<16} {:<8} {:<20} {:<10} {:<14} {}",
            c.id,
            c.auth_mode.as_str(),
            c.status.name(),
            expiry_text(c),
            c.label.chars().take(14).collect::<String>(),
            next_step(c)
        );
        match h {
            Some(Ok(detail)) => println!("  {} {detail}", s.green("✓ probe:")),
            Some(Err(e)) => println!("  {} {e}", s.red("✗ probe:")),
            None => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One cheap live call with this very credential: the provider's models endpoint.
async fn probe_one(pool: &Arc<Pool>, config: &Config, c: &Credential) -> Result<String, String> {
    let provider = config
        .provider(Some(&c.provider))
        .map_err(|e| e.to_string())?;
    let source = OneCredential {
        pool: pool.clone(),
        id: c.id.clone(),
    };
    let transport = crate::cli::transport_for(&provider, Some(Credentials::new(source)))
        .map_err(|e| e.to_string())?;
    match transport.list_models().await {
        Ok(models) => Ok(format!("{} models listed", models.len())),
        Err(e) => Err(format!("[{}] {}", e.class, e.message)),
    }
}

/// Leases one given credential (for probes).
pub struct OneCredential {
    pub pool: Arc<Pool>,
    pub id: CredentialId,
}

impl sortie_transports::auth::CredentialSource for OneCredential {
    fn lease(&self) -> sortie_transports::auth::LeaseFuture<'_> {
        Box::pin(async move {
            self.pool
                .lease_id(&self.id)
                .await
                .map_err(sortie_transports::auth::pool_error)
        })
    }
}

/// `sortie auth logout`: revoke where possible, clear the secrets, keep the row.
pub async fn logout(store: &Store, config: &Config, id: &CredentialId) -> anyhow::Result<String> {
    let creds = credential_store(store)?;
    let mut c = creds
        .get(id)?
        .with_context(|| format!("unknown credential `{id}` (see `sortie auth list`)"))?;
    let mut note = String::new();
    if let Some(oauth) = &c.oauth {
        let provider = config.provider(Some(&c.provider))?;
        match oauth_client(&provider).await {
            Ok((client, _)) => {
                for (token, hint) in [
                    (&oauth.refresh_token, "refresh_token"),
                    (&oauth.access_token, "access_token"),
                ] {
                    if let Some(token) = token {
                        match client.revoke(token, hint).await {
                            Ok(true) => note = "tokens revoked".into(),
                            Ok(false) => {
                                note = "the provider has no revocation endpoint; tokens forgotten"
                                    .into()
                            }
                            Err(e) => {
                                note = format!("revocation failed ({e}); tokens forgotten anyway")
                            }
                        }
                    }
                }
            }
            Err(e) => note = format!("cannot revoke ({e:#}); tokens forgotten"),
        }
    }
    if let Some(oauth) = c.oauth.as_mut() {
        oauth.access_token = None;
        oauth.refresh_token = None;
        oauth.expires_at = None;
    }
    c.api_key = None;
    c.status = CredentialStatus::Disconnected;
    creds.put(&c)?;
    Ok(if note.is_empty() {
        "secrets cleared".into()
    } else {
        note
    })
}

/// `sortie auth remove`.
pub fn remove(store: &Store, id: &CredentialId) -> anyhow::Result<()> {
    if !credential_store(store)?.remove(id)? {
        bail!("unknown credential `{id}` (see `sortie auth list`)");
    }
    Ok(())
}

/// The credential `id`, or a clear error.
pub fn get(store: &Store, id: &CredentialId) -> anyhow::Result<Credential> {
    credential_store(store)?
        .get(id)?
        .with_context(|| format!("unknown credential `{id}` (see `sortie auth list`)"))
}

/// A one-line description of a stored credential, for confirmations.
pub fn describe(c: &Credential) -> String {
    format!(
        "{} ({}, {}, expires {})",
        c.id,
        c.auth_mode.as_str(),
        c.status.name(),
        expiry_text(c)
    )
}

/// Where the data dir keeps credentials, for messages.
pub fn location(home: &Path) -> String {
    home.join("store").display().to_string()
}
