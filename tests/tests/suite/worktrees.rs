//! `--worktree`: a mission works in a git worktree of its own, the user's checkout is left
//! as it was, `sortie diff` shows what it changed, `sortie worktree rm` removes it (not
//! while it runs). Through the real binary, in-process and through the daemon.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use sortie_tests::daemon::{ended, DaemonProc};
use sortie_tests::{run_to_end, sortie, text, write_local_config, MockProvider, Reply};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// A repository with one commit (`README.md`).
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(dir.path().join("README.md"), "# project\n").unwrap();
    git(dir.path(), &["add", "README.md"]);
    git(dir.path(), &["commit", "-q", "-m", "first"]);
    dir
}

async fn cli(home: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = sortie(home);
    cmd.args(args);
    run_to_end(cmd).await
}

fn mission_id(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("inspect it: sortie show "))
        .expect("show hint")
        .to_string()
}

#[tokio::test]
async fn a_worktree_mission_leaves_a_dirty_checkout_as_it_was_and_diff_shows_its_files() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "c1",
        "write_file",
        json!({"path": "notes/new.txt", "content": "hello from the mission\n"}),
    ));
    // A command in the (default, workspace-write) sandbox writes in the worktree too.
    mock.push(Reply::tool_call(
        "c2",
        "shell",
        json!({"command": "echo changed >> README.md"}),
    ));
    mock.push(Reply::text("Wrote the note."));
    let home = tempfile::tempdir().unwrap();
    let repo = repo();
    write_local_config(home.path(), &mock.base_url(), "");
    // Not committed: the mission starts from HEAD without it, and says so.
    std::fs::write(repo.path().join("scratch.txt"), "mine\n").unwrap();
    let before = git(repo.path(), &["status", "--porcelain"]);
    let head = git(repo.path(), &["rev-parse", "HEAD"]);

    let mut cmd = sortie(home.path());
    cmd.args(["run", "--worktree", "--cwd"])
        .arg(repo.path())
        .arg("write a note");
    let out = run_to_end(cmd).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("uncommitted changes"), "{stdout}");
    let id = mission_id(&stdout);

    assert_eq!(git(repo.path(), &["status", "--porcelain"]), before);
    assert_eq!(git(repo.path(), &["rev-parse", "HEAD"]), head);
    assert!(!repo.path().join("notes").exists());
    let branches = git(repo.path(), &["branch", "--list", "sortie/*"]);
    assert!(
        branches.contains(&format!("sortie/{}", &id[..8])),
        "{branches}"
    );

    let shown = cli(home.path(), &["show", "--json", &id]).await;
    let shown: Value = serde_json::from_slice(&shown.stdout).expect("show --json");
    let wt = &shown["mission"]["worktree"];
    let path = Path::new(wt["path"].as_str().expect("path"));
    assert!(path.starts_with(home.path().canonicalize().unwrap().join("worktrees")));
    assert_eq!(wt["base"].as_str().unwrap(), head.trim());
    assert_eq!(shown["mission"]["cwd"], wt["path"]);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "owner-only: {mode:o}");
    }
    let warned =
        shown["events"].as_array().unwrap().iter().any(|e| {
            e["type"] == "warning" && e["message"].as_str().unwrap().contains("uncommitted")
        });
    assert!(warned, "{shown}");

    let diff = cli(home.path(), &["diff", &id[..8]]).await;
    let diff_text = text(&diff.stdout);
    assert!(diff.status.success(), "{}", text(&diff.stderr));
    assert!(diff_text.contains("+++ b/notes/new.txt"), "{diff_text}");
    assert!(diff_text.contains("+hello from the mission"), "{diff_text}");
    assert!(diff_text.contains("+changed"), "{diff_text}");
    assert!(!diff_text.contains("scratch.txt"), "{diff_text}");
    let stat = cli(home.path(), &["diff", "--stat", &id]).await;
    assert!(
        text(&stat.stdout).contains("2 files changed"),
        "{}",
        text(&stat.stdout)
    );

    let rm = cli(home.path(), &["worktree", "rm", &id]).await;
    assert!(rm.status.success(), "{}", text(&rm.stderr));
    assert!(
        text(&rm.stdout).contains("kept the branch"),
        "{}",
        text(&rm.stdout)
    );
    assert!(!path.exists());
    let branches = git(repo.path(), &["branch", "--list", "sortie/*"]);
    assert!(
        branches.contains(&format!("sortie/{}", &id[..8])),
        "{branches}"
    );
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), before);
}

#[tokio::test]
async fn through_the_daemon_rm_is_refused_while_the_mission_runs_and_the_checkout_stays_clean() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "c1",
        "write_file",
        json!({"path": "made.txt", "content": "by the mission\n"}),
    ));
    mock.push(Reply::stall_after("still thinking"));
    let home = tempfile::tempdir().unwrap();
    let repo = repo();
    write_local_config(home.path(), &mock.base_url(), "");
    let d = DaemonProc::start(home.path()).await;
    let (status, m) = d
        .post(
            "/missions",
            json!({"prompt": "make a file", "cwd": repo.path(), "worktree": true}),
        )
        .await;
    assert_eq!(status, 201, "{m}\n{}", d.log());
    let id = m["id"].as_str().unwrap().to_string();
    assert!(m["worktree"]["branch"]
        .as_str()
        .unwrap()
        .starts_with("sortie/"));
    d.wait_events(&id, |e| e.iter().any(|e| e["type"] == "tool_result"))
        .await;

    // The CLI goes through the daemon, which knows the mission runs.
    let rm = cli(home.path(), &["worktree", "rm", &id]).await;
    assert!(!rm.status.success());
    assert!(
        text(&rm.stderr).contains("queued or running"),
        "{}",
        text(&rm.stderr)
    );
    let (status, body) = d.delete(&format!("/missions/{id}/worktree")).await;
    assert_eq!(status, 409, "{body}");

    let diff = cli(home.path(), &["diff", &id]).await;
    assert!(diff.status.success(), "{}", text(&diff.stderr));
    assert!(
        text(&diff.stdout).contains("+by the mission"),
        "{}",
        text(&diff.stdout)
    );
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");

    d.post(&format!("/missions/{id}/cancel"), Value::Null).await;
    d.wait_events(&id, ended).await;
    let rm = cli(home.path(), &["worktree", "rm", "--branch", &id]).await;
    assert!(rm.status.success(), "{}", text(&rm.stderr));
    assert!(
        text(&rm.stdout).contains("deleted the branch"),
        "{}",
        text(&rm.stdout)
    );
    assert_eq!(git(repo.path(), &["branch", "--list", "sortie/*"]), "");
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");
    let (_, listed) = d.get("/missions").await;
    assert!(listed.to_string().contains(&id));
}

#[tokio::test]
async fn a_worktree_outside_a_repository_is_refused_at_start() {
    let mock = MockProvider::start().await;
    let home = tempfile::tempdir().unwrap();
    let plain = tempfile::tempdir().unwrap();
    write_local_config(home.path(), &mock.base_url(), "");
    let mut cmd = sortie(home.path());
    cmd.args(["run", "--worktree", "--cwd"])
        .arg(plain.path())
        .arg("anything");
    let out = run_to_end(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("--worktree needs a git repository"), "{err}");
    assert!(err.contains("is not in one"), "{err}");
    assert_eq!(mock.hits(), 0);
    let listed = cli(home.path(), &["missions", "--json"]).await;
    assert_eq!(text(&listed.stdout).trim(), "[]");

    // A detached checkout: the mission works from its commit, and says so.
    let detached = repo();
    git(detached.path(), &["checkout", "-q", "--detach"]);
    mock.push(Reply::text("fine"));
    let mut cmd = sortie(home.path());
    cmd.args(["run", "--worktree", "--cwd"])
        .arg(detached.path())
        .arg("look around");
    let out = run_to_end(cmd).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("detached HEAD"), "{stdout}");
    let wt_id = mission_id(&stdout);
    // Removed, it cannot be resumed: said, not a failure in a missing directory.
    let rm = cli(home.path(), &["worktree", "rm", "--branch", &wt_id]).await;
    assert!(rm.status.success(), "{}", text(&rm.stderr));
    let resumed = cli(home.path(), &["resume", &wt_id, "more"]).await;
    assert_eq!(resumed.status.code(), Some(2));
    assert!(
        text(&resumed.stderr).contains("which was removed"),
        "{}",
        text(&resumed.stderr)
    );

    // A mission without a worktree has no diff to show.
    mock.push(Reply::text("ok"));
    let mut cmd = sortie(home.path());
    cmd.args(["run", "--cwd"]).arg(plain.path()).arg("plain");
    let out = run_to_end(cmd).await;
    let id = mission_id(&text(&out.stdout));
    let diff = cli(home.path(), &["diff", &id]).await;
    assert_eq!(diff.status.code(), Some(2));
    assert!(
        text(&diff.stderr).contains("has no worktree"),
        "{}",
        text(&diff.stderr)
    );

    // A schedule asks the same when it is added.
    let mut cmd = sortie(home.path());
    cmd.args(["schedule", "add", "--every", "1h", "--worktree", "--cwd"])
        .arg(plain.path())
        .arg("later");
    let out = run_to_end(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("needs a git repository"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn run_worktree_json_prints_only_json_lines() {
    let mock = MockProvider::start().await;
    mock.push(Reply::text("Done."));
    let home = tempfile::tempdir().unwrap();
    let repo = repo();
    write_local_config(home.path(), &mock.base_url(), "");
    let mut cmd = sortie(home.path());
    cmd.args(["run", "--json", "--worktree", "--cwd"])
        .arg(repo.path())
        .arg("say done");
    let out = run_to_end(cmd).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    // Nothing git prints (`refs/heads/main` from a HEAD check) gets into the stream.
    for line in stdout.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    }
    assert!(!stdout.contains("refs/heads/"), "{stdout}");
}

/// A fork would work in its parent's worktree, sharing the tree and losing it to the
/// parent's `worktree rm`: refused, saying what to do, and nothing is made.
#[tokio::test]
async fn a_fork_of_a_worktree_mission_is_refused_and_nothing_is_made() {
    let mock = MockProvider::start().await;
    let home = tempfile::tempdir().unwrap();
    let checkout = repo();
    write_local_config(home.path(), &mock.base_url(), "");
    mock.push(Reply::text("done here"));
    let mut cmd = sortie(home.path());
    cmd.args(["run", "--worktree", "--cwd"])
        .arg(checkout.path())
        .arg("work aside");
    let out = run_to_end(cmd).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let id = mission_id(&stdout);
    let fork = cli(home.path(), &["fork", &id, "another way"]).await;
    assert_eq!(fork.status.code(), Some(2), "{}", text(&fork.stdout));
    let err = text(&fork.stderr);
    assert!(err.contains("works in its own git worktree"), "{err}");
    assert!(err.contains("sortie run --worktree"), "{err}");
    let listed = cli(home.path(), &["missions", "--json"]).await;
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed:#}");
    assert_eq!(mock.hits(), 1);
}
