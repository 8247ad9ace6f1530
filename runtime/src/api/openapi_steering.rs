//! Steering and forks in the API document: `POST /missions/{id}/messages` (queued for a
//! running mission's next turn, or resuming one that stopped), `POST /missions/{id}/fork`,
//! and the mission's `parent_id`.

use serde_json::{json, Value};

/// `doc` with the messages route as it now behaves, the fork route, and `parent_id`.
pub fn with_steering(mut doc: Value) -> Value {
    let mission = json!({"$ref": "#/components/schemas/Mission"});
    let error = json!({"$ref": "#/components/schemas/Error"});
    let id_param = json!({"name": "id", "in": "path", "required": true, "description": "Mission id or a unique prefix (at least 4 characters)", "schema": {"type": "string"}});
    let answer = |what: &str| json!({"description": what, "content": {"application/json": {"schema": mission.clone()}}});
    let failed = |what: &str| json!({"description": what, "content": {"application/json": {"schema": error.clone()}}});
    doc["paths"]["/missions/{id}/messages"] = json!({"post": {
    "summary": "A message for a mission: a queued or running one takes it at its next turn boundary (after the results of the tool calls in flight; stored at once as a `message_queued` event, then as the `user_message` sent); with `now`, the answer being streamed is cut short (kept as an `assistant_message` with `stop_reason: interrupted`) and the message sent at once. A mission that has stopped resumes with it.",
    "parameters": [id_param.clone()],
    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "required": ["text"], "properties": {
        "text": {"type": "string"},
        "now": {"type": "boolean", "description": "Cut the current answer short; default false"}}}}}},
    "responses": {
        "200": answer("The mission; with `queued: {seq, pending, now}` when the message waits for its next turn, with `resumed: true` when it resumed the mission"),
        "400": failed("Empty or malformed message"),
        "401": failed("Missing or wrong bearer token"),
        "404": failed("Unknown mission"),
        "409": failed("The mission is ending and did not let go in time"),
        "429": failed("`messages_full`: 16 messages already wait for its next turn"),
    }}});
    doc["paths"]["/missions/{id}/fork"] = json!({"post": {
    "summary": "Fork a mission: a new one (queued) whose history is this one's up to event `at` (default: the last), on any provider and model, with `parent_id` set. The parent is unchanged. An `at` that does not exist or falls between a tool call and its result is refused, naming the events to use.",
    "parameters": [id_param],
    "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {
        "at": {"type": "integer", "minimum": 0},
        "provider": {"type": "string"},
        "model": {"type": "string"},
        "message": {"type": "string", "description": "The fork's next message; needed when the history ends with the model's answer"},
        "max_turns": {"type": "integer", "minimum": 1}}}}}},
    "responses": {
        "201": answer("The fork"),
        "400": failed("Bad `at`, provider or model, or no message where one is needed"),
        "401": failed("Missing or wrong bearer token"),
        "404": failed("Unknown mission"),
    }}});
    doc["components"]["schemas"]["Mission"]["properties"]["parent_id"] = json!({
        "type": ["string", "null"], "format": "uuid",
        "description": "The mission this one was forked from (`sortie fork`)",
    });
    doc
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_has_the_fork_route_and_parent_id() {
        let doc = crate::api::openapi::document();
        assert!(doc["paths"]["/missions/{id}/fork"]["post"].is_object());
        assert_eq!(
            doc["paths"]["/missions/{id}/messages"]["post"]["requestBody"]["content"]
                ["application/json"]["schema"]["properties"]["now"]["type"],
            "boolean"
        );
        assert!(doc["components"]["schemas"]["Mission"]["properties"]["parent_id"].is_object());
    }
}
