//! The daemon's HTTP API: JSON, with Server-Sent Events for a mission's events. Every
//! route needs `Authorization: Bearer <token>` (the token is in `daemon.token`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use sortie_missions::{MissionEvent, MissionId, MissionStatus, StoreError, Update};
use tokio::sync::broadcast::error::RecvError;

use super::{accounts, Daemon};
use crate::api::instance::constant_time_eq;
use crate::api::{schedule_json, NewMission, NewSchedule, ResumeRequest};
use crate::service::{demo, missions, schedules};

/// An API failure: an HTTP status and `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(e: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UnknownMission(_) | StoreError::UnknownSchedule(_) => {
                Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            StoreError::AmbiguousMission { .. } | StoreError::AmbiguousSchedule { .. } => {
                Self::bad_request(e)
            }
            StoreError::DiskFull { .. } => {
                Self::new(StatusCode::INSUFFICIENT_STORAGE, "disk_full", e.to_string())
            }
            StoreError::LeasedElsewhere { .. } => {
                Self::new(StatusCode::CONFLICT, "elsewhere", e.to_string())
            }
            other => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "store",
                other.to_string(),
            ),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The API's routes, behind the bearer token.
pub fn router(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/shutdown", post(shutdown))
        .route(
            "/missions",
            get(super::listing::list_missions).post(create_mission),
        )
        .route("/demo", post(start_demo))
        .route("/missions/{id}", get(show_mission).delete(delete_mission))
        .route("/missions/{id}/events", get(mission_events))
        .route("/missions/{id}/stream", get(stream_events))
        .route(
            "/missions/{id}/messages",
            post(super::steering::send_message),
        )
        .route("/missions/{id}/fork", post(super::steering::fork_mission))
        .route("/missions/{id}/resume", post(resume_mission))
        .route("/missions/{id}/pause", post(pause_mission))
        .route("/missions/{id}/cancel", post(cancel_mission))
        .route("/missions/{id}/approvals", get(list_approvals))
        .route("/missions/{id}/approvals/{approval}", post(answer_approval))
        .route("/missions/{id}/diff", get(super::worktrees::diff))
        .route("/missions/{id}/worktree", delete(super::worktrees::remove))
        .route(
            "/credentials",
            get(accounts::list_credentials).post(accounts::add_key),
        )
        .route("/credentials/{id}", delete(accounts::remove))
        .route("/credentials/{id}/logout", post(accounts::logout))
        .route(
            "/auth/logins",
            get(accounts::list_logins).post(accounts::start_login),
        )
        .route(
            "/auth/logins/{id}",
            get(accounts::show_login).delete(accounts::cancel_login),
        )
        .route("/auth/logins/{id}/code", post(accounts::paste_code))
        .route("/models", get(accounts::models))
        .route("/schedules", get(list_schedules).post(add_schedule))
        .route(
            "/schedules/{id}",
            get(show_schedule).delete(delete_schedule),
        )
        .route("/schedules/{id}/pause", post(pause_schedule))
        .route("/schedules/{id}/resume", post(resume_schedule))
        .route("/schedules/{id}/run-now", post(run_schedule_now))
        .route("/usage", get(super::usage::usage_route))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such route; see GET /openapi.json",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method; see GET /openapi.json",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            daemon.clone(),
            require_token,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(
            super::http_limits::MAX_BODY_BYTES,
        ))
        .layer(axum::middleware::map_response(super::http_limits::json_413))
        .with_state(daemon)
}

async fn require_token(
    State(daemon): State<Arc<Daemon>>,
    request: Request,
    next: Next,
) -> Response {
    let given = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(proof) =
        crate::api::instance::answer(given.is_none(), request.uri(), &daemon.instance)
    {
        return proof;
    }
    match given {
        Some(token) if constant_time_eq(token.as_bytes(), daemon.token.as_bytes()) => {
            daemon.last_request.store(
                chrono::Utc::now().timestamp(),
                std::sync::atomic::Ordering::Relaxed,
            );
            next.run(request).await
        }
        Some(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "wrong token; the daemon's token is in daemon.token in its data dir (new at every start)",
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing `Authorization: Bearer <token>`; the token is in daemon.token in the daemon's data dir",
        )
        .into_response(),
    }
}

async fn health(State(d): State<Arc<Daemon>>) -> Json<Value> {
    let (running, queued) = d.supervisor.counts();
    Json(json!({
        "ok": true,
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "addr": d.addr.to_string(),
        "data_dir": d.home.display().to_string(),
        "started_at": d.started_at,
        "missions": {"running": running, "queued": queued},
        "idle_exit_secs": d.idle_exit.map(|i| i.as_secs()),
        "cluster": super::cluster::view(&d).await,
    }))
}

async fn shutdown(State(d): State<Arc<Daemon>>) -> Json<Value> {
    d.shutdown.cancel();
    Json(
        json!({"ok": true, "message": "stopping; running missions are interrupted and resume at the next start"}),
    )
}

pub(super) async fn resolve(d: &Daemon, id: &str) -> ApiResult<MissionId> {
    Ok(d.store.resolve(id).await?)
}

/// A mission with what only the daemon knows: its place in the queue.
pub(super) async fn mission_view(d: &Daemon, id: &MissionId) -> ApiResult<Value> {
    let mission = d.store.mission(id).await?;
    let mut v = serde_json::to_value(&mission).map_err(ApiError::bad_request)?;
    v["queue_position"] = json!(d.supervisor.queue_position(id));
    if let Some(daemon) = super::cluster::placements(d, &[*id]).await.remove(id) {
        v["daemon"] = json!(daemon);
    }
    Ok(v)
}

async fn create_mission(
    State(d): State<Arc<Daemon>>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req: NewMission = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("the body is not a mission request: {e}; expected {{\"prompt\", \"cwd\", \"provider\"?, \"model\"?, \"permission\"?, \"max_turns\"?, \"sandbox\"?, \"no_instructions\"?, \"mcp\"?, \"max_cost\"?, \"max_tokens\"?, \"max_duration\"?, \"notify\"?, \"worktree\"?}}"))
    })?;
    match &req.cwd {
        Some(cwd) if cwd.is_absolute() => {}
        Some(cwd) => {
            return Err(ApiError::bad_request(format!(
                "cwd {} must be an absolute path",
                cwd.display()
            )))
        }
        None => {
            return Err(ApiError::bad_request(
                "cwd is required: the mission's working directory, absolute",
            ))
        }
    }
    super::http_limits::admit(&d)?;
    let config = d.supervisor.config().map_err(ApiError::bad_request)?;
    let mission = missions::create_mission(&d.store, &config, &d.pool, req)
        .await
        .map_err(super::http_limits::request_error)?;
    let id = mission.id;
    // Durable before the client hears it exists.
    d.store.flush_mission(&id).await?;
    d.supervisor
        .submit(mission)
        .await
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()))?;
    Ok((StatusCode::CREATED, Json(mission_view(&d, &id).await?)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DemoRequest {
    #[serde(default)]
    pace_ms: Option<u64>,
    #[serde(default)]
    permission: Option<sortie_missions::PermissionPolicy>,
}

/// `POST /demo`: the demo mission, run here against the daemon's scripted model.
async fn start_demo(
    State(d): State<Arc<Daemon>>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req: DemoRequest = if body.is_empty() {
        DemoRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body is not a demo request: {e}; expected {{\"pace_ms\"?, \"permission\"?}}"
            ))
        })?
    };
    let policy = req
        .permission
        .unwrap_or(sortie_missions::PermissionPolicy::Auto);
    super::http_limits::admit(&d)?;
    let (dir, spec) = demo::prepare(&d.home, policy)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "demo", format!("{e:#}")))?;
    let mission = d.store.create_mission(spec).await?;
    d.supervisor
        .set_demo_pace(mission.id, Duration::from_millis(req.pace_ms.unwrap_or(25)));
    d.store.flush_mission(&mission.id).await?;
    let id = mission.id;
    d.supervisor
        .submit(mission)
        .await
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "active", e.to_string()))?;
    let mut v = mission_view(&d, &id).await?;
    v["dir"] = json!(dir);
    Ok((StatusCode::CREATED, Json(v)))
}

async fn show_mission(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = resolve(&d, &id).await?;
    Ok(Json(mission_view(&d, &id).await?))
}

async fn delete_mission(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = resolve(&d, &id).await?;
    if !d.supervisor.let_go(&id).await {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "active",
            format!(
                "mission {id} is queued or running; cancel it first (POST /missions/{id}/cancel)"
            ),
        ));
    }
    d.store.delete_mission(&id).await?;
    Ok(Json(json!({"deleted": id})))
}

#[derive(Debug, Deserialize)]
struct FromSeq {
    #[serde(default)]
    from: u64,
}

async fn mission_events(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    Query(q): Query<FromSeq>,
) -> ApiResult<Response> {
    let id = resolve(&d, &id).await?;
    let events = d.store.events_json_from(&id, q.from).await?;
    let mut body = Vec::with_capacity(events.iter().map(|(_, e)| e.len() + 64).sum::<usize>() + 2);
    body.push(b'[');
    for (i, (_, raw)) in events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        with_mission(&id, raw, &mut body);
    }
    body.push(b']');
    Ok(([("content-type", "application/json")], body).into_response())
}

/// A stored event's JSON object with `"mission_id"` first, as `api::update_json` makes
/// it, without decoding the event.
pub fn with_mission(id: &MissionId, raw: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("{{\"mission_id\":\"{id}\"").as_bytes());
    let rest = &raw[1..];
    if rest.iter().any(|b| !b.is_ascii_whitespace() && *b != b'}') {
        out.push(b',');
    }
    out.extend_from_slice(rest);
}

/// How long the stream waits for news before checking the store and the mission again.
const TICK: Duration = Duration::from_millis(500);

/// The mission's events from `from` (replayed from the store), then live ones and the
/// live text deltas, until the mission is no longer queued or running. Events are `event`
/// (stored, with `seq`), `delta` (live only) and a last `end` with the mission.
async fn stream_events(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    Query(q): Query<FromSeq>,
) -> ApiResult<Sse<impl futures::Stream<Item = Result<Event, Infallible>>>> {
    let id = resolve(&d, &id).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(256);
    tokio::spawn(follow(d, id, q.from, tx));
    let stream =
        futures::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
        );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// A stored event as an SSE `event`, from its stored bytes.
fn sse_raw(id: &MissionId, raw: &[u8]) -> Event {
    let mut data = Vec::with_capacity(raw.len() + 64);
    with_mission(id, raw, &mut data);
    Event::default()
        .event("event")
        .data(String::from_utf8_lossy(&data))
}

fn sse(name: &str, value: &Value) -> Event {
    Event::default().event(name).data(value.to_string())
}

async fn follow(d: Arc<Daemon>, id: MissionId, from: u64, tx: tokio::sync::mpsc::Sender<Event>) {
    let mut live = d.supervisor.subscribe();
    let mut f = Follower {
        d,
        id,
        next: from,
        asked: std::collections::HashSet::new(),
        tx,
    };
    // Each pass replays what the store has past `next` (all of it at first; what a lag or
    // a gap skipped later), then streams live updates until the next gap. `None`: the
    // stream is over (the mission ended, or the client left).
    while f.replay().await.is_some() && f.ask_pending().await.is_some() {
        if f.live(&mut live).await.is_none() {
            return;
        }
    }
}

/// One client following one mission's events over SSE.
struct Follower {
    d: Arc<Daemon>,
    id: MissionId,
    /// The first sequence not sent yet.
    next: u64,
    /// The approvals already shown.
    asked: std::collections::HashSet<String>,
    tx: tokio::sync::mpsc::Sender<Event>,
}

impl Follower {
    async fn send(&self, event: Event) -> Option<()> {
        self.tx.send(event).await.ok()
    }

    /// Sends the stored events past `next`; when the mission is no longer active, also
    /// its last ones and `end` (and returns `None`).
    async fn replay(&mut self) -> Option<()> {
        let stored = match self.d.store.events_json_from(&self.id, self.next).await {
            Ok(events) => events,
            Err(e) => {
                let _ = self
                    .send(sse("error", &json!({"message": e.to_string()})))
                    .await;
                return None;
            }
        };
        for (seq, raw) in stored {
            self.next = seq + 1;
            self.send(sse_raw(&self.id, &raw)).await?;
        }
        if super::relay::runs_somewhere(&self.d, &self.id).await {
            return Some(());
        }
        // It may have stored its last events after the replay.
        if let Ok(rest) = self.d.store.events_json_from(&self.id, self.next).await {
            for (_, raw) in rest {
                self.send(sse_raw(&self.id, &raw)).await?;
            }
        }
        let mission = self.d.store.mission(&self.id).await.ok();
        let _ = self.send(sse("end", &json!({"mission": mission}))).await;
        None
    }

    /// Questions asked before this stream started are shown once too.
    async fn ask_pending(&mut self) -> Option<()> {
        for q in self.d.supervisor.approvals.of(&self.id) {
            let approval = q["approval"].as_str().unwrap_or_default().to_string();
            if self.asked.insert(approval.clone()) {
                let u = Update::ApprovalRequested {
                    mission: self.id,
                    approval,
                    summary: q["summary"].as_str().unwrap_or_default().to_string(),
                };
                self.send(sse("delta", &crate::api::update_json(&u)))
                    .await?;
            }
        }
        Some(())
    }

    /// Streams live updates until a gap, a lag, the mission's end or a quiet tick (then
    /// `Some`: replay from the store), or the client leaves (`None`).
    async fn live(&mut self, live: &mut tokio::sync::broadcast::Receiver<Update>) -> Option<()> {
        loop {
            let update = tokio::select! {
                _ = self.tx.closed() => return None,
                _ = tokio::time::sleep(TICK) => return Some(()),
                u = live.recv() => u,
            };
            match update {
                Ok(Update::Event { mission, event }) if mission == self.id => {
                    if event.seq < self.next {
                        continue;
                    }
                    if event.seq > self.next {
                        return Some(()); // a gap: read it from the store
                    }
                    self.next = event.seq + 1;
                    let ended = matches!(
                        &event.event,
                        MissionEvent::Status { status, .. }
                            if !matches!(status, MissionStatus::Running | MissionStatus::Queued)
                    );
                    let v = crate::api::update_json(&Update::Event {
                        mission: self.id,
                        event,
                    });
                    self.send(sse("event", &v)).await?;
                    if ended {
                        self.let_go().await;
                        return Some(());
                    }
                }
                Ok(u) if update_mission(&u) == Some(self.id) => {
                    if let Update::ApprovalRequested { approval, .. } = &u {
                        if !self.asked.insert(approval.clone()) {
                            continue;
                        }
                    }
                    self.send(sse("delta", &crate::api::update_json(&u)))
                        .await?;
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => return Some(()),
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// After the mission's last status: a moment for the supervisor to let go of it, so the
    /// replay that follows sees it inactive and ends the stream.
    async fn let_go(&self) {
        for _ in 0..25 {
            if !self.d.supervisor.is_active(&self.id) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn update_mission(u: &Update) -> Option<MissionId> {
    Some(u.mission())
}

async fn resume_mission(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let req: ResumeRequest = if body.is_empty() {
        ResumeRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("the body is not a resume request: {e}; expected {{\"message\"?, \"provider\"?, \"model\"?, \"default_model\"?, \"max_turns\"?, \"sandbox\"?, \"no_instructions\"?, \"mcp\"?, \"max_cost\"?, \"max_tokens\"?, \"max_duration\"?, \"notify\"?}}"))
        })?
    };
    resume(&d, &id, req).await
}

pub(super) async fn resume(d: &Daemon, id: &str, req: ResumeRequest) -> ApiResult<Json<Value>> {
    let id = resolve(d, id).await?;
    // A body that can never be right is refused as such, whatever the mission's state.
    missions::check_max_turns(req.max_turns).map_err(ApiError::bad_request)?;
    if !d.supervisor.let_go(&id).await {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "active",
            format!("mission {id} is already queued or running"),
        ));
    }
    let config = d.supervisor.config().map_err(ApiError::bad_request)?;
    super::http_limits::admit(d)?;
    let mission = missions::prepare_resume(&d.store, &config, &d.pool, id, req)
        .await
        .map_err(super::http_limits::request_error)?;
    d.supervisor
        .submit(mission)
        .await
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "active", e.to_string()))?;
    Ok(Json(mission_view(d, &id).await?))
}

async fn pause_mission(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    stop(
        &d,
        &id,
        MissionStatus::Paused,
        "paused by the user; resume it to continue",
    )
    .await
}

async fn cancel_mission(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    stop(&d, &id, MissionStatus::Cancelled, "cancelled by the user").await
}

async fn stop(d: &Daemon, id: &str, status: MissionStatus, reason: &str) -> ApiResult<Json<Value>> {
    let id = resolve(d, id).await?;
    if !d.supervisor.stop(&id, status, reason) {
        if let Some(answer) = super::cluster::stop_elsewhere(d, &id, status, reason).await? {
            return Ok(Json(answer));
        }
        let m = d.store.mission(&id).await?;
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_active",
            format!("mission {id} is not running or queued (it is {})", m.status),
        ));
    }
    Ok(Json(json!({"mission": id, "stopping": status})))
}

async fn list_approvals(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = resolve(&d, &id).await?;
    Ok(Json(
        json!({"mission": id, "approvals": d.supervisor.approvals.of(&id)}),
    ))
}

#[derive(Deserialize)]
struct Answer {
    approve: bool,
}

async fn answer_approval(
    State(d): State<Arc<Daemon>>,
    Path((id, approval)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let id = resolve(&d, &id).await?;
    let answer: Answer = serde_json::from_slice(&body).map_err(|_| {
        ApiError::bad_request(
            "the body is not an answer; expected {\"approve\": true} or {\"approve\": false}",
        )
    })?;
    d.supervisor
        .approvals
        .answer(&id, &approval, answer.approve)
        .map_err(|_| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("mission {id} has no question `{approval}` waiting (answered, timed out, or the mission stopped); see GET /missions/{id}/approvals"),
            )
        })?;
    Ok(Json(
        json!({"mission": id, "approval": approval, "approved": answer.approve}),
    ))
}

async fn list_schedules(State(d): State<Arc<Daemon>>) -> ApiResult<Json<Value>> {
    let (all, problems) = d.store.schedules().await?;
    let rows: Vec<Value> = all.iter().map(schedule_json).collect();
    Ok(Json(json!({"schedules": rows, "problems": problems})))
}

async fn add_schedule(
    State(d): State<Arc<Daemon>>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req: NewSchedule = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("the body is not a schedule: {e}; expected {{\"prompt\", \"cwd\", one of \"cron\" (+\"tz\"), \"every\", \"at\", and optionally \"name\", \"provider\", \"model\", \"permission\", \"max_turns\", \"sandbox\", \"no_instructions\", \"mcp\", \"max_cost\", \"max_tokens\", \"max_duration\", \"notify\", \"worktree\", \"missed\", \"overlap\", \"jitter\"}}"))
    })?;
    let config = d.supervisor.config().map_err(ApiError::bad_request)?;
    let s = schedules::build(&config, req, chrono::Utc::now())
        .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    d.store.put_schedule(&s).await?;
    d.store.flush().await?;
    Ok((StatusCode::CREATED, Json(schedule_json(&s))))
}

async fn show_schedule(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(schedule_json(&d.store.schedule(&id).await?)))
}

async fn delete_schedule(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let s = d.store.schedule(&id).await?;
    d.store.delete_schedule(&s.id).await?;
    Ok(Json(json!({"deleted": s.id})))
}

async fn pause_schedule(d: State<Arc<Daemon>>, id: Path<String>) -> ApiResult<Json<Value>> {
    set_schedule_paused(d, id, true).await
}

async fn resume_schedule(d: State<Arc<Daemon>>, id: Path<String>) -> ApiResult<Json<Value>> {
    set_schedule_paused(d, id, false).await
}

async fn set_schedule_paused(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    paused: bool,
) -> ApiResult<Json<Value>> {
    d.store.schedule(&id).await?;
    let s = schedules::set_paused(&d.store, &id, paused)
        .await
        .map_err(ApiError::bad_request)?;
    Ok(Json(schedule_json(&s)))
}

async fn run_schedule_now(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    d.store.schedule(&id).await?;
    let s = super::scheduler::run_now(&d, &id)
        .await
        .map_err(ApiError::bad_request)?;
    Ok(Json(schedule_json(&s)))
}

async fn openapi() -> Json<Value> {
    Json(crate::api::openapi::document())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sortie_missions::StoredEvent;

    #[test]
    fn a_spliced_event_is_the_json_the_live_view_gets() {
        let id = MissionId::new();
        let event = StoredEvent {
            seq: 7,
            at: chrono::Utc::now(),
            event: MissionEvent::Warning {
                message: "a \"quoted\" note".into(),
            },
        };
        let raw = serde_json::to_vec(&event).expect("json");
        let mut out = Vec::new();
        with_mission(&id, &raw, &mut out);
        let spliced: Value = serde_json::from_slice(&out).expect("valid JSON");
        let expected = crate::api::update_json(&Update::Event { mission: id, event });
        assert_eq!(spliced, expected);
    }
}
