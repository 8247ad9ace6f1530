//! `GET /missions`, a page at a time: `limit` (default 200, at most 1000), `cursor` (the
//! `next_cursor` of the previous page), `status` (one or several, comma-separated) and
//! `updated_since` (RFC 3339; what the TUI polls with). List items are small: the prompt
//! is cut to its first 200 characters (`prompt_truncated` says so); `GET /missions/{id}`
//! has it whole.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sortie_missions::{MissionFilter, MissionId, MissionStatus};

use super::api::{ApiError, ApiResult};
use super::Daemon;
use crate::api::{DEFAULT_LIMIT, MAX_LIMIT};

const PROMPT_CHARS: usize = 200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<usize>,
    cursor: Option<String>,
    status: Option<String>,
    updated_since: Option<String>,
}

fn filter_of(q: &ListQuery) -> Result<(MissionFilter, usize), ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT} (it is {limit})"
        )));
    }
    let after = match &q.cursor {
        None => None,
        Some(c) => Some(c.parse::<MissionId>().map_err(|_| {
            ApiError::bad_request(format!(
                "cursor `{c}` is not a mission id; pass the next_cursor of the previous page"
            ))
        })?),
    };
    let mut statuses = Vec::new();
    for s in q.status.iter().flat_map(|s| s.split(',')) {
        let status: MissionStatus = serde_json::from_value(json!(s.trim())).map_err(|_| {
            ApiError::bad_request(format!(
                "status `{s}` is not one of queued, running, completed, failed, interrupted, needs_reauth, cancelled, paused"
            ))
        })?;
        statuses.push(status);
    }
    let updated_since = match &q.updated_since {
        None => None,
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|_| {
                    ApiError::bad_request(format!(
                        "updated_since `{t}` is not an RFC 3339 time, e.g. 2026-11-30T12:00:00Z"
                    ))
                })?
                .with_timezone(&chrono::Utc),
        ),
    };
    let filter = MissionFilter {
        after,
        statuses,
        updated_since,
    };
    Ok((filter, limit))
}

/// `GET /missions`.
pub async fn list_missions(
    State(d): State<Arc<Daemon>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = query.map_err(|e| {
        ApiError::bad_request(format!(
            "{}; GET /missions takes limit, cursor, status and updated_since",
            e.body_text()
        ))
    })?;
    let (filter, limit) = filter_of(&q)?;
    let page = d.store.missions_page(&filter, limit).await?;
    let ids: Vec<MissionId> = page.missions.iter().map(|m| m.id).collect();
    let placements = super::cluster::placements(&d, &ids).await;
    let list: Vec<Value> = page
        .missions
        .iter()
        .map(|m| {
            let mut v = serde_json::to_value(m).unwrap_or_default();
            if m.prompt.chars().count() > PROMPT_CHARS {
                v["prompt"] = json!(m.prompt.chars().take(PROMPT_CHARS).collect::<String>());
                v["prompt_truncated"] = json!(true);
            }
            v["queue_position"] = json!(d.supervisor.queue_position(&m.id));
            if let Some(daemon) = placements.get(&m.id) {
                v["daemon"] = json!(daemon);
            }
            v
        })
        .collect();
    Ok(Json(json!({
        "missions": list,
        "problems": page.problems,
        "next_cursor": page.next_cursor,
    })))
}
