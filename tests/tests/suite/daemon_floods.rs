//! The daemon under floods: half-open connections, many schedules, large lists.

use std::time::{Duration, Instant};

use sortie_tests::daemon::DaemonProc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::daemon::local_setup;

#[tokio::test]
async fn half_open_connections_are_closed_and_the_cli_still_gets_through() {
    let (_mock, home, _cwd) =
        local_setup("\n[daemon.limits]\nmax_connections = 16\nheader_timeout_secs = 2\n").await;
    let d = DaemonProc::start(home.path()).await;
    let addr = d.base.trim_start_matches("http://").to_string();
    // Connections that start a request and never finish its head.
    let mut half_open = Vec::new();
    for _ in 0..400 {
        let mut c = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let _ = c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await;
        half_open.push(c);
    }
    // The CLI gets through (it waits for a slot that the header timeout frees).
    let started = Instant::now();
    let out = tokio::task::spawn_blocking({
        let home = home.path().to_path_buf();
        move || {
            sortie_tests::sortie(&home)
                .args(["status", "--json"])
                .output()
                .expect("run sortie")
        }
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("the CLI got through in {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(20));
    // The first half-open connection was closed by the daemon.
    let mut first = half_open.swap_remove(0);
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(10), first.read(&mut buf))
        .await
        .expect("the daemon kept a half-open connection past its header timeout");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    assert_eq!(d.get("/health").await.0, 200);
}

#[tokio::test]
async fn the_queue_is_capped_globally_and_per_schedule_and_skipped_runs_are_recorded() {
    let (mock, home, cwd) = local_setup(
        "\n[daemon]\nmax_concurrent = 1\n\n[daemon.limits]\nmax_queued = 4\nmax_queued_per_schedule = 2\n",
    )
    .await;
    mock.push(sortie_tests::Reply::stall_after("holding the only slot"));
    let d = DaemonProc::start(home.path()).await;
    let first = super::daemon::new_mission(&d, cwd.path(), "hold the slot").await;
    d.wait_events(&first, |e| super::daemon::count(e, "turn_started") == 1)
        .await;
    let (status, s) = d
        .post(
            "/schedules",
            serde_json::json!({"prompt": "tick", "cwd": cwd.path(), "every": "1s", "overlap": "allow"}),
        )
        .await;
    assert_eq!(status, 201, "{s}");
    let id = s["id"].as_str().expect("id").to_string();
    // Runs fire every second; only two may wait.
    let (runs, skipped) = d.wait_skipped_runs(&id, 2).await;
    assert_eq!(runs.iter().filter(|r| r["outcome"] == "started").count(), 2);
    assert!(
        skipped["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("max_queued_per_schedule = 2"),
        "{skipped}"
    );
    assert_eq!(
        d.post(&format!("/schedules/{id}/pause"), serde_json::Value::Null)
            .await
            .0,
        200
    );
    // Two more fill the global queue (4); the next is refused with a JSON 429.
    for _ in 0..2 {
        super::daemon::new_mission(&d, cwd.path(), "wait").await;
    }
    let (status, body) = d
        .post(
            "/missions",
            serde_json::json!({"prompt": "one too many", "cwd": cwd.path()}),
        )
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "queue_full");
    let (_, health) = d.get("/health").await;
    assert_eq!(health["missions"]["queued"], 4, "{health}");
}

#[tokio::test]
async fn missions_are_listed_a_page_at_a_time_with_small_items_and_events_are_capped() {
    let (mock, home, cwd) = local_setup("\n[daemon.limits]\nmax_event_bytes = 65536\n").await;
    let huge = "y".repeat(300 * 1024);
    mock.push(sortie_tests::Reply::text(&huge));
    for _ in 0..4 {
        mock.push(sortie_tests::Reply::text("done"));
    }
    let d = DaemonProc::start(home.path()).await;
    let long_prompt = "z".repeat(5000);
    let mut ids = Vec::new();
    for i in 0..5 {
        let prompt = if i == 0 {
            long_prompt.clone()
        } else {
            format!("mission {i}")
        };
        let id = super::daemon::new_mission(&d, cwd.path(), &prompt).await;
        d.wait_events(&id, sortie_tests::daemon::ended).await;
        ids.push(id);
    }
    // Pages of two, in creation order, following the cursor.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..3 {
        let path = match &cursor {
            Some(c) => format!("/missions?limit=2&cursor={c}"),
            None => "/missions?limit=2".to_string(),
        };
        let (status, page) = d.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let items = page["missions"].as_array().expect("missions");
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|m| m["id"].as_str().unwrap_or_default().to_string()),
        );
        cursor = page["next_cursor"].as_str().map(str::to_string);
    }
    assert_eq!(seen, ids);
    assert!(cursor.is_none());
    // Small items: the long prompt is cut in the list, whole in the mission.
    let (_, page) = d.get("/missions?limit=1").await;
    let first = &page["missions"][0];
    assert_eq!(first["prompt_truncated"], true, "{first}");
    assert_eq!(
        first["prompt"].as_str().map(|p| p.chars().count()),
        Some(200)
    );
    let (_, whole) = d.get(&format!("/missions/{}", ids[0])).await;
    assert_eq!(whole["prompt"].as_str().map(str::len), Some(5000));
    // Filters.
    let (_, done) = d.get("/missions?status=completed,failed").await;
    assert_eq!(done["missions"].as_array().map(Vec::len), Some(5));
    let (_, none) = d.get("/missions?status=running").await;
    assert_eq!(none["missions"], serde_json::json!([]));
    let (_, later) = d.get("/missions?updated_since=2999-01-01T00:00:00Z").await;
    assert_eq!(later["missions"], serde_json::json!([]));
    for bad in [
        "limit=0",
        "limit=5000",
        "cursor=nope",
        "status=done",
        "updated_since=yesterday",
        "colour=red",
    ] {
        let (status, body) = d.get(&format!("/missions?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{bad}: {body}");
    }
    // The huge answer was stored cut, with a note.
    let (_, events) = d.get(&format!("/missions/{}/events", ids[0])).await;
    let answer = events
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["type"] == "assistant_message")
        .expect("answer")
        .to_string();
    assert!(answer.len() < 70 * 1024, "{}", answer.len());
    assert!(
        answer.contains("cut by sortie: this was 307200 bytes"),
        "{}",
        &answer[answer.len() - 300..]
    );
}

#[tokio::test]
async fn the_openapi_document_names_the_new_parameters_and_error_bodies() {
    let (_mock, home, _cwd) = local_setup("").await;
    let d = DaemonProc::start(home.path()).await;
    let (_, doc) = d.get("/openapi.json").await;
    let params: Vec<&str> = doc["paths"]["/missions"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(params, ["limit", "cursor", "status", "updated_since"]);
    let post = &doc["paths"]["/missions"]["post"]["responses"];
    for code in ["400", "413", "429", "507"] {
        assert_eq!(
            post[code]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Error",
            "{code}"
        );
    }
    assert_eq!(
        doc["components"]["schemas"]["NewMission"]["properties"]["max_turns"]["minimum"],
        1
    );
    let health = &doc["paths"]["/health"]["get"]["parameters"][0];
    assert_eq!(health["name"], "challenge");
}

#[tokio::test]
async fn idle_kept_alive_connections_make_room_when_every_slot_is_taken() {
    let (_mock, home, _cwd) =
        local_setup("\n[daemon.limits]\nmax_connections = 4\nheader_timeout_secs = 1\n").await;
    let d = DaemonProc::start(home.path()).await;
    let addr = d.base.trim_start_matches("http://").to_string();
    // Four connections send one whole request each, then stay open and silent.
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut c = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 512];
        let n = c.read(&mut buf).await.expect("answer");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 401"));
        idle.push(c);
    }
    // Past three header timeouts of silence they give way to a newcomer.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let started = Instant::now();
    let (status, _) = d.get("/health").await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
