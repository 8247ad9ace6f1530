//! Sortie's own cost per turn, against the mock provider at zero latency, with durable
//! persistence (every turn flushed to disk before tools run and at the end), and the rate
//! of raw event appends. Prints a table.
//!
//! `cargo bench -p sortie-tests --bench turn_overhead` (set `TURNS=N` to change the count).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use sortie_missions::{
    MissionEvent, MissionRunner, MissionSpec, MissionStatus, PermissionPolicy, Store, Update,
};
use sortie_tests::stats::percentile;
use sortie_tests::{MockProvider, Reply};
use sortie_transports::direct::{OpenAiChat, OpenAiChatConfig};
use tokio_util::sync::CancellationToken;

fn stats(mut samples: Vec<Duration>) -> (f64, f64, f64, f64) {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = samples.iter().map(|d| us(*d)).sum::<f64>() / samples.len() as f64;
    let pick = |q: f64| us(percentile(&samples, q));
    (
        mean,
        pick(0.50),
        pick(0.99),
        us(*samples.last().expect("samples")),
    )
}

fn row(name: &str, samples: Vec<Duration>) -> (f64, String) {
    let n = samples.len();
    let (mean, p50, p99, max) = stats(samples);
    (
        p50,
        format!("| {name:<44} | {n:>6} | {mean:>9.1} | {p50:>9.1} | {p99:>9.1} | {max:>9.1} |"),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let turns: usize = std::env::var("TURNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let mock = MockProvider::start().await;
    mock.repeat(Reply::text("All done."));

    // Baseline: the same streamed answer fetched and read whole by a bare HTTP client.
    let client = reqwest::Client::new();
    let url = format!("{}/chat/completions", mock.base_url());
    let body = serde_json::json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let mut raw = Vec::with_capacity(turns);
    for _ in 0..turns + 50 {
        let started = Instant::now();
        let response = client.post(&url).json(&body).send().await.expect("send");
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            chunk.expect("chunk");
        }
        raw.push(started.elapsed());
    }
    raw.drain(..50);

    // Sortie: one-turn missions; a turn runs from TurnStarted to the final, flushed status.
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    let store = Store::open(home.path()).expect("store");
    let transport =
        Arc::new(OpenAiChat::new(OpenAiChatConfig::new(mock.base_url())).expect("transport"));
    let started_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let mark = started_at.clone();
    let runner =
        MissionRunner::new(store.clone(), transport).with_observer(Arc::new(move |u: &Update| {
            if let Update::Event { event, .. } = u {
                if matches!(event.event, MissionEvent::TurnStarted { .. }) {
                    *mark.lock().expect("lock") = Some(Instant::now());
                }
            }
        }));
    let spec = MissionSpec {
        prompt: "hi".into(),
        provider: "mock".into(),
        model: "m".into(),
        transport: "openai-compatible".into(),
        cwd: cwd.path().to_path_buf(),
        policy: PermissionPolicy::Auto,
        max_turns: 1,
        sandbox: None,
        labels: Vec::new(),
    };
    let mut turn_times = Vec::with_capacity(turns);
    let mut mission_times = Vec::with_capacity(turns);
    let wall = Instant::now();
    for _ in 0..turns + 50 {
        let begun = Instant::now();
        let m = store.create_mission(spec.clone()).expect("create");
        let done = runner
            .run(m.id, CancellationToken::new())
            .await
            .expect("run");
        assert_eq!(done.status, MissionStatus::Completed);
        let turn = started_at
            .lock()
            .expect("lock")
            .take()
            .expect("turn started")
            .elapsed();
        turn_times.push(turn);
        mission_times.push(begun.elapsed());
    }
    let wall = wall.elapsed();
    turn_times.drain(..50);
    mission_times.drain(..50);

    // Raw appends: no flush, then a flush every 100 events.
    let m = store.create_mission(spec.clone()).expect("create");
    let appends = 50_000;
    let t = Instant::now();
    for i in 0..appends {
        store
            .append(
                &m.id,
                MissionEvent::UserMessage {
                    text: format!("event {i}"),
                },
            )
            .expect("append");
    }
    let append_rate = appends as f64 / t.elapsed().as_secs_f64();
    // Write out the backlog so the next figures measure only their own work.
    store.flush().await.expect("flush");
    let t = Instant::now();
    for i in 0..appends / 10 {
        store
            .append(
                &m.id,
                MissionEvent::UserMessage {
                    text: format!("event {i}"),
                },
            )
            .expect("append");
        if i % 100 == 99 {
            store.flush().await.expect("flush");
        }
    }
    let durable_rate = (appends / 10) as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..200 {
        store
            .append(&m.id, MissionEvent::UserMessage { text: "x".into() })
            .expect("append");
        store.flush().await.expect("flush");
    }
    let flush_each = t.elapsed() / 200;

    let header = "| measure (µs)                                 |      n |      mean |       p50 |       p99 |       max |";
    println!(
        "\nSortie turn overhead ({turns} turns, mock provider at zero latency, durable store)\n"
    );
    println!("{header}");
    println!("|{}|", "-".repeat(header.len() - 2));
    let (raw_p50, r) = row("bare HTTP: same streamed answer", raw);
    println!("{r}");
    let (turn_p50, r) = row("sortie turn (stream, store, flushes)", turn_times);
    println!("{r}");
    println!(
        "{}",
        row("sortie mission (create + 1 turn + finish)", mission_times).1
    );
    println!(
        "\np50 runtime overhead per turn (sortie turn − bare HTTP): {:.1} µs",
        turn_p50 - raw_p50
    );
    println!(
        "turns per second, sequential: {:.0}",
        turns as f64 / wall.as_secs_f64()
    );
    println!("events appended per second (no flush): {append_rate:.0}");
    println!("events appended per second (flush every 100): {durable_rate:.0}");
    println!(
        "one append + flush: {:.1} µs",
        flush_each.as_secs_f64() * 1e6
    );
}
