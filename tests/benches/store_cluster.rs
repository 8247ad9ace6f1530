//! The daemon on PostgreSQL beside sled, and several daemons on one database. Prints tables.
//!
//! `cargo bench -p sortie-tests --bench store_cluster` (`MISSIONS=N`, default 1000;
//! `CLUSTER_MISSIONS=N`, default 300, 0 skips part 2; `LATENCY_MS`, default 200). Needs PostgreSQL's
//! binaries (Debian's `postgresql`, as the tests do).
//!
//! 1. N missions at once under one supervisor, as `bench daemon` runs them (3 turns of
//!    `LATENCY_MS` against [`LeanMock`]), once on sled and once on PostgreSQL (a cluster
//!    started for the bench on loopback), each in a process of its own so that the peak
//!    memory is that run's: wall time, peak memory, events stored per second.
//! 2. `CLUSTER_MISSIONS` missions through 1, 2 and 3 real `sortie serve` daemons on one
//!    database (each `max_concurrent = 50`), submitted round-robin over their APIs (32
//!    requests at a time): wall
//!    time until the last one completed, and missions per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use sortie::daemon::{Limits, Supervisor};
use sortie_missions::postgres::{PgOptions, PgStore};
use sortie_missions::{MissionStatus, SharedStore, Store};
use sortie_tests::daemon::DaemonProc;
use sortie_tests::lean_mock::{
    bench_spec, by_tool_results, env_or, peak_mb, three_turns, LeanMock,
};
use sortie_tests::postgres::Cluster;
use sortie_transports::auth::{CredentialStore, Pool, Strategy};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Set in the child process that runs one store's part 1: `sled`, or a PostgreSQL URL.
const ONE_RUN: &str = "SORTIE_BENCH_STORE";

fn main() {
    let runtime = sortie::cli::runtime(Some(2)).expect("runtime");
    match std::env::var(ONE_RUN) {
        Ok(store) => runtime.block_on(one_store(&store)),
        Err(_) => runtime.block_on(bench()),
    }
}

async fn bench() {
    let missions = env_or("MISSIONS", 1000);
    let pg = Cluster::start();
    let mut rows = Vec::new();
    for store in ["sled".to_string(), pg.create_database().await] {
        let out = std::process::Command::new(std::env::current_exe().expect("exe"))
            .env(ONE_RUN, &store)
            .output()
            .expect("run one store");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let row: Value = serde_json::from_slice(&out.stdout).expect("the run's figures");
        rows.push(row);
    }
    println!(
        "One daemon's supervisor: {missions} missions at once, {} ms per turn, 3 turns each\n",
        env_or("LATENCY_MS", 200)
    );
    println!("| store      | completed | wall (ms) | of which creating (ms) | peak memory (MB) | events/s |");
    println!("|------------|----------:|----------:|-----------------------:|-----------------:|---------:|");
    for r in &rows {
        println!(
            "| {:<10} | {:>9} | {:>9} | {:>22} | {:>16} | {:>8.0} |",
            r["store"].as_str().unwrap_or("?"),
            r["completed"],
            r["wall_ms"],
            r["create_ms"],
            r["peak_mb"],
            r["events_per_sec"].as_f64().unwrap_or(0.0)
        );
    }
    let ratio =
        rows[1]["wall_ms"].as_f64().unwrap_or(0.0) / rows[0]["wall_ms"].as_f64().unwrap_or(1.0);
    println!("\nPostgreSQL / sled wall time: {ratio:.2} (goal ≤ 2)\n");
    if env_or("CLUSTER_MISSIONS", 300) > 0 {
        cluster(&pg).await;
    }
}

/// Part 1 for one store, in this process: prints its figures as one JSON line.
async fn one_store(store: &str) {
    let missions = env_or("MISSIONS", 1000) as usize;
    let latency = Duration::from_millis(env_or("LATENCY_MS", 200));
    let mock = LeanMock::start(latency, three_turns(), by_tool_results);
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    std::fs::write(cwd.path().join("a.txt"), "a").expect("file");
    sortie_tests::write_local_config(home.path(), &mock.base_url, "");
    let sled = Store::open(home.path()).expect("store");
    let creds = CredentialStore::new(sled.db().open_tree("credentials").expect("tree"));
    let pool = Arc::new(Pool::new(creds, Strategy::FillFirst));
    let (shared, name): (SharedStore, &str) = if store == "sled" {
        (Arc::new(sled.clone()), "sled")
    } else {
        let options = PgOptions {
            pool_size: 16,
            ..Default::default()
        };
        let pg = PgStore::open_with(store, options).await.expect("postgres");
        (Arc::new(pg), "postgresql")
    };
    let supervisor = Supervisor::new(
        home.path().to_path_buf(),
        shared.clone(),
        pool,
        Limits {
            global: missions,
            ..Default::default()
        },
    );
    let spec = bench_spec(cwd.path());
    let started = Instant::now();
    for _ in 0..missions {
        let m = shared.create_mission(spec.clone()).await.expect("create");
        supervisor.submit(m).await.expect("submit");
    }
    let created = started.elapsed();
    let deadline = started + Duration::from_secs(300);
    while supervisor.counts() != (0, 0) {
        assert!(
            Instant::now() < deadline,
            "missions did not finish within 300 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let wall = started.elapsed();
    let (all, problems) = shared.missions().await.expect("missions");
    assert!(problems.is_empty(), "{problems:?}");
    let completed = all
        .iter()
        .filter(|m| m.status == MissionStatus::Completed)
        .count();
    let events: u64 = all.iter().map(|m| m.event_count).sum();
    println!(
        "{}",
        json!({
            "store": name,
            "completed": completed,
            "wall_ms": wall.as_millis() as u64,
            "create_ms": created.as_millis() as u64,
            "peak_mb": peak_mb(),
            "events_per_sec": events as f64 / wall.as_secs_f64(),
        })
    );
}

/// Part 2: 1, 2 and 3 daemons on one database.
async fn cluster(pg: &Cluster) {
    let missions = env_or("CLUSTER_MISSIONS", 300) as usize;
    let latency = Duration::from_millis(env_or("LATENCY_MS", 200));
    let mock = LeanMock::start(latency, three_turns(), by_tool_results);
    let cwd = tempfile::tempdir().expect("cwd");
    std::fs::write(cwd.path().join("a.txt"), "a").expect("file");
    println!(
        "Daemons on one PostgreSQL database: {missions} missions, each daemon max_concurrent = 50, 3 turns of {} ms\n",
        latency.as_millis()
    );
    println!("| daemons | completed | wall (ms) | missions/s | vs 1 daemon |");
    println!("|--------:|----------:|----------:|-----------:|------------:|");
    let mut first = None;
    for count in 1..=3 {
        let url = pg.create_database().await;
        let mut homes = Vec::new();
        let mut daemons = Vec::new();
        for i in 0..count {
            let home = tempfile::tempdir().expect("home");
            sortie_tests::write_local_config(
                home.path(),
                &mock.base_url,
                &format!("\n[daemon]\nname = \"bench-{i}\"\nmax_concurrent = 50\n\n[store]\nkey_env = \"SORTIE_BENCH_KEY\"\n"),
            );
            let env = [
                ("SORTIE_STORE_URL", url.as_str()),
                (
                    "SORTIE_BENCH_KEY",
                    "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
                ),
            ];
            daemons.push(DaemonProc::start_with_env(home.path(), &env).await);
            homes.push(home);
        }
        let started = Instant::now();
        // Submitted 32 at a time, as several clients would.
        let body = json!({"prompt": "look at the directory", "cwd": cwd.path()});
        let posts = (0..missions).map(|i| daemons[i % count].post("/missions", body.clone()));
        let answers: Vec<(u16, Value)> = futures::stream::iter(posts)
            .buffer_unordered(32)
            .collect()
            .await;
        for (status, body) in &answers {
            assert_eq!(*status, 201, "{body}");
        }
        let completed = loop {
            let (_, page) = daemons[0]
                .get("/missions?limit=1000&status=completed")
                .await;
            let done = page["missions"].as_array().map_or(0, Vec::len);
            if done == missions {
                break done;
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "only {done} completed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let wall = started.elapsed().as_secs_f64();
        let rate = missions as f64 / wall;
        let base = *first.get_or_insert(rate);
        println!(
            "| {count:>7} | {completed:>9} | {:>9.0} | {rate:>10.1} | {:>10.2}× |",
            wall * 1e3,
            rate / base
        );
        drop(daemons);
    }
}
