//! Secrets at rest, through the real binary: every file in the store is owner-only, stored
//! keys and tokens are sealed with the key file beside the store, and `auth status` says so.

use std::path::Path;

use sortie_tests::accounts::sortie_with_input;

const KEY: &str = "sk-at-rest-0123456789-secret";

fn add_key(home: &Path) -> std::process::Output {
    sortie_with_input(home, &["auth", "add-key", "local"], KEY)
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        }
        out.push(path);
    }
}

#[cfg(unix)]
#[tokio::test]
async fn stored_keys_are_sealed_in_owner_only_files_and_auth_status_says_how() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().expect("home");
    sortie_tests::write_local_config(home.path(), "http://127.0.0.1:9/v1", "");
    let h = home.path().to_path_buf();
    let (added, status) = tokio::task::spawn_blocking(move || {
        let added = add_key(&h);
        let status = sortie_tests::sortie(&h)
            .args(["auth", "status"])
            .output()
            .expect("status");
        (added, status)
    })
    .await
    .expect("join");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{shown}");
    assert!(shown.contains("local#1"), "{shown}");
    assert!(shown.contains("encrypted at rest"), "{shown}");
    assert!(shown.contains("store.key"), "{shown}");

    let key_file = home.path().join("store.key");
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&key_file), 0o600);
    let mut files = Vec::new();
    files_under(&home.path().join("store"), &mut files);
    assert!(!files.is_empty());
    for f in &files {
        let want = if f.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(f), want, "{}", f.display());
        if f.is_file() {
            let raw = std::fs::read(f).expect("read");
            assert!(
                !raw.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
                "the key is in plain text in {}",
                f.display()
            );
        }
    }
}

fn reconnect_with_key(home: &Path, key: &str) -> std::process::Output {
    sortie_with_input(home, &["auth", "reconnect", "local#1"], key)
}

#[tokio::test]
async fn reconnecting_an_api_key_asks_for_a_new_key_here_and_through_the_daemon() {
    let home = tempfile::tempdir().expect("home");
    sortie_tests::write_local_config(home.path(), "http://127.0.0.1:9/v1", "");
    let h = home.path().to_path_buf();
    let (added, here) = tokio::task::spawn_blocking(move || {
        (add_key(&h), reconnect_with_key(&h, "sk-replaced-here-0001"))
    })
    .await
    .expect("join");
    assert!(added.status.success());
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&here.stdout),
        String::from_utf8_lossy(&here.stderr)
    );
    assert!(here.status.success(), "{shown}");
    assert!(
        shown.contains("reconnected: local#1 (api_key, active"),
        "{shown}"
    );

    let daemon = sortie_tests::daemon::DaemonProc::start(home.path()).await;
    let h = home.path().to_path_buf();
    let through =
        tokio::task::spawn_blocking(move || reconnect_with_key(&h, "sk-replaced-daemon-02"))
            .await
            .expect("join");
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&through.stdout),
        String::from_utf8_lossy(&through.stderr)
    );
    assert!(through.status.success(), "{shown}");
    assert!(
        shown.contains("reconnected: local#1 (api_key, active"),
        "{shown}"
    );
    let (_, v) = daemon.get("/credentials").await;
    assert_eq!(v["credentials"].as_array().map(Vec::len), Some(1), "{v}");
}
