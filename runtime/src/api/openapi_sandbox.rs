//! The `sandbox` field in the API document: one description of the modes, put in every
//! body that takes one and in the mission record.

use serde_json::{json, Value};
use sortie_missions::SandboxMode;

/// Every mode, in the order the document lists them.
const MODES: [SandboxMode; 3] = [
    SandboxMode::WorkspaceWrite,
    SandboxMode::ReadOnly,
    SandboxMode::Off,
];

/// The schema of a sandbox mode, described as `what` (where it applies).
fn mode(what: &str) -> Value {
    let modes: Vec<&str> = MODES.iter().map(SandboxMode::as_str).collect();
    json!({"type": "string", "enum": modes, "description": format!(
        "{what}: workspace-write (writes only in the working directory, its temp dir and \
         `[sandbox] writable_roots`), read-only (writes only in its temp dir) or off (not \
         confined)"
    )})
}

/// `doc` with `sandbox` in the new-mission, resume and schedule bodies and in the mission.
pub fn with_sandbox(mut doc: Value) -> Value {
    let schemas = &mut doc["components"]["schemas"];
    for (schema, what) in [
        (
            "NewMission",
            "The sandbox its tools run in; default: `[sandbox] mode` in config.toml",
        ),
        (
            "Resume",
            "Another sandbox from here on (recorded as a `sandbox_changed` event); default: the mission's",
        ),
        (
            "NewSchedule",
            "The sandbox of its missions; default: `[sandbox] mode` when the schedule is added",
        ),
        (
            "Schedule",
            "The sandbox of its missions (also `mission.sandbox`); null for a schedule from before sandboxes (the config's mode applies)",
        ),
        (
            "Mission",
            "The sandbox its tools run in; null for a mission from before sandboxes (the config's mode applies)",
        ),
    ] {
        let mut schema_of_mode = mode(what);
        if matches!(schema, "Mission" | "Schedule") {
            schema_of_mode["type"] = json!(["string", "null"]);
            if let Some(modes) = schema_of_mode["enum"].as_array_mut() {
                modes.push(Value::Null);
            }
        }
        schemas[schema]["properties"]["sandbox"] = schema_of_mode;
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_document_names_every_mode_where_a_sandbox_is_taken_or_shown() {
        let doc = with_sandbox(super::super::openapi::without_sandbox());
        for schema in ["NewMission", "Resume", "NewSchedule"] {
            let sandbox = &doc["components"]["schemas"][schema]["properties"]["sandbox"];
            assert_eq!(
                sandbox["enum"],
                json!(["workspace-write", "read-only", "off"]),
                "{schema}"
            );
        }
        // A mission from before sandboxes has none.
        let mission = &doc["components"]["schemas"]["Mission"]["properties"]["sandbox"];
        assert_eq!(
            mission["enum"],
            json!(["workspace-write", "read-only", "off", null])
        );
    }
}
