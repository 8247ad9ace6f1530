//! Test support for Sortie: mock providers on loopback with fault injection, and a handle
//! on the real `sortie` binary.

pub mod accounts;
pub mod anthropic_wire;
pub mod claude;
pub mod cluster;
pub mod daemon;
pub mod gated_store;
pub mod keyring;
pub mod lean_mock;
pub mod mcp_oauth;
pub mod mcp_servers;
pub mod mcp_sse_servers;
pub mod mock;
pub mod oauth_server;
pub mod postgres;
pub mod responses_wire;
pub mod stats;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

pub use mock::{End, Frame, MockProvider, Reply};

/// The `sortie` binary of this workspace, built (once per test process) if needed.
pub fn sortie_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // The test executable lives in target/<profile>/deps/.
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target/<profile>")
            .to_path_buf();
        let mut build = Command::new(env!("CARGO"));
        // Both binaries: `sortie` starts tool processes through `sortie-sandbox` beside it.
        build.args(["build", "-q", "-p", "sortie", "--bins"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let out = build.output().expect("run cargo build");
        assert!(
            out.status.success(),
            "building sortie failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = profile_dir.join("sortie");
        assert!(bin.exists(), "no binary at {}", bin.display());
        bin
    })
    .clone()
}

/// A `sortie` command with its own data dir and no provider variables from the host.
pub fn sortie(home: &std::path::Path) -> Command {
    let mut cmd = Command::new(sortie_bin());
    cmd.env("SORTIE_HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("SORTIE_LOG")
        // Tests start daemons themselves (see `daemon::DaemonProc`) or test autostart on purpose.
        .env("SORTIE_AUTOSTART", "0")
        // Never the keyring of the person running the tests (see `keyring::SecretService`).
        .env("SORTIE_KEYRING", "off")
        .stdin(std::process::Stdio::null());
    cmd
}

/// Runs a command to its end (at most 120 s) without blocking the test's runtime, where
/// the mock provider lives.
pub async fn run_to_end(cmd: Command) -> std::process::Output {
    let mut cmd = tokio::process::Command::from(cmd);
    tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .expect("finished in time")
        .expect("ran")
}

/// Bytes a command printed, as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Writes a config.toml with one OpenAI-compatible provider `local` pointing at `base_url`.
/// Titles are off, so a test's scripted replies meet exactly the mission's own turns
/// (tests that want titles script them and leave this helper out).
pub fn write_local_config(home: &std::path::Path, base_url: &str, extra: &str) {
    std::fs::create_dir_all(home).expect("home");
    std::fs::write(
        home.join("config.toml"),
        format!(
            "default_provider = \"local\"\n\n[providers.local]\nkind = \"openai-compatible\"\nbase_url = \"{base_url}\"\nmodel = \"mock-model\"\n{extra}\n\n[auxiliary]\ntitles = false\n"
        ),
    )
    .expect("write config");
}

/// One provider error body from `tests/fixtures/errors/`.
#[derive(Debug, Clone)]
pub struct ErrorFixture {
    pub file: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub expected_class: String,
}

/// The directory of the error fixtures (copied from the shared fixtures).
pub fn error_fixtures_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/errors")
}

/// Every error fixture, in file-name order. Panics on a malformed file: a fixture that
/// cannot be read must fail the test that uses it.
pub fn error_fixtures() -> Vec<ErrorFixture> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(error_fixtures_dir())
        .expect("fixtures dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let file = path.display().to_string();
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("read"))
                    .expect("fixture JSON");
            let field = |k: &str| v.get(k).unwrap_or_else(|| panic!("{file}: no `{k}`"));
            ErrorFixture {
                status: field("status").as_u64().expect("status") as u16,
                headers: field("headers")
                    .as_object()
                    .expect("headers")
                    .iter()
                    .map(|(k, x)| (k.clone(), x.as_str().unwrap_or_default().to_string()))
                    .collect(),
                body: field("body").as_str().expect("body").as_bytes().to_vec(),
                expected_class: field("expected_class").as_str().expect("class").to_string(),
                file,
            }
        })
        .collect()
}
