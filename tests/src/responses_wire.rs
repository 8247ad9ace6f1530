//! Scripted OpenAI Responses streams, as `/responses` sends them (no `[DONE]`).

use serde_json::{json, Value};

use crate::{End, Reply};

/// One output item of a scripted response.
pub enum Item<'a> {
    Reasoning {
        summary: &'a str,
        encrypted: &'a str,
    },
    Text(&'a str),
    Call {
        call_id: &'a str,
        name: &'a str,
        arguments: Value,
    },
}

/// The events of a whole response, ending in `response.completed`.
pub fn response_events(items: &[Item<'_>]) -> Vec<Value> {
    let mut ev = vec![
        json!({"type": "response.created", "response": {"id": "resp_mock", "status": "in_progress"}}),
    ];
    for (i, item) in items.iter().enumerate() {
        match item {
            Item::Reasoning { summary, encrypted } => {
                let id = format!("rs_{i}");
                ev.push(json!({"type": "response.output_item.added", "output_index": i, "item": {"type": "reasoning", "id": id, "summary": []}}));
                ev.push(json!({"type": "response.reasoning_summary_text.delta", "item_id": id, "delta": summary}));
                ev.push(json!({"type": "response.output_item.done", "output_index": i, "item": {"type": "reasoning", "id": id, "summary": [{"type": "summary_text", "text": summary}], "encrypted_content": encrypted}}));
            }
            Item::Text(text) => {
                let id = format!("msg_{i}");
                ev.push(json!({"type": "response.output_item.added", "output_index": i, "item": {"type": "message", "id": id, "role": "assistant", "content": []}}));
                for piece in text.split_inclusive(' ') {
                    ev.push(json!({"type": "response.output_text.delta", "item_id": id, "output_index": i, "delta": piece}));
                }
                ev.push(json!({"type": "response.output_text.done", "item_id": id, "text": text}));
                ev.push(json!({"type": "response.output_item.done", "output_index": i, "item": {"type": "message", "id": id, "role": "assistant", "content": [{"type": "output_text", "text": text}]}}));
            }
            Item::Call {
                call_id,
                name,
                arguments,
            } => {
                let id = format!("fc_{i}");
                let args = arguments.to_string();
                ev.push(json!({"type": "response.output_item.added", "output_index": i, "item": {"type": "function_call", "id": id, "call_id": call_id, "name": name, "arguments": ""}}));
                let cut = args.len() / 2;
                ev.push(json!({"type": "response.function_call_arguments.delta", "item_id": id, "delta": &args[..cut]}));
                ev.push(json!({"type": "response.function_call_arguments.delta", "item_id": id, "delta": &args[cut..]}));
                ev.push(json!({"type": "response.function_call_arguments.done", "item_id": id, "arguments": args}));
                ev.push(json!({"type": "response.output_item.done", "output_index": i, "item": {"type": "function_call", "id": id, "call_id": call_id, "name": name, "arguments": args}}));
            }
        }
    }
    ev.push(json!({"type": "response.completed", "response": {"id": "resp_mock", "status": "completed", "usage": {"input_tokens": 60, "input_tokens_details": {"cached_tokens": 20}, "output_tokens": 15, "output_tokens_details": {"reasoning_tokens": 6}, "total_tokens": 75}}}));
    ev
}

/// A whole response as a reply.
pub fn response(items: &[Item<'_>]) -> Reply {
    Reply::events(response_events(items), End::Close)
}
