//! Budgets in the API document: `max_cost`, `max_tokens`, `max_duration` in the new-mission,
//! resume and schedule bodies, the mission's `budget` and `spend`, the `budget_reached`
//! status, and `GET /usage`.

use serde_json::{json, Value};

/// `doc` with the budget fields and `GET /usage`.
pub fn with_budget(mut doc: Value) -> Value {
    let schemas = &mut doc["components"]["schemas"];
    for schema in ["NewMission", "Resume", "NewSchedule"] {
        let props = &mut schemas[schema]["properties"];
        props["max_cost"] = json!({"type": "number", "exclusiveMinimum": 0, "maximum": sortie_missions::budget::MAX_COST_USD,
            "description": "Stop before the model call that would spend more than this many US dollars (needs a [prices] entry for the model); default: [budget] max_cost. On resume: the new limit."});
        props["max_tokens"] = json!({"type": "integer", "minimum": 1, "maximum": sortie_missions::budget::MAX_TOKENS,
            "description": "Stop before the model call that would use more than this many tokens in all (prompts and answers); default: [budget] max_tokens"});
        props["max_duration"] = json!({"type": "string", "examples": ["30m", "2h", "1h30m"],
            "description": "Stop before a model call once the mission has run this long (time stopped does not count); default: [budget] max_duration"});
    }
    let mission = &mut schemas["Mission"]["properties"];
    mission["budget"] = json!({"type": "object", "description": "Its limits (absent: none)", "properties": {
        "max_cost_usd": {"type": "number"}, "max_tokens": {"type": "integer"}, "max_duration_secs": {"type": "integer"}}});
    mission["spend"] = json!({"type": "array", "description": "What it spent per day (UTC) and provider",
        "items": {"type": "object", "properties": {"day": {"type": "string", "format": "date"}, "provider": {"type": "string"}, "cost_usd": {"type": "number"}, "tokens": {"type": "integer"}}}});
    if let Some(statuses) = mission["status"]["enum"].as_array_mut() {
        statuses.push(json!("budget_reached"));
    }
    let sum = json!({"type": "object", "properties": {"cost_usd": {"type": "number"}, "tokens": {"type": "integer"}, "missions": {"type": "integer"}}});
    schemas["Usage"] = json!({"type": "object", "required": ["since", "total", "days", "providers", "schedules"], "properties": {
        "since": {"type": "string", "format": "date"}, "total": sum,
        "days": {"type": "array", "items": {"description": "day (YYYY-MM-DD) with cost_usd, tokens, missions"}},
        "providers": {"type": "array", "items": {"description": "provider with cost_usd, tokens, missions"}},
        "schedules": {"type": "array", "items": {"description": "schedule (id), name, with cost_usd, tokens, missions"}}}});
    doc["paths"]["/usage"] = json!({"get": {
        "summary": "What missions spent since a day: by day (UTC), provider and schedule",
        "parameters": [{"name": "since", "in": "query", "required": false, "description": "7d, 24h, or a date (2026-11-01); default 7d", "schema": {"type": "string"}}],
        "responses": {"200": {"description": "The sums", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Usage"}}}},
                      "400": {"description": "A `since` that is neither a duration nor a date"}}}});
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bodies_take_budgets_and_usage_is_documented() {
        let doc = crate::api::openapi::document();
        for schema in ["NewMission", "Resume", "NewSchedule"] {
            for field in ["max_cost", "max_tokens", "max_duration"] {
                assert!(
                    doc["components"]["schemas"][schema]["properties"][field].is_object(),
                    "{schema}.{field}"
                );
            }
        }
        assert!(doc["paths"]["/usage"]["get"].is_object());
        let statuses = doc["components"]["schemas"]["Mission"]["properties"]["status"]["enum"]
            .as_array()
            .expect("statuses")
            .clone();
        assert!(statuses.contains(&json!("budget_reached")));
    }
}
