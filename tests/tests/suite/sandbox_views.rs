//! What the front ends say about a mission's sandbox: the API document, `sortie show`, the
//! `sortie missions` table and `sortie schedule ls --json`, through the real binary.

use serde_json::{json, Value};
use sortie_tests::daemon::DaemonProc;
use sortie_tests::{sortie, write_local_config, MockProvider, Reply};

const MODES: [&str; 3] = ["workspace-write", "read-only", "off"];

use sortie_tests::{run_to_end as run, text};

/// Runs `sortie <args>` and returns its stdout; it must succeed.
async fn ok(home: &std::path::Path, args: &[&str]) -> String {
    let mut cmd = sortie(home);
    cmd.args(args);
    let out = run(cmd).await;
    assert!(
        out.status.success(),
        "sortie {args:?}\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[tokio::test]
async fn the_api_document_gives_the_sandbox_modes_of_every_body_and_of_the_mission() {
    let mock = MockProvider::start().await;
    mock.push(Reply::text("done"));
    let home = tempfile::tempdir().expect("home");
    write_local_config(home.path(), &mock.base_url(), "");
    let d = DaemonProc::start(home.path()).await;
    let (status, doc) = d.get("/openapi.json").await;
    assert_eq!(status, 200, "{doc}");
    let schemas = &doc["components"]["schemas"];
    for schema in ["NewMission", "Resume", "NewSchedule", "Mission"] {
        let sandbox = &schemas[schema]["properties"]["sandbox"];
        let modes: Vec<&str> = sandbox["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{schema} has no sandbox enum: {}", schemas[schema]))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(modes, MODES, "{schema}: {sandbox}");
        assert!(
            sandbox["description"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{schema}: {sandbox}"
        );
    }
    // What the document allows, the daemon takes: a new mission in `off`.
    let (status, mission) = d
        .post(
            "/missions",
            json!({"prompt": "hi", "cwd": home.path(), "sandbox": "off"}),
        )
        .await;
    assert_eq!(status, 201, "{mission}");
    assert_eq!(mission["sandbox"], "off", "{mission}");
}

#[tokio::test]
async fn show_gives_the_sandbox_beside_the_policy_and_the_table_marks_missions_not_confined() {
    let mock = MockProvider::start().await;
    mock.push(Reply::text("free"));
    mock.push(Reply::text("boxed"));
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(home.path(), &mock.base_url(), "");
    let cwd_arg = cwd.path().to_str().expect("utf-8 path");
    ok(
        home.path(),
        &["run", "--sandbox", "off", "--cwd", cwd_arg, "run free"],
    )
    .await;
    ok(
        home.path(),
        &[
            "run",
            "--sandbox",
            "read-only",
            "--cwd",
            cwd_arg,
            "run boxed",
        ],
    )
    .await;
    let list: Value =
        serde_json::from_str(&ok(home.path(), &["missions", "--json"]).await).expect("json");
    let id_of = |prompt: &str| {
        list.as_array()
            .expect("array")
            .iter()
            .find(|m| m["prompt"] == prompt)
            .and_then(|m| m["id"].as_str())
            .unwrap_or_else(|| panic!("no mission `{prompt}` in {list}"))
            .to_string()
    };
    let (free, boxed) = (id_of("run free"), id_of("run boxed"));

    let shown = ok(home.path(), &["show", &free]).await;
    let policy = shown
        .lines()
        .find(|l| l.trim_start().starts_with("policy"))
        .unwrap_or_else(|| panic!("no policy line:\n{shown}"));
    assert!(
        policy.contains("sandbox off (not confined)"),
        "the sandbox is not beside the policy: {policy}"
    );
    let shown = ok(home.path(), &["show", &boxed]).await;
    assert!(
        shown
            .lines()
            .any(|l| l.contains("policy") && l.contains("sandbox read-only")),
        "{shown}"
    );
    assert!(!shown.contains("not confined"), "{shown}");

    let table = ok(home.path(), &["missions"]).await;
    let row = |id: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&id[..13]))
            .unwrap_or_else(|| panic!("no row for {id}:\n{table}"))
            .to_string()
    };
    assert!(row(&free).contains("[sandbox off]"), "{table}");
    assert!(row(&free).contains("run free"), "{table}");
    assert!(!row(&boxed).contains("sandbox"), "{table}");
}

#[tokio::test]
async fn schedule_ls_json_gives_each_schedule_its_sandbox() {
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(
        home.path(),
        "http://127.0.0.1:9/v1",
        "\n[sandbox]\nmode = \"read-only\"",
    );
    let cwd_arg = cwd.path().to_str().expect("utf-8 path");
    ok(
        home.path(),
        &[
            "schedule",
            "add",
            "--every",
            "1h",
            "--sandbox",
            "off",
            "--cwd",
            cwd_arg,
            "unboxed",
        ],
    )
    .await;
    // Without --sandbox: the config's mode when it was added.
    ok(
        home.path(),
        &[
            "schedule", "add", "--every", "1h", "--cwd", cwd_arg, "default",
        ],
    )
    .await;
    let rows: Value =
        serde_json::from_str(&ok(home.path(), &["schedule", "ls", "--json"]).await).expect("json");
    let sandbox_of = |rows: &Value, prompt: &str| {
        rows.as_array()
            .expect("array")
            .iter()
            .find(|s| s["mission"]["prompt"] == prompt)
            .map(|s| s["sandbox"].clone())
            .unwrap_or_else(|| panic!("no schedule `{prompt}` in {rows}"))
    };
    assert_eq!(sandbox_of(&rows, "unboxed"), "off", "{rows}");
    assert_eq!(sandbox_of(&rows, "default"), "read-only", "{rows}");
    // The table marks the one whose missions are not confined.
    let table = ok(home.path(), &["schedule", "ls"]).await;
    let line = |prompt: &str| {
        table
            .lines()
            .find(|l| l.ends_with(prompt))
            .unwrap_or_else(|| panic!("no row for {prompt}:\n{table}"))
            .to_string()
    };
    assert!(line("unboxed").contains("[sandbox off] unboxed"), "{table}");
    assert!(!line("default").contains("sandbox"), "{table}");

    // The same through a running daemon: its API and the command that asks it.
    let d = DaemonProc::start(home.path()).await;
    let (status, api) = d.get("/schedules").await;
    assert_eq!(status, 200, "{api}");
    let modes: Vec<&str> = api["schedules"]
        .as_array()
        .expect("schedules")
        .iter()
        .filter_map(|s| s["sandbox"].as_str())
        .collect();
    assert_eq!(modes.len(), 2, "{api}");
    assert!(
        modes.contains(&"off") && modes.contains(&"read-only"),
        "{api}"
    );
    let rows: Value =
        serde_json::from_str(&ok(home.path(), &["schedule", "ls", "--json"]).await).expect("json");
    assert_eq!(sandbox_of(&rows, "unboxed"), "off", "{rows}");
    assert_eq!(sandbox_of(&rows, "default"), "read-only", "{rows}");
}
