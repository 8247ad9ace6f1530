//! Credentials at rest: each stored record is sealed with ChaCha20-Poly1305 under a key
//! kept outside the store: in the OS keyring when one answers (see [`super::os_keyring`]),
//! else in an owner-only key file beside it (`store.key`). A record written before sealing
//! existed is read as it is and sealed at its next write.

use std::io::Write;
use std::path::Path;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

/// The first bytes of a sealed record (a plain record is JSON and starts with `{`).
const MAGIC: &[u8] = b"SRT1";
pub(crate) const KEY_LEN: usize = 32;

/// Seals and opens credential records with one key.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
    /// Where the key is kept, as a person reads it: "in /x/store.key, owner-only".
    origin: String,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer({})", self.origin)
    }
}

impl Sealer {
    /// The key in `path`, created (32 random bytes, owner-only) when there is none yet.
    /// A key file others can read, or of the wrong size, is refused with what to do.
    pub fn from_key_file(path: &Path) -> Result<Self, String> {
        let rng = SystemRandom::new();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key(path, &rng)?,
            Err(e) => return Err(format!("cannot read the key file {}: {e}", path.display())),
        };
        check_owner_only(path)?;
        if bytes.len() != KEY_LEN {
            return Err(format!(
                "the key file {} holds {} bytes, not {KEY_LEN}; restore it from a backup (without it the stored tokens cannot be read)",
                path.display(),
                bytes.len()
            ));
        }
        Self::from_key(&bytes, format!("in {}, owner-only", path.display()))
    }

    /// The key in environment variable `var` (`[store] key_env`): 32 bytes in base64, as
    /// `openssl rand -base64 32` prints them. Daemons sharing a store share this key.
    pub fn from_env(var: &str) -> Result<Self, String> {
        use base64::Engine;
        let text = std::env::var(var).map_err(|e| match e {
            std::env::VarError::NotPresent => format!(
                "[store] key_env names ${var}, which is not set; set it to the store's key (make one with `openssl rand -base64 32`; every daemon of the store needs the same)"
            ),
            std::env::VarError::NotUnicode(_) => {
                format!("${var} (the store's key) is not text; it should be base64")
            }
        })?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| {
                format!("${var} (the store's key) is not base64; make one with `openssl rand -base64 32`")
            })?;
        if key.len() != KEY_LEN {
            return Err(format!(
                "${var} (the store's key) holds {} bytes, not {KEY_LEN}; make one with `openssl rand -base64 32`",
                key.len()
            ));
        }
        Self::from_key(&key, format!("from ${var}"))
    }

    /// A sealer over `key` (32 bytes), kept where `origin` says.
    pub(crate) fn from_key(key: &[u8], origin: String) -> Result<Self, String> {
        let key = UnboundKey::new(&CHACHA20_POLY1305, key)
            .map_err(|_| format!("the key {origin} is not usable"))?;
        Ok(Self {
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
            origin,
        })
    }

    /// Where the key is kept, as a person reads it ("from $SORTIE_STORE_KEY").
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Where the key is kept, for `auth status`.
    pub fn describe(&self) -> String {
        format!("encrypted at rest (ChaCha20-Poly1305; key {})", self.origin)
    }

    /// `MAGIC`, a random nonce, and the ciphertext with its tag.
    pub fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| "no randomness for a nonce".to_string())?;
        let mut body = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(MAGIC),
                &mut body,
            )
            .map_err(|_| "sealing a credential failed".to_string())?;
        let mut out = Vec::with_capacity(MAGIC.len() + NONCE_LEN + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// The plain record: opened when sealed, as it is when written before sealing.
    pub fn open(&self, raw: &[u8]) -> Result<Vec<u8>, String> {
        let Some(rest) = raw.strip_prefix(MAGIC) else {
            return Ok(raw.to_vec());
        };
        if rest.len() < NONCE_LEN {
            return Err("a sealed record is truncated".into());
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| "a sealed record has a bad nonce".to_string())?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(MAGIC), &mut body)
            .map_err(|_| {
                format!(
                    "it was sealed with another key than the one {} (restore that key, or log in again)",
                    self.origin
                )
            })?;
        Ok(plain.to_vec())
    }
}

/// Whether a stored record is sealed.
pub fn is_sealed(raw: &[u8]) -> bool {
    raw.starts_with(MAGIC)
}

/// 32 random bytes for a new key.
pub(crate) fn new_key(rng: &SystemRandom) -> Result<Vec<u8>, String> {
    let mut key = vec![0u8; KEY_LEN];
    rng.fill(&mut key)
        .map_err(|_| "no randomness for a key".to_string())?;
    Ok(key)
}

fn create_key(path: &Path, rng: &SystemRandom) -> Result<Vec<u8>, String> {
    let key = new_key(rng)?;
    match owner_only_file(true).open(path) {
        Ok(mut file) => {
            file.write_all(&key)
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot write the key file {}: {e}", path.display()))?;
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read(path)
            .map_err(|e| format!("cannot read the key file {}: {e}", path.display())),
        Err(e) => Err(format!(
            "cannot create the key file {}: {e}",
            path.display()
        )),
    }
}

/// Options that write a file only its owner can read (0600 from the start): a new one
/// only when `new`, else created or truncated.
pub(crate) fn owner_only_file(new: bool) -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if new {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

fn check_owner_only(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "the key file {} can be read by others (mode {:o}); run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_records_open_with_their_key_only_and_plain_ones_pass_through() {
        let dir = tempfile::tempdir().expect("dir");
        let sealer = Sealer::from_key_file(&dir.path().join("store.key")).expect("key");
        let sealed = sealer.seal(br#"{"token":"rt-secret"}"#).expect("seal");
        assert!(is_sealed(&sealed));
        assert!(!String::from_utf8_lossy(&sealed).contains("rt-secret"));
        assert_eq!(
            sealer.open(&sealed).expect("open"),
            br#"{"token":"rt-secret"}"#
        );
        assert_eq!(sealer.open(b"{}").expect("plain"), b"{}");
        // The same file again: the same key.
        let again = Sealer::from_key_file(&dir.path().join("store.key")).expect("key");
        assert!(again.open(&sealed).is_ok());
        let other = Sealer::from_key_file(&dir.path().join("other.key")).expect("key");
        let err = other.open(&sealed).expect_err("another key");
        assert!(err.contains("another key"), "{err}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join("store.key");
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let err = Sealer::from_key_file(&path).expect_err("readable by others");
            assert!(err.contains("chmod 600"), "{err}");
        }
    }
}
