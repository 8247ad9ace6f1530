//! A mission's live updates as JSON: `--json` lines and the daemon's SSE `delta`s.

use serde_json::{json, Value};
use sortie_missions::{MissionId, Update};

/// One JSON object per update, for `--json`.
pub fn update_json(update: &Update) -> Value {
    match update {
        Update::Event { mission, event } => {
            let mut v = serde_json::to_value(event).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut v {
                map.insert("mission_id".into(), json!(mission));
            }
            v
        }
        Update::TextDelta {
            mission,
            turn,
            text,
        } => {
            json!({"type": "text_delta", "mission_id": mission, "turn": turn, "text": text})
        }
        Update::ThinkingDelta {
            mission,
            turn,
            text,
        } => {
            json!({"type": "thinking_delta", "mission_id": mission, "turn": turn, "text": text})
        }
        Update::ToolStarted {
            mission,
            call_id,
            name,
            arguments,
        } => json!({
            "type": "tool_started", "mission_id": mission, "call_id": call_id, "name": name, "arguments": arguments
        }),
        Update::ToolOutput {
            mission,
            call_id,
            stream,
            text,
        } => json!({
            "type": "tool_output", "mission_id": mission, "call_id": call_id, "stream": stream, "text": text
        }),
        Update::ApprovalRequested {
            mission,
            approval,
            summary,
        } => json!({
            "type": "approval_requested", "mission_id": mission, "approval": approval, "summary": summary
        }),
    }
}

/// A live update from its JSON (see [`update_json`]); `None` for an unknown type.
pub fn update_from_json(id: &MissionId, v: &Value) -> Option<Update> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let turn = v.get("turn").and_then(Value::as_u64).unwrap_or(0) as u32;
    Some(match v.get("type")?.as_str()? {
        "text_delta" => Update::TextDelta {
            mission: *id,
            turn,
            text: s("text")?,
        },
        "thinking_delta" => Update::ThinkingDelta {
            mission: *id,
            turn,
            text: s("text")?,
        },
        "tool_started" => Update::ToolStarted {
            mission: *id,
            call_id: s("call_id")?,
            name: s("name")?,
            arguments: s("arguments").unwrap_or_default(),
        },
        "tool_output" => Update::ToolOutput {
            mission: *id,
            call_id: s("call_id")?,
            stream: s("stream")?,
            text: s("text")?,
        },
        "approval_requested" => Update::ApprovalRequested {
            mission: *id,
            approval: s("approval")?,
            summary: s("summary")?,
        },
        _ => return None,
    })
}
