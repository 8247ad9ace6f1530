//! Project instructions and the prompt-cache switch, through the real binary.

use std::path::Path;

use serde_json::Value;
use sortie_tests::{run_to_end as run, sortie, text, write_local_config, MockProvider, Reply};

fn write(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    std::fs::write(path, body).expect("write");
}

/// A repository with instructions at its root and two levels down; returns the deepest
/// directory.
fn repo(root: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(root.join(".git")).expect("git");
    write(&root.join("AGENTS.md"), "ROOT: run cargo fmt.");
    write(&root.join("sub/CLAUDE.md"), "SUB: prefer small files.");
    write(&root.join("sub/deeper/AGENTS.md"), "DEEPER: no unwrap.");
    root.join("sub/deeper")
}

fn system_of(request: &Value) -> String {
    request["messages"][0]["content"]
        .as_str()
        .expect("a system message")
        .to_string()
}

fn events_of(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

async fn run_in(home: &Path, cwd: &Path, extra_args: &[&str]) -> Vec<Value> {
    let mut cmd = sortie(home);
    cmd.args(["run", "--json", "look"])
        .args(extra_args)
        .arg("--cwd")
        .arg(cwd);
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    events_of(&text(&out.stdout))
}

#[tokio::test]
async fn run_puts_the_instructions_outermost_first_in_the_system_prompt_and_lists_them() {
    let mock = MockProvider::start().await;
    mock.push(Reply::text("ok"));
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    write_local_config(home.path(), &mock.base_url(), "");
    write(&home.path().join("AGENTS.md"), "USER: answer in English.");
    let cwd = repo(&work.path().canonicalize().expect("canon"));
    let events = run_in(home.path(), &cwd, &[]).await;

    let system = system_of(&mock.requests()[0]);
    let at = |s: &str| {
        system
            .find(s)
            .unwrap_or_else(|| panic!("{s} missing:\n{system}"))
    };
    assert!(at("You are Sortie") < at("USER:"));
    assert!(at("USER:") < at("ROOT:") && at("ROOT:") < at("SUB:") && at("SUB:") < at("DEEPER:"));
    let listed: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "instructions")
        .collect();
    assert_eq!(listed.len(), 1, "{events:?}");
    let files: Vec<&str> = listed[0]["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f.as_str().expect("path"))
        .collect();
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(
        files[0].ends_with("AGENTS.md") && files[0].starts_with(&*home.path().to_string_lossy())
    );
    assert!(files[2].ends_with("sub/CLAUDE.md"), "{files:?}");
    assert_eq!(listed[0]["enabled"], true);
}

#[tokio::test]
async fn no_instructions_and_the_config_switch_keep_them_out() {
    let mock = MockProvider::start().await;
    mock.push(Reply::text("one"));
    mock.push(Reply::text("two"));
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let cwd = repo(&work.path().canonicalize().expect("canon"));
    write_local_config(home.path(), &mock.base_url(), "");
    let events = run_in(home.path(), &cwd, &["--no-instructions"]).await;
    assert!(!system_of(&mock.requests()[0]).contains("ROOT:"));
    let off: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "instructions")
        .collect();
    assert_eq!(off.len(), 1);
    assert_eq!(off[0]["enabled"], false);
    let summary = events.last().expect("summary");
    assert_eq!(summary["mission"]["no_instructions"], true);

    std::fs::write(
        home.path().join("config.toml"),
        format!(
            "default_provider = \"local\"\n[providers.local]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\nmodel = \"mock-model\"\n[auxiliary]\ntitles = false\n[instructions]\nenabled = false\n",
            mock.base_url()
        ),
    )
    .expect("config");
    let events = run_in(home.path(), &cwd, &[]).await;
    assert!(!system_of(&mock.requests()[1]).contains("ROOT:"));
    assert!(events.iter().all(|e| e["type"] != "instructions"));
}

#[tokio::test]
async fn extra_files_from_the_config_join_after_the_users_own_and_bad_ones_warn() {
    let mock = MockProvider::start().await;
    mock.push(Reply::text("ok"));
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let cwd = repo(&work.path().canonicalize().expect("canon"));
    write(&home.path().join("team.md"), "TEAM: be brief.");
    let config = format!(
        "\n[instructions]\nfiles = [\"{}\", \"missing.md\"]\n",
        home.path().join("team.md").display()
    );
    // The table goes after the provider's keys: start it on its own.
    write_local_config(home.path(), &mock.base_url(), "");
    let mut text_now = std::fs::read_to_string(home.path().join("config.toml")).expect("read");
    text_now.push_str(&config);
    std::fs::write(home.path().join("config.toml"), text_now).expect("write");
    let events = run_in(home.path(), &cwd, &[]).await;
    let system = system_of(&mock.requests()[0]);
    assert!(system.find("TEAM:").expect("team") < system.find("ROOT:").expect("root"));
    let warned: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "warning")
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        warned
            .iter()
            .any(|w| w.contains("missing.md") && w.contains("cannot be read")),
        "{warned:?}"
    );
}

#[tokio::test]
async fn prompt_cache_false_in_the_provider_table_sends_no_cache_key() {
    let mock = MockProvider::start().await;
    mock.push(Reply::text("one"));
    mock.push(Reply::text("two"));
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(home.path(), &mock.base_url(), "");
    let events = run_in(home.path(), cwd.path(), &[]).await;
    let id = events.last().expect("summary")["mission"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(mock.requests()[0]["prompt_cache_key"], id.as_str());
    write_local_config(home.path(), &mock.base_url(), "prompt_cache = false");
    run_in(home.path(), cwd.path(), &[]).await;
    assert!(mock.requests()[1].get("prompt_cache_key").is_none());
}

#[tokio::test]
async fn resume_with_no_instructions_leaves_them_out_from_there_on() {
    let mock = MockProvider::start().await;
    mock.push(Reply::text("one"));
    mock.push(Reply::text("two"));
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let cwd = repo(&work.path().canonicalize().expect("canon"));
    write_local_config(home.path(), &mock.base_url(), "");
    let events = run_in(home.path(), &cwd, &[]).await;
    assert!(system_of(&mock.requests()[0]).contains("ROOT:"));
    let id = events.last().expect("summary")["mission"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let mut cmd = sortie(home.path());
    cmd.args(["resume", &id, "again", "--no-instructions", "--json"]);
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!system_of(&mock.requests()[1]).contains("ROOT:"));
    let summary = events_of(&text(&out.stdout));
    assert_eq!(
        summary.last().expect("summary")["mission"]["no_instructions"],
        true
    );
}
