//! The TUI's frame time while missions stream. Prints a table.
//!
//! `cargo bench -p sortie-tests --bench tui_frame` (`FRAMES=N`, default 400).
//!
//! 50 missions in the list, all running; the open one has a long conversation (EVENTS,
//! default 600: assistant Markdown, tool calls and results, recoveries) and streams text.
//! Each frame takes the batch of updates 50 streaming missions send in one frame's time
//! (50 list rows refreshed, 50 text deltas to the open mission) and draws it, on a
//! TestBackend of 80×24 and of 200×60. Goal: a frame in 16 ms or less.

use sortie_tests::stats::percentile;
use std::time::{Duration, Instant};

use chrono::Utc;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use serde_json::json;
use sortie::tui::app::{App, Msg, Screen};
use sortie::tui::ui;
use sortie_missions::{Mission, MissionId, StoredEvent, Update};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn mission(i: usize, tokens: u64) -> Mission {
    let now = Utc::now();
    serde_json::from_value(json!({
        "id": MissionId::new(), "title": format!("Mission number {i}: keep the tests green"),
        "prompt": "keep the tests green", "status": "running",
        "provider": "anthropic", "model": "claude-sonnet-4-5", "transport": "anthropic",
        "cwd": "/work/repo", "policy": "auto", "max_turns": 50,
        "created_at": now, "updated_at": now, "turns": 3, "usage": {"input_tokens": tokens, "output_tokens": tokens / 4},
        "cost_usd": 0.01, "error": null, "event_count": 10
    }))
    .expect("mission")
}

fn conversation(n: usize) -> Vec<StoredEvent> {
    let at = Utc::now();
    (0..n)
        .map(|seq| {
            let turn = seq as u32 / 3;
            let event = match seq % 3 {
                0 => json!({"type": "assistant_message", "turn": turn, "stop_reason": "tool_use", "content": [
                    {"type": "thinking", "text": "Consider the failing case.\nThen the fix."},
                    {"type": "text", "text": format!("## Step {turn}\n\nThe **scheduler** test fails because `Clock` is real:\n\n- read the test\n- inject the clock\n\n```rust\nlet clock = FakeClock::new();\n```")},
                    {"type": "tool_use", "id": format!("c{seq}"), "name": "shell", "arguments": "{\"command\":\"cargo test -p scheduler\"}"}
                ]}),
                1 => json!({"type": "tool_result", "turn": turn, "call_id": format!("c{}", seq - 1), "name": "shell", "outcome": "ok",
                            "output": "running 12 tests\n".repeat(12), "duration_ms": 812}),
                _ => json!({"type": "recovery", "scope": "turn", "class": "rate_limited", "strategy": "cool_down", "credential": "anthropic#2", "outcome": "cooled down 20s; rotated to anthropic#1"}),
            };
            let mut v = event;
            v["seq"] = json!(seq);
            v["at"] = json!(at);
            serde_json::from_value(v).expect("event")
        })
        .collect()
}

fn main() {
    let frames = env_or("FRAMES", 400);
    let events = env_or("EVENTS", 600);
    println!(
        "TUI frame time: 50 missions streaming, open mission of {events} events, {frames} frames\n"
    );
    println!("| terminal | p50 (ms) | p99 (ms) | max (ms) | goal |");
    println!("|----------|---------:|---------:|---------:|------|");
    for (w, h) in [(80u16, 24u16), (200, 60)] {
        let mut missions: Vec<Mission> = (0..50).map(|i| mission(i, 1000)).collect();
        let open = missions[0].id;
        let mut app = App::new(vec!["anthropic".into()], Utc::now());
        app.apply(Msg::Missions(missions.clone()));
        app.apply(Msg::Missions(missions.clone()));
        app.screen = Screen::Mission;
        app.view.id = Some(open);
        for e in conversation(events) {
            app.apply(Msg::Update(Update::Event {
                mission: open,
                event: e,
            }));
        }
        let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        let mut times = Vec::with_capacity(frames);
        for frame in 0..frames {
            let started = Instant::now();
            // What 50 streaming missions send in one frame: the list, and deltas.
            for m in missions.iter_mut() {
                m.usage.output_tokens += 7;
            }
            app.apply(Msg::Missions(missions.clone()));
            for i in 0..50 {
                // Words, and a paragraph break now and then, as answers stream.
                let end = if i == 49 && frame % 4 == 3 {
                    "\n\n"
                } else {
                    " "
                };
                app.apply(Msg::Update(Update::TextDelta {
                    mission: open,
                    turn: 99,
                    text: format!("word{frame}{end}"),
                }));
            }
            terminal.draw(|f| ui::draw(f, &app)).expect("draw");
            times.push(started.elapsed());
        }
        times.sort();
        let p50 = percentile(&times, 0.5);
        let p99 = percentile(&times, 0.99);
        let max = *times.last().expect("frames");
        let met = if p99 <= Duration::from_millis(16) {
            "met (≤ 16)"
        } else {
            "NOT met (≤ 16)"
        };
        println!(
            "| {w}×{h} | {:.2} | {:.2} | {:.2} | {met} |",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );
    }
}
