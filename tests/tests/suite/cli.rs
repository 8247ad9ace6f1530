//! The real `sortie` binary, as a user or a script runs it.

use serde_json::{json, Value};
use sortie_tests::{sortie, write_local_config, MockProvider, Reply};

use sortie_tests::{run_to_end as run, text};

#[tokio::test]
async fn run_streams_text_and_tools_then_a_usage_line_and_exits_zero() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "c1",
        "write_file",
        json!({"path": "note.txt", "content": "x"}),
    ));
    mock.push(Reply::text("Created note.txt for you."));
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(home.path(), &mock.base_url(), "");
    let mut cmd = sortie(home.path());
    cmd.args(["run", "make a note", "--cwd"]).arg(cwd.path());
    let out = run(cmd).await;

    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("→ write_file: note.txt"), "{stdout}");
    assert!(stdout.contains("✓ wrote 1 bytes to note.txt"), "{stdout}");
    assert!(stdout.contains("Created note.txt for you."), "{stdout}");
    assert!(
        stdout.contains("── completed · 2 turns · 30 in / 12 out tokens"),
        "{stdout}"
    );
    assert!(stdout.contains("inspect it: sortie show "), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(cwd.path().join("note.txt")).expect("file"),
        "x"
    );
}

#[tokio::test]
async fn run_json_prints_one_event_per_line_ending_with_a_summary() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call("c1", "list_dir", json!({})));
    mock.push(Reply::text("Empty."));
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(home.path(), &mock.base_url(), "");
    let mut cmd = sortie(home.path());
    cmd.args([
        "run",
        "--json",
        "--provider",
        "local",
        "--model",
        "other-model",
        "look",
        "--cwd",
    ])
    .arg(cwd.path());
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let types: Vec<&str> = lines
        .iter()
        .map(|l| l["type"].as_str().expect("type"))
        .collect();
    assert_eq!(types.first(), Some(&"created"));
    assert!(types.contains(&"tool_started"));
    assert!(types.contains(&"tool_result"));
    assert!(types.contains(&"text_delta"));
    assert_eq!(types.last(), Some(&"summary"));
    let summary = &lines.last().expect("summary")["mission"];
    assert_eq!(summary["status"], "completed");
    assert_eq!(summary["model"], "other-model");
    let id = summary["id"].as_str().expect("id");
    assert!(lines[..lines.len() - 1]
        .iter()
        .all(|l| l["mission_id"] == id));
    assert_eq!(mock.requests()[0]["model"], "other-model");
}

#[tokio::test]
async fn missions_and_show_expose_the_documented_fields() {
    let mock = MockProvider::start().await;
    mock.push(Reply::text("hello"));
    let home = tempfile::tempdir().expect("home");
    write_local_config(home.path(), &mock.base_url(), "");
    let mut cmd = sortie(home.path());
    cmd.args(["run", "say hello", "--cwd"]).arg(home.path());
    assert!(run(cmd).await.status.success());

    let mut cmd = sortie(home.path());
    cmd.args(["missions", "--json"]);
    let out = run(cmd).await;
    assert!(out.status.success());
    let list: Value = serde_json::from_slice(&out.stdout).expect("JSON array");
    let m = &list.as_array().expect("array")[0];
    for field in [
        "id",
        "title",
        "prompt",
        "status",
        "provider",
        "model",
        "created_at",
    ] {
        assert!(m.get(field).is_some(), "missing `{field}` in {m}");
    }
    assert_eq!(m["status"], "completed");
    assert_eq!(m["prompt"], "say hello");
    assert_eq!(m["provider"], "local");
    let id = m["id"].as_str().expect("id").to_string();

    let mut cmd = sortie(home.path());
    cmd.args(["show", &id[..8]]);
    let out = run(cmd).await;
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(shown.contains(&format!("mission {id}")));
    assert!(shown.contains("assistant  hello"), "{shown}");

    let mut cmd = sortie(home.path());
    cmd.args(["show", &id, "--json"]);
    let out = run(cmd).await;
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["mission"]["id"], id.as_str());
    assert_eq!(doc["events"][0]["type"], "created");
    assert_eq!(doc["events"][0]["seq"], 0);

    let mut cmd = sortie(home.path());
    cmd.args(["show", "0123abcd"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no mission matches `0123abcd`"));
}

#[tokio::test]
async fn a_failed_mission_exits_one_and_show_keeps_the_error() {
    let mock = MockProvider::start().await;
    mock.push(Reply::text("partial work before the fault"));
    let home = tempfile::tempdir().expect("home");
    write_local_config(home.path(), &mock.base_url(), "");
    mock.push(Reply::error(
        404,
        r#"{"error":{"message":"The model `mock-model` does not exist","code":"model_not_found"}}"#,
    ));
    // First run succeeds, second hits the 404.
    for expected in [0, 1] {
        let mut cmd = sortie(home.path());
        cmd.args(["run", "go", "--cwd"]).arg(home.path());
        let out = run(cmd).await;
        assert_eq!(out.status.code(), Some(expected), "{}", text(&out.stderr));
        if expected == 1 {
            let err = text(&out.stderr);
            assert!(err.contains("[not_found]"), "{err}");
            assert!(err.contains("does not exist"), "{err}");
        }
    }
    let mut cmd = sortie(home.path());
    cmd.args(["missions"]);
    let listing = text(&run(cmd).await.stdout);
    assert!(listing.contains("completed"), "{listing}");
    assert!(listing.contains("failed"), "{listing}");
}

#[tokio::test]
async fn an_unknown_provider_is_a_usage_error_listing_the_known_ones() {
    let home = tempfile::tempdir().expect("home");
    let mut cmd = sortie(home.path());
    cmd.args(["run", "--provider", "nope", "hi"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("unknown provider `nope`"), "{err}");
    assert!(err.contains("openai"), "{err}");
}

#[tokio::test]
async fn a_bad_config_names_the_file_the_key_and_the_line() {
    let home = tempfile::tempdir().expect("home");
    std::fs::write(home.path().join("config.toml"), "default_provider = \"local\"\n\n[providers.local]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodle = \"x\"\n").expect("write");
    let mut cmd = sortie(home.path());
    cmd.args(["run", "hi"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("config.toml"), "{err}");
    assert!(err.contains("line 6"), "{err}");
    assert!(err.contains("modle"), "{err}");
}

#[tokio::test]
async fn openai_env_variables_reach_any_compatible_endpoint_without_a_config() {
    let mock = MockProvider::start().await;
    mock.push(Reply::text("via env"));
    mock.push(Reply::text("Greeting through environment variables"));
    let home = tempfile::tempdir().expect("home");
    let mut cmd = sortie(home.path());
    cmd.env("OPENAI_BASE_URL", mock.base_url())
        .env("OPENAI_API_KEY", "sk-env-key-0000000")
        .args(["run", "--model", "m1", "hi", "--cwd"])
        .arg(home.path());
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        mock.request_headers()[0]["authorization"],
        "Bearer sk-env-key-0000000"
    );
    assert!(text(&out.stdout).contains("via env"));
    // The title came from the auxiliary client, on the same provider and key.
    assert_eq!(mock.hits(), 2);
    assert_eq!(
        mock.request_headers()[1]["authorization"],
        "Bearer sk-env-key-0000000"
    );
    let mut cmd = sortie(home.path());
    cmd.args(["missions", "--json"]);
    let list: Value = serde_json::from_slice(&run(cmd).await.stdout).expect("json");
    assert_eq!(list[0]["title"], "Greeting through environment variables");
}

#[tokio::test]
async fn the_openai_provider_without_a_key_says_which_variable_to_set() {
    let home = tempfile::tempdir().expect("home");
    let mut cmd = sortie(home.path());
    cmd.args(["run", "hi"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("$OPENAI_API_KEY"), "{err}");
    assert!(err.contains("sortie demo"), "{err}");
}

#[tokio::test]
async fn the_demo_runs_a_whole_mission_with_no_key_and_can_be_inspected() {
    let home = tempfile::tempdir().expect("home");
    let mut cmd = sortie(home.path());
    cmd.args(["demo", "--pace-ms", "0"]);
    let out = run(cmd).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("DEMO MODEL"), "{stdout}");
    assert!(stdout.contains("→ read_file: notes.md"), "{stdout}");
    assert!(stdout.contains("→ shell: wc -l summary.md"), "{stdout}");
    assert!(stdout.contains("── completed · 5 turns"), "{stdout}");

    let demo_root = home.path().join("demo");
    let dir = std::fs::read_dir(&demo_root)
        .expect("demo dir")
        .next()
        .expect("one run")
        .expect("entry")
        .path();
    let summary = std::fs::read_to_string(dir.join("summary.md")).expect("summary.md");
    assert_eq!(summary, "# Open items (3 of 5)\n\n- Update the changelog\n- Notify the mailing list\n- Rotate the staging credentials\n");

    let id = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("inspect it: sortie show "))
        .expect("show hint")
        .to_string();
    let mut cmd = sortie(home.path());
    cmd.args(["show", &id]);
    let out = run(cmd).await;
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("demo/sortie-demo-scripted"));
    assert!(
        text(&out.stdout).contains("title     Summarise the open checklist items"),
        "{}",
        text(&out.stdout)
    );
}

#[tokio::test]
async fn resume_moves_a_mission_to_another_provider_with_its_history_converted() {
    use sortie_tests::anthropic_wire::{turn, Block};
    let chat = MockProvider::start().await;
    chat.push(Reply::tool_call(
        "call_1",
        "write_file",
        json!({"path": "a.txt", "content": "A"}),
    ));
    chat.push(Reply::text("Wrote a.txt."));
    let claude = MockProvider::start().await;
    claude.push(turn(&[Block::Text("Read it: A.")], "end_turn"));
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(
        home.path(),
        &chat.base_url(),
        &format!(
            "\n[providers.claude]\nkind = \"anthropic\"\nbase_url = \"{}\"\napi_key_env = \"SORTIE_TEST_CLAUDE_KEY\"\nmodel = \"claude-mock\"\n",
            claude.root_url()
        ),
    );
    let mut cmd = sortie(home.path());
    cmd.args(["run", "--json", "write a.txt", "--cwd"])
        .arg(cwd.path());
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "summary")
        .expect("summary")["mission"]["id"]
        .as_str()
        .expect("id")
        .to_string();

    // Completed: continuing needs a next message.
    let mut cmd = sortie(home.path());
    cmd.args(["resume", &id[..8], "--provider", "claude"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("give the next message"),
        "{}",
        text(&out.stderr)
    );

    let mut cmd = sortie(home.path());
    cmd.env("SORTIE_TEST_CLAUDE_KEY", "sk-ant-resume-000000")
        .args([
            "resume",
            &id[..8],
            "--provider",
            "claude",
            "what is in a.txt?",
        ]);
    let out = run(cmd).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("Read it: A."), "{stdout}");

    let request = &claude.requests()[0];
    assert_eq!(request["model"], "claude-mock");
    let messages = request["messages"].as_array().expect("messages");
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant", "user"]);
    assert_eq!(
        messages[1]["content"][0],
        json!({"type": "tool_use", "id": "call_1", "name": "write_file", "input": {"path": "a.txt", "content": "A"}})
    );
    assert_eq!(messages[2]["content"][0]["type"], "tool_result");
    assert_eq!(messages[2]["content"][0]["tool_use_id"], "call_1");
    assert_eq!(messages[4]["content"][0]["text"], "what is in a.txt?");

    let mut cmd = sortie(home.path());
    cmd.args(["show", &id, "--json"]);
    let doc: Value = serde_json::from_slice(&run(cmd).await.stdout).expect("json");
    assert_eq!(doc["mission"]["provider"], "claude");
    assert_eq!(doc["mission"]["status"], "completed");
    let switched = doc["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["type"] == "switched")
        .expect("switched event");
    assert!(switched["reason"]
        .as_str()
        .expect("reason")
        .contains("was local/mock-model"));
}
