//! `sortie auth ...` as a person runs it, against the real authorization server.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use sortie_tests::oauth_server::{Browser, OAuthServer, CLIENT_ID};
use sortie_tests::sortie;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn write_config(home: &std::path::Path, server: &OAuthServer) {
    std::fs::write(
        home.join("config.toml"),
        format!(
            "[providers.corp]\nkind = \"openai-compatible\"\nbase_url = \"{issuer}/v1\"\nmodel = \"m\"\n\n[providers.corp.oauth]\nissuer = \"{issuer}\"\nclient_id = \"{CLIENT_ID}\"\nscopes = [\"openid\", \"offline_access\", \"api\"]\n",
            issuer = server.issuer
        ),
    )
    .expect("config");
}

/// Runs `sortie args…`, hands each stdout line to `on_line` (which may answer on stdin),
/// and returns the exit code and the whole output.
async fn interact(
    home: &std::path::Path,
    args: &[&str],
    on_line: impl Fn(&str) -> Option<Action>,
) -> (i32, String) {
    let mut cmd = tokio::process::Command::from(sortie(home));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn sortie");
    let mut stdin = child.stdin.take();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).split(b'\n');
    let mut out = String::new();
    let run = async {
        while let Some(line) = lines.next_segment().await.expect("read") {
            let line = String::from_utf8_lossy(&line).to_string();
            out.push_str(&line);
            out.push('\n');
            match on_line(&line) {
                Some(Action::Approve(url)) => {
                    tokio::spawn(async move { Browser::default().approve(&url).await });
                }

                Some(Action::PasteLanding { url, redirect_uri }) => {
                    let landed = Browser::default()
                        .redirect_target(&url, &redirect_uri)
                        .await;
                    if let Some(stdin) = stdin.as_mut() {
                        stdin
                            .write_all(format!("{landed}\n").as_bytes())
                            .await
                            .expect("paste");
                    }
                }
                None => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("sortie finished in time");
    let status = child.wait().await.expect("wait");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut e, &mut err).await;
    }
    (status.code().unwrap_or(-1), format!("{out}{err}"))
}

enum Action {
    /// The person opens the URL and approves.
    Approve(String),
    /// The person opens the URL, approves, and pastes the URL the browser lands on.
    PasteLanding { url: String, redirect_uri: String },
}

fn first_url(line: &str) -> Option<String> {
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .map(String::from)
}

async fn auth_list(home: &std::path::Path, extra: &[&str]) -> Vec<Value> {
    let mut cmd = sortie(home);
    cmd.args(["auth", "list", "--json"]).args(extra);
    let out = tokio::process::Command::from(cmd)
        .output()
        .await
        .expect("list");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[tokio::test]
async fn device_login_then_loopback_login_update_the_same_credential_and_logout_revokes() {
    let server = OAuthServer::start(600).await;
    let home = tempfile::tempdir().expect("home");
    write_config(home.path(), &server);

    // Device flow: the CLI prints the verification URL; the person approves it.
    let (code, out) = interact(
        home.path(),
        &["auth", "login", "corp", "--device"],
        |line| {
            line.starts_with("(or open ").then(|| {
                Action::Approve(
                    first_url(line)
                        .expect("url")
                        .trim_end_matches(')')
                        .to_string(),
                )
            })
        },
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("✓ logged in: corp#1 (oauth, active"), "{out}");

    let list = auth_list(home.path(), &["--probe"]).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], "corp#1");
    assert_eq!(list[0]["auth_mode"], "oauth");
    assert_eq!(list[0]["status"]["state"], "active");
    assert_eq!(list[0]["probe"]["ok"], true, "{}", list[0]);
    let text = serde_json::to_string(&list).expect("json");
    assert!(
        !text.contains("access_token") && !text.contains("refresh_token\":\""),
        "{text}"
    );

    // Loopback flow for the same account: updated in place, no second row.
    let (code, out) = interact(
        home.path(),
        &["auth", "login", "corp", "--no-browser"],
        |line| {
            line.trim_start()
                .starts_with("http://")
                .then(|| Action::Approve(line.trim().to_string()))
        },
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("✓ logged in: corp#1"), "{out}");
    assert_eq!(
        auth_list(home.path(), &[]).await.len(),
        1,
        "no duplicate row"
    );

    // Logout revokes and keeps the credential, disconnected.
    let (code, out) = interact(home.path(), &["auth", "logout", "corp#1"], |_| None).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("tokens revoked"), "{out}");
    assert!(server.stats().await["revocations"].as_u64().expect("n") >= 1);
    let list = auth_list(home.path(), &[]).await;
    assert_eq!(list[0]["status"]["state"], "disconnected");
    assert_eq!(list[0]["auth_mode"], "oauth");
    assert_eq!(list[0]["next_step"], "sortie auth reconnect corp#1");

    // Reconnect by pasting the URL the browser lands on: same id, active again.
    let (code, out) = interact(
        home.path(),
        &["auth", "reconnect", "corp#1", "--paste"],
        |line| {
            line.trim_start()
                .starts_with("http://")
                .then(|| Action::PasteLanding {
                    url: line.trim().to_string(),
                    redirect_uri: "http://127.0.0.1:1/callback".into(),
                })
        },
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("✓ reconnected: corp#1 (oauth, active"),
        "{out}"
    );
    assert_eq!(
        auth_list(home.path(), &[]).await[0]["status"]["state"],
        "active"
    );
}

#[tokio::test]
async fn add_key_reads_stdin_and_never_shows_the_key() {
    let home = tempfile::tempdir().expect("home");
    let mut cmd = tokio::process::Command::from(sortie(home.path()));
    cmd.args(["auth", "add-key", "openai", "--label", "work"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"sk-test-secret-key-987654\n")
        .await
        .expect("write");
    let out = child.wait_with_output().await.expect("wait");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("stored: openai#1 (api_key, active"), "{text}");
    assert!(!text.contains("987654"), "{text}");
    let list = auth_list(home.path(), &[]).await;
    assert_eq!(list[0]["label"], "work");
    assert!(!serde_json::to_string(&list)
        .expect("json")
        .contains("987654"));
}

#[tokio::test]
async fn login_to_a_provider_without_oauth_says_what_to_do() {
    let home = tempfile::tempdir().expect("home");
    let (code, out) = interact(home.path(), &["auth", "login", "openrouter"], |_| None).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("has no OAuth login"), "{out}");
    assert!(out.contains("sortie auth add-key openrouter"), "{out}");
    let (code, out) = interact(home.path(), &["auth", "logout", "nope#1"], |_| None).await;
    assert_eq!(code, 2);
    assert!(out.contains("unknown credential `nope#1`"), "{out}");
}
