//! Limits the API holds to under floods and bad input, each answered in the API's JSON
//! error shape: the largest request body, a full disk (507), a full queue (429).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::api::ApiError;

/// The largest request body the API reads (a mission's prompt included).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Turns the plain-text 413 of the body limit into the API's JSON error.
pub async fn json_413(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE || is_json {
        return response;
    }
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "the request body is larger than {} MiB; send a shorter prompt, or put long material in a file in the mission's working directory and name it in the prompt",
            MAX_BODY_BYTES / (1024 * 1024)
        ),
    )
    .into_response()
}

/// A request the service refused: 507 when the disk is full, else 400 with the reason.
pub fn request_error(e: anyhow::Error) -> ApiError {
    match e.downcast_ref::<sortie_missions::StoreError>() {
        Some(store @ sortie_missions::StoreError::DiskFull { .. }) => ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "disk_full",
            store.to_string(),
        ),
        _ => ApiError::bad_request(format!("{e:#}")),
    }
}

/// Whether a new mission may be queued: 507 when the disk is (nearly) full, 429 when the
/// queue is.
pub fn admit(d: &super::Daemon) -> Result<(), ApiError> {
    d.store.check_space()?;
    match d.supervisor.queue_full() {
        Some(why) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "queue_full",
            why,
        )),
        None => Ok(()),
    }
}
