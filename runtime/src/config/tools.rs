//! `[tools]`: the built-in tools a mission runs. Its own struct, so that keys join it
//! without touching the rest of the config.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use sortie_missions::tools::{ToolBox, DEFAULT_MAX_OUTPUT_BYTES};

/// `[tools]` in config.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolsConfig {
    /// Output (both streams) a shell command may write in all before it is killed; the
    /// model gets its head and tail either way.
    #[serde(deserialize_with = "at_least_one")]
    pub max_output_bytes: u64,
    /// Variables tool processes get, beside the allow-list (PATH, HOME, USER, SHELL, LANG,
    /// LC_*, TERM, TZ, TMPDIR).
    pub env: BTreeMap<String, String>,
    /// Variables copied from Sortie's own environment when set there.
    pub env_passthrough: Vec<String>,
}

impl Default for ToolsConfig {
    fn default() -> Self {
        Self {
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            env: BTreeMap::new(),
            env_passthrough: Vec::new(),
        }
    }
}

impl ToolsConfig {
    /// The tools as this table sets them.
    pub fn toolbox(&self) -> ToolBox {
        ToolBox {
            max_output_bytes: self.max_output_bytes,
            ..ToolBox::default()
        }
    }
}

fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = u64::deserialize(d)?;
    if n == 0 {
        return Err(serde::de::Error::custom(format!(
            "max_output_bytes must be at least 1 (the bytes a shell command may write before it is killed; default {DEFAULT_MAX_OUTPUT_BYTES}, 64 MiB)"
        )));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use std::path::Path;

    #[test]
    fn max_output_bytes_defaults_to_64_mib_and_zero_is_refused_with_its_line() {
        let path = Path::new("config.toml");
        let config = Config::parse(path, "").expect("empty config");
        assert_eq!(config.tools.max_output_bytes, 64 * 1024 * 1024);
        let config = Config::parse(path, "[tools]\nmax_output_bytes = 1000\n").expect("config");
        assert_eq!(config.tools.toolbox().max_output_bytes, 1000);
        let err = Config::parse(path, "\n[tools]\nmax_output_bytes = 0\n")
            .expect_err("zero")
            .to_string();
        assert!(err.contains("must be at least 1"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        let err = Config::parse(path, "[tools]\nmax_output = 10\n")
            .expect_err("unknown key")
            .to_string();
        assert!(err.contains("max_output"), "{err}");
    }
}
