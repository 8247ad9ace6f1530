//! The store's key in a real OS keyring (gnome-keyring's Secret Service on a private
//! session bus), through the real binary: no key file, `auth status` says where the key
//! is, a keyring that is gone is a clear error (never a new key), and the stored key works
//! again once the keyring is back.

use sortie_tests::keyring::SecretService;
use sortie_tests::{MockProvider, Reply};

use sortie_tests::accounts::with_input;

const KEY: &str = "sk-in-the-keyring-0123456789";

fn sortie_in(service: &SecretService, home: &std::path::Path) -> std::process::Command {
    let mut cmd = sortie_tests::sortie(home);
    cmd.env_remove("SORTIE_KEYRING").envs(service.env());
    cmd
}

#[tokio::test]
async fn the_stores_key_lives_in_the_os_keyring_when_one_answers() {
    let mock = MockProvider::start().await;
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    sortie_tests::write_local_config(home.path(), &mock.base_url(), "");
    let h = home.path().to_path_buf();
    let mut service = tokio::task::spawn_blocking(SecretService::start)
        .await
        .expect("join");

    let mut add = sortie_in(&service, &h);
    add.args(["auth", "add-key", "local"]);
    let added = with_input(add, KEY);
    assert!(added.status.success(), "{added:?}");
    assert!(
        !h.join("store.key").exists(),
        "no key file beside the store"
    );
    assert!(
        h.join("store.keyring").exists(),
        "the marker says where it is"
    );
    assert!(
        std::fs::read_dir(service.keyrings_dir())
            .expect("keyrings")
            .next()
            .is_some(),
        "gnome-keyring stored something"
    );
    let status = sortie_tests::run_to_end({
        let mut c = sortie_in(&service, &h);
        c.args(["auth", "status"]);
        c
    })
    .await;
    let shown = sortie_tests::text(&status.stdout);
    assert!(status.status.success(), "{shown}");
    assert!(shown.contains("key in the OS keyring"), "{shown}");

    // The keyring goes away: the stored key cannot be read, and that is said, not papered
    // over with a new key.
    service = tokio::task::spawn_blocking(move || {
        service.stop_keyring();
        service
    })
    .await
    .expect("join");
    let listed = sortie_tests::run_to_end({
        let mut c = sortie_in(&service, &h);
        c.args(["auth", "list"]);
        c
    })
    .await;
    let err = sortie_tests::text(&listed.stderr);
    assert!(!listed.status.success(), "{err}");
    assert!(
        err.contains("OS keyring") && err.contains("unlock or start"),
        "{err}"
    );
    assert!(!h.join("store.key").exists(), "no new key in its place");

    // Back again: a mission leases the stored key and sends it.
    service = tokio::task::spawn_blocking(move || {
        service.start_keyring();
        service
    })
    .await
    .expect("join");
    mock.push(Reply::text("done"));
    let run = sortie_tests::run_to_end({
        let mut c = sortie_in(&service, &h);
        c.args(["run", "hello"]).current_dir(cwd.path());
        c
    })
    .await;
    assert!(run.status.success(), "{}", sortie_tests::text(&run.stderr));
    let sent = mock.request_headers();
    let auth = sent[0]
        .get("authorization")
        .expect("authorization header")
        .to_str()
        .expect("ascii");
    assert_eq!(auth, format!("Bearer {KEY}"));
}
