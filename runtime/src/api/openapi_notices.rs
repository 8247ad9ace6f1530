//! Notices and worktrees in the API document: `notify` and `worktree` in the new-mission,
//! resume and schedule bodies and on a mission, and the diff and worktree routes.

use serde_json::{json, Value};

/// `doc` with `notify`, `worktree`, `GET /missions/{id}/diff` and
/// `DELETE /missions/{id}/worktree`.
pub fn with_notices(mut doc: Value) -> Value {
    let schemas = &mut doc["components"]["schemas"];
    let notify = |what: &str| json!({"type": "boolean", "description": what});
    schemas["NewMission"]["properties"]["notify"] =
        notify("Notices (`[notify]`) for this mission on or off; default: `[notify] missions`");
    schemas["Resume"]["properties"]["notify"] =
        notify("Notices on or off from here on (recorded as a `notify_set` event)");
    schemas["NewSchedule"]["properties"]["notify"] = notify(
        "Notices for its missions and its skipped runs on or off; default: `[notify] missions`",
    );
    for schema in ["NewMission", "NewSchedule"] {
        schemas[schema]["properties"]["worktree"] = json!({"type": "boolean",
            "description": "Work in a new git worktree of the repository holding `cwd`, on branch `sortie/<short id>` from HEAD, under the data dir; `cwd` outside a repository is refused"});
    }
    schemas["Mission"]["properties"]["notify"] = json!({"type": ["boolean", "null"], "description": "The mission's notices choice; absent: `[notify] missions`"});
    schemas["Mission"]["properties"]["worktree"] = json!({"type": "object",
        "description": "The git worktree it works in (`--worktree`)",
        "properties": {"path": {"type": "string"}, "repo": {"type": "string"}, "branch": {"type": "string"}, "base": {"type": "string", "description": "The commit it started from"}}});
    let id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "Mission id or unique prefix"});
    let error = json!({"description": "No worktree, or the mission is queued or running", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    doc["paths"]["/missions/{id}/diff"] = json!({"get": {
        "summary": "What a `--worktree` mission changed against the commit it started from: its commits and what is not committed, new files included (a unified diff)",
        "parameters": [id, {"name": "stat", "in": "query", "schema": {"type": "boolean"}, "description": "A summary instead of the diff"}],
        "responses": {"200": {"description": "The diff", "content": {"application/json": {"schema": {"type": "object", "properties": {"mission": {"type": "string"}, "branch": {"type": "string"}, "base": {"type": "string"}, "diff": {"type": "string"}}}}}}, "409": error.clone()}}});
    doc["paths"]["/missions/{id}/worktree"] = json!({"delete": {
        "summary": "Remove a mission's worktree (what is not committed in it is lost); refused while it is queued or running. Its branch stays unless `branch=true`",
        "parameters": [id, {"name": "branch", "in": "query", "schema": {"type": "boolean"}}],
        "responses": {"200": {"description": "What was done", "content": {"application/json": {"schema": {"type": "object", "properties": {"mission": {"type": "string"}, "done": {"type": "array", "items": {"type": "string"}}}}}}}, "409": error}}});
    doc
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_api_document_names_notify_worktree_and_their_routes() {
        let doc = super::with_notices(crate::api::openapi::without_sandbox());
        for schema in ["NewMission", "Resume", "NewSchedule"] {
            let notify = &doc["components"]["schemas"][schema]["properties"]["notify"];
            assert_eq!(notify["type"], "boolean", "{schema}");
        }
        assert!(doc["paths"]["/missions/{id}/diff"]["get"].is_object());
        assert!(doc["paths"]["/missions/{id}/worktree"]["delete"].is_object());
    }
}
