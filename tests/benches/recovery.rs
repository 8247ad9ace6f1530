//! The recovery engine's own cost: classify + decide per failed call, and a compression pass
//! on a 500-turn history (planning, rendering for the summariser, the summariser call against
//! a zero-latency mock, and rebuilding the history). Prints a table.
//!
//! `cargo bench -p sortie-tests --bench recovery`

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use sortie_missions::auxiliary::{estimate_tokens, plan, render, Auxiliary};
use sortie_missions::recovery::{decide, Abilities, Attempts, Policy, Recovery};
use sortie_tests::{error_fixtures, MockProvider, Reply};
use sortie_transports::direct::{OpenAiChat, OpenAiChatConfig};
use sortie_transports::{ContentBlock, Message, Role, TransportError};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let fixtures = error_fixtures();
    let policy = Policy::default();
    let can = Abilities {
        pool: true,
        compress: true,
        fallback: true,
        session: false,
    };
    let rounds = 20_000;
    let started = Instant::now();
    let mut checksum = 0usize;
    for _ in 0..rounds {
        let mut attempts = Attempts::new(&policy);
        for f in &fixtures {
            let error = TransportError::from_http(f.status, &f.headers, &f.body);
            checksum += decide(&error, &mut attempts, &policy, can).name().len();
        }
    }
    let calls = rounds * fixtures.len();
    let per_call = started.elapsed().as_secs_f64() * 1e6 / calls as f64;

    // A 500-turn history: each turn a tool call with ~300 bytes of arguments and a ~1 KB result.
    let mut history = vec![Message::user(
        "Refactor the parser module and keep the tests green.",
    )];
    for i in 0..500 {
        history.push(Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Text {
                    text: format!("Step {i}: looking at the next file."),
                },
                ContentBlock::ToolUse {
                    id: format!("c{i}"),
                    name: "read_file".into(),
                    arguments: json!({"path": format!("src/f{i}.rs"), "pad": "x".repeat(260)})
                        .to_string(),
                },
            ],
        });
        history.push(Message {
            role: Role::User,
            content: vec![ContentBlock::ToolResult {
                call_id: format!("c{i}"),
                content: "fn main() { println!(\"hello\"); }\n".repeat(28),
                is_error: false,
                images: Vec::new(),
            }],
        });
    }
    let before_tokens = estimate_tokens(&history);
    let t = Instant::now();
    let start = plan(&history, 6).expect("plan");
    let rendered = render(&history[1..start]);
    let local = t.elapsed();

    let mock = MockProvider::start().await;
    mock.repeat(Reply::text(
        "Summary: read 497 files of src/, all trivial; the refactor is half done.",
    ));
    let transport = Arc::new(OpenAiChat::new(OpenAiChatConfig::new(mock.base_url())).expect("t"));
    let aux = Auxiliary::new(transport, "aux", Recovery::new(policy, None), None);
    let t = Instant::now();
    let mut on_step = |_: &TransportError, _: &sortie_missions::recovery::Step| {};
    let compressed = aux
        .compress(&history, &mut on_step)
        .await
        .expect("compress");
    let whole = t.elapsed();

    println!("\nRecovery engine\n");
    println!("| measure                                            |            value |");
    println!("|----------------------------------------------------|-----------------:|");
    println!(
        "| classify + decide per failed call ({} fixtures)    | {:>11.2} µs |",
        fixtures.len(),
        per_call
    );
    println!(
        "| 500-turn history                                   | {:>7} messages |",
        history.len()
    );
    println!("|   estimated tokens before                          | {before_tokens:>16} |");
    println!(
        "|   text sent to the summariser                      | {:>13} KB |",
        rendered.len() / 1024
    );
    println!(
        "|   plan + render (local work)                       | {:>13.2} ms |",
        local.as_secs_f64() * 1e3
    );
    println!(
        "|   whole pass incl. summariser call (mock, 0 ms)    | {:>13.2} ms |",
        whole.as_secs_f64() * 1e3
    );
    println!(
        "|   messages after                                   | {:>16} |",
        compressed.len()
    );
    println!(
        "|   estimated tokens after                           | {:>16} |",
        estimate_tokens(&compressed)
    );
    println!("\n(checksum {checksum})");
}
