//! `sortie auth ...` as a person runs it, against the real authorization server.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use sortie_tests::accounts::{sortie_with_input, stored_credential};
use sortie_tests::daemon::DaemonProc;
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
    account_lifecycle(false).await;
}

/// The same commands while a daemon owns the store: they go through its API.
#[tokio::test]
async fn the_account_commands_work_through_a_running_daemon() {
    account_lifecycle(true).await;
}

async fn account_lifecycle(with_daemon: bool) {
    let server = OAuthServer::start(600).await;
    let home = tempfile::tempdir().expect("home");
    write_config(home.path(), &server);
    let daemon = match with_daemon {
        true => Some(DaemonProc::start(home.path()).await),
        false => None,
    };

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
    if let Some(d) = daemon {
        // Every step went through the daemon (it holds the store), and its pool uses the
        // stored login: a probe through it refreshes nothing and lists the models.
        let (status, v) = d.get("/credentials?probe=true").await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["credentials"][0]["probe"]["ok"], true, "{v}");
        let log = d.log();
        assert!(!log.contains("access_token"), "{log}");
    }
}

#[tokio::test]
async fn add_key_reads_stdin_and_never_shows_the_key() {
    const KEY: &str = "sk-test-secret-key-987654";
    let home = tempfile::tempdir().expect("home");
    let h = home.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        sortie_with_input(&h, &["auth", "add-key", "openai", "--label", "work"], KEY)
    })
    .await
    .expect("join");
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
    // What was stored is the key as typed: not trimmed further, not with its newline.
    let stored = stored_credential(home.path(), "openai#1");
    assert_eq!(stored.api_key.as_ref().map(|k| k.expose()), Some(KEY));
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

/// The login and credential routes of the daemon's API, as the TUI uses them: a device
/// login answers with its code at once and ends when approved; a paste login takes the
/// pasted landing URL; a pending login can be given up; bad requests say what is wrong;
/// keys go in and never come out.
#[tokio::test]
async fn the_daemon_runs_logins_and_stores_keys_over_its_api() {
    let server = OAuthServer::start(600).await;
    let home = tempfile::tempdir().expect("home");
    write_config(home.path(), &server);
    let d = DaemonProc::start(home.path()).await;

    // Bad requests.
    let (status, v) = d.post("/auth/logins", serde_json::json!({})).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("provider"),
        "{v}"
    );
    let (status, v) = d
        .post(
            "/auth/logins",
            serde_json::json!({"provider": "corp", "flow": "carrier-pigeon"}),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("unknown flow"),
        "{v}"
    );
    let (status, _) = d
        .post("/auth/logins", serde_json::json!({"credential": "corp#9"}))
        .await;
    assert_eq!(status, 404);
    assert_eq!(d.get("/auth/logins/nope").await.0, 404);

    // Device: the code comes back at once; the login is pending until approved.
    let (status, login) = d
        .post(
            "/auth/logins",
            serde_json::json!({"provider": "corp", "flow": "device"}),
        )
        .await;
    assert_eq!(status, 201, "{login}");
    let id = login["id"].as_str().expect("id").to_string();
    assert_eq!(login["state"], "pending");
    assert_eq!(login["prompt"]["flow"], "device");
    assert!(login["prompt"]["user_code"].as_str().is_some(), "{login}");
    // A device login takes no pasted code.
    let (status, v) = d
        .post(
            &format!("/auth/logins/{id}/code"),
            serde_json::json!({"code": "x"}),
        )
        .await;
    assert_eq!(status, 409, "{v}");
    let complete = login["prompt"]["url_complete"]
        .as_str()
        .expect("url")
        .to_string();
    Browser::default().approve(&complete).await;
    let done = wait_login(&d, &id).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["credential"]["id"], "corp#1");
    assert_eq!(done["credential"]["status"]["state"], "active");

    // A pending login given up: cancelled, and its callback port is free again.
    let (_, login) = d
        .post("/auth/logins", serde_json::json!({"provider": "corp"}))
        .await;
    assert_eq!(login["prompt"]["flow"], "loopback", "{login}");
    let id = login["id"].as_str().expect("id").to_string();
    let (status, v) = d.delete(&format!("/auth/logins/{id}")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "cancelled");
    let redirect = login["prompt"]["redirect_uri"].as_str().expect("redirect");
    let port: u16 = redirect
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let mut freed = false;
    for _ in 0..40 {
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(freed, "the callback port {port} is still taken");

    // Paste (a reconnect of corp#1): the person pastes the URL the browser landed on.
    let (status, login) = d
        .post(
            "/auth/logins",
            serde_json::json!({"credential": "corp#1", "flow": "paste"}),
        )
        .await;
    assert_eq!(status, 201, "{login}");
    assert_eq!(login["prompt"]["needs_code"], true);
    let id = login["id"].as_str().expect("id").to_string();
    let landed = Browser::default()
        .redirect_target(
            login["prompt"]["url"].as_str().expect("url"),
            "http://127.0.0.1:1/callback",
        )
        .await;
    let (status, v) = d
        .post(
            &format!("/auth/logins/{id}/code"),
            serde_json::json!({"code": landed}),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let done = wait_login(&d, &id).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["credential"]["id"], "corp#1", "updated in place");

    // Keys: stored, listed without the secret, removed; a bad body does not echo it.
    let (status, v) = d
        .post(
            "/credentials",
            serde_json::json!({"provider": "openai", "key": "sk-api-secret-4242", "label": "ci"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["credential"]["id"], "openai#1");
    let (status, v) = d
        .post(
            "/credentials",
            serde_json::json!({"provider": "openai", "kee": "sk-api-secret-4242"}),
        )
        .await;
    assert_eq!(status, 400);
    let (_, list) = d.get("/credentials").await;
    assert_eq!(
        list["credentials"].as_array().map(Vec::len),
        Some(2),
        "{list}"
    );
    for text in [list.to_string(), v.to_string(), d.log()] {
        assert!(!text.contains("4242"), "{text}");
        assert!(!text.contains("access_token\":\""), "{text}");
    }
    let (status, _) = d.delete("/credentials/openai%231").await;
    assert_eq!(status, 200);
    assert_eq!(d.delete("/credentials/openai%231").await.0, 404);
    let (status, v) = d.post("/credentials/corp%231/logout", Value::Null).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["credential"]["status"]["state"], "disconnected");
}

async fn wait_login(d: &DaemonProc, id: &str) -> Value {
    for _ in 0..200 {
        let (_, v) = d.get(&format!("/auth/logins/{id}")).await;
        if v["state"] != "pending" {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("login {id} still pending after 20 s");
}

type StdoutLines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

/// `sortie auth login corp --paste`, read until it printed the login URL: the child, its
/// stdin (to paste the code into), the rest of its stdout, and the URL.
async fn paste_login_until_url(
    home: &std::path::Path,
) -> (
    tokio::process::Child,
    tokio::process::ChildStdin,
    StdoutLines,
    String,
) {
    let mut cmd = tokio::process::Command::from(sortie(home));
    cmd.args(["auth", "login", "corp", "--paste"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn sortie");
    let stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if line.trim_start().starts_with("http://") {
                return line.trim().to_string();
            }
        }
        panic!("no login URL printed");
    })
    .await
    .expect("the login URL in time");
    (child, stdin, lines, url)
}

/// A paste login waiting for its code while the daemon is killed and started again: the
/// code goes to the new daemon, which resumes the login kept in the store.
#[tokio::test]
async fn a_waiting_paste_login_hands_its_code_to_the_restarted_daemon() {
    let server = OAuthServer::start(600).await;
    let home = tempfile::tempdir().expect("home");
    write_config(home.path(), &server);
    let daemon = DaemonProc::start(home.path()).await;

    let (mut child, mut stdin, mut lines, url) = paste_login_until_url(home.path()).await;

    // The daemon dies while the person is in the browser, and another one starts.
    daemon.kill9();
    let daemon = DaemonProc::start(home.path()).await;
    let landed = Browser::default()
        .redirect_target(&url, "http://127.0.0.1:1/callback")
        .await;
    stdin
        .write_all(format!("{landed}\n").as_bytes())
        .await
        .expect("paste");
    let out = tokio::time::timeout(Duration::from_secs(60), async {
        let mut out = String::new();
        while let Some(line) = lines.next_line().await.expect("read") {
            out.push_str(&line);
            out.push('\n');
        }
        out
    })
    .await
    .expect("sortie finished in time");
    let status = child.wait().await.expect("wait");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut e, &mut err).await;
    }
    assert_eq!(status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("✓ logged in: corp#1 (oauth, active"),
        "{out}{err}"
    );
    assert!(err.contains("handing the code to the new one"), "{err}");
    let (code, v) = daemon.get("/credentials").await;
    assert_eq!(code, 200);
    assert_eq!(v["credentials"][0]["status"]["state"], "active", "{v}");
}

#[tokio::test]
async fn ctrl_c_in_a_waiting_login_exits_130_and_auth_status_has_its_own_help() {
    let server = OAuthServer::start(600).await;
    let home = tempfile::tempdir().expect("home");
    write_config(home.path(), &server);
    let _daemon = DaemonProc::start(home.path()).await;
    let (mut child, _stdin, _lines, _url) = paste_login_until_url(home.path()).await;
    let pid = nix::unistd::Pid::from_raw(child.id().expect("pid") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits in time")
        .expect("wait");
    assert_eq!(status.code(), Some(130));

    let help = sortie(home.path())
        .args(["auth", "status", "--help"])
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Usage: sortie auth status"), "{help}");
}

/// Logout while the revocation endpoint is down fails loudly and keeps the revocation
/// pending; the next logout makes it. A login that replaces a grant revokes the old one.
#[tokio::test]
async fn a_failed_revocation_is_reported_kept_and_retried_and_a_new_login_revokes_the_old_grant() {
    let server = OAuthServer::start(600).await;
    let home = tempfile::tempdir().expect("home");
    write_config(home.path(), &server);
    let device = |line: &str| {
        line.starts_with("(or open ").then(|| {
            Action::Approve(
                first_url(line)
                    .expect("url")
                    .trim_end_matches(')')
                    .to_string(),
            )
        })
    };
    let (code, out) = interact(home.path(), &["auth", "login", "corp", "--device"], device).await;
    assert_eq!(code, 0, "{out}");
    // Log in again to the same account: the first grant is revoked.
    let (code, out) = interact(
        home.path(),
        &["auth", "reconnect", "corp#1", "--device"],
        device,
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(server.stats().await["revocations"], 1, "the replaced grant");

    // The revocation endpoint is unreachable (a port nobody listens on).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let config = std::fs::read_to_string(home.path().join("config.toml")).expect("config");
    std::fs::write(
        home.path().join("config.toml"),
        format!("{config}revocation_url = \"http://{closed}/revoke\"\n"),
    )
    .expect("config");
    let out = sortie(home.path())
        .args(["auth", "logout", "corp#1"])
        .output()
        .expect("logout");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("failed") && err.contains("pending"), "{err}");
    let list = auth_list(home.path(), &[]).await;
    assert_eq!(list[0]["status"]["state"], "disconnected");
    assert_eq!(list[0]["pending_revocations"], 2, "{list:?}");

    // Back: the next logout makes the pending revocations.
    std::fs::write(home.path().join("config.toml"), config).expect("config");
    let out = sortie(home.path())
        .args(["auth", "logout", "corp#1"])
        .output()
        .expect("logout");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("tokens revoked"), "{stdout}");
    assert_eq!(
        auth_list(home.path(), &[]).await[0]["pending_revocations"],
        0
    );
    assert_eq!(server.stats().await["revocations"], 3);
}
