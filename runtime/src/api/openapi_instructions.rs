//! The `no_instructions` field in the API document: in the new-mission, resume and schedule
//! bodies, and in the mission as shown.

use serde_json::{json, Value};

/// `doc` with `no_instructions` in the bodies that take it and in `Mission`.
pub fn with_instructions(mut doc: Value) -> Value {
    let schemas = &mut doc["components"]["schemas"];
    for (schema, what) in [
        ("NewMission", "the mission"),
        ("Resume", "the mission from here on"),
        ("NewSchedule", "the schedule's missions"),
        ("Mission", "this mission (shown only when true)"),
    ] {
        schemas[schema]["properties"]["no_instructions"] = json!({
            "type": "boolean",
            "description": format!("true: no project instructions (AGENTS.md, CLAUDE.md, $SORTIE_HOME/AGENTS.md) in the system prompt of {what}; default false"),
        });
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_body_that_takes_it_documents_no_instructions() {
        let doc = with_instructions(crate::api::openapi::without_sandbox());
        for schema in ["NewMission", "Resume", "NewSchedule", "Mission"] {
            assert_eq!(
                doc["components"]["schemas"][schema]["properties"]["no_instructions"]["type"],
                "boolean",
                "{schema}"
            );
        }
    }
}
