//! The daemon's supervisor under load, and replaying a long mission. Prints a table.
//!
//! `cargo bench -p sortie-tests --bench daemon` (`MISSIONS=N`, default 1000;
//! `LATENCY_MS`, default 200; `EVENTS=N` for the replay, default 10000).
//!
//! 1. N missions created at once under one supervisor (global limit N), against a mock
//!    provider that answers each turn after the latency: 3 turns per mission (two tool
//!    calls, list_dir, then an answer). The ideal wall time is 3 × latency. The provider is
//!    a minimal HTTP/1.1 server on a thread of its own ([`LeanMock`]): it shares the two
//!    cores with the daemon, and a real provider's work is not on the daemon's machine.
//! 2. A mission of EVENTS events, read back from the store and encoded as the API sends
//!    them (`GET /missions/{id}/events`, the SSE replay).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sortie::daemon::{Limits, Supervisor};
use sortie_missions::{MissionEvent, MissionStatus, Store};
use sortie_tests::lean_mock::{
    bench_spec, by_tool_results, env_or, peak_mb, three_turns, LeanMock,
};
use sortie_tests::stats::percentile;
use sortie_transports::auth::{CredentialStore, Pool, Strategy};
use sortie_transports::{ContentBlock, StopReason};

/// The allocator the `sortie` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // The runtime `sortie serve` builds (sortie::cli::runtime), on this machine's 2 cores.
    sortie::cli::runtime(Some(2))
        .expect("runtime")
        .block_on(bench());
}

async fn bench() {
    let missions = env_or("MISSIONS", 1000) as usize;
    let latency = Duration::from_millis(env_or("LATENCY_MS", 200));
    let replay_events = env_or("EVENTS", 10_000) as usize;

    // The three replies: a turn's answer depends on how many tool results the request
    // carries (two list_dir calls, then the answer).
    let mock = LeanMock::start(latency, three_turns(), by_tool_results);
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    std::fs::write(cwd.path().join("a.txt"), "a").expect("file");
    sortie_tests::write_local_config(home.path(), &mock.base_url, "");
    let store = Store::open(home.path()).expect("store");
    let creds = CredentialStore::new(store.db().open_tree("credentials").expect("tree"));
    let pool = Arc::new(Pool::new(creds, Strategy::FillFirst));
    let supervisor = Supervisor::new(
        home.path().to_path_buf(),
        Arc::new(store.clone()),
        pool,
        Limits {
            global: missions,
            ..Default::default()
        },
    );
    let spec = bench_spec(cwd.path());
    let started = Instant::now();
    for _ in 0..missions {
        let m = store.create_mission(spec.clone()).expect("create");
        supervisor.submit(m).await.expect("submit");
    }
    let submitted = started.elapsed();
    // Done when the supervisor holds no mission (each leaves once its end is durable).
    // Nobody follows the event stream, as with background missions.
    let deadline = started + Duration::from_secs(120);
    while supervisor.counts() != (0, 0) {
        assert!(
            Instant::now() < deadline,
            "missions did not finish within 120 s ({:?} running, queued)",
            supervisor.counts()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let wall = started.elapsed();
    let (all, problems) = store.missions().expect("missions");
    assert!(problems.is_empty(), "{problems:?}");
    let completed = all
        .iter()
        .filter(|m| m.status == MissionStatus::Completed)
        .count();
    let ideal = latency * 3;
    let peak = peak_mb();

    // Replay.
    let m = store.create_mission(spec.clone()).expect("create");
    let filler = MissionEvent::AssistantMessage {
        turn: 1,
        content: vec![ContentBlock::Text {
            text: "a line of an answer, about as long as a streamed sentence is".into(),
        }],
        stop_reason: StopReason::EndTurn,
    };
    for _ in 2..replay_events {
        store.append(&m.id, filler.clone()).expect("append");
    }
    store.flush().await.expect("flush");
    let mut replays = Vec::new();
    let mut total = 0;
    for _ in 0..20 {
        // What `GET /missions/{id}/events` does.
        let t = Instant::now();
        let events = store.events_json_from(&m.id, 0).expect("events");
        let mut body = Vec::new();
        body.push(b'[');
        for (i, (_, raw)) in events.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            sortie::daemon::api::with_mission(&m.id, raw, &mut body);
        }
        body.push(b']');
        replays.push(t.elapsed());
        total = body.len();
        let parsed: Value = serde_json::from_slice(&body).expect("the replay is JSON");
        assert_eq!(parsed.as_array().map(Vec::len), Some(replay_events));
    }
    replays.sort();

    println!(
        "Daemon supervisor: {missions} missions at once, {} ms per turn, 3 turns each\n",
        latency.as_millis()
    );
    println!("| measure                                   |      value |");
    println!("|-------------------------------------------|-----------:|");
    println!("| missions completed                        | {completed:>5} / {missions:<4}|");
    println!(
        "| creating and queueing all of them         | {:>7.0} ms |",
        submitted.as_secs_f64() * 1e3
    );
    println!(
        "| wall time until the last one ended        | {:>7.0} ms |",
        wall.as_secs_f64() * 1e3
    );
    println!(
        "| ideal (3 turns × latency)                 | {:>7.0} ms |",
        ideal.as_secs_f64() * 1e3
    );
    println!(
        "| ratio to the ideal (goal ≤ 1.5)           | {:>10.2} |",
        wall.as_secs_f64() / ideal.as_secs_f64()
    );
    println!(
        "| requests served by the mock               | {:>10} |",
        mock.requests.load(Ordering::Relaxed)
    );
    println!(
        "| connections the missions opened           | {:>10} |",
        mock.connections.load(Ordering::Relaxed)
    );
    println!("| peak memory of the process (goal ≤ 300 MB)| {peak:>7} MB |");
    println!(
        "\nReplay of a {replay_events}-event mission (store read + API JSON, {} KB), 20 runs\n",
        total / 1024
    );
    println!("| measure (ms) |    p50 |    max |");
    println!("|--------------|-------:|-------:|");
    println!(
        "| replay       | {:>6.1} | {:>6.1} |  (goal ≤ 50 ms)",
        percentile(&replays, 0.5).as_secs_f64() * 1e3,
        replays.last().expect("runs").as_secs_f64() * 1e3
    );
    assert_eq!(completed, missions, "not every mission completed");
}
