//! `[sandbox]` and `[tools]` checked together: relative roots, and secrets handed to tools.

use std::collections::BTreeMap;
use std::path::Path;

use sortie_sandbox::{EnvPolicy, SandboxPolicy};

use super::{ConfigError, ProviderConfig, ToolsConfig};

/// Refuses a `[sandbox]` or `[tools]` that cannot be what the user meant: relative roots,
/// and any secret handed to tools.
pub(super) fn check(
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

pub(crate) fn env_policy(
    tools: &ToolsConfig,
    providers: &BTreeMap<String, ProviderConfig>,
) -> EnvPolicy {
    EnvPolicy {
        set: tools.env.clone(),
        passthrough: tools.env_passthrough.clone(),
        secret_names: providers
            .values()
            .filter_map(|p| p.api_key_env.clone())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use std::path::Path;

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
