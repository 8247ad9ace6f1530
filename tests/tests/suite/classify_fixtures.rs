//! The classifier against real provider error bodies (`tests/fixtures/errors/`, copied from
//! the shared fixtures; each file names the class it must get).

use std::path::{Path, PathBuf};

use serde_json::Value;
use sortie_transports::classify::describe;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/errors")
}

#[test]
fn every_error_fixture_gets_its_expected_class() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for entry in std::fs::read_dir(fixtures_dir()).expect("fixtures dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read"))
            .expect("fixture JSON");
        let status = fixture["status"].as_u64().expect("status") as u16;
        let headers: Vec<(String, String)> = fixture["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let body = fixture["body"].as_str().expect("body");
        let verdict = describe(status, &headers, body.as_bytes());
        let expected = fixture["expected_class"].as_str().expect("expected_class");
        if verdict.class.as_str() != expected {
            wrong.push(format!(
                "{}: expected {expected}, got {}",
                path.display(),
                verdict.class
            ));
        }
        assert!(
            !verdict.message.is_empty(),
            "{}: empty message",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 19, "only {checked} fixtures found");
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
            let ours = std::fs::read(fixtures_dir().join(name)).unwrap_or_default();
            assert_eq!(
                ours,
                std::fs::read(&path).expect("read"),
                "{} differs from the shared copy",
                name.to_string_lossy()
            );
        }
    }
}
