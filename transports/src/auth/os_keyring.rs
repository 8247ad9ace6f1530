//! The store's key in the OS keyring (the Secret Service on Linux, the Keychain on macOS),
//! when one answers; else in the owner-only key file beside the store.
//!
//! Which one a store uses is decided once, when its key is made, and never changes after:
//! - `store.key` exists: the key file (stores made before the keyring was used stay so);
//! - `store.keyring` exists: the keyring, under the entry that file names; a keyring that
//!   does not answer then is an error that says so (a new key would lose every token);
//! - neither: the keyring when it answers within [`KEYRING_WAIT`] (the key is stored, read
//!   back, and `store.keyring` written), else a new `store.key`.
//!
//! `SORTIE_KEYRING=off` keeps new stores on the key file (tests, headless machines whose
//! keyring prompts). The keyring's client blocks on its own runtime, so every call runs on
//! a thread of its own, bounded by [`KEYRING_WAIT`]: a locked keyring that prompts, or a
//! bus that hangs, costs at most that.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use base64::Engine;

use super::sealed::{new_key, owner_only_file, Sealer, KEY_LEN};

/// How long a keyring call may take before it counts as "no keyring".
pub const KEYRING_WAIT: Duration = Duration::from_secs(5);
/// The keyring service name of every Sortie entry.
const SERVICE: &str = "sortie";

/// The sealer for the store whose key file would be `key_file` (`.../store.key`); the
/// keyring entry is named after the data dir, so each `SORTIE_HOME` has its own key.
/// A key read from the keyring is kept for the process's life (a store's key never
/// changes once made), so a daemon asks the keyring once, not at every request.
pub fn sealer_for_store(key_file: &Path) -> Result<Arc<Sealer>, String> {
    let marker = marker_path(key_file);
    if key_file.exists() || (!marker.exists() && !keyring_wanted()) {
        return Sealer::from_key_file(key_file).map(Arc::new);
    }
    let mut known = FROM_KEYRING.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(sealer) = known.get(key_file) {
        return Ok(sealer.clone());
    }
    let sealer = Arc::new(from_keyring(key_file, &marker)?);
    if marker.exists() {
        known.insert(key_file.to_path_buf(), sealer.clone());
    }
    Ok(sealer)
}

/// Keys read from (or put in) the OS keyring, by key file path.
static FROM_KEYRING: Mutex<BTreeMap<PathBuf, Arc<Sealer>>> = Mutex::new(BTreeMap::new());

/// The key in the keyring (`marker` exists), or a new one put there (else a key file).
fn from_keyring(key_file: &Path, marker: &Path) -> Result<Sealer, String> {
    let user = entry_user(key_file);
    let origin = format!("in the OS keyring (entry `{SERVICE}` / `{user}`)");
    if marker.exists() {
        let key = with_keyring(user.clone(), read_key).map_err(|e| {
            format!(
                "the store's key is kept in the OS keyring (entry `{SERVICE}` / `{user}`, see {}), which did not give it: {e}; unlock or start the keyring (e.g. log in to the desktop session) and try again",
                marker.display()
            )
        })?;
        let key = key.ok_or_else(|| {
            format!(
                "the OS keyring has no entry `{SERVICE}` / `{user}` although {} says the store's key is there; the stored tokens cannot be read: log in again after removing {} and the credentials",
                marker.display(),
                marker.display()
            )
        })?;
        return Sealer::from_key(&key, origin);
    }
    match with_keyring(user.clone(), make_key) {
        Ok(key) => {
            write_marker(marker, &user)?;
            Sealer::from_key(&key, origin)
        }
        Err(e) => {
            tracing::debug!("no OS keyring ({e}); the store's key goes in a key file");
            Sealer::from_key_file(key_file)
        }
    }
}

/// Where the key of the store with key file `key_file` is kept, for `auth status`: `None`
/// before any key was made.
pub fn key_place(key_file: &Path) -> Option<String> {
    if key_file.exists() {
        Some(format!("in {} (owner-only)", key_file.display()))
    } else if marker_path(key_file).exists() {
        Some(format!(
            "in the OS keyring (entry `{SERVICE}` / `{}`)",
            entry_user(key_file)
        ))
    } else {
        None
    }
}

fn marker_path(key_file: &Path) -> std::path::PathBuf {
    key_file.with_extension("keyring")
}

fn keyring_wanted() -> bool {
    !matches!(
        std::env::var("SORTIE_KEYRING").as_deref().map(str::trim),
        Ok("off" | "0" | "false" | "no")
    )
}

/// The entry's user name: the data dir, made absolute.
fn entry_user(key_file: &Path) -> String {
    let dir = key_file.parent().unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    format!("store-key:{}", dir.display())
}

/// Runs `call` on its own thread with the entry, waiting at most [`KEYRING_WAIT`].
fn with_keyring<T: Send + 'static>(
    user: String,
    call: fn(&keyring::Entry) -> Result<T, String>,
) -> Result<T, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("sortie-keyring".into())
        .spawn(move || {
            let result = keyring::Entry::new(SERVICE, &user)
                .map_err(|e| e.to_string())
                .and_then(|entry| call(&entry));
            let _ = tx.send(result);
        })
        .map_err(|e| format!("cannot start a thread for the keyring: {e}"))?;
    rx.recv_timeout(KEYRING_WAIT)
        .unwrap_or_else(|_| Err(format!("no answer within {} s", KEYRING_WAIT.as_secs())))
}

/// The key in the entry, `None` when there is no entry.
fn read_key(entry: &keyring::Entry) -> Result<Option<Vec<u8>>, String> {
    match entry.get_password() {
        Ok(text) => decode(&text).map(Some),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// The key in the entry, made and stored (then read back) when there is none.
fn make_key(entry: &keyring::Entry) -> Result<Vec<u8>, String> {
    if let Some(key) = read_key(entry)? {
        return Ok(key);
    }
    let key = new_key(&ring::rand::SystemRandom::new())?;
    let text = base64::engine::general_purpose::STANDARD.encode(&key);
    entry.set_password(&text).map_err(|e| e.to_string())?;
    match read_key(entry)? {
        Some(stored) if stored == key => Ok(key),
        _ => Err("the keyring did not keep the key it was given".into()),
    }
}

fn decode(text: &str) -> Result<Vec<u8>, String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| "the keyring entry is not a Sortie key".to_string())?;
    if key.len() != KEY_LEN {
        return Err(format!(
            "the keyring entry holds {} bytes, not {KEY_LEN}",
            key.len()
        ));
    }
    Ok(key)
}

/// Records that the key is in the keyring: owner-only, made once.
fn write_marker(marker: &Path, user: &str) -> Result<(), String> {
    use std::io::Write;
    owner_only_file(false)
        .open(marker)
        .and_then(|mut f| {
            writeln!(
                f,
                "The key that seals this store's credentials is in the OS keyring: service `{SERVICE}`, user `{user}`."
            )?;
            f.sync_all()
        })
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_with_a_key_file_keeps_it_and_says_where() {
        let dir = tempfile::tempdir().expect("dir");
        let key_file = dir.path().join("store.key");
        assert_eq!(key_place(&key_file), None);
        Sealer::from_key_file(&key_file).expect("key");
        let sealer = sealer_for_store(&key_file).expect("sealer");
        assert!(
            sealer.describe().contains("store.key"),
            "{}",
            sealer.describe()
        );
        assert!(key_place(&key_file).expect("place").contains("store.key"));
    }

    #[test]
    fn a_keyring_store_whose_keyring_is_gone_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().expect("dir");
        let key_file = dir.path().join("store.key");
        write_marker(&marker_path(&key_file), "store-key:/x").expect("marker");
        // No session bus here: the keyring cannot answer.
        std::env::set_var("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
        let err = sealer_for_store(&key_file).expect_err("no keyring");
        assert!(err.contains("OS keyring"), "{err}");
        assert!(!key_file.exists(), "no key file was made in its place");
        assert!(key_place(&key_file).expect("place").contains("OS keyring"));
    }

    #[test]
    fn a_key_entry_must_be_a_sortie_key() {
        assert!(decode("not base64!").is_err());
        assert!(decode(&base64::engine::general_purpose::STANDARD.encode([1u8; 8])).is_err());
        let key = [7u8; KEY_LEN];
        let text = base64::engine::general_purpose::STANDARD.encode(key);
        assert_eq!(decode(&text).expect("key"), key);
    }
}
