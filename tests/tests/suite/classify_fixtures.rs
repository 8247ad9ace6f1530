//! The classifier against real provider error bodies (`tests/fixtures/errors/`, copied from
//! the shared fixtures; each file names the class it must get).

use std::path::Path;

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

/// The copy here must not drift from the shared fixtures when they are beside the checkout.
#[test]
fn the_vendored_fixtures_match_the_shared_ones() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/errors");
    let Ok(entries) = std::fs::read_dir(&shared) else {
        eprintln!(
            "no shared fixtures at {}; only the vendored copy is checked",
            shared.display()
        );
        return;
    };
    for entry in entries {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path.file_name().expect("name");
            let ours = std::fs::read(error_fixtures_dir().join(name)).unwrap_or_default();
            assert_eq!(
                ours,
                std::fs::read(&path).expect("read"),
                "{} differs from the shared copy",
                name.to_string_lossy()
            );
        }
    }
}
