//! Several daemons on one PostgreSQL store, through the real binary: one queue shared by
//! all (each mission runs exactly once), labels, a daemon killed mid-tool whose mission
//! another daemon resumes without running the stored tool call again, a schedule that
//! fires once however many daemons tick, unique names, stops asked across daemons, and
//! the cluster in `sortie status`.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sortie_tests::daemon::{ended, statuses, DaemonProc};
use sortie_tests::postgres::Cluster;
use sortie_tests::{write_local_config, MockProvider, Reply};

use super::daemon::{assert_contiguous, count, new_mission};

/// The variable the test configs name in `[store] key_env`, and a key for it.
const KEY_ENV: &str = "SORTIE_TEST_STORE_KEY";
const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// A data dir for daemon `name` on the store at `url`, its provider at `mock`.
fn member(mock: &MockProvider, name: &str, extra: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("home");
    write_local_config(
        home.path(),
        &mock.base_url(),
        &format!("\n[store]\nkey_env = \"{KEY_ENV}\"\n\n[daemon]\nname = \"{name}\"\n{extra}\n"),
    );
    home
}

async fn start(home: &Path, url: &str) -> DaemonProc {
    DaemonProc::start_with_env(home, &[("SORTIE_STORE_URL", url), (KEY_ENV, KEY)]).await
}

/// Every mission of the store as the listing shows it.
async fn all_missions(d: &DaemonProc) -> Vec<Value> {
    let (status, page) = d.get("/missions?limit=1000").await;
    assert_eq!(status, 200, "{page}");
    page["missions"].as_array().cloned().unwrap_or_default()
}

/// Waits (up to `bound`) until `done` holds for the store's missions.
async fn wait_missions(d: &DaemonProc, bound: Duration, done: impl Fn(&[Value]) -> bool) {
    let started = Instant::now();
    loop {
        let list = all_missions(d).await;
        if done(&list) {
            return;
        }
        let by_status = list.iter().fold(HashMap::new(), |mut acc, m| {
            *acc.entry(m["status"].to_string()).or_insert(0) += 1;
            acc
        });
        assert!(
            started.elapsed() < bound,
            "the missions did not get there: {by_status:?}\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_daemons_share_300_missions_and_each_runs_exactly_once() {
    let url = Cluster::shared().create_database().await;
    let mut mocks = Vec::new();
    let mut homes = Vec::new();
    for name in ["alpha", "beta", "gamma"] {
        let mock = MockProvider::start().await;
        mock.repeat(Reply::text("done"));
        homes.push(member(&mock, name, "max_concurrent = 4"));
        mocks.push(mock);
    }
    let cwd = tempfile::tempdir().expect("cwd");
    let mut daemons = Vec::new();
    for home in &homes {
        daemons.push(start(home.path(), &url).await);
    }
    // A hundred missions submitted through each daemon.
    for i in 0..300 {
        new_mission(&daemons[i % 3], cwd.path(), &format!("mission number {i}.")).await;
    }
    wait_missions(&daemons[0], Duration::from_secs(300), |list| {
        list.len() == 300 && list.iter().all(|m| m["status"] == "completed")
    })
    .await;

    let hits: Vec<usize> = mocks.iter().map(MockProvider::hits).collect();
    assert_eq!(
        hits.iter().sum::<usize>(),
        300,
        "model calls per daemon: {hits:?}"
    );
    assert!(
        hits.iter().all(|h| *h > 0),
        "a daemon took no mission: {hits:?}"
    );
    // Each mission's prompt reached a model exactly once, on one daemon.
    let mut asked: HashMap<usize, usize> = HashMap::new();
    for mock in &mocks {
        for request in mock.requests() {
            let text = request.to_string();
            let n: usize = text
                .split("mission number ")
                .nth(1)
                .and_then(|rest| rest.split('.').next())
                .and_then(|n| n.parse().ok())
                .expect("the prompt's number");
            *asked.entry(n).or_default() += 1;
        }
    }
    assert_eq!(asked.len(), 300);
    assert!(asked.values().all(|n| *n == 1), "{asked:?}");
    // Logs are whole: one run each, no event twice.
    for m in all_missions(&daemons[1]).await.iter().step_by(25) {
        let id = m["id"].as_str().expect("id");
        let events = daemons[2].wait_events(id, ended).await;
        assert_contiguous(&events);
        assert_eq!(statuses(&events), ["running", "completed"], "{events:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_of_a_daemon_mid_tool_another_resumes_it_and_no_tool_runs_twice() {
    let url = Cluster::shared().create_database().await;
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "call_1",
        "shell",
        json!({"command": "echo first >> runs.txt"}),
    ));
    mock.push(Reply::tool_call(
        "call_2",
        "shell",
        json!({"command": "echo started >> runs.txt; sleep 3; echo finished >> runs.txt"}),
    ));
    mock.push(Reply::text("I will check what the interrupted command did"));
    let a = member(&mock, "a", "lease_secs = 5");
    let b = member(&mock, "b", "lease_secs = 5");
    let cwd = tempfile::tempdir().expect("cwd");
    let da = start(a.path(), &url).await;
    let id = new_mission(&da, cwd.path(), "run the two commands").await;
    let runs = cwd.path().join("runs.txt");
    let started = Instant::now();
    while !std::fs::read_to_string(&runs)
        .unwrap_or_default()
        .contains("started")
    {
        assert!(started.elapsed() < Duration::from_secs(60), "{}", da.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let db = start(b.path(), &url).await;
    da.kill9();

    // Once a's lease runs out, b takes the mission and finishes it.
    let events = db
        .wait_events(&id, |e| ended(e) && count(e, "assistant_message") == 3)
        .await;
    assert_contiguous(&events);
    assert_eq!(
        statuses(&events),
        ["running", "interrupted", "queued", "running", "completed"]
    );
    let interrupted = events
        .iter()
        .find(|e| e["status"] == "interrupted")
        .expect("interrupted");
    assert!(
        interrupted["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("daemon `a`"),
        "{interrupted}"
    );
    let results: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "tool_result")
        .collect();
    assert_eq!(results.len(), 2, "{results:#?}");
    assert!(results[1]["output"]
        .as_str()
        .unwrap_or_default()
        .contains("was not run again"));
    // The first command (its result stored) ran once; the second started once and died
    // with its daemon.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let text = std::fs::read_to_string(&runs).expect("runs.txt");
    assert_eq!(text.matches("first").count(), 1, "{text}");
    assert_eq!(text.matches("started").count(), 1, "{text}");
    assert_eq!(
        text.matches("finished").count(),
        0,
        "the orphan ran on: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_schedule_due_while_two_daemons_run_fires_once() {
    let url = Cluster::shared().create_database().await;
    let mock = MockProvider::start().await;
    mock.repeat(Reply::text("report written"));
    let a = member(&mock, "a", "");
    let b = member(&mock, "b", "");
    let cwd = tempfile::tempdir().expect("cwd");
    let da = start(a.path(), &url).await;
    let db = start(b.path(), &url).await;
    let (status, s) = da
        .post(
            "/schedules",
            json!({"prompt": "the nightly report", "cwd": cwd.path(), "every": "2s"}),
        )
        .await;
    assert_eq!(status, 201, "{s}");
    let id = s["id"].as_str().expect("id").to_string();
    // Several periods with both daemons ticking.
    let started = Instant::now();
    let runs = loop {
        let (_, s) = db.get(&format!("/schedules/{id}")).await;
        let runs = s["runs"].as_array().cloned().unwrap_or_default();
        let fired = runs.iter().filter(|r| r["outcome"] == "started").count();
        if fired >= 3 {
            break runs;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{s:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(da.delete(&format!("/schedules/{id}")).await.0, 200);
    let mut slots: Vec<&str> = runs
        .iter()
        .filter(|r| r["outcome"] == "started")
        .filter_map(|r| r["scheduled_for"].as_str())
        .collect();
    let all = slots.len();
    slots.dedup();
    assert_eq!(slots.len(), all, "a run fired twice: {runs:#?}");
    // As many missions as started runs, each run once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let missions: Vec<Value> = all_missions(&da)
        .await
        .into_iter()
        .filter(|m| m["prompt"] == "the nightly report")
        .collect();
    let started_runs = runs.iter().filter(|r| r["outcome"] == "started").count();
    assert!(missions.len() >= started_runs, "{missions:#?}");
    let recorded: std::collections::HashSet<&str> =
        runs.iter().filter_map(|r| r["mission"].as_str()).collect();
    assert_eq!(recorded.len(), started_runs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn labels_send_missions_to_the_daemons_that_have_them() {
    let url = Cluster::shared().create_database().await;
    let (plain_mock, gpu_mock) = (MockProvider::start().await, MockProvider::start().await);
    plain_mock.repeat(Reply::text("done"));
    gpu_mock.repeat(Reply::text("done"));
    let plain = member(&plain_mock, "plain", "");
    let gpu = member(&gpu_mock, "gpu-box", "labels = [\"gpu\", \"repo-x\"]");
    let cwd = tempfile::tempdir().expect("cwd");
    let dp = start(plain.path(), &url).await;
    let dg = start(gpu.path(), &url).await;
    for i in 0..4 {
        let (status, m) = dp
            .post(
                "/missions",
                json!({"prompt": format!("train {i}"), "cwd": cwd.path(), "labels": ["gpu"]}),
            )
            .await;
        assert_eq!(status, 201, "{m}");
        assert_eq!(m["labels"], json!(["gpu"]));
    }
    let (status, bad) = dp
        .post(
            "/missions",
            json!({"prompt": "x", "cwd": cwd.path(), "labels": ["no spaces"]}),
        )
        .await;
    assert_eq!(status, 400, "{bad}");
    wait_missions(&dg, Duration::from_secs(60), |list| {
        list.len() == 4 && list.iter().all(|m| m["status"] == "completed")
    })
    .await;
    assert_eq!((plain_mock.hits(), gpu_mock.hits()), (0, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_daemon_with_a_taken_name_is_refused() {
    let url = Cluster::shared().create_database().await;
    let mock = MockProvider::start().await;
    let first = member(&mock, "twin", "");
    let second = member(&mock, "twin", "");
    let d = start(first.path(), &url).await;
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::from(sortie_tests::sortie(second.path()))
            .env("SORTIE_STORE_URL", &url)
            .env(KEY_ENV, KEY)
            .arg("serve")
            .output(),
    )
    .await
    .expect("the second daemon exits")
    .expect("run sortie serve");
    assert!(!out.status.success());
    let err = sortie_tests::text(&out.stderr);
    assert!(err.contains("a daemon named `twin` already runs"), "{err}");
    assert!(!err.contains(Cluster::shared().password()), "{err}");
    // Stopped, its name is free again.
    let (status, _) = d.post("/shutdown", Value::Null).await;
    assert_eq!(status, 200);
    let mut d = d;
    let stopping = Instant::now();
    while d.child.try_wait().expect("wait").is_none() {
        assert!(stopping.elapsed() < Duration::from_secs(60), "{}", d.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again = start(second.path(), &url).await;
    assert_eq!(again.get("/health").await.1["cluster"]["daemon"], "twin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mission_running_on_one_daemon_is_cancelled_through_another_and_status_lists_both() {
    let url = Cluster::shared().create_database().await;
    let mock = MockProvider::start().await;
    mock.push(Reply::stall_after("working on it"));
    let a = member(&mock, "a", "lease_secs = 6");
    let b = member(&mock, "b", "lease_secs = 6\nlabels = [\"spare\"]");
    let cwd = tempfile::tempdir().expect("cwd");
    let da = start(a.path(), &url).await;
    let id = new_mission(&da, cwd.path(), "a long job").await;
    da.wait_events(&id, |e| count(e, "turn_started") == 1).await;
    let db = start(b.path(), &url).await;

    // Where it runs, from either daemon.
    let (_, m) = db.get(&format!("/missions/{id}")).await;
    assert_eq!(m["daemon"], "a", "{m}");
    let out = tokio::process::Command::from(sortie_tests::sortie(b.path()))
        .env("SORTIE_STORE_URL", &url)
        .args(["status", "--json"])
        .output()
        .await
        .expect("sortie status");
    let status: Value = serde_json::from_slice(&out.stdout).expect("status json");
    let daemons = status["cluster"]["daemons"].as_array().expect("daemons");
    let names: Vec<&str> = daemons.iter().filter_map(|d| d["name"].as_str()).collect();
    assert_eq!(names, ["a", "b"], "{status:#}");
    assert_eq!(daemons[0]["missions"], json!([id]));
    assert_eq!(daemons[1]["labels"], json!(["spare"]));
    let text = tokio::process::Command::from(sortie_tests::sortie(b.path()))
        .env("SORTIE_STORE_URL", &url)
        .arg("status")
        .output()
        .await
        .expect("sortie status");
    let text = sortie_tests::text(&text.stdout);
    assert!(text.contains("cluster: this daemon is `b`"), "{text}");
    let shown = tokio::process::Command::from(sortie_tests::sortie(b.path()))
        .env("SORTIE_STORE_URL", &url)
        .env(KEY_ENV, KEY)
        .args(["show", &id])
        .output()
        .await
        .expect("sortie show");
    let shown = sortie_tests::text(&shown.stdout);
    assert!(shown.contains("daemon    a (runs it now)"), "{shown}");
    assert!(!text.contains(Cluster::shared().password()), "{text}");

    // Cancelled through b: a stops it at its next heartbeat.
    let (code, body) = db
        .post(&format!("/missions/{id}/cancel"), Value::Null)
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["daemon"], "a");
    let events = db.wait_events(&id, ended).await;
    assert_eq!(
        statuses(&events).last().map(String::as_str),
        Some("cancelled")
    );
    assert_contiguous(&events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cluster_wide_provider_cap_holds_across_daemons() {
    let url = Cluster::shared().create_database().await;
    let mock = MockProvider::start().await;
    mock.repeat(Reply::text("done").delayed(Duration::from_millis(700)));
    let cap = "\n[cluster]\nper_provider = { local = 1 }\n";
    let a = member(&mock, "a", &format!("max_concurrent = 4\n{cap}"));
    let b = member(&mock, "b", &format!("max_concurrent = 4\n{cap}"));
    let cwd = tempfile::tempdir().expect("cwd");
    let da = start(a.path(), &url).await;
    let db = start(b.path(), &url).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let d = if i % 2 == 0 { &da } else { &db };
        ids.push(new_mission(d, cwd.path(), &format!("capped {i}")).await);
    }
    // Each mission's time running, from its own events.
    let mut spans = Vec::new();
    for id in &ids {
        let events = da.wait_events(id, ended).await;
        let at = |status: &str| {
            events
                .iter()
                .find(|e| e["type"] == "status" && e["status"] == status)
                .and_then(|e| e["at"].as_str())
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .unwrap_or_else(|| panic!("no {status} in {events:#?}"))
        };
        spans.push((at("running"), at("completed")));
    }
    spans.sort();
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "two missions of the capped provider ran at once: {spans:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_outage_mid_tool_loses_and_duplicates_nothing_and_the_mission_resumes() {
    // A cluster of its own: this test stops it.
    let pg = Cluster::start();
    let url = pg.create_database().await;
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "call_1",
        "shell",
        json!({"command": "echo started >> runs.txt; sleep 2; echo finished >> runs.txt"}),
    ));
    mock.push(Reply::text("I will check what the cut-off command did"));
    let home = member(&mock, "solo", "lease_secs = 5");
    let config = home.path().join("config.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace("[store]\n", "[store]\nconnect_timeout_secs = 2\n"),
    )
    .expect("config");
    let cwd = tempfile::tempdir().expect("cwd");
    let d = start(home.path(), &url).await;
    let id = new_mission(&d, cwd.path(), "run the slow command").await;
    let runs = cwd.path().join("runs.txt");
    let started = Instant::now();
    while !runs.exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "{}", d.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The database goes away while the tool runs, and comes back after the tool ended
    // and the mission could not store its result.
    pg.stop();
    tokio::time::sleep(Duration::from_secs(6)).await;
    pg.restart();

    let events = d
        .wait_events(&id, |e| ended(e) && count(e, "assistant_message") == 2)
        .await;
    assert_contiguous(&events);
    assert_eq!(
        statuses(&events),
        ["running", "interrupted", "queued", "running", "completed"],
        "{events:#?}"
    );
    let results: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "tool_result")
        .collect();
    assert_eq!(results.len(), 1, "{results:#?}");
    let text = std::fs::read_to_string(&runs).expect("runs.txt");
    assert_eq!(
        text.matches("started").count(),
        1,
        "the tool ran twice: {text}"
    );
    let log = d.log();
    assert!(log.contains("cannot reach the PostgreSQL store"), "{log}");
    assert!(!log.contains(pg.password()), "{log}");
}

/// Sends `signal` (`STOP`, `CONT`) to the daemon's process.
fn signal(d: &DaemonProc, signal: &str) {
    let sent = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(d.child.id().to_string())
        .status()
        .expect("run kill");
    assert!(sent.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_daemon_that_lost_its_lease_mid_tool_writes_nothing_when_it_wakes() {
    let url = Cluster::shared().create_database().await;
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "call_1",
        "shell",
        json!({"command": "echo started >> runs.txt; sleep 1; echo finished >> runs.txt"}),
    ));
    mock.push(Reply::text("I will check what the cut-off command did"));
    let a = member(&mock, "a", "lease_secs = 5");
    let b = member(&mock, "b", "lease_secs = 5");
    let cwd = tempfile::tempdir().expect("cwd");
    let da = start(a.path(), &url).await;
    let id = new_mission(&da, cwd.path(), "run the command").await;
    let runs = cwd.path().join("runs.txt");
    let started = Instant::now();
    while !runs.exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "{}", da.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // a freezes mid-tool (a stalled VM, a long GC pause): its lease runs out and b takes
    // the mission over and finishes it.
    signal(&da, "STOP");
    let db = start(b.path(), &url).await;
    let events = db
        .wait_events(&id, |e| ended(e) && count(e, "assistant_message") == 2)
        .await;
    let settled = events.len();
    // a wakes with the tool's result in hand: the store refuses it, and a stops the mission.
    signal(&da, "CONT");
    let woke = Instant::now();
    let refused =
        |log: &str| log.contains("runs on daemon `b`") || log.contains("no longer holds it");
    while !refused(&da.log()) {
        assert!(woke.elapsed() < Duration::from_secs(30), "{}", da.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = db.wait_events(&id, ended).await;
    assert_eq!(
        events.len(),
        settled,
        "a wrote after losing the lease: {events:#?}"
    );
    assert_contiguous(&events);
    let results: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "tool_result")
        .collect();
    assert_eq!(results.len(), 1, "{results:#?}");
    assert!(results[0]["output"]
        .as_str()
        .unwrap_or_default()
        .contains("was not run again"));
    assert_eq!(
        statuses(&events).last().map(String::as_str),
        Some("completed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_daemon_whose_database_is_unreachable_stops_at_start_naming_it_without_its_password() {
    let mock = MockProvider::start().await;
    let home = member(&mock, "lonely", "");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("postgres://sortie:hunter2-never-shown@127.0.0.1:{port}/sortie");
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::from(sortie_tests::sortie(home.path()))
            .env("SORTIE_STORE_URL", &url)
            .env(KEY_ENV, KEY)
            .arg("serve")
            .output(),
    )
    .await
    .expect("the daemon gives up in time")
    .expect("run sortie serve");
    assert!(!out.status.success());
    let err = sortie_tests::text(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot reach the PostgreSQL store at postgres://sortie@127.0.0.1:{port}/sortie"
        )),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!home.path().join("daemon.json").exists());
}
