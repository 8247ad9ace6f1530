//! The environment of a contained process: an allow-list, never a secret.

use std::collections::BTreeMap;

/// Variables passed on from the owner's environment to every contained process.
pub const ALLOWED: &[&str] = &["PATH", "HOME", "USER", "SHELL", "LANG", "TERM", "TZ"];

/// `[tools] env` and `env_passthrough`: what a tool process gets beyond the allow-list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvPolicy {
    /// Set as given.
    pub set: BTreeMap<String, String>,
    /// Copied from the owner's environment when present.
    pub passthrough: Vec<String>,
    /// Names that hold secrets of this setup (the variables `api_key_env` names): never
    /// passed, whatever else says so.
    pub secret_names: Vec<String>,
}

impl EnvPolicy {
    /// Why `name` may never reach a tool process, or `None` when it may.
    pub fn refusal(&self, name: &str) -> Option<String> {
        if self.secret_names.iter().any(|s| s == name) {
            return Some(format!("`{name}` holds a provider key (`api_key_env`)"));
        }
        looks_secret(name).map(|why| format!("`{name}` {why}"))
    }

    /// The environment for a contained process, from the owner's `vars`: the allow-list,
    /// `LC_*`, then the passthrough and the set variables, minus anything secret.
    pub fn build(
        &self,
        vars: impl IntoIterator<Item = (String, String)>,
        tool_extras: bool,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (k, v) in vars {
            let allowed = ALLOWED.contains(&k.as_str())
                || k.starts_with("LC_")
                || (tool_extras && self.passthrough.contains(&k));
            if allowed && self.refusal(&k).is_none() {
                out.insert(k, v);
            }
        }
        if tool_extras {
            for (k, v) in &self.set {
                if self.refusal(k).is_none() {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        out
    }
}

/// Names that say they hold a secret, or that are Sortie's own.
fn looks_secret(name: &str) -> Option<&'static str> {
    let upper = name.to_ascii_uppercase();
    if upper.starts_with("SORTIE_") {
        return Some("is Sortie's own");
    }
    const MARKS: &[&str] = &[
        "API_KEY",
        "APIKEY",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "PRIVATE_KEY",
        "ACCESS_KEY",
    ];
    MARKS
        .iter()
        .any(|m| upper.contains(m))
        .then_some("looks like a secret (key, token, password)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_the_allow_list_and_what_the_config_adds_get_through() {
        let policy = EnvPolicy {
            set: [("FOO".to_string(), "1".to_string())].into(),
            passthrough: vec!["CARGO_HOME".into(), "GITHUB_TOKEN".into()],
            secret_names: vec!["CORP_LLM".into()],
        };
        let env = policy.build(
            vars(&[
                ("PATH", "/bin"),
                ("LC_ALL", "C"),
                ("OPENAI_API_KEY", "sk-1"),
                ("CORP_LLM", "k"),
                ("SORTIE_HOME", "/h"),
                ("CARGO_HOME", "/c"),
                ("GITHUB_TOKEN", "t"),
                ("RANDOM_THING", "x"),
            ]),
            true,
        );
        let names: Vec<&str> = env.keys().map(String::as_str).collect();
        assert_eq!(names, ["CARGO_HOME", "FOO", "LC_ALL", "PATH"]);
        let bare = policy.build(vars(&[("PATH", "/bin"), ("CARGO_HOME", "/c")]), false);
        assert_eq!(bare.keys().collect::<Vec<_>>(), ["PATH"]);
    }

    #[test]
    fn secret_names_are_refused_with_a_reason() {
        let policy = EnvPolicy {
            secret_names: vec!["CORP_LLM".into()],
            ..EnvPolicy::default()
        };
        assert!(policy
            .refusal("CORP_LLM")
            .expect("refused")
            .contains("api_key_env"));
        assert!(policy.refusal("SORTIE_TOKEN_X").is_some());
        assert!(policy.refusal("my_api_key").is_some());
        assert_eq!(policy.refusal("CARGO_HOME"), None);
    }
}
