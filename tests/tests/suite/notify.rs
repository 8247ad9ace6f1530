//! Notices (`[notify]`): a webhook receiver on loopback gets a correctly signed notice for
//! each kind, a failing one is retried within bounds, a hanging one does not hold the
//! mission; a command gets the notice on stdin. Through the real binary, in-process and
//! through the daemon, against the mock provider.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use sortie_tests::daemon::{ended, statuses, DaemonProc};
use sortie_tests::{run_to_end, sortie, text, write_local_config, MockProvider, Reply};

const SECRET: &str = "whsec-test-3f9a1c77e2";
const SECRET_ENV: &str = "HOOK_SECRET_FOR_TEST";

/// How the receiver answers one request.
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// Never answers.
    Hang,
}

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Hit {
    headers: HeaderMap,
    body: String,
}

/// A webhook receiver on 127.0.0.1: answers from its script (then 200), keeps every request.
struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    async fn start(script: &[Answer]) -> Self {
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let (h, s) = (hits.clone(), script.clone());
        let app = axum::Router::new().route(
            "/hooks/{token}",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (h, s) = (h.clone(), s.clone());
                async move {
                    h.lock().unwrap().push(Hit { headers, body });
                    let answer = s.lock().unwrap().pop_front().unwrap_or(Answer::Status(200));
                    match answer {
                        Answer::Status(code) => axum::http::StatusCode::from_u16(code).unwrap(),
                        Answer::Hang => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            axum::http::StatusCode::OK
                        }
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            // The path carries a token, as hosted webhooks do: it must not reach the log.
            url: format!("http://{addr}/hooks/path-token-81c2"),
            hits,
        }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits for the first notice of `kind`, checked.
    async fn wait_kind(&self, kind: &str) -> Value {
        let start = Instant::now();
        loop {
            let found = self.hits().iter().map(verified).find(|n| n["kind"] == kind);
            if let Some(notice) = found {
                return notice;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no `{kind}` notice: {:#?}",
                self.hits()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The notice of `hit`, after checking its signature as a receiver should: HMAC-SHA256 of
/// `TIMESTAMP.BODY` with the shared secret, and a timestamp within five minutes.
fn verified(hit: &Hit) -> Value {
    let header = |name: &str| {
        hit.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header: {hit:?}"))
            .to_string()
    };
    let timestamp = header("x-sortie-timestamp");
    let signature = header("x-sortie-signature");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{}", hit.body).as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(signature, format!("v1={expected}"), "{hit:?}");
    let at: i64 = timestamp.parse().expect("a Unix time");
    assert!((chrono::Utc::now().timestamp() - at).abs() < 300, "{at}");
    assert_eq!(header("content-type"), "application/json");
    let notice: Value = serde_json::from_str(&hit.body).expect("JSON");
    assert_eq!(header("x-sortie-notice"), notice["id"].as_str().unwrap());
    notice
}

fn notify_config(url: &str, extra: &str) -> String {
    format!(
        "\n[notify]\nwebhook = \"{url}\"\nsecret_env = \"{SECRET_ENV}\"\nretry_secs = 1\ntimeout_secs = 2\n{extra}"
    )
}

/// `sortie run` in this process (no daemon), with the secret in its environment.
async fn run_here(home: &Path, cwd: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = sortie(home);
    cmd.env(SECRET_ENV, SECRET)
        .arg("run")
        .args(args)
        .arg("--cwd")
        .arg(cwd);
    run_to_end(cmd).await
}

/// `sortie show --json ID`: the mission and its events.
async fn show(home: &Path, id: &str) -> Value {
    let mut cmd = sortie(home);
    cmd.args(["show", "--json", id]);
    let out = run_to_end(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("show --json")
}

fn notices(events: &Value) -> Vec<Value> {
    events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "notice")
        .cloned()
        .collect()
}

fn mission_id(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("inspect it: sortie show "))
        .expect("show hint")
        .to_string()
}

#[tokio::test]
async fn a_completed_mission_sends_one_signed_notice_and_records_it() {
    let receiver = Receiver::start(&[]).await;
    let mock = MockProvider::start().await;
    mock.push(Reply::text("All done."));
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    write_local_config(
        home.path(),
        &mock.base_url(),
        &notify_config(&receiver.url, ""),
    );

    let out = run_here(home.path(), cwd.path(), &["say it is done"]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let id = mission_id(&stdout);

    // Delivered before the process exited.
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1, "{hits:#?}");
    let notice = verified(&hits[0]);
    assert_eq!(notice["kind"], "completed");
    assert_eq!(notice["mission"]["id"], id.as_str());
    assert_eq!(notice["mission"]["status"], "completed");
    assert_eq!(notice["mission"]["prompt"], "say it is done");

    let shown = show(home.path(), &id).await;
    let recorded = notices(&shown);
    assert_eq!(recorded.len(), 1, "{recorded:#?}");
    assert_eq!(recorded[0]["kind"], "completed");
    assert_eq!(recorded[0]["channel"], "webhook");
    assert_eq!(recorded[0]["delivered"], true);
    let all = format!("{shown}{stdout}{}", text(&out.stderr));
    assert!(!all.contains(SECRET), "the secret leaked");
    assert!(
        !all.contains("path-token-81c2"),
        "the webhook's path leaked"
    );

    // --no-notify: nothing sent.
    mock.push(Reply::text("Quiet."));
    let out = run_here(home.path(), cwd.path(), &["--no-notify", "quietly"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(receiver.hits().len(), 1);
}

#[tokio::test]
async fn a_receiver_that_answers_500_then_200_gets_a_retry_and_the_mission_is_unaffected() {
    let receiver = Receiver::start(&[Answer::Status(500)]).await;
    let mock = MockProvider::start().await;
    mock.push(Reply::text("Done despite the hook."));
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    write_local_config(
        home.path(),
        &mock.base_url(),
        &notify_config(&receiver.url, ""),
    );

    let out = run_here(home.path(), cwd.path(), &["work"]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let hits = receiver.hits();
    assert_eq!(hits.len(), 2, "{hits:#?}");
    let (first, second) = (verified(&hits[0]), verified(&hits[1]));
    assert_eq!(first["id"], second["id"], "the same notice, tried again");
    assert_eq!(second["kind"], "completed");

    let shown = show(home.path(), &mission_id(&stdout)).await;
    assert_eq!(shown["mission"]["status"], "completed");
    let tries = notices(&shown);
    assert_eq!(tries.len(), 2, "{tries:#?}");
    assert_eq!(tries[0]["attempt"], 1);
    assert_eq!(tries[0]["delivered"], false);
    let outcome = tries[0]["outcome"].as_str().unwrap();
    assert!(
        outcome.contains("HTTP 500") && outcome.contains("trying again"),
        "{outcome}"
    );
    assert_eq!(tries[1]["attempt"], 2);
    assert_eq!(tries[1]["delivered"], true);
}

#[tokio::test]
async fn a_hanging_receiver_is_given_up_within_its_bounds() {
    let receiver = Receiver::start(&[Answer::Hang, Answer::Hang, Answer::Hang]).await;
    let mock = MockProvider::start().await;
    mock.push(Reply::text("Finished."));
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    write_local_config(
        home.path(),
        &mock.base_url(),
        &notify_config(&receiver.url, "attempts = 2\nmax_secs = 20\n"),
    );

    let began = Instant::now();
    let out = run_here(home.path(), cwd.path(), &["work"]).await;
    let took = began.elapsed();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    // Two tries of at most 2 s and one wait of 1 s; far below the 120 s of a run's bound.
    assert!(took < Duration::from_secs(40), "took {took:?}");
    assert_eq!(receiver.hits().len(), 2);
    let shown = show(home.path(), &mission_id(&stdout)).await;
    assert_eq!(shown["mission"]["status"], "completed");
    let tries = notices(&shown);
    assert_eq!(tries.len(), 2, "{tries:#?}");
    assert!(tries.iter().all(|t| t["delivered"] == false));
    let last = tries[1]["outcome"].as_str().unwrap();
    assert!(last.contains("no answer within 2s"), "{last}");
    assert!(last.contains("giving up after 2 tries"), "{last}");
}

#[tokio::test]
async fn a_command_notifier_gets_the_notice_on_stdin() {
    let mock = MockProvider::start().await;
    mock.push(Reply::text("Done."));
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let out_file = cwd.path().join("notice.json");
    let env_file = cwd.path().join("notice.env");
    let config = format!(
        "\n[notify]\ncommand = [\"sh\", \"-c\", \"cat > '{}'; env > '{}'\"]\n",
        out_file.display(),
        env_file.display()
    );
    write_local_config(home.path(), &mock.base_url(), &config);

    let mut cmd = sortie(home.path());
    cmd.env("SORTIE_TEST_LEAKY", "should-not-pass")
        .args(["run", "--cwd"])
        .arg(cwd.path())
        .arg("finish");
    let out = run_to_end(cmd).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let notice: Value =
        serde_json::from_str(&std::fs::read_to_string(&out_file).expect("the command ran"))
            .expect("JSON on stdin");
    assert_eq!(notice["kind"], "completed");
    assert_eq!(notice["mission"]["id"], mission_id(&stdout).as_str());
    let env = std::fs::read_to_string(&env_file).expect("env");
    assert!(
        !env.contains("SORTIE_TEST_LEAKY"),
        "a clean environment: {env}"
    );
    let shown = show(home.path(), &mission_id(&stdout)).await;
    let tries = notices(&shown);
    assert_eq!(tries.len(), 1, "{tries:#?}");
    assert_eq!(tries[0]["channel"], "command");
    assert_eq!(tries[0]["delivered"], true);
}

#[tokio::test]
async fn the_daemon_sends_signed_notices_for_failed_cancelled_approval_and_skipped_runs() {
    let receiver = Receiver::start(&[]).await;
    let mock = MockProvider::start().await;
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    write_local_config(
        home.path(),
        &mock.base_url(),
        &notify_config(&receiver.url, ""),
    );
    let d = DaemonProc::start_with_env(home.path(), &[(SECRET_ENV, SECRET)]).await;

    // Failed: the provider refuses the request for good.
    mock.push(Reply::error(
        400,
        r#"{"error":{"message":"bad request: no such parameter","type":"invalid_request_error"}}"#,
    ));
    let failed = start(&d, json!({"prompt": "fail", "cwd": cwd.path()})).await;
    let notice = receiver.wait_kind("failed").await;
    assert_eq!(notice["mission"]["id"], failed.as_str());
    assert_eq!(notice["mission"]["status"], "failed");

    // An approval waits: a notice, then the mission goes on when answered.
    mock.push(Reply::tool_call(
        "c1",
        "write_file",
        json!({"path": "x.txt", "content": "x"}),
    ));
    mock.push(Reply::text("wrote it"));
    let asking = start(
        &d,
        json!({"prompt": "write", "cwd": cwd.path(), "permission": "ask"}),
    )
    .await;
    let notice = receiver.wait_kind("approval_waiting").await;
    assert_eq!(notice["mission"]["id"], asking.as_str());
    assert!(
        notice["message"].as_str().unwrap().contains("x.txt"),
        "{notice}"
    );
    let (_, q) = d.get(&format!("/missions/{asking}/approvals")).await;
    let approval = q["approvals"][0]["approval"].as_str().expect("a question");
    d.post(
        &format!("/missions/{asking}/approvals/{approval}"),
        json!({"approve": true}),
    )
    .await;
    let done = receiver.wait_kind("completed").await;
    assert_eq!(done["mission"]["id"], asking.as_str());

    // Cancelled: a mission that hangs, cancelled through the API.
    mock.push(Reply::stall_after("thinking"));
    let hanging = start(&d, json!({"prompt": "hang", "cwd": cwd.path()})).await;
    d.stream_until(&hanging, "turn_started").await;
    d.post(&format!("/missions/{hanging}/cancel"), Value::Null)
        .await;
    let notice = receiver.wait_kind("cancelled").await;
    assert_eq!(notice["mission"]["id"], hanging.as_str());

    // A schedule whose run overlaps the one still going skips it, and says so.
    mock.push(Reply::stall_after("still working"));
    let (status, s) = d
        .post(
            "/schedules",
            json!({"prompt": "tick", "cwd": cwd.path(), "every": "1s", "name": "ticker"}),
        )
        .await;
    assert_eq!(status, 201, "{s}");
    let notice = receiver.wait_kind("schedule_skipped").await;
    assert_eq!(notice["schedule"]["id"], s["id"]);
    assert_eq!(notice["schedule"]["name"], "ticker");
    assert!(
        notice["message"].as_str().unwrap().contains("skipped"),
        "{notice}"
    );

    // Every try of a mission's notice is one of its events; the secret is nowhere.
    let events = d
        .wait_events(&failed, |e| e.iter().any(|e| e["type"] == "notice"))
        .await;
    assert_eq!(statuses(&events).last().map(String::as_str), Some("failed"));
    let (_, all) = d.get(&format!("/missions/{asking}/events")).await;
    assert!(!all.to_string().contains(SECRET));
    assert!(!d.log().contains(SECRET), "{}", d.log());
}

#[tokio::test]
async fn per_mission_notify_choices_hold_through_the_daemon_and_bad_urls_are_config_errors() {
    let receiver = Receiver::start(&[]).await;
    let mock = MockProvider::start().await;
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    // Off by default: only missions that ask for notices send them.
    write_local_config(
        home.path(),
        &mock.base_url(),
        &notify_config(&receiver.url, "missions = false\n"),
    );
    let d = DaemonProc::start_with_env(home.path(), &[(SECRET_ENV, SECRET)]).await;
    mock.push(Reply::text("quiet"));
    let quiet = start(&d, json!({"prompt": "q", "cwd": cwd.path()})).await;
    d.wait_events(&quiet, ended).await;
    mock.push(Reply::text("loud"));
    let loud = start(
        &d,
        json!({"prompt": "l", "cwd": cwd.path(), "notify": true}),
    )
    .await;
    let notice = receiver.wait_kind("completed").await;
    assert_eq!(notice["mission"]["id"], loud.as_str());
    let (_, m) = d.get(&format!("/missions/{loud}")).await;
    assert_eq!(m["notify"], true);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.hits().len(), 1, "the quiet mission sent nothing");
    drop(d);

    // A webhook that is not http(s): the config's file and line.
    let bad = tempfile::tempdir().unwrap();
    write_local_config(
        bad.path(),
        &mock.base_url(),
        "\n[notify]\nwebhook = \"file:///etc/passwd\"\n",
    );
    let mut cmd = sortie(bad.path());
    cmd.args(["run", "--cwd"]).arg(cwd.path()).arg("x");
    let out = run_to_end(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("config.toml, line"), "{err}");
    assert!(
        err.contains("notify.webhook") && err.contains("http(s)"),
        "{err}"
    );
}

async fn start(d: &DaemonProc, body: Value) -> String {
    let (status, m) = d.post("/missions", body).await;
    assert_eq!(status, 201, "{m}\n{}", d.log());
    m["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn a_mission_whose_only_key_is_refused_sends_a_needs_reauth_notice() {
    let receiver = Receiver::start(&[]).await;
    let mock = MockProvider::start().await;
    mock.repeat(Reply::error(
        401,
        r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#,
    ));
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    write_local_config(
        home.path(),
        &mock.base_url(),
        &notify_config(&receiver.url, ""),
    );
    let h = home.path().to_path_buf();
    let added = tokio::task::spawn_blocking(move || {
        sortie_tests::accounts::sortie_with_input(
            &h,
            &["auth", "add-key", "local"],
            "sk-local-revoked-0001",
        )
    })
    .await
    .unwrap();
    assert!(added.status.success(), "{}", text(&added.stderr));

    let out = run_here(home.path(), cwd.path(), &["anything"]).await;
    let stdout = text(&out.stdout);
    let notice = receiver.wait_kind("needs_reauth").await;
    assert_eq!(notice["mission"]["id"], mission_id(&stdout).as_str());
    assert_eq!(notice["mission"]["status"], "needs_reauth");
    assert!(!receiver
        .hits()
        .iter()
        .any(|h| h.body.contains("sk-local-revoked-0001")));
}

#[tokio::test]
async fn a_mission_stopped_at_its_budget_sends_a_budget_reached_notice() {
    let receiver = Receiver::start(&[]).await;
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call("c1", "list_dir", json!({})).with_usage(1_000, 100));
    mock.push(Reply::text("never asked for"));
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    write_local_config(
        home.path(),
        &mock.base_url(),
        &notify_config(&receiver.url, ""),
    );
    // 1,100 spent; the next call (~1,100 more) would pass 1,500.
    let out = run_here(home.path(), cwd.path(), &["--max-tokens", "1500", "list"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert_eq!(mock.hits(), 1);
    let id = mission_id(&stdout);
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1, "{hits:#?}");
    let notice = verified(&hits[0]);
    assert_eq!(notice["kind"], "budget_reached");
    assert_eq!(notice["mission"]["id"], id.as_str());
    assert_eq!(notice["mission"]["status"], "budget_reached");
    assert!(
        notice["message"]
            .as_str()
            .unwrap_or("")
            .contains("--max-tokens"),
        "{notice:#}"
    );
    let recorded = notices(&show(home.path(), &id).await);
    assert_eq!(recorded.len(), 1, "{recorded:#?}");
    assert_eq!(recorded[0]["kind"], "budget_reached");
}

#[tokio::test]
async fn a_daemon_told_to_stop_finishes_the_notices_in_flight_first() {
    // The first try fails; the retry comes a second later, after the daemon was told to stop.
    let receiver = Receiver::start(&[Answer::Status(500)]).await;
    let mock = MockProvider::start().await;
    mock.push(Reply::text("done"));
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    write_local_config(
        home.path(),
        &mock.base_url(),
        &notify_config(&receiver.url, ""),
    );
    let mut d = DaemonProc::start_with_env(home.path(), &[(SECRET_ENV, SECRET)]).await;
    let id = start(&d, json!({"prompt": "go", "cwd": cwd.path()})).await;
    d.wait_events(&id, |e| statuses(e).iter().any(|s| s == "completed"))
        .await;
    receiver.wait_kind("completed").await;
    let (status, _) = d.post("/shutdown", Value::Null).await;
    assert_eq!(status, 200);
    let start = Instant::now();
    while d.child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(30), "{}", d.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let hits = receiver.hits();
    assert_eq!(
        hits.len(),
        2,
        "the retry was lost with the daemon: {hits:#?}"
    );
    assert_eq!(verified(&hits[1])["kind"], "completed");
}
