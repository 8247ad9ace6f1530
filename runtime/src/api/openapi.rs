//! The OpenAPI 3.1 document of the daemon's API (`GET /openapi.json`).

use serde_json::{json, Value};

use super::{DEFAULT_LIMIT, MAX_LIMIT};

/// The whole document.
pub fn document() -> Value {
    super::openapi_cluster::with_cluster(super::openapi_steering::with_steering(
        super::openapi_budget::with_budget(super::openapi_notices::with_notices(
            super::openapi_instructions::with_instructions(super::openapi_mcp::with_mcp(
                super::openapi_sandbox::with_sandbox(without_sandbox()),
            )),
        )),
    ))
}

/// The OpenAPI 3.1 description of this API, but for `sandbox` (see `openapi_sandbox`).
pub(crate) fn without_sandbox() -> Value {
    let parts = Parts::new();
    let mut paths = serde_json::Map::new();
    for group in [
        service_paths(&parts),
        mission_paths(&parts),
        account_paths(&parts),
        schedule_paths(&parts),
    ] {
        if let Value::Object(group) = group {
            paths.extend(group);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Sortie daemon API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Missions, their events (JSON and Server-Sent Events) and approvals, schedules, credentials and logins, model lists. Every route needs `Authorization: Bearer <token>`, the token being in `daemon.token` in the data dir."},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas(),
        }
    })
}

/// What every route's answers share: the error body, and the errors any route may give.
struct Parts {
    error: Value,
    errors: Value,
}

impl Parts {
    fn new() -> Self {
        let error = json!({"$ref": "#/components/schemas/Error"});
        let errors = json!({
            "400": ok("Bad request", error.clone()),
            "401": ok("Missing or wrong bearer token", error.clone()),
            "404": ok("Unknown mission", error.clone()),
            "409": ok("The mission is (not) active", error.clone()),
        });
        let errors = with_limit_errors(errors, &ok("", error.clone()));
        Self { error, errors }
    }

    /// `responses` with the errors every route may give (where it does not say its own).
    fn with_errors(&self, mut responses: Value) -> Value {
        if let (Value::Object(r), Value::Object(e)) = (&mut responses, &self.errors) {
            for (k, v) in e {
                r.entry(k.clone()).or_insert(v.clone());
            }
        }
        responses
    }
}

/// A JSON answer: its description and schema.
fn ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// `/health`, `/openapi.json`, `/shutdown`.
fn service_paths(parts: &Parts) -> Value {
    let with_errors = |r| parts.with_errors(r);
    json!({
        "/health": {"get": {"summary": "Health, version and mission counts. Without a token and with `challenge`, only `{ok, proof}`: the daemon proves it wrote `daemon.json` (proof = hex SHA-256 of `sortie-daemon-instance\\0`, the instance id, `\\0`, the challenge) before a client sends its token", "security": [{"bearer": []}, {}],
            "parameters": [{"name": "challenge", "in": "query", "required": false, "description": "16 to 128 hex digits, fresh for each check", "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{16,128}$"}}],
            "responses": with_errors(json!({"200": ok("Healthy (or, for a challenge without a token, the proof)", json!({"type": "object", "properties": {"ok": {"type": "boolean"}, "proof": {"type": "string"}}}))}))}},
        "/openapi.json": {"get": {"summary": "This document", "responses": with_errors(json!({"200": ok("OpenAPI document", json!({"type": "object"}))}))}},
        "/shutdown": {"post": {"summary": "Stop the daemon; running missions are interrupted and resume at the next start", "responses": with_errors(json!({"200": ok("Stopping", json!({"type": "object"}))}))}}
    })
}

/// `/missions/...` and `/demo`.
fn mission_paths(parts: &Parts) -> Value {
    let with_errors = |r| parts.with_errors(r);
    let mission = json!({"$ref": "#/components/schemas/Mission"});
    let id_param = json!({"name": "id", "in": "path", "required": true, "description": "A mission id, or a unique prefix of at least 4 characters", "schema": {"type": "string"}});
    let from_param = json!({"name": "from", "in": "query", "required": false, "description": "First event sequence number", "schema": {"type": "integer", "minimum": 0}});
    json!({
        "/missions": {
            "get": {"summary": "List missions a page at a time, in creation order (unreadable records are reported in `problems` and skipped); list items carry the first 200 characters of the prompt (`prompt_truncated`)",
                    "parameters": page_parameters(),
                    "responses": with_errors(json!({"200": ok("Missions", json!({"type": "object", "properties": {"missions": {"type": "array", "items": mission}, "problems": {"type": "array", "items": {"type": "string"}}, "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last"}}}))}))},
            "post": {"summary": "Create a mission and queue it", "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewMission"}}}},
                     "responses": with_errors(json!({"201": ok("Created and queued", mission.clone())}))}
        },
        "/missions/{id}": {
            "get": {"summary": "One mission, with its queue position", "parameters": [id_param], "responses": with_errors(json!({"200": ok("The mission", mission.clone())}))},
            "delete": {"summary": "Delete a mission that is not active, and its events", "parameters": [id_param], "responses": with_errors(json!({"200": ok("Deleted", json!({"type": "object"}))}))}
        },
        "/missions/{id}/events": {"get": {"summary": "The stored events from `from`", "parameters": [id_param, from_param], "responses": with_errors(json!({"200": ok("Events", json!({"type": "array", "items": {"$ref": "#/components/schemas/Event"}}))}))}},
        "/missions/{id}/stream": {"get": {"summary": "Server-Sent Events: `event` (stored events from `from`, then live), `delta` (live text, thinking, tool starts and `tool_output`: what a running command writes), then `end` when the mission is no longer queued or running", "parameters": [id_param, from_param],
            "responses": with_errors(json!({"200": {"description": "An event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}}}))}},
        "/missions/{id}/messages": {"post": {"summary": "Send the next message and run the mission again", "parameters": [id_param],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}}}},
            "responses": with_errors(json!({"200": ok("Queued", mission.clone())}))}},
        "/missions/{id}/resume": {"post": {"summary": "Resume a mission, optionally on another provider or model, with an optional next message", "parameters": [id_param],
            "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Resume"}}}},
            "responses": with_errors(json!({"200": ok("Queued", mission.clone())}))}},
        "/missions/{id}/pause": {"post": {"summary": "Stop a queued or running mission as `paused`", "parameters": [id_param], "responses": with_errors(json!({"200": ok("Stopping", json!({"type": "object"}))}))}},
        "/missions/{id}/cancel": {"post": {"summary": "Stop a queued or running mission as `cancelled` (a CLI child is killed)", "parameters": [id_param], "responses": with_errors(json!({"200": ok("Stopping", json!({"type": "object"}))}))}},
        "/demo": {"post": {"summary": "Start the demo mission against the daemon's built-in scripted model (no API key); follow it like any mission",
            "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {"pace_ms": {"type": "integer", "minimum": 0, "description": "Pause between streamed words (default 25)"}, "permission": {"type": "string", "enum": ["auto", "read-only", "ask"]}}}}}},
            "responses": with_errors(json!({"201": ok("Started; `dir` is where its files are", mission.clone())}))}},
        "/missions/{id}/approvals": {"get": {"summary": "The questions of an `ask` mission waiting for an answer (also sent on the stream as `approval_requested` deltas)", "parameters": [id_param],
            "responses": with_errors(json!({"200": ok("Questions", json!({"type": "object", "properties": {"approvals": {"type": "array", "items": {"type": "object", "properties": {"approval": {"type": "string"}, "summary": {"type": "string"}, "asked_at": {"type": "string", "format": "date-time"}}}}}}))}))}},
        "/missions/{id}/approvals/{approval}": {"post": {"summary": "Answer a question: the tool call runs (true) or is recorded as denied (false). Unanswered questions are denied after `[daemon] approval_timeout_secs`", "parameters": [id_param, {"name": "approval", "in": "path", "required": true, "schema": {"type": "string"}}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["approve"], "properties": {"approve": {"type": "boolean"}}}}}},
            "responses": with_errors(json!({"200": ok("Answered", json!({"type": "object"}))}))}}
    })
}

/// `/credentials/...`, `/auth/logins/...` and `/models`.
fn account_paths(parts: &Parts) -> Value {
    let with_errors = |r| parts.with_errors(r);
    let error = parts.error.clone();
    let credential = json!({"$ref": "#/components/schemas/Credential"});
    let login = json!({"$ref": "#/components/schemas/Login"});
    let cred_param = json!({"name": "id", "in": "path", "required": true, "description": "A credential id such as `xai#1` (`#` encoded as %23)", "schema": {"type": "string"}});
    let login_param = json!({"name": "id", "in": "path", "required": true, "description": "A login id", "schema": {"type": "string"}});
    json!({
        "/credentials": {
            "get": {"summary": "Stored credentials: mode, status, expiry, next step (never a secret); `probe=true` makes one live call with each", "parameters": [{"name": "probe", "in": "query", "required": false, "schema": {"type": "boolean"}}],
                    "responses": with_errors(json!({"200": ok("Credentials", json!({"type": "object", "properties": {"credentials": {"type": "array", "items": credential.clone()}, "problems": {"type": "array", "items": {"type": "string"}}}}))}))},
            "post": {"summary": "Store an API key (never shown again)", "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["provider", "key"], "properties": {"provider": {"type": "string"}, "key": {"type": "string"}, "label": {"type": "string"}}}}}},
                     "responses": with_errors(json!({"201": ok("Stored", json!({"type": "object", "properties": {"credential": credential.clone(), "note": {"type": ["string", "null"]}}}))}))}
        },
        "/credentials/{id}": {"delete": {"summary": "Delete a credential", "parameters": [cred_param.clone()], "responses": with_errors(json!({"200": ok("Deleted", json!({"type": "object"}))}))}},
        "/credentials/{id}/logout": {"post": {"summary": "Revoke where possible and forget the secrets; the credential stays, disconnected, ready to reconnect", "parameters": [cred_param],
            "responses": with_errors(json!({"200": ok("Logged out", json!({"type": "object", "properties": {"credential": credential.clone(), "note": {"type": "string"}}}))}))}},
        "/auth/logins": {
            "get": {"summary": "Logins started here (finished ones are kept 10 minutes)", "responses": with_errors(json!({"200": ok("Logins", json!({"type": "object", "properties": {"logins": {"type": "array", "items": login.clone()}}}))}))},
            "post": {"summary": "Start a login (a new credential, or a reconnect of `credential`); answers at once with what the person must do: open `prompt.url`, enter `prompt.user_code` (device), or paste the code back (`prompt.needs_code`)",
                     "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"provider": {"type": "string"}, "credential": {"type": "string"}, "flow": {"type": "string", "enum": ["loopback", "paste", "device"]}, "label": {"type": "string"}}}}}},
                     "responses": with_errors(json!({"201": ok("Started", login.clone())}))}
        },
        "/auth/logins/{id}": {
            "get": {"summary": "A login and its state: pending, completed (with the credential), failed (with the error) or cancelled", "parameters": [login_param.clone()], "responses": with_errors(json!({"200": ok("The login", login.clone())}))},
            "delete": {"summary": "Give a pending login up (its callback port is freed)", "parameters": [login_param.clone()], "responses": with_errors(json!({"200": ok("Cancelled", login.clone())}))}
        },
        "/auth/logins/{id}/code": {"post": {"summary": "The code the provider showed, or the whole URL the browser landed on (paste flow); poll the login for its end", "parameters": [login_param],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}}}}},
            "responses": with_errors(json!({"202": ok("Exchanging", login.clone())}))}},
        "/models": {"get": {"summary": "A provider's chat models (cached a day), as `sortie models --json`", "parameters": [{"name": "provider", "in": "query", "required": false, "schema": {"type": "string"}}, {"name": "refresh", "in": "query", "required": false, "schema": {"type": "boolean"}}],
            "responses": with_errors(json!({"200": ok("Models", json!({"type": "object", "properties": {"provider": {"type": "string"}, "fetched_at": {"type": "string", "format": "date-time"}, "models": {"type": "array", "items": {"type": "object"}}, "warning": {"type": "string"}}})), "502": ok("The provider could not list its models", error.clone())}))}}
    })
}

/// `/schedules/...`.
fn schedule_paths(parts: &Parts) -> Value {
    let with_errors = |r| parts.with_errors(r);
    let schedule = json!({"$ref": "#/components/schemas/Schedule"});
    let sched_param = json!({"name": "id", "in": "path", "required": true, "description": "A schedule id, or a unique prefix of at least 4 characters", "schema": {"type": "string"}});
    json!({
        "/schedules": {
            "get": {"summary": "Schedules with their next run and run history (unreadable records in `problems`)", "responses": with_errors(json!({"200": ok("Schedules", json!({"type": "object", "properties": {"schedules": {"type": "array", "items": schedule.clone()}, "problems": {"type": "array", "items": {"type": "string"}}}}))}))},
            "post": {"summary": "Add a schedule (an invalid cron expression names the bad field)", "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewSchedule"}}}},
                     "responses": with_errors(json!({"201": ok("Added", schedule.clone())}))}
        },
        "/schedules/{id}": {
            "get": {"summary": "One schedule", "parameters": [sched_param], "responses": with_errors(json!({"200": ok("The schedule", schedule.clone())}))},
            "delete": {"summary": "Delete a schedule (its missions stay)", "parameters": [sched_param], "responses": with_errors(json!({"200": ok("Deleted", json!({"type": "object"}))}))}
        },
        "/schedules/{id}/pause": {"post": {"summary": "Stop a schedule from firing", "parameters": [sched_param], "responses": with_errors(json!({"200": ok("Paused", schedule.clone())}))}},
        "/schedules/{id}/resume": {"post": {"summary": "Let a schedule fire again, from now", "parameters": [sched_param], "responses": with_errors(json!({"200": ok("Resumed", schedule.clone())}))}},
        "/schedules/{id}/run-now": {"post": {"summary": "Start the schedule's mission now", "parameters": [sched_param], "responses": with_errors(json!({"200": ok("Started (see the last run)", schedule.clone())}))}}
    })
}

/// The bodies' schemas (`#/components/schemas/...`).
fn schemas() -> Value {
    let credential = json!({"$ref": "#/components/schemas/Credential"});
    json!({
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
        "NewMission": {"type": "object", "required": ["prompt", "cwd"], "additionalProperties": false, "properties": {
            "prompt": {"type": "string"}, "cwd": {"type": "string", "description": "Absolute working directory"},
            "provider": {"type": "string"}, "model": {"type": "string"},
            "permission": {"type": "string", "enum": ["auto", "read-only", "ask"]}, "max_turns": {"type": "integer", "minimum": 1}}},
        "Resume": {"type": "object", "additionalProperties": false, "properties": {
            "message": {"type": "string"}, "provider": {"type": "string"}, "model": {"type": "string"},
            "default_model": {"type": "boolean"}, "max_turns": {"type": "integer", "minimum": 1}}},
        "Mission": {"type": "object", "required": ["id", "status", "prompt", "provider", "model", "transport"], "properties": {
            "id": {"type": "string"}, "title": {"type": ["string", "null"]}, "prompt": {"type": "string"},
            "status": {"type": "string", "enum": ["queued", "running", "completed", "failed", "interrupted", "needs_reauth", "cancelled", "paused"]},
            "provider": {"type": "string"}, "model": {"type": "string"}, "transport": {"type": "string"},
            "turns": {"type": "integer"}, "cost_usd": {"type": ["number", "null"]}, "error": {"type": ["string", "null"]},
            "queue_position": {"type": ["integer", "null"]}, "prompt_truncated": {"type": "boolean", "description": "In list items: the prompt is cut to 200 characters"}}},
        "NewSchedule": {"type": "object", "required": ["prompt", "cwd"], "additionalProperties": false, "description": "Exactly one of cron, every, at", "properties": {
            "prompt": {"type": "string"}, "cwd": {"type": "string"}, "name": {"type": "string"},
            "cron": {"type": "string", "description": "5 fields, or 6 with seconds first"}, "tz": {"type": "string", "description": "IANA zone of the cron expression (default UTC)"},
            "every": {"type": "string", "description": "90s, 30m, 2h, 1d, 1h30m"}, "at": {"type": "string", "format": "date-time"},
            "provider": {"type": "string"}, "model": {"type": "string"}, "permission": {"type": "string", "enum": ["auto", "read-only", "ask"]},
            "max_turns": {"type": "integer"}, "missed": {"type": "string", "enum": ["skip", "run-once"]}, "overlap": {"type": "string", "enum": ["skip", "allow"]},
            "jitter": {"type": "string"}}},
        "Schedule": {"type": "object", "required": ["id", "timing", "mission", "next_run", "runs"], "properties": {
            "id": {"type": "string"}, "name": {"type": ["string", "null"]}, "when": {"type": "string"},
            "timing": {"type": "object"}, "mission": {"type": "object"}, "paused": {"type": "boolean"},
            "missed": {"type": "string"}, "overlap": {"type": "string"}, "jitter_secs": {"type": "integer"},
            "next_run": {"type": ["string", "null"], "format": "date-time"},
            "runs": {"type": "array", "items": {"type": "object", "properties": {"at": {"type": "string"}, "scheduled_for": {"type": "string"}, "outcome": {"type": "string", "enum": ["started", "skipped", "failed"]}, "mission": {"type": "string"}, "reason": {"type": "string"}, "error": {"type": "string"}}}}}},
        "Credential": {"type": "object", "required": ["id", "provider", "label", "auth_mode", "status", "next_step"], "properties": {
            "id": {"type": "string"}, "provider": {"type": "string"}, "label": {"type": "string"}, "auth_mode": {"type": "string", "enum": ["api_key", "oauth"]},
            "status": {"type": "object", "properties": {"state": {"type": "string", "enum": ["active", "cooling_down", "needs_reauth", "entitlement_blocked", "disconnected"]}}},
            "expires_at": {"type": ["string", "null"], "format": "date-time"}, "has_refresh_token": {"type": "boolean"}, "next_step": {"type": "string"},
            "probe": {"type": "object", "properties": {"ok": {"type": "boolean"}, "detail": {"type": "string"}}}}},
        "Login": {"type": "object", "required": ["id", "state", "prompt"], "properties": {
            "id": {"type": "string"}, "state": {"type": "string", "enum": ["pending", "completed", "failed", "cancelled"]},
            "prompt": {"type": "object", "required": ["provider", "flow", "url", "needs_code", "expires_at"], "properties": {
                "provider": {"type": "string"}, "flow": {"type": "string", "enum": ["loopback", "paste", "device"]}, "url": {"type": "string"},
                "url_complete": {"type": "string"}, "user_code": {"type": "string"}, "redirect_uri": {"type": "string"},
                "needs_code": {"type": "boolean"}, "expires_at": {"type": "string", "format": "date-time"}, "resumed": {"type": "boolean"}}},
            "credential": credential, "error": {"type": "string"}}},
        "Event": {"type": "object", "required": ["seq", "at", "type", "mission_id"], "properties": {
            "seq": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}, "type": {"type": "string"}, "mission_id": {"type": "string"}}}
    })
}

/// The query parameters of `GET /missions`, for the OpenAPI document.
fn page_parameters() -> Value {
    json!([
        {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
        {"name": "cursor", "in": "query", "required": false, "description": "The `next_cursor` of the previous page", "schema": {"type": "string"}},
        {"name": "status", "in": "query", "required": false, "description": "One or more statuses, comma-separated", "schema": {"type": "string"}},
        {"name": "updated_since", "in": "query", "required": false, "description": "Only missions changed after this RFC 3339 time", "schema": {"type": "string", "format": "date-time"}}
    ])
}

/// The OpenAPI error responses of these limits added to `errors`; `response` is the error
/// response whose description each gets.
fn with_limit_errors(
    mut errors: serde_json::Value,
    response: &serde_json::Value,
) -> serde_json::Value {
    for (code, description) in [
        ("413", "The body is larger than 2 MiB (`payload_too_large`)"),
        (
            "429",
            "The queue is full, `[daemon.limits] max_queued` (`queue_full`)",
        ),
        (
            "507",
            "The data dir's disk is (nearly) full (`disk_full`); retry once there is room",
        ),
    ] {
        let mut r = response.clone();
        r["description"] = serde_json::json!(description);
        errors[code] = r;
    }
    errors
}
