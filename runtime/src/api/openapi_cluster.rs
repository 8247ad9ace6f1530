//! Several daemons on one store in the API document: `labels` in the new-mission and
//! schedule bodies and on a mission, `daemon` (where a mission runs), and `cluster` in
//! `GET /health`.

use serde_json::{json, Value};

/// `doc` with the cluster's fields.
pub fn with_cluster(mut doc: Value) -> Value {
    let schemas = &mut doc["components"]["schemas"];
    for (schema, what) in [
        ("NewMission", "the mission runs"),
        ("NewSchedule", "the schedule's missions run"),
        ("Mission", "it runs (shown when set)"),
    ] {
        schemas[schema]["properties"]["labels"] = json!({
            "type": "array", "items": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,63}$"},
            "description": format!("With a shared store: the labels a daemon must all have (`[daemon] labels`) before {what} there (`--on LABEL`); default none: any daemon"),
        });
    }
    schemas["Mission"]["properties"]["daemon"] = json!({"type": "string",
        "description": "With a shared store: the daemon that holds the mission's lease (where it runs now); absent when none does"});
    let health = &mut doc["paths"]["/health"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"]["properties"];
    health["cluster"] = json!({"type": ["object", "null"],
        "description": "With a shared store (PostgreSQL): this daemon's name, labels and lease, the store's URL (without its password), and every daemon registered on it with whether it is up and the missions it holds; null with the embedded store",
        "properties": {
            "daemon": {"type": "string"}, "labels": {"type": "array", "items": {"type": "string"}},
            "lease_secs": {"type": "integer"}, "store": {"type": "string"},
            "daemons": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "host": {"type": "string"}, "pid": {"type": "integer"},
                "labels": {"type": "array", "items": {"type": "string"}}, "version": {"type": "string"},
                "started_at": {"type": "string", "format": "date-time"},
                "seen_at": {"type": "string", "format": "date-time"}, "alive": {"type": "boolean"},
                "missions": {"type": "array", "items": {"type": "string", "format": "uuid"}}}}}}});
    doc
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bodies_the_mission_and_health_document_the_cluster() {
        let doc = crate::api::openapi::document();
        for schema in ["NewMission", "NewSchedule", "Mission"] {
            assert_eq!(
                doc["components"]["schemas"][schema]["properties"]["labels"]["type"], "array",
                "{schema}"
            );
        }
        let health = &doc["paths"]["/health"]["get"]["responses"]["200"]["content"]
            ["application/json"]["schema"]["properties"];
        assert!(health["cluster"]["properties"]["daemons"].is_object());
    }
}
