//! Scripted Anthropic Messages streams, event for event as the API sends them.

use serde_json::{json, Value};

use crate::{End, Reply};

/// One content block of a scripted assistant turn.
pub enum Block<'a> {
    Text(&'a str),
    Thinking {
        text: &'a str,
        signature: &'a str,
    },
    Redacted(&'a str),
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
}

/// The events of a whole turn: message_start, each block (text in 8-char deltas, tool input
/// in 5-char partial JSON), a ping, message_delta with the stop reason, message_stop.
pub fn turn_events(blocks: &[Block<'_>], stop_reason: &str) -> Vec<Value> {
    let mut ev = vec![
        json!({"type": "message_start", "message": {"id": "msg_mock", "type": "message", "role": "assistant", "model": "claude-mock", "content": [], "usage": {"input_tokens": 25, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 0, "output_tokens": 1}}}),
    ];
    for (i, block) in blocks.iter().enumerate() {
        let chunks = |s: &str, n: usize| -> Vec<String> {
            let c: Vec<char> = s.chars().collect();
            c.chunks(n).map(|p| p.iter().collect()).collect()
        };
        match block {
            Block::Text(text) => {
                ev.push(json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}));
                for piece in chunks(text, 8) {
                    ev.push(json!({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": piece}}));
                }
            }
            Block::Thinking { text, signature } => {
                ev.push(json!({"type": "content_block_start", "index": i, "content_block": {"type": "thinking", "thinking": ""}}));
                for piece in chunks(text, 8) {
                    ev.push(json!({"type": "content_block_delta", "index": i, "delta": {"type": "thinking_delta", "thinking": piece}}));
                }
                ev.push(json!({"type": "content_block_delta", "index": i, "delta": {"type": "signature_delta", "signature": signature}}));
            }
            Block::Redacted(data) => {
                ev.push(json!({"type": "content_block_start", "index": i, "content_block": {"type": "redacted_thinking", "data": data}}));
            }
            Block::ToolUse { id, name, input } => {
                ev.push(json!({"type": "content_block_start", "index": i, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}));
                for piece in chunks(&input.to_string(), 5) {
                    ev.push(json!({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": piece}}));
                }
            }
        }
        ev.push(json!({"type": "content_block_stop", "index": i}));
        if i == 0 {
            ev.push(json!({"type": "ping"}));
        }
    }
    ev.push(json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": 40}}));
    ev.push(json!({"type": "message_stop"}));
    ev
}

/// A whole turn as a reply.
pub fn turn(blocks: &[Block<'_>], stop_reason: &str) -> Reply {
    Reply::events(turn_events(blocks, stop_reason), End::Close)
}

/// An Anthropic error body.
pub fn error_body(kind: &str, message: &str) -> String {
    json!({"type": "error", "error": {"type": kind, "message": message}}).to_string()
}
