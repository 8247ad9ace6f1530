//! The runtime's side of the sandbox: `[sandbox]` and `[tools]` in config.toml, the
//! template every mission's sandbox is made from, and the sweep of what a Sortie process
//! that died left running.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sortie_sandbox::{EnvPolicy, Feature, Ledger, Sandbox, SandboxPolicy};

use crate::config::{Config, ConfigError, ProviderConfig, ToolsConfig};

/// The variable that names the features to treat as missing (`landlock,netns`), to see
/// and test how the sandbox degrades on a kernel without them.
pub const UNAVAILABLE_ENV: &str = "SORTIE_SANDBOX_UNAVAILABLE";

/// Refuses a `[sandbox]` or `[tools]` that cannot be what the user meant: relative roots,
/// and any secret handed to tools.
pub(crate) fn check(
    path: &Path,
    sandbox: &SandboxPolicy,
    tools: &ToolsConfig,
    providers: &BTreeMap<String, ProviderConfig>,
) -> Result<(), ConfigError> {
    let fail = |m: String| Err(ConfigError::Provider(format!("{}: {m}", path.display())));
    for (key, roots) in [
        ("writable_roots", &sandbox.writable_roots),
        ("deny_read", &sandbox.deny_read),
    ] {
        if let Some(p) = roots.iter().find(|p| !p.is_absolute()) {
            return fail(format!(
                "[sandbox] {key}: `{}` is not an absolute path",
                p.display()
            ));
        }
    }
    let policy = env_policy(tools, providers);
    let names = tools.env.keys().map(|k| ("env", k));
    for (key, name) in names.chain(tools.env_passthrough.iter().map(|n| ("env_passthrough", n))) {
        if let Some(why) = policy.refusal(name) {
            return fail(format!(
                "[tools] {key}: {why}; Sortie never gives tools a secret (their output goes to the model)"
            ));
        }
    }
    Ok(())
}

fn env_policy(tools: &ToolsConfig, providers: &BTreeMap<String, ProviderConfig>) -> EnvPolicy {
    EnvPolicy {
        set: tools.env.clone(),
        passthrough: tools.env_passthrough.clone(),
        secret_names: providers
            .values()
            .filter_map(|p| p.api_key_env.clone())
            .collect(),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_for_tools_and_relative_roots_are_config_errors() {
        let path = Path::new("/home/me/.sortie/config.toml");
        let parse = |text: &str| {
            Config::parse(path, text)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let e = parse("[tools]\nenv_passthrough = [\"GITHUB_TOKEN\"]\n").expect_err("token");
        assert!(e.contains("[tools] env_passthrough: `GITHUB_TOKEN`"), "{e}");
        let e = parse(
            "[providers.corp]\nkind = \"openai-compatible\"\nbase_url = \"http://x\"\napi_key_env = \"CORP_LLM\"\n[tools]\nenv_passthrough = [\"CORP_LLM\"]\n",
        )
        .expect_err("a provider's key");
        assert!(e.contains("api_key_env"), "{e}");
        let e = parse("[sandbox]\nwritable_roots = [\"cache\"]\n").expect_err("relative");
        assert!(e.contains("`cache` is not an absolute path"), "{e}");
        let e = parse("[sandbox]\nmode = \"strict\"\n").expect_err("mode");
        assert!(e.contains("strict"), "{e}");
        parse("[sandbox]\nmode = \"read-only\"\nnetwork = false\n[tools]\nenv = { CARGO_TERM_COLOR = \"never\" }\nenv_passthrough = [\"CARGO_HOME\"]\n")
            .expect("valid");
    }
}
