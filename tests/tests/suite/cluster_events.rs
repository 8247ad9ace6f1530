//! Live events across daemons, through the real binary on the real PostgreSQL: a mission
//! started through daemon A is followed through daemon B's stream (`GET
//! /missions/{id}/stream`), which carries every stored event exactly once, in order, until
//! the mission's end; also when B's connection for event notices is cut meanwhile (B
//! listens again, says so, and reads what it missed from the table).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sortie_tests::cluster::{config, Node};
use sortie_tests::daemon::DaemonProc;
use sortie_tests::postgres::Cluster;
use sortie_tests::{MockProvider, Reply};

use super::cluster_credentials::{assert_no_secret, key};

/// One SSE message: its `event:` name and its `data:` as JSON.
fn messages(raw: &str) -> Vec<(String, Value)> {
    raw.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = Some(n.trim().to_string());
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            Some((name?, serde_json::from_str(&data).ok()?))
        })
        .collect()
}

/// Reads daemon `d`'s stream of mission `id` from its first event until `end` (bounded);
/// the messages, and `on_first` was run once the first stored event arrived.
async fn follow_to_end(
    d: &DaemonProc,
    id: &str,
    mut on_first: impl FnMut(),
) -> Vec<(String, Value)> {
    let mut response = reqwest::Client::new()
        .get(format!("{}/missions/{id}/stream?from=0", d.base))
        .bearer_auth(&d.token)
        .send()
        .await
        .expect("stream");
    assert_eq!(response.status().as_u16(), 200);
    let mut raw = String::new();
    let mut lags = Vec::new();
    let mut first = true;
    let read = async {
        while let Some(chunk) = response.chunk().await.expect("chunk") {
            raw.push_str(&String::from_utf8_lossy(&chunk));
            lags.extend(stored_lags(&String::from_utf8_lossy(&chunk)));
            if first && raw.contains("event: event") {
                first = false;
                on_first();
            }
            if raw.contains("event: end") && raw.ends_with("\n\n") {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .unwrap_or_else(|_| panic!("no end on B's stream of {id}; so far:\n{raw}\n{}", d.log()));
    lags.sort();
    // For the record (a loaded machine makes it no assertion): how long after being
    // stored on A each event reached B's follower.
    eprintln!(
        "B's stream of {id}: {} events, median lag {} ms, most {} ms",
        lags.len(),
        lags.get(lags.len() / 2).copied().unwrap_or_default(),
        lags.last().copied().unwrap_or_default()
    );
    messages(&raw)
}

/// How long ago (ms) each stored event in `chunk` was stored.
fn stored_lags(chunk: &str) -> Vec<i64> {
    let now = chrono::Utc::now();
    messages(chunk)
        .into_iter()
        .filter(|(name, _)| name == "event")
        .filter_map(|(_, v)| {
            let at: chrono::DateTime<chrono::Utc> = v["at"].as_str()?.parse().ok()?;
            Some((now - at).num_milliseconds())
        })
        .collect()
}

/// The mission's replies: three slow tool turns, then an answer.
fn script(mock: &MockProvider) {
    for i in 0..3 {
        mock.push(
            Reply::tool_call(
                &format!("call_{i}"),
                "shell",
                json!({"command": format!("echo step {i}")}),
            )
            .delayed(Duration::from_millis(400)),
        );
    }
    mock.push(Reply::text("all three steps ran").delayed(Duration::from_millis(400)));
}

/// Checks B's stream against what the store holds: every event once, in order, ending
/// with the mission's last status, then `end`.
async fn check_stream(a: &DaemonProc, id: &str, got: &[(String, Value)]) {
    let seqs: Vec<u64> = got
        .iter()
        .filter(|(name, _)| name == "event")
        .map(|(_, v)| v["seq"].as_u64().expect("seq"))
        .collect();
    let (_, stored) = a.get(&format!("/missions/{id}/events")).await;
    let stored = stored.as_array().cloned().unwrap_or_default();
    let expected: Vec<u64> = (0..stored.len() as u64).collect();
    assert_eq!(seqs, expected, "every stored event once, in order");
    let last_event = got
        .iter()
        .rev()
        .find(|(name, _)| name == "event")
        .expect("events");
    assert_eq!(last_event.1["type"], "status");
    assert_eq!(last_event.1["status"], "completed", "{:#}", last_event.1);
    assert_eq!(got.last().map(|(n, _)| n.as_str()), Some("end"));
    assert!(
        seqs.len() >= 10,
        "a mission of four turns stores more than {} events",
        seqs.len()
    );
}

async fn two_daemons(seed: u8) -> (String, MockProvider, Node, Node) {
    let url = Cluster::shared().create_database().await;
    let mock = MockProvider::start().await;
    let shared = key(seed);
    let text = config(&mock.base_url(), None, true);
    let a = Node::new(&url, Some(&shared), &text);
    let b = Node::new(&url, Some(&shared), &text);
    (shared, mock, a, b)
}

/// The database a node's store URL names.
fn url_database(node: &Node) -> String {
    let url = &node
        .env
        .iter()
        .find(|(k, _)| k == "SORTIE_STORE_URL")
        .expect("url")
        .1;
    url.rsplit('/').next().expect("database").to_string()
}

async fn start_mission(a: &DaemonProc, cwd: &std::path::Path) -> String {
    let (status, m) = a
        .post(
            "/missions",
            json!({"prompt": "run three steps", "cwd": cwd}),
        )
        .await;
    assert_eq!(status, 201, "{m}\n{}", a.log());
    m["id"].as_str().expect("id").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mission_started_through_one_daemon_is_followed_live_through_another() {
    let (shared, mock, a, b) = two_daemons(31).await;
    script(&mock);
    let (da, db) = (a.daemon().await, b.daemon().await);
    let cwd = tempfile::tempdir().expect("cwd");
    let id = start_mission(&da, cwd.path()).await;
    let got = follow_to_end(&db, &id, || {}).await;
    check_stream(&da, &id, &got).await;
    // It ran on A; B only relayed it.
    let (_, on_a) = da.get(&format!("/missions/{id}")).await;
    assert_eq!(on_a["status"], "completed");
    let secrets = [shared.as_str(), Cluster::shared().password()];
    assert_no_secret("daemon A's log", &da.log(), &secrets);
    assert_no_secret("daemon B's log", &db.log(), &secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_has_no_gap_when_the_notice_connection_is_cut_mid_mission() {
    let (_, mock, a, b) = two_daemons(32).await;
    script(&mock);
    let (da, db) = (a.daemon().await, b.daemon().await);
    let admin = Cluster::shared().connect("postgres").await;
    let database = url_database(&a);
    // Both daemons listen before the mission starts (bounded wait).
    let started = Instant::now();
    loop {
        let listening: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = $1",
                &[&database],
            )
            .await
            .expect("count the listeners")
            .get(0);
        if listening >= 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{listening} daemon(s) listening\nA: {}\nB: {}",
            da.log(),
            db.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cwd = tempfile::tempdir().expect("cwd");
    let id = start_mission(&da, cwd.path()).await;
    // Once B streams, both daemons' listening connections are cut behind their backs.
    let cut = tokio::sync::Notify::new();
    let cutter = async {
        cut.notified().await;
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = $1",
                &[&database],
            )
            .await
            .expect("terminate the listeners")
    };
    let (got, terminated) = tokio::join!(follow_to_end(&db, &id, || cut.notify_one()), cutter);
    assert_eq!(terminated, 2, "both listening connections were cut");
    check_stream(&da, &id, &got).await;
    // B says it lost its notices and listens again (bounded wait: the backoff is short).
    let started = Instant::now();
    while !db
        .log()
        .contains("listening for events on the shared store again")
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "B did not listen again:\n{}",
            db.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(db.log().contains("event notices stopped"), "{}", db.log());
}
