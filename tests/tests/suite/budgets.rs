//! Budgets: a mission stops before the model call that would pass its cost, token or time
//! budget (the provider never hears of that call), says which budget and by how much, and
//! a resume with a larger budget finishes it; daily caps count every mission of the day;
//! bad budgets are refused naming the flag or key; `usage` sums what was spent.
//!
//! Every scripted answer reports 10,000 prompt and 1,000 completion tokens; at the price
//! below (USD 100 per million in, 1,000 per million out) each costs exactly USD 2.00, and
//! the next call is estimated at the tokens counted for the last one (11,000 and a little,
//! USD 1.10 and a little).

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use sortie_tests::daemon::{ended, statuses, DaemonProc};
use sortie_tests::{run_to_end as run, sortie, text, write_local_config, MockProvider, Reply};

const PRICE: &str = "[prices.\"mock-model\"]\ninput = 100.0\noutput = 1000.0\n";

fn turn(n: u32) -> Reply {
    Reply::tool_call(&format!("c{n}"), "list_dir", json!({})).with_usage(10_000, 1_000)
}

fn last() -> Reply {
    Reply::text("All done.").with_usage(10_000, 1_000)
}

/// A mock scripted with two tool turns and a closing answer, and a data dir on it.
async fn setup(extra: &str) -> (MockProvider, tempfile::TempDir, tempfile::TempDir) {
    setup_with(extra, vec![turn(1), turn(2), last()]).await
}

/// A mock scripted with `replies`, and a data dir on it (with `extra` config lines).
async fn setup_with(
    extra: &str,
    replies: Vec<Reply>,
) -> (MockProvider, tempfile::TempDir, tempfile::TempDir) {
    let mock = MockProvider::start().await;
    for reply in replies {
        mock.push(reply);
    }
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(home.path(), &mock.base_url(), extra);
    (mock, home, cwd)
}

async fn sortie_run(home: &Path, cwd: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = sortie(home);
    cmd.args(args).current_dir(cwd);
    run(cmd).await
}

/// The only mission's record and events, as `sortie show --json` prints them.
async fn show(home: &Path, cwd: &Path, id: &str) -> (Value, Vec<Value>) {
    let out = sortie_run(home, cwd, &["show", id, "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("show --json");
    (
        v["mission"].clone(),
        v["events"].as_array().cloned().expect("events"),
    )
}

async fn only_mission_id(home: &Path, cwd: &Path) -> String {
    let out = sortie_run(home, cwd, &["missions", "--json"]).await;
    let list: Value = serde_json::from_slice(&out.stdout).expect("missions --json");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    list[0]["id"].as_str().expect("id").to_string()
}

fn reached(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["type"] == "budget_reached")
        .collect()
}

/// Runs a mission with `budget` flags: it stops (exit 3, `budget_reached`) after
/// `calls_before` provider requests; then `resume` with `larger` completes it. Returns the
/// stop event.
async fn stops_then_resumes(
    budget: &[&str],
    larger: &[&str],
    calls_before: usize,
    mock: &MockProvider,
    home: &Path,
    cwd: &Path,
) -> Value {
    let mut args = vec!["run", "list the files"];
    args.extend_from_slice(budget);
    let out = sortie_run(home, cwd, &args).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("budget_reached"), "{stdout}");
    assert_eq!(
        mock.hits(),
        calls_before,
        "the call past the budget was made"
    );
    let id = only_mission_id(home, cwd).await;
    let (mission, events) = show(home, cwd, &id).await;
    assert_eq!(mission["status"], "budget_reached");
    let stop = reached(&events);
    assert_eq!(stop.len(), 1, "{events:#?}");
    let stop = stop[0].clone();
    assert!(stop["over_by"].as_f64().expect("over_by") > 0.0, "{stop:#}");

    // The same budget again: still nothing sent.
    let out = sortie_run(home, cwd, &["resume", &id]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(mock.hits(), calls_before);

    let mut args = vec!["resume", id.as_str()];
    args.extend_from_slice(larger);
    let out = sortie_run(home, cwd, &args).await;
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(mock.hits(), 3, "the mission went on to its last answer");
    let (mission, _) = show(home, cwd, &id).await;
    assert_eq!(mission["status"], "completed");
    stop
}

#[tokio::test]
async fn a_cost_budget_stops_before_the_call_that_would_pass_it_and_a_larger_one_finishes() {
    let (mock, home, cwd) = setup(PRICE).await;
    // USD 2 + 2 spent; the third call (~1.10 more) would pass 4.50.
    let stop = stops_then_resumes(
        &["--max-cost", "4.5"],
        &["--max-cost", "10"],
        2,
        &mock,
        home.path(),
        cwd.path(),
    )
    .await;
    assert_eq!(stop["budget"], "max_cost");
    assert_eq!(stop["limit"], 4.5);
    assert!((stop["spent"].as_f64().expect("spent") - 4.0).abs() < 1e-9);
    let message = stop["message"].as_str().expect("message");
    assert!(message.contains("--max-cost"), "{message}");
    assert!(message.contains("sortie resume"), "{message}");

    // `usage --json` sums the three calls: USD 6, 33,000 tokens, one mission, today.
    let out = sortie_run(home.path(), cwd.path(), &["usage", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let usage: Value = serde_json::from_slice(&out.stdout).expect("usage --json");
    assert!(
        (usage["total"]["cost_usd"].as_f64().expect("cost") - 6.0).abs() < 1e-9,
        "{usage:#}"
    );
    assert_eq!(usage["total"]["tokens"], 33_000);
    assert_eq!(usage["total"]["missions"], 1);
    assert_eq!(usage["providers"][0]["provider"], "local");
    let today = chrono::Utc::now().date_naive().to_string();
    assert_eq!(usage["days"][0]["day"], today.as_str());
    assert_eq!(usage["days"].as_array().map(Vec::len), Some(1));
    // The table says the same, and `missions` shows spend against the budget.
    let out = sortie_run(home.path(), cwd.path(), &["usage"]).await;
    assert!(
        text(&out.stdout).contains("$6.0000"),
        "{}",
        text(&out.stdout)
    );
    let out = sortie_run(home.path(), cwd.path(), &["missions"]).await;
    assert!(
        text(&out.stdout).contains("[$6.00/$10.00]"),
        "{}",
        text(&out.stdout)
    );
}

#[tokio::test]
async fn a_token_budget_stops_before_the_call_that_would_pass_it() {
    let (mock, home, cwd) = setup("").await;
    // 11,000 + 11,000 used; the third call (~11,000 more) would pass 25,000.
    let stop = stops_then_resumes(
        &["--max-tokens", "25000"],
        &["--max-tokens", "100000"],
        2,
        &mock,
        home.path(),
        cwd.path(),
    )
    .await;
    assert_eq!(stop["budget"], "max_tokens");
    assert_eq!(stop["spent"], 22_000.0);
    assert!(stop["next"].as_f64().expect("next") >= 11_000.0, "{stop:#}");
}

#[tokio::test]
async fn a_time_budget_stops_before_the_next_call_once_time_is_up() {
    let mock = MockProvider::start().await;
    // The first answer takes longer than the whole budget.
    mock.push(turn(1).delayed(Duration::from_secs(4)));
    mock.push(turn(2));
    mock.push(last());
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(home.path(), &mock.base_url(), "");
    let mut args = vec!["run", "list the files", "--max-duration", "3s"];
    let out = sortie_run(home.path(), cwd.path(), &args).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(mock.hits(), 1, "no call once the time was up");
    let id = only_mission_id(home.path(), cwd.path()).await;
    let (_, events) = show(home.path(), cwd.path(), &id).await;
    let stop = reached(&events)[0].clone();
    assert_eq!(stop["budget"], "max_duration");
    assert!(stop["spent"].as_f64().expect("spent") >= 3.0, "{stop:#}");
    // Titles are off here: no title is skipped, so no warning says one was.
    assert!(
        !events
            .iter()
            .any(|e| e["type"] == "warning"
                && e["message"].as_str().unwrap_or("").contains("no title")),
        "{events:#?}"
    );
    args = vec!["resume", id.as_str(), "--max-duration", "1h"];
    let out = sortie_run(home.path(), cwd.path(), &args).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mock.hits(), 3);
}

#[tokio::test]
async fn a_provider_daily_cap_counts_every_mission_of_the_day() {
    let (mock, home, cwd) = setup_with(
        &format!("{PRICE}\n[budget.providers]\nlocal = 4.0\n"),
        vec![turn(1), last(), last()],
    )
    .await;
    // The first mission: two calls, USD 4, exactly the cap.
    let out = sortie_run(home.path(), cwd.path(), &["run", "first"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mock.hits(), 2);
    // The second: any call would pass it; nothing is sent.
    let out = sortie_run(home.path(), cwd.path(), &["run", "second"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(mock.hits(), 2);
    let stderr_and_out = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        stderr_and_out.contains("[budget.providers] local"),
        "{stderr_and_out}"
    );
}

#[tokio::test]
async fn bad_budgets_are_refused_naming_the_flag() {
    let (mock, home, cwd) = setup("").await;
    for (args, needle) in [
        (vec!["--max-cost", "0"], "--max-cost"),
        (vec!["--max-cost", "-3"], "--max-cost"),
        (vec!["--max-cost", "1e12"], "--max-cost"),
        (vec!["--max-tokens", "0"], "--max-tokens"),
        (vec!["--max-duration", "30x"], "--max-duration"),
        (vec!["--max-duration=-5m"], "--max-duration"),
        (vec!["--max-duration", "400d"], "--max-duration"),
    ] {
        let mut all = vec!["run", "p"];
        all.extend_from_slice(&args);
        let out = sortie_run(home.path(), cwd.path(), &all).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    // A cost budget on a model without a price names the entry to add.
    let out = sortie_run(home.path(), cwd.path(), &["run", "p", "--max-cost", "2"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("[prices.\"mock-model\"]"), "{stderr}");
    // So does `schedule add`.
    let out = sortie_run(
        home.path(),
        cwd.path(),
        &[
            "schedule",
            "add",
            "--every",
            "1h",
            "--max-duration",
            "30x",
            "p",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--max-duration"));
    assert_eq!(mock.hits(), 0);
    assert_eq!(
        sortie_run(home.path(), cwd.path(), &["missions", "--json"])
            .await
            .stdout,
        b"[]\n".to_vec(),
        "no mission was stored"
    );
    // A cost budget from `[budget]` on a model without a price names where it came from.
    write_local_config(home.path(), &mock.base_url(), "[budget]\nmax_cost = 2.0\n");
    let out = sortie_run(home.path(), cwd.path(), &["run", "p"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("[budget] max_cost"), "{stderr}");
    assert!(stderr.contains("[prices.\"mock-model\"]"), "{stderr}");
    // A bad `[budget]` names the key.
    write_local_config(home.path(), &mock.base_url(), "[budget]\ndaily_usd = 0\n");
    let out = sortie_run(home.path(), cwd.path(), &["run", "p"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("[budget] daily_usd"),
        "{}",
        text(&out.stderr)
    );
}

async fn wait_status(d: &DaemonProc, id: &str, status: &str) -> Vec<Value> {
    d.wait_events(id, |e| {
        ended(e) && statuses(e).last().map(String::as_str) == Some(status)
    })
    .await
}

#[tokio::test]
async fn through_the_daemon_a_daily_cap_stops_the_second_mission_and_a_raised_one_lets_it_finish() {
    let (mock, home, cwd) = setup_with(
        &format!("{PRICE}\n[budget]\ndaily_usd = 4.0\n"),
        vec![turn(1), last(), last()],
    )
    .await;
    let d = DaemonProc::start(home.path()).await;
    let (code, first) = d
        .post("/missions", json!({"prompt": "first", "cwd": cwd.path()}))
        .await;
    assert_eq!(code, 201, "{first}");
    let first = first["id"].as_str().expect("id").to_string();
    wait_status(&d, &first, "completed").await;
    let (code, second) = d
        .post("/missions", json!({"prompt": "second", "cwd": cwd.path()}))
        .await;
    assert_eq!(code, 201, "{second}");
    let second = second["id"].as_str().expect("id").to_string();
    let events = wait_status(&d, &second, "budget_reached").await;
    assert_eq!(mock.hits(), 2, "the second mission sent nothing");
    let stop = reached(&events)[0].clone();
    assert_eq!(stop["budget"], "daily_usd");
    assert_eq!(stop["spent"], 4.0);

    write_local_config(
        home.path(),
        &mock.base_url(),
        &format!("{PRICE}\n[budget]\ndaily_usd = 20.0\n"),
    );
    let (code, body) = d
        .post(&format!("/missions/{second}/resume"), json!({}))
        .await;
    assert!(code < 300, "{body}");
    wait_status(&d, &second, "completed").await;
    assert_eq!(mock.hits(), 3);

    let (code, usage) = d.get("/usage?since=7d").await;
    assert_eq!(code, 200, "{usage}");
    assert_eq!(usage["total"]["missions"], 2);
    assert!((usage["total"]["cost_usd"].as_f64().expect("cost") - 6.0).abs() < 1e-9);
    let (code, body) = d.get("/usage?since=7x").await;
    assert_eq!(code, 400, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("--since"));
}

#[tokio::test]
async fn through_the_daemon_a_cost_budget_stops_and_resume_with_max_cost_finishes() {
    let (mock, home, cwd) = setup(PRICE).await;
    let d = DaemonProc::start(home.path()).await;
    for (body, field) in [
        (json!({"max_cost": -1.0}), "max_cost"),
        (json!({"max_tokens": 0}), "max_tokens"),
        (json!({"max_duration": "30x"}), "max_duration"),
    ] {
        let mut req = json!({"prompt": "p", "cwd": cwd.path()});
        req.as_object_mut()
            .expect("object")
            .extend(body.as_object().expect("object").clone());
        let (code, answer) = d.post("/missions", req).await;
        assert_eq!(code, 400, "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(field),
            "{answer}"
        );
    }
    let (code, m) = d
        .post(
            "/missions",
            json!({"prompt": "list", "cwd": cwd.path(), "max_cost": 4.5}),
        )
        .await;
    assert_eq!(code, 201, "{m}");
    assert_eq!(m["budget"]["max_cost_usd"], 4.5, "{m}");
    let id = m["id"].as_str().expect("id").to_string();
    let events = wait_status(&d, &id, "budget_reached").await;
    assert_eq!(mock.hits(), 2);
    assert_eq!(reached(&events)[0]["budget"], "max_cost");
    let (code, body) = d
        .post(&format!("/missions/{id}/resume"), json!({"max_cost": 10.0}))
        .await;
    assert!(code < 300, "{body}");
    wait_status(&d, &id, "completed").await;
    assert_eq!(mock.hits(), 3);
    let (_, m) = d.get(&format!("/missions/{id}")).await;
    assert_eq!(m["budget"]["max_cost_usd"], 10.0, "{m}");
}

#[tokio::test]
async fn usage_sums_a_schedules_missions() {
    let (mock, home, cwd) = setup_with(PRICE, vec![last()]).await;
    let d = DaemonProc::start(home.path()).await;
    let (code, s) = d
        .post(
            "/schedules",
            json!({"prompt": "report", "cwd": cwd.path(), "every": "1d", "name": "nightly", "max_cost": 3.0}),
        )
        .await;
    assert_eq!(code, 201, "{s}");
    assert_eq!(s["mission"]["budget"]["max_cost_usd"], 3.0, "{s}");
    let sid = s["id"].as_str().expect("id").to_string();
    let (code, body) = d
        .post(&format!("/schedules/{sid}/run-now"), Value::Null)
        .await;
    assert!(code < 300, "{body}");
    let started = std::time::Instant::now();
    let usage = loop {
        let (_, usage) = d.get("/usage").await;
        if usage["schedules"].as_array().is_some_and(|s| !s.is_empty()) {
            break usage;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{usage:#}\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(usage["schedules"][0]["schedule"], sid.as_str());
    assert_eq!(usage["schedules"][0]["name"], "nightly");
    assert!((usage["schedules"][0]["cost_usd"].as_f64().expect("cost") - 2.0).abs() < 1e-9);
    assert_eq!(mock.hits(), 1);
}

#[tokio::test]
async fn through_the_daemon_the_cli_stops_at_a_token_budget_and_resumes_with_a_larger_one() {
    let (mock, home, cwd) = setup("").await;
    let d = DaemonProc::start(home.path()).await;
    // The commands find the running daemon and go through it.
    stops_then_resumes(
        &["--max-tokens", "25000"],
        &["--max-tokens", "100000"],
        2,
        &mock,
        home.path(),
        cwd.path(),
    )
    .await;
    let (_, page) = d.get("/missions").await;
    assert_eq!(page["missions"][0]["status"], "completed", "{page}");
    assert_eq!(page["missions"][0]["budget"]["max_tokens"], 100_000);
}

#[tokio::test]
async fn an_auxiliary_call_counts_against_the_budget() {
    let mock = MockProvider::start().await;
    mock.push(turn(1));
    // The title, asked for after the first turn: 11,000 tokens too.
    mock.push(Reply::text("Listing the files").with_usage(10_000, 1_000));
    mock.push(turn(2));
    mock.push(last());
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    std::fs::write(
        home.path().join("config.toml"),
        format!(
            "default_provider = \"local\"\n[providers.local]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\nmodel = \"mock-model\"\n",
            mock.base_url()
        ),
    )
    .expect("config");
    // Without the title's 11,000 the second turn (~22,000 in all) would fit in 25,000.
    let out = sortie_run(
        home.path(),
        cwd.path(),
        &["run", "list the files", "--max-tokens", "25000"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(
        mock.hits(),
        2,
        "the turn and the title, not the second turn"
    );
    let id = only_mission_id(home.path(), cwd.path()).await;
    let (mission, events) = show(home.path(), cwd.path(), &id).await;
    assert_eq!(mission["title"], "Listing the files");
    let aux: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "auxiliary_usage")
        .collect();
    assert_eq!(aux.len(), 1, "{events:#?}");
    assert_eq!(aux[0]["scope"], "title");
    assert_eq!(reached(&events)[0]["spent"], 22_000.0);
}

#[tokio::test]
async fn through_the_daemon_a_malformed_body_names_the_budget_fields() {
    let (mock, home, cwd) = setup("").await;
    let d = DaemonProc::start(home.path()).await;
    let (code, body) = d
        .post(
            "/missions",
            json!({"prompt": "p", "cwd": cwd.path(), "max_tokens": -1}),
        )
        .await;
    assert_eq!(code, 400, "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    for field in ["\"max_cost\"?", "\"max_tokens\"?", "\"max_duration\"?"] {
        assert!(message.contains(field), "{field}: {message}");
    }
    let (code, body) = d
        .post(
            "/schedules",
            json!({"prompt": "p", "cwd": cwd.path(), "every": "1h", "max_cost": "2"}),
        )
        .await;
    assert_eq!(code, 400, "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("\"max_cost\""), "{message}");
    assert_eq!(mock.hits(), 0);
}
