//! Unit tests of the Chat Completions transport: assembly of streamed chunks and the
//! request body.

use super::*;
use serde_json::json;

fn chunk(v: serde_json::Value) -> ChatChunk {
    serde_json::from_value(v).expect("a chunk")
}

fn drain(a: ChatAssembler) -> Vec<TransportEvent> {
    a.finish().into_iter().map(|r| r.expect("event")).collect()
}

#[test]
fn interleaved_tool_call_deltas_are_assembled_by_index() {
    let mut a = ChatAssembler::default();
    let chunks = [
        json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"read_file","arguments":""}}]}}]}),
        json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"list_dir","arguments":"{\"pa"}}]}}]}),
        json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":"}}]}}]}),
        json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"th\":\".\"}"}}]}}]}),
        json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"a.txt\"}"}}]}}]}),
        json!({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}),
        json!({"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5}}),
    ];
    for c in chunks {
        assert!(a.push(chunk(c)).expect("chunk").is_empty());
    }
    let events = drain(a);
    assert_eq!(
        events,
        vec![
            TransportEvent::ToolCall {
                id: "a".into(),
                name: "read_file".into(),
                arguments: r#"{"path":"a.txt"}"#.into()
            },
            TransportEvent::ToolCall {
                id: "b".into(),
                name: "list_dir".into(),
                arguments: r#"{"path":"."}"#.into()
            },
            TransportEvent::Usage(Usage {
                input_tokens: 10,
                output_tokens: 5,
                ..Default::default()
            }),
            TransportEvent::Done(StopReason::ToolUse),
        ]
    );
}

#[test]
fn a_stream_without_finish_reason_is_an_error_naming_the_pending_call() {
    let mut a = ChatAssembler::default();
    a.push(chunk(json!({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"x","function":{"name":"write_file","arguments":"{\"pa"}}]}}]})))
        .expect("chunk");
    let out = a.finish();
    let err = out[0].clone().expect_err("must fail");
    assert_eq!(err.class, ErrorClass::Network);
    assert!(err.message.contains("`write_file`"), "{}", err.message);
}

#[test]
fn an_error_object_inside_the_stream_is_classified() {
    let mut a = ChatAssembler::default();
    let err = a
        .push(chunk(
            json!({"error":{"message":"Rate limit reached","type":"rate_limit_exceeded"}}),
        ))
        .expect_err("error event");
    assert!(
        matches!(err.class, ErrorClass::RateLimited { .. }),
        "{:?}",
        err.class
    );
}

#[test]
fn whole_answers_use_the_same_assembly() {
    let mut a = ChatAssembler::default();
    let events = a
        .push(chunk(json!({"choices":[{"message":{"role":"assistant","content":"hi","tool_calls":[{"id":"c1","type":"function","function":{"name":"list_dir","arguments":{"path":"."}}}]},"finish_reason":"stop"}]})))
        .expect("whole");
    assert_eq!(events, vec![TransportEvent::TextDelta("hi".into())]);
    let rest = drain(a);
    assert_eq!(
        rest[0],
        TransportEvent::ToolCall {
            id: "c1".into(),
            name: "list_dir".into(),
            arguments: r#"{"path":"."}"#.into()
        }
    );
    assert_eq!(
        rest.last(),
        Some(&TransportEvent::Done(StopReason::ToolUse))
    );
}

#[test]
fn tool_results_precede_user_text_and_keep_their_call_ids() {
    let req = TurnRequest {
        model: "m".into(),
        system: "sys".into(),
        messages: vec![
            Message::user("go"),
            Message {
                role: Role::Assistant,
                content: vec![ContentBlock::ToolUse {
                    id: "c1".into(),
                    name: "list_dir".into(),
                    arguments: "{}".into(),
                }],
            },
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    call_id: "c1".into(),
                    content: "a.txt".into(),
                    is_error: false,
                    images: Vec::new(),
                }],
            },
        ],
        ..Default::default()
    };
    let body = serde_json::to_value(build_request(&req)).expect("json");
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .expect("array")
        .iter()
        .map(|m| m["role"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool"]);
    assert_eq!(body["messages"][3]["tool_call_id"], "c1");
    assert_eq!(
        body["messages"][2]["tool_calls"][0]["function"]["name"],
        "list_dir"
    );
    assert_eq!(body["stream"], true);
}

#[test]
fn tools_are_sent_as_function_tools_made_once_per_list() {
    let spec = |name: &str| ToolSpec {
        name: name.into(),
        description: format!("{name} does it"),
        parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
    };
    let listed: Arc<[ToolSpec]> = vec![spec("list_dir"), spec("read_file")].into();
    let request = |tools: &Arc<[ToolSpec]>| TurnRequest {
        model: "m".into(),
        tools: tools.clone(),
        ..Default::default()
    };
    // As sent: bytes from serde_json, parsed back.
    let sent = |r: &TurnRequest| -> serde_json::Value {
        let bytes = serde_json::to_vec(&build_request(r)).expect("serialize");
        serde_json::from_slice(&bytes).expect("JSON")
    };
    let body = sent(&request(&listed));
    assert_eq!(
        body["tools"][1],
        json!({"type": "function", "function": {
            "name": "read_file",
            "description": "read_file does it",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}
        }})
    );
    assert_eq!(body["model"], "m", "the rest of the request is still there");
    let first = build_request(&request(&listed)).tools.expect("tools");
    let again = build_request(&request(&listed)).tools.expect("tools");
    assert!(Arc::ptr_eq(&first.0, &again.0), "one list, serialized once");
    let other: Arc<[ToolSpec]> = vec![spec("grep")].into();
    let body = sent(&request(&other));
    assert_eq!(body["tools"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["tools"][0]["function"]["name"], "grep");
    let none = sent(&request(&Arc::from(Vec::new())));
    assert!(none.get("tools").is_none(), "no tools, no key: {none}");
}
