//! Accounts over the API: credentials (list, probe, add a key, log out, remove), logins
//! (loopback, paste, device; started here, finished by the browser, the device approval or a
//! pasted code) and model lists. The same code as `sortie auth` and `sortie models` runs
//! them; secrets go in (a key, a pasted code) and never come out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sortie_transports::auth::CredentialId;
use tokio::sync::oneshot;

use super::api::{ApiError, ApiResult};
use super::Daemon;
use crate::api::{CredentialRow, LoginPrompt};
use crate::config::Config;
use crate::service::accounts::{self as auth, AccountStore, FlowFlags};
use crate::service::{credentials, models};

/// How long a finished login is still shown.
const KEEP_FINISHED: chrono::Duration = chrono::Duration::minutes(10);

/// The logins this daemon runs, by id.
#[derive(Default)]
pub struct Logins {
    map: Mutex<HashMap<String, LoginEntry>>,
    /// Where the credentials and pending logins are (opened on first use).
    accounts: tokio::sync::OnceCell<AccountStore>,
}

struct LoginEntry {
    prompt: LoginPrompt,
    state: LoginState,
    /// Hands the pasted code to the task that finishes the login.
    code: Option<oneshot::Sender<String>>,
    task: Option<tokio::task::AbortHandle>,
    finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum LoginState {
    Pending,
    Completed { credential: Box<CredentialRow> },
    Failed { error: String },
    Cancelled,
}

impl Logins {
    fn json(&self, id: &str) -> ApiResult<Value> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.get(id).ok_or_else(|| unknown_login(id))?;
        Ok(login_json(id, entry))
    }

    fn finish(&self, id: &str, state: LoginState) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = map.get_mut(id) {
            if matches!(entry.state, LoginState::Pending) {
                entry.state = state;
                entry.finished_at = Some(chrono::Utc::now());
                entry.code = None;
                entry.task = None;
            }
        }
    }

    /// Whether a login still waits for a person (keeps an idle daemon up).
    pub fn pending(&self) -> usize {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.values()
            .filter(|e| matches!(e.state, LoginState::Pending))
            .count()
    }
}

fn unknown_login(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("unknown login `{id}` (finished logins are kept 10 minutes)"),
    )
}

fn login_json(id: &str, e: &LoginEntry) -> Value {
    let mut v = json!({"id": id, "prompt": e.prompt});
    if let (Value::Object(out), Ok(Value::Object(state))) = (&mut v, serde_json::to_value(&e.state))
    {
        out.extend(state);
    }
    v
}

/// The config as the file now says (parsed again only when it changed).
fn config(d: &Daemon) -> ApiResult<std::sync::Arc<Config>> {
    d.supervisor.config().map_err(ApiError::bad_request)
}

fn failed(e: anyhow::Error) -> ApiError {
    ApiError::bad_request(format!("{e:#}"))
}

/// The daemon's credentials and pending logins: its shared store's when that is
/// PostgreSQL, else its data dir's.
async fn accounts(d: &Daemon) -> ApiResult<AccountStore> {
    let config = config(d)?;
    d.logins
        .accounts
        .get_or_try_init(|| AccountStore::open(&d.local, &d.store, &config))
        .await
        .cloned()
        .map_err(failed)
}

#[derive(Debug, Deserialize)]
pub struct ProbeQuery {
    #[serde(default)]
    probe: bool,
}

/// `GET /credentials[?probe=true]`.
pub async fn list_credentials(
    State(d): State<Arc<Daemon>>,
    Query(q): Query<ProbeQuery>,
) -> ApiResult<Json<Value>> {
    let config = config(&d)?;
    let accounts = accounts(&d).await?;
    let (rows, problems) = credentials::credential_rows(&accounts, &config, Some(&d.pool), q.probe)
        .await
        .map_err(failed)?;
    Ok(Json(json!({"credentials": rows, "problems": problems})))
}

#[derive(Deserialize)]
struct NewKey {
    provider: String,
    key: String,
    #[serde(default)]
    label: Option<String>,
    /// An API-key credential whose key this one replaces (a reconnect).
    #[serde(default)]
    credential: Option<String>,
}

/// `POST /credentials {provider, key, label?}`: stores an API key.
pub async fn add_key(
    State(d): State<Arc<Daemon>>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    // Never echo the body: it holds the key.
    let req: NewKey = serde_json::from_slice(&body).map_err(|_| {
        ApiError::bad_request(
            "the body is not a key; expected {\"provider\", \"key\", and optionally \"label\"}",
        )
    })?;
    let config = config(&d)?;
    let (provider, note) = auth::credential_owner(&config, &req.provider).map_err(failed)?;
    let accounts = accounts(&d).await?;
    let c = match &req.credential {
        Some(id) => auth::replace_key(&accounts, &CredentialId(id.clone()), &req.key).await,
        None => auth::add_key(&accounts, &provider, req.label, &req.key).await,
    }
    .map_err(failed)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"credential": CredentialRow::new(&c), "note": note})),
    ))
}

/// `POST /credentials/{id}/logout`: revokes where possible and forgets the secrets.
pub async fn logout(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let config = config(&d)?;
    let id = CredentialId(id);
    known_credential(&d, &id).await?;
    let accounts = accounts(&d).await?;
    let note = auth::logout(&accounts, &config, &id)
        .await
        .map_err(failed)?;
    let c = auth::get(&accounts, &id).await.map_err(failed)?;
    Ok(Json(
        json!({"credential": CredentialRow::new(&c), "note": note}),
    ))
}

/// `DELETE /credentials/{id}`.
pub async fn remove(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = CredentialId(id);
    known_credential(&d, &id).await?;
    auth::remove(&accounts(&d).await?, &id)
        .await
        .map_err(failed)?;
    Ok(Json(json!({"deleted": id})))
}

/// The credential `id`, or a 404 that says so.
async fn known_credential(
    d: &Daemon,
    id: &CredentialId,
) -> ApiResult<sortie_transports::auth::Credential> {
    auth::get(&accounts(d).await?, id)
        .await
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("{e:#}")))
}

#[derive(Deserialize)]
struct NewLogin {
    /// The provider to log in to (a new credential, or the same account's updated).
    #[serde(default)]
    provider: Option<String>,
    /// A credential to log in again (reconnect), updated in place.
    #[serde(default)]
    credential: Option<String>,
    /// `loopback`, `paste` or `device`; the provider's default when absent.
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    label: Option<String>,
}

/// `POST /auth/logins`: starts a login and answers with what the person must do.
pub async fn start_login(
    State(d): State<Arc<Daemon>>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req: NewLogin = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("the body is not a login: {e}; expected {{\"provider\"}} or {{\"credential\"}} (a reconnect), and optionally \"flow\" (loopback, paste, device) and \"label\""))
    })?;
    let flags = flow_flags(req.flow.as_deref())?;
    let config = config(&d)?;
    let (provider, existing, note) = match (&req.credential, &req.provider) {
        (Some(id), _) => {
            let id = CredentialId(id.clone());
            let c = known_credential(&d, &id).await?;
            let provider = config.provider(Some(&c.provider)).map_err(ApiError::bad_request)?;
            (provider, Some(id), None)
        }
        (None, Some(name)) => {
            let (provider, note) = auth::credential_owner(&config, name).map_err(failed)?;
            (provider, None, note)
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "say which provider to log in to (\"provider\") or which credential to reconnect (\"credential\")",
            ))
        }
    };
    let accounts = accounts(&d).await?;
    let login = auth::start_login(&accounts, &provider, flags, req.label, existing)
        .await
        .map_err(failed)?;
    let id = sortie_transports::auth::oauth::random_token(9);
    let (code_tx, code_rx) = oneshot::channel::<String>();
    let needs_code = login.prompt.needs_code;
    let expires = (login.prompt.expires_at - chrono::Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO);
    let entry = LoginEntry {
        prompt: login.prompt.clone(),
        state: LoginState::Pending,
        code: needs_code.then_some(code_tx),
        task: None,
        finished_at: None,
    };
    {
        let mut map = d.logins.map.lock().unwrap_or_else(|e| e.into_inner());
        let now = chrono::Utc::now();
        map.retain(|_, e| e.finished_at.is_none_or(|at| now - at < KEEP_FINISHED));
        map.insert(id.clone(), entry);
    }
    let task = {
        let d = d.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let code = match needs_code {
                false => None,
                true => match tokio::time::timeout(expires, code_rx).await {
                    Ok(Ok(code)) => Some(code),
                    _ => {
                        d.logins.finish(
                            &id,
                            LoginState::Failed {
                                error:
                                    "no code was pasted before the login expired; start it again"
                                        .into(),
                            },
                        );
                        return;
                    }
                },
            };
            let state = match login
                .finish(&accounts, code.as_deref(), |n| {
                    tracing::info!("login {id}: {n}")
                })
                .await
            {
                Ok(c) => LoginState::Completed {
                    credential: Box::new(CredentialRow::new(&c)),
                },
                Err(e) => LoginState::Failed {
                    error: format!("{e:#}"),
                },
            };
            d.logins.finish(&id, state);
        })
    };
    {
        let mut map = d.logins.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = map.get_mut(&id) {
            if matches!(e.state, LoginState::Pending) {
                e.task = Some(task.abort_handle());
            }
        }
    }
    let mut v = d.logins.json(&id)?;
    v["note"] = json!(note);
    Ok((StatusCode::CREATED, Json(v)))
}

/// The flow a login body asks for (`flow`: loopback, paste or device; none: the
/// provider's default).
fn flow_flags(flow: Option<&str>) -> ApiResult<FlowFlags> {
    Ok(match flow {
        None => FlowFlags::default(),
        Some("device") => FlowFlags {
            device: true,
            ..Default::default()
        },
        Some("paste") => FlowFlags {
            paste: true,
            ..Default::default()
        },
        Some("loopback") => FlowFlags {
            loopback: true,
            ..Default::default()
        },
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown flow `{other}`; use loopback, paste or device"
            )))
        }
    })
}

/// `GET /auth/logins`.
pub async fn list_logins(State(d): State<Arc<Daemon>>) -> Json<Value> {
    let map = d.logins.map.lock().unwrap_or_else(|e| e.into_inner());
    let mut rows: Vec<Value> = map.iter().map(|(id, e)| login_json(id, e)).collect();
    rows.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Json(json!({"logins": rows}))
}

/// `GET /auth/logins/{id}`.
pub async fn show_login(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(d.logins.json(&id)?))
}

#[derive(Deserialize)]
struct PastedCode {
    code: String,
}

/// `POST /auth/logins/{id}/code {code}`: the code the provider showed (or the URL the
/// browser landed on). The exchange runs next; poll the login for its end.
pub async fn paste_code(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req: PastedCode = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("the body is not a code; expected {\"code\"}"))?;
    if req.code.trim().is_empty() {
        return Err(ApiError::bad_request("the code is empty"));
    }
    let sender = {
        let mut map = d.logins.map.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.get_mut(&id).ok_or_else(|| unknown_login(&id))?;
        if !matches!(entry.state, LoginState::Pending) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_pending",
                format!("login {id} is over; start a new one"),
            ));
        }
        entry.code.take().ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "no_code_expected",
                format!(
                    "login {id} does not take a pasted code (its flow is {}), or one was given already",
                    entry.prompt.flow
                ),
            )
        })?
    };
    if sender.send(req.code).is_err() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_pending",
            format!("login {id} is over; start a new one"),
        ));
    }
    Ok((StatusCode::ACCEPTED, Json(d.logins.json(&id)?)))
}

/// `DELETE /auth/logins/{id}`: gives a pending login up (its callback port is freed).
pub async fn cancel_login(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let task = {
        let mut map = d.logins.map.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.get_mut(&id).ok_or_else(|| unknown_login(&id))?;
        entry.task.take()
    };
    if let Some(task) = task {
        task.abort();
    }
    d.logins.finish(&id, LoginState::Cancelled);
    Ok(Json(d.logins.json(&id)?))
}

#[derive(Debug, Deserialize)]
pub struct ModelsQuery {
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    refresh: bool,
}

/// `GET /models[?provider=NAME][&refresh=true]`: as `sortie models --json`, with `warning`
/// when an older list is shown because the refresh failed.
pub async fn models(
    State(d): State<Arc<Daemon>>,
    Query(q): Query<ModelsQuery>,
) -> ApiResult<Json<Value>> {
    let config = config(&d)?;
    let provider = config
        .provider(q.provider.as_deref())
        .map_err(ApiError::bad_request)?;
    let listing = models::listing(&d.store, &d.pool, &provider, q.refresh)
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "provider", format!("{e:#}")))?;
    Ok(Json(serde_json::to_value(listing).unwrap_or_default()))
}
