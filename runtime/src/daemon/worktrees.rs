//! `GET /missions/{id}/diff` and `DELETE /missions/{id}/worktree`: a `--worktree`
//! mission's changes, and removing its worktree.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sortie_missions::MissionEvent;

use super::api::{ApiError, ApiResult};
use super::Daemon;
use crate::service::worktree;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DiffQuery {
    #[serde(default)]
    stat: bool,
}

/// `GET /missions/{id}/diff?stat=`: `{"mission", "branch", "base", "diff"}`.
pub(super) async fn diff(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<Value>> {
    let id = d.store.resolve(&id).await?;
    let mission = d.store.mission(&id).await?;
    let home = d.home.clone();
    let m = mission.clone();
    let text = tokio::task::spawn_blocking(move || worktree::diff(&home, &m, q.stat))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "diff", e.to_string()))?
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "no_worktree", format!("{e:#}")))?;
    let wt = mission.worktree.as_ref();
    Ok(Json(json!({
        "mission": id,
        "branch": wt.map(|w| &w.branch),
        "base": wt.map(|w| &w.base),
        "diff": text,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RemoveQuery {
    #[serde(default)]
    branch: bool,
}

/// `DELETE /missions/{id}/worktree?branch=`: `{"mission", "done": [...]}`; 409 while the
/// mission is queued or running.
pub(super) async fn remove(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> ApiResult<Json<Value>> {
    let id = d.store.resolve(&id).await?;
    let mission = d.store.mission(&id).await?;
    let active = !d.supervisor.let_go(&id).await;
    let done = worktree::remove(&mission, active, q.branch).map_err(|e| {
        let code = if active { "active" } else { "worktree" };
        ApiError::new(StatusCode::CONFLICT, code, format!("{e:#}"))
    })?;
    d.store
        .append(
            &id,
            MissionEvent::Warning {
                message: format!("worktree: {}", done.join("; ")),
            },
        )
        .await?;
    Ok(Json(json!({"mission": id, "done": done})))
}
