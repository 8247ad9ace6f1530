//! Whom the client trusts: only the daemon that wrote `daemon.json`, on loopback. A stale
//! file (the daemon was killed) must not hand the token or a prompt to whatever now holds
//! its port.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use sortie_tests::daemon::DaemonProc;

use super::daemon::local_setup;

/// A server that answers every request with `200 {"ok": true}` and keeps what it was sent.
fn squatter() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = vec![0u8; 64 * 1024];
            let _ = conn.set_read_timeout(Some(std::time::Duration::from_millis(500)));
            let n = conn.read(&mut buf).unwrap_or(0);
            kept.lock()
                .expect("lock")
                .push(String::from_utf8_lossy(&buf[..n]).to_string());
            let body = r#"{"ok":true,"id":"01a00000-0000-7000-8000-000000000000","missions":[]}"#;
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, seen)
}

#[tokio::test]
async fn a_stale_daemon_json_sends_no_token_and_no_prompt_to_whoever_holds_the_port() {
    let (mock, home, cwd) = local_setup("").await;
    mock.push(sortie_tests::Reply::text("answered in process"));
    let d = DaemonProc::start(home.path()).await;
    let token = d.token.clone();
    d.kill9();
    // The daemon is gone; its files stay. Another process now answers on "its" port.
    let (port, seen) = squatter();
    let info_path = home.path().join("daemon.json");
    let mut info: Value =
        serde_json::from_str(&std::fs::read_to_string(&info_path).expect("daemon.json"))
            .expect("json");
    info["addr"] = Value::String(format!("127.0.0.1:{port}"));
    std::fs::write(&info_path, info.to_string()).expect("rewrite");

    let out = tokio::task::spawn_blocking({
        let (home, cwd) = (home.path().to_path_buf(), cwd.path().to_path_buf());
        move || {
            sortie_tests::sortie(&home)
                .args(["run", "the secret plan for the squatter"])
                .current_dir(cwd)
                .output()
                .expect("run sortie")
        }
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("answered in process"), "{stdout}");
    let seen = seen.lock().expect("lock").join("\n---\n");
    assert!(!seen.contains(&token), "the token was sent: {seen}");
    assert!(!seen.contains("secret plan"), "the prompt was sent: {seen}");
    assert!(!seen.to_lowercase().contains("authorization"), "{seen}");
}

#[tokio::test]
async fn the_cli_still_talks_to_the_daemon_that_wrote_the_file() {
    let (mock, home, cwd) = local_setup("").await;
    mock.push(sortie_tests::Reply::text("answered by the daemon"));
    let d = DaemonProc::start(home.path()).await;
    // The daemon proves who it is without the token, and tells nothing else.
    let (status, body) = d
        .get_with_token("/health?challenge=00112233445566778899aabbccddeeff", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["proof"].as_str().map(str::len), Some(64), "{body}");
    assert!(body.get("data_dir").is_none(), "{body}");
    assert_eq!(d.get_with_token("/health", None).await.0, 401);
    let out = tokio::task::spawn_blocking({
        let (home, cwd) = (home.path().to_path_buf(), cwd.path().to_path_buf());
        move || {
            sortie_tests::sortie(&home)
                .args(["run", "hello", "--json"])
                .current_dir(cwd)
                .output()
                .expect("run sortie")
        }
    })
    .await
    .expect("join");
    assert!(out.status.success());
    let (_, list) = d.get("/missions").await;
    assert_eq!(
        list["missions"].as_array().map(Vec::len),
        Some(1),
        "the mission did not go through the daemon: {list}"
    );
}

/// The client talks to its daemon over plain `http` on loopback, and an `http://` provider
/// needs no TLS: neither may depend on the system's CA certificates (a minimal container
/// has none; and loading them, about 150 files, was most of a client's start).
#[tokio::test]
async fn no_system_ca_certificates_are_needed_for_the_daemon_or_an_http_provider() {
    let (mock, home, cwd) = local_setup("").await;
    let nowhere = tempfile::tempdir().expect("empty dir");
    let no_certs = |cmd: &mut std::process::Command| {
        cmd.env("SSL_CERT_FILE", nowhere.path().join("none.pem"))
            .env("SSL_CERT_DIR", nowhere.path());
    };
    mock.push(sortie_tests::Reply::text("answered in process"));
    let mut here = sortie_tests::sortie(home.path());
    here.args(["run", "hello"]).current_dir(cwd.path());
    no_certs(&mut here);
    let out = sortie_tests::run_to_end(here).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("answered in process"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    mock.push(sortie_tests::Reply::text("answered by the daemon"));
    let d = DaemonProc::start(home.path()).await;
    let mut via = sortie_tests::sortie(home.path());
    via.args(["run", "hello", "--json"]).current_dir(cwd.path());
    no_certs(&mut via);
    let out = sortie_tests::run_to_end(via).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("answered by the daemon"), "{stdout}");
    // The daemon holds the store: a mission stored since it started went through it.
    let (_, list) = d.get("/missions").await;
    assert_eq!(
        list["missions"].as_array().map(Vec::len),
        Some(2),
        "the mission did not go through the daemon: {list}"
    );
}

fn mode_of(dir: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(dir).expect("meta").permissions().mode() & 0o7777
}

fn chmod(dir: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn missions_cmd(home: &std::path::Path) -> std::process::Output {
    sortie_tests::sortie(home)
        .args(["missions"])
        .output()
        .expect("run sortie")
}

#[test]
fn a_data_dir_others_can_write_or_own_is_refused_and_its_mode_kept() {
    let dir = tempfile::tempdir().expect("dir");
    let home = dir.path().join("shared");
    std::fs::create_dir(&home).expect("mkdir");
    chmod(&home, 0o1777);
    let out = missions_cmd(&home);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("refusing the data dir") && stderr.contains("every user"),
        "{stderr}"
    );
    assert_eq!(mode_of(&home), 0o1777, "the mode was changed");
    assert!(!home.join("store").exists(), "the store was opened");

    // Owned by someone else (the test runs as root in CI, so it can give it away).
    chmod(&home, 0o700);
    match std::os::unix::fs::chown(&home, Some(65534), None) {
        Ok(()) => {
            let out = missions_cmd(&home);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{stderr}");
            assert!(stderr.contains("belongs to user id 65534"), "{stderr}");
        }
        Err(e) => {
            eprintln!("skipping the other-owner case: cannot chown here ({e}); CI runs it as root")
        }
    }
}

#[test]
fn an_existing_private_data_dir_keeps_its_mode_and_a_new_one_is_owner_only() {
    let dir = tempfile::tempdir().expect("dir");
    let home = dir.path().join("mine");
    std::fs::create_dir(&home).expect("mkdir");
    chmod(&home, 0o750);
    let out = missions_cmd(&home);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode_of(&home), 0o750, "an existing data dir was chmod'ed");

    let fresh = dir.path().join("new/home");
    let out = missions_cmd(&fresh);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode_of(&fresh), 0o700);
}

#[tokio::test]
async fn a_key_a_provider_echoes_is_masked_in_every_output() {
    const KEY: &str = "plainkeywithoutprefix0123";
    let (mock, home, cwd) = local_setup("api_key_env = \"SORTIE_TEST_PLAIN_KEY\"").await;
    let echo =
        format!(r#"{{"error": {{"message": "Incorrect API key provided: {KEY}. Check it."}}}}"#);
    mock.repeat(sortie_tests::Reply::error(401, &echo));
    let d = DaemonProc::start_with_env(home.path(), &[("SORTIE_TEST_PLAIN_KEY", KEY)]).await;
    let id = super::daemon::new_mission(&d, cwd.path(), "use the key").await;
    let events = d.wait_events(&id, sortie_tests::daemon::ended).await;
    let text = serde_json::to_string(&events).expect("json");
    assert!(text.contains("Incorrect API key"), "{text}");
    assert!(!text.contains(KEY), "the key is in the events: {text}");
    let stream = d.stream_until(&id, "event: end").await;
    assert!(!stream.contains(KEY), "the key is on the stream");
    for path in [format!("/missions/{id}"), "/missions".to_string()] {
        let (_, body) = d.get(&path).await;
        assert!(!body.to_string().contains(KEY), "{path}: {body}");
    }
    for args in [
        vec!["show", id.as_str(), "--json"],
        vec!["missions", "--json"],
    ] {
        let out = sortie_tests::sortie(home.path())
            .args(&args)
            .output()
            .expect("run sortie");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains(&id[..8]), "{args:?}: {all}");
        assert!(!all.contains(KEY), "{args:?}: {all}");
    }
    assert!(!d.log().contains(KEY), "the key is in the daemon's log");
}

#[test]
fn a_config_error_does_not_print_the_line_with_the_key() {
    let home = tempfile::tempdir().expect("home");
    std::fs::write(
        home.path().join("config.toml"),
        "default_provider = \"local\"\n[providers.local]\nkind = \"openai-compatible\"\napi_key = \"zz-plain-key-998877\" oops\n",
    )
    .expect("config");
    let out = sortie_tests::sortie(home.path())
        .args(["run", "hello"])
        .output()
        .expect("run sortie");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("line 4"), "{stderr}");
    assert!(!stderr.contains("zz-plain-key-998877"), "{stderr}");
}
