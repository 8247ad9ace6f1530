//! Stream parse throughput per wire format, from recorded streams in memory, and
//! `classify()` calls per second. Prints a table.
//!
//! `cargo bench -p sortie-tests --bench parse_throughput`
//!
//! Each stream is about 8 MB of realistic events (text deltas of ~60 characters, with a
//! tool call at the end). "Parse" means everything a transport does per byte: SSE framing,
//! JSON decoding, and assembling transport events. The chat stream is framed by
//! eventsource-stream, as async-openai does in production.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use sortie_tests::anthropic_wire::{turn_events, Block};
use sortie_tests::responses_wire::{response_events, Item};
use sortie_transports::classify::classify;
use sortie_transports::direct::openai_chat::{ChatAssembler, ChatChunk};
use sortie_transports::direct::{parse_recorded, AnthropicParser, ResponsesParser};

const TARGET_BYTES: usize = 8 * 1024 * 1024;
const PIECE: &str = "The quick brown fox jumps over the lazy dog, then writes tests. ";

fn named(events: &[Value]) -> Vec<u8> {
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or("")))
        .collect::<String>()
        .into_bytes()
}

fn anthropic_stream() -> Vec<u8> {
    // The scripted turn, with its text block replaced by ~64-character deltas.
    let mut events = turn_events(
        &[Block::ToolUse {
            id: "t1",
            name: "list_dir",
            input: json!({"path": "."}),
        }],
        "tool_use",
    );
    let text: Vec<Value> = std::iter::once(json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}))
        .chain((0..TARGET_BYTES / 200).map(|_| json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": PIECE}})))
        .chain(std::iter::once(json!({"type": "content_block_stop", "index": 1})))
        .collect();
    let at = events.len() - 2; // before message_delta and message_stop
    events.splice(at..at, text);
    named(&events)
}

fn responses_stream() -> Vec<u8> {
    // Text deltas split on spaces are short; use whole pieces for realistic sizes.
    let mut events = vec![json!({"type": "response.created", "response": {"id": "r"}})];
    for _ in 0..TARGET_BYTES / 200 {
        events.push(json!({"type": "response.output_text.delta", "item_id": "msg_0", "output_index": 0, "delta": PIECE}));
    }
    events.extend(
        response_events(&[Item::Call {
            call_id: "c1",
            name: "list_dir",
            arguments: json!({"path": "."}),
        }])
        .into_iter()
        .skip(1),
    );
    named(&events)
}

fn chat_stream() -> Vec<u8> {
    let mut out = String::new();
    for _ in 0..TARGET_BYTES / 200 {
        let chunk = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [{"index": 0, "delta": {"content": PIECE}, "finish_reason": null}]});
        out.push_str(&format!("data: {chunk}\n\n"));
    }
    let end = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    out.push_str(&format!("data: {end}\n\ndata: [DONE]\n\n"));
    out.into_bytes()
}

async fn parse_chat(bytes: &[u8]) -> usize {
    // Network-sized chunks, as the byte stream arrives.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = bytes
        .chunks(16 * 1024)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let mut events = eventsource_stream::EventStream::new(futures::stream::iter(chunks));
    let mut assembler = ChatAssembler::default();
    let mut n = 0;
    while let Some(event) = events.next().await {
        let event = event.expect("event");
        if event.data == "[DONE]" {
            break;
        }
        let chunk: ChatChunk = serde_json::from_str(&event.data).expect("json");
        n += assembler.push(chunk).expect("chunk").len();
    }
    n + assembler.finish().len()
}

fn measure(mut f: impl FnMut() -> usize, bytes: usize) -> (f64, usize) {
    f(); // warm up
    let mut best = Duration::MAX;
    let mut events = 0;
    for _ in 0..5 {
        let t = Instant::now();
        events = f();
        best = best.min(t.elapsed());
    }
    (bytes as f64 / 1e6 / best.as_secs_f64(), events)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let anthropic = anthropic_stream();
    let responses = responses_stream();
    let chat = chat_stream();
    println!("\nStream parse throughput (best of 5, one core)\n");
    println!("| wire format                        |   bytes (MB) | events out |    MB/s |");
    println!("|------------------------------------|-------------:|-----------:|--------:|");
    let rows = [
        (
            "Anthropic Messages (sortie SSE)",
            anthropic.len(),
            measure(
                || {
                    parse_recorded(&anthropic, AnthropicParser::default())
                        .expect("parse")
                        .len()
                },
                anthropic.len(),
            ),
        ),
        (
            "OpenAI Responses (sortie SSE)",
            responses.len(),
            measure(
                || {
                    parse_recorded(&responses, ResponsesParser::default())
                        .expect("parse")
                        .len()
                },
                responses.len(),
            ),
        ),
        (
            "OpenAI Chat (eventsource-stream)",
            chat.len(),
            measure(|| rt.block_on(parse_chat(&chat)), chat.len()),
        ),
    ];
    for (name, bytes, (mbps, events)) in rows {
        println!(
            "| {name:<34} | {:>12.1} | {events:>10} | {mbps:>7.0} |",
            bytes as f64 / 1e6
        );
    }

    let cases = sortie_tests::error_fixtures();
    let rounds = 20_000;
    let t = Instant::now();
    let mut n = 0usize;
    for _ in 0..rounds {
        for f in &cases {
            n += classify(f.status, &f.headers, &f.body).as_str().len();
        }
    }
    let calls = rounds * cases.len();
    println!(
        "\nclassify(): {:.0} calls/s over the {} error fixtures ({} calls, checksum {n})",
        calls as f64 / t.elapsed().as_secs_f64(),
        cases.len(),
        calls
    );
}
