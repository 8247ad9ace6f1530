//! `GET /usage?since=7d`: what missions spent, by day, provider and schedule.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;

use super::api::{ApiError, ApiResult};
use super::Daemon;
use crate::api::UsageReport;
use crate::service::usage;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    since: Option<String>,
}

pub async fn usage_route(
    State(d): State<Arc<Daemon>>,
    Query(q): Query<UsageQuery>,
) -> ApiResult<Json<UsageReport>> {
    let since = usage::since_day(q.since.as_deref().unwrap_or("7d"), Utc::now().date_naive())
        .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    let report = usage::report(&d.store, since).await.map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "store",
            format!("{e:#}"),
        )
    })?;
    Ok(Json(report))
}
