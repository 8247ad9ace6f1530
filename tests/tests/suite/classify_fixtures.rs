//! The classifier against real provider error bodies (`tests/fixtures/errors/`, copied from
//! the shared fixtures, listed with their digests in its `SHA256SUMS`; each file names the
//! class it must get).

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use sortie_tests::{error_fixtures, error_fixtures_dir};
use sortie_transports::classify::describe;

#[test]
fn every_error_fixture_gets_its_expected_class() {
    let fixtures = error_fixtures();
    assert!(
        fixtures.len() >= 19,
        "only {} fixtures found",
        fixtures.len()
    );
    let wrong: Vec<String> = fixtures
        .iter()
        .filter_map(|f| {
            let verdict = describe(f.status, &f.headers, &f.body);
            assert!(!verdict.message.is_empty(), "{}: empty message", f.file);
            (verdict.class.as_str() != f.expected_class).then(|| {
                format!(
                    "{}: expected {}, got {}",
                    f.file, f.expected_class, verdict.class
                )
            })
        })
        .collect();
    assert!(wrong.is_empty(), "misclassified:\n{}", wrong.join("\n"));
}

#[test]
fn retry_after_is_read_from_seconds_and_http_dates() {
    let v = describe(429, &[("Retry-After".into(), "12".into())], b"{}");
    assert_eq!(v.retry_after, Some(std::time::Duration::from_secs(12)));
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
    let v = describe(429, &[("retry-after".into(), soon)], b"{}");
    let secs = v.retry_after.expect("a wait").as_secs();
    assert!((25..=30).contains(&secs), "{secs}");
}

/// The shared set as vendored: `tests/fixtures/errors/SHA256SUMS`, name -> digest.
fn vendored_manifest() -> BTreeMap<String, String> {
    let path = error_fixtures_dir().join("SHA256SUMS");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| {
            let (digest, name) = line
                .split_once("  ")
                .unwrap_or_else(|| panic!("SHA256SUMS: `{line}` is not `digest  name`"));
            (name.to_string(), digest.to_string())
        })
        .collect()
}

fn sha256_hex(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The fixtures copied from the shared set are all in the repo, unchanged (project-only
/// fixtures may stand beside them). Runs in a clean clone: nothing outside the repo needed.
#[test]
fn the_vendored_shared_fixtures_are_all_here_unchanged() {
    let manifest = vendored_manifest();
    assert!(manifest.len() >= 19, "only {} listed", manifest.len());
    for (name, digest) in &manifest {
        assert_eq!(
            &sha256_hex(&error_fixtures_dir().join(name)),
            digest,
            "{name} differs from the shared copy it was vendored from"
        );
    }
}

/// The vendored set is the shared one as it is now. Needs `../shared` beside the checkout
/// (the workspace, not a clean clone), so it runs on request and fails without it:
/// `cargo test -p sortie-tests --test all -- --ignored classify_fixtures`.
#[test]
#[ignore = "compares with ../shared/fixtures/errors beside the checkout; run with --ignored there"]
fn the_vendored_fixtures_match_the_shared_ones() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/errors");
    let entries = std::fs::read_dir(&shared).unwrap_or_else(|e| {
        panic!(
            "no shared fixtures at {} ({e}): this check needs the shared folder beside the checkout",
            shared.display()
        )
    });
    let now: BTreeMap<String, String> = entries
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .to_string();
            (name, sha256_hex(&path))
        })
        .collect();
    assert_eq!(
        vendored_manifest(),
        now,
        "the shared fixtures changed: copy them to tests/fixtures/errors and run `sha256sum *.json > SHA256SUMS` there"
    );
}
