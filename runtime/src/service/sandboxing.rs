//! The runtime's side of the sandbox: the
//! template every mission's sandbox is made from, and the sweep of what a Sortie process
//! that died left running.

use std::path::{Path, PathBuf};

use sortie_sandbox::{Feature, Ledger, Sandbox};

use crate::config::sandbox::env_policy;
use crate::config::Config;

/// The variable that names the features to treat as missing (`landlock,netns`), to see
/// and test how the sandbox degrades on a kernel without them.
pub const UNAVAILABLE_ENV: &str = "SORTIE_SANDBOX_UNAVAILABLE";

/// What every mission's sandbox on this data dir is made from.
pub fn template(home: &Path, config: &Config) -> Sandbox {
    Sandbox {
        policy: config.sandbox.clone(),
        cwd: PathBuf::new(),
        tmpdir: home.join("tmp"),
        data_dir: home
            .canonicalize()
            .ok()
            .or_else(|| Some(home.to_path_buf())),
        launcher: launcher(),
        env: env_policy(&config.tools, &config.providers),
        ledger: ledger(home),
        unavailable: unavailable(),
        required: Vec::new(),
    }
}

fn ledger(home: &Path) -> Option<Ledger> {
    Ledger::open(home.join("processes"))
        .map_err(|e| {
            tracing::warn!(
                "cannot open the process ledger under {}: {e}",
                home.display()
            )
        })
        .ok()
}

/// Kills what a Sortie process that owned this data dir and died left running (its
/// tools, its Claude Code CLI), before anything is resumed. One line per group killed.
pub fn sweep(home: &Path) -> Vec<String> {
    ledger(home).map(|l| l.sweep()).unwrap_or_default()
}

/// The launcher: `sortie-sandbox` beside this binary (it starts in a quarter of the time),
/// else the `sortie` binary itself; `None` when this process is not `sortie` (a test
/// harness using the library), and then programs run unconfined.
fn launcher() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    if exe.file_stem()?.to_str()? != "sortie" {
        return None;
    }
    let small = exe.with_file_name(format!("sortie-sandbox{}", std::env::consts::EXE_SUFFIX));
    Some(if small.is_file() { small } else { exe })
}

fn unavailable() -> Vec<Feature> {
    std::env::var(UNAVAILABLE_ENV)
        .map(|v| {
            v.split(',')
                .filter(|s| !s.trim().is_empty())
                .filter_map(|s| {
                    s.parse()
                        .map_err(|e| tracing::warn!("{UNAVAILABLE_ENV}: {e}"))
                        .ok()
                })
                .collect()
        })
        .unwrap_or_default()
}
