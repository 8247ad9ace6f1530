//! The `mcp` field in the API document: the MCP servers a mission uses, in the
//! new-mission, resume and schedule bodies.

use serde_json::{json, Value};

/// `doc` with `mcp` in the new-mission, resume and schedule bodies.
pub fn with_mcp(mut doc: Value) -> Value {
    let schemas = &mut doc["components"]["schemas"];
    for (schema, what) in [
        (
            "NewMission",
            "The MCP servers it uses, by their `[mcp_servers.NAME]` names ([] for none); default: every enabled one",
        ),
        (
            "Resume",
            "Other MCP servers from here on ([] for none; recorded as an `mcp_selected` event); default: the mission's",
        ),
        (
            "NewSchedule",
            "The MCP servers of its missions ([] for none); default: every enabled one",
        ),
    ] {
        schemas[schema]["properties"]["mcp"] = json!({
            "type": "array",
            "items": {"type": "string"},
            "description": what,
        });
    }
    doc
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_api_document_names_mcp_where_a_mission_or_schedule_takes_it() {
        let doc = super::with_mcp(crate::api::openapi::without_sandbox());
        for schema in ["NewMission", "Resume", "NewSchedule"] {
            let mcp = &doc["components"]["schemas"][schema]["properties"]["mcp"];
            assert_eq!(mcp["type"], "array", "{schema}");
        }
    }
}
