//! Credentials in the tests: commands that read a secret on stdin, and what the store holds
//! afterwards (unsealed with the key file beside it, as Sortie reads it).

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use sortie_transports::auth::sealed::Sealer;
use sortie_transports::auth::{Credential, CredentialId, CredentialStore};

/// Runs `sortie args…` with `input` and a newline on its stdin (a key typed or piped in).
pub fn sortie_with_input(home: &Path, args: &[&str], input: &str) -> Output {
    let mut cmd = crate::sortie(home);
    cmd.args(args);
    with_input(cmd, input)
}

/// Runs `cmd` with `input` and a newline on its stdin.
pub fn with_input(mut cmd: std::process::Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sortie");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{input}\n").as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for sortie")
}

/// A credential store in a fresh temp dir, unsealed (for the pool's own tests).
pub fn temp_credential_store() -> (tempfile::TempDir, CredentialStore) {
    let dir = tempfile::tempdir().expect("dir");
    let db = sled::open(dir.path().join("db")).expect("sled");
    (
        dir,
        CredentialStore::new(db.open_tree("credentials").expect("tree")),
    )
}

/// The credential `id` as the data dir `home` stores it, its secrets unsealed. The store
/// must not be in use (no daemon running); a process that just exited may hold its lock a
/// moment longer, which is waited out (bounded).
pub fn stored_credential(home: &Path, id: &str) -> Credential {
    let deadline = Instant::now() + Duration::from_secs(10);
    let db = loop {
        match sled::Config::new().path(home.join("store")).open() {
            Ok(db) => break db,
            Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("cannot open the store in {}: {e}", home.display()),
        }
    };
    let sealer = Sealer::from_key_file(&home.join("store.key")).expect("store.key");
    let store = CredentialStore::sealed(
        db.open_tree("credentials").expect("tree"),
        std::sync::Arc::new(sealer),
    );
    store
        .get(&CredentialId(id.to_string()))
        .expect("read the credential")
        .unwrap_or_else(|| panic!("no credential {id} in {}", home.display()))
}
