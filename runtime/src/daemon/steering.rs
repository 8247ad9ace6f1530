//! `POST /missions/{id}/messages` (a message queued for a running mission's next turn, or
//! resuming one that stopped) and `POST /missions/{id}/fork`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use sortie_missions::steering::SendError;

use super::api::{mission_view, resolve, resume, ApiError, ApiResult};
use super::Daemon;
use crate::api::{ForkRequest, ResumeRequest, SendMessage};

/// The longest a message waits for a run that is ending to let go of its mission.
const ENDING_BOUND: Duration = Duration::from_secs(10);

pub async fn send_message(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let m: SendMessage = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "expected {{\"text\": \"...\", \"now\"?: true|false}}: {e}"
        ))
    })?;
    if m.text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "the message is empty; say what the mission should do",
        ));
    }
    let id = resolve(&d, &id).await?;
    if let Some(inbox) = d.supervisor.inbox(&id) {
        d.store.check_space()?;
        match inbox.queue(&d.store, &id, m.text.clone(), m.now).await {
            Ok(q) => {
                let mut view = mission_view(&d, &id).await?;
                view["queued"] = json!({"seq": q.seq, "pending": q.pending, "now": m.now});
                return Ok(Json(view));
            }
            Err(e @ SendError::Full { .. }) => {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "messages_full",
                    e.to_string(),
                ));
            }
            Err(SendError::Store(e)) => return Err(e.into()),
            // The run is ending: the message resumes the mission once it let go.
            Err(SendError::Closed) => wait_released(&d, &id).await?,
        }
    }
    let Json(mut view) = resume(
        &d,
        &id.to_string(),
        ResumeRequest {
            message: Some(m.text),
            ..Default::default()
        },
    )
    .await?;
    view["resumed"] = json!(true);
    Ok(Json(view))
}

/// Waits (bounded) until a run that closed its inbox has let go of the mission.
async fn wait_released(d: &Daemon, id: &sortie_missions::MissionId) -> ApiResult<()> {
    if d.supervisor.released_within(id, ENDING_BOUND).await {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "ending",
        format!(
            "mission {id} is ending and did not let go within {}s; send the message again",
            ENDING_BOUND.as_secs()
        ),
    ))
}

pub async fn fork_mission(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req: ForkRequest = if body.is_empty() {
        ForkRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("the body is not a fork request: {e}; expected {{\"at\"?, \"provider\"?, \"model\"?, \"message\"?, \"max_turns\"?}}"))
        })?
    };
    let parent = resolve(&d, &id).await?;
    let config = d.supervisor.config().map_err(ApiError::bad_request)?;
    super::http_limits::admit(&d)?;
    let fork = crate::service::forks::create_fork(&d.store, &config, &d.pool, parent, req)
        .await
        .map_err(super::http_limits::request_error)?;
    let id = fork.id;
    // Durable before it is run or the client hears it exists.
    d.store.flush_mission(&id).await?;
    d.supervisor
        .submit(fork)
        .await
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "active", e.to_string()))?;
    Ok((StatusCode::CREATED, Json(mission_view(&d, &id).await?)))
}
