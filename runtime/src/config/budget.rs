//! `[budget]`: the limits a mission gets when it names none, and the daily caps over every
//! mission (UTC days), in total and per provider.
//!
//! ```toml
//! [budget]
//! max_cost = 2.0          # USD per mission, at [prices]
//! max_tokens = 2000000    # tokens per mission (prompts and answers)
//! max_duration = "30m"    # running time per mission
//! daily_usd = 20          # all missions of a day together
//! [budget.providers]
//! anthropic = 10          # all missions of a day on this provider
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use sortie_missions::budget::{check_tokens, check_usd, parse_duration, Budget, DailyCaps};

use super::ConfigError;

/// `[budget]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetFile {
    max_cost: Option<f64>,
    max_tokens: Option<u64>,
    max_duration: Option<String>,
    daily_usd: Option<f64>,
    providers: BTreeMap<String, f64>,
}

/// `[budget]`, checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BudgetConfig {
    /// What a mission gets when it names no limit of a kind.
    pub defaults: Budget,
    pub daily: DailyCaps,
}

impl BudgetFile {
    /// Checks every amount; an error names the file and the key.
    pub fn check(self, path: &Path) -> Result<BudgetConfig, ConfigError> {
        let bad = |m: String| ConfigError::Provider(format!("{}: {m}", path.display()));
        let defaults = Budget {
            max_cost_usd: self
                .max_cost
                .map(|v| check_usd("[budget] max_cost", v))
                .transpose()
                .map_err(bad)?,
            max_tokens: self
                .max_tokens
                .map(|v| check_tokens("[budget] max_tokens", v))
                .transpose()
                .map_err(bad)?,
            max_duration_secs: self
                .max_duration
                .as_deref()
                .map(|v| parse_duration("[budget] max_duration", v).map(|d| d.as_secs()))
                .transpose()
                .map_err(bad)?,
        };
        let mut providers = BTreeMap::new();
        for (name, usd) in self.providers {
            let usd = check_usd(&format!("[budget.providers] {name}"), usd).map_err(bad)?;
            providers.insert(name, usd);
        }
        Ok(BudgetConfig {
            defaults,
            daily: DailyCaps {
                total_usd: self
                    .daily_usd
                    .map(|v| check_usd("[budget] daily_usd", v))
                    .transpose()
                    .map_err(bad)?,
                providers,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use std::path::Path;

    fn parse(text: &str) -> Result<Config, super::ConfigError> {
        Config::parse(Path::new("/h/config.toml"), text)
    }

    #[test]
    fn the_documented_shape_parses() {
        let c = parse(
            "[budget]\nmax_cost = 2.0\nmax_duration = \"30m\"\ndaily_usd = 20\n[budget.providers]\nanthropic = 10\n",
        )
        .expect("parses");
        assert_eq!(c.budget.defaults.max_cost_usd, Some(2.0));
        assert_eq!(c.budget.defaults.max_duration_secs, Some(1800));
        assert_eq!(c.budget.daily.total_usd, Some(20.0));
        assert_eq!(c.budget.daily.providers["anthropic"], 10.0);
    }

    #[test]
    fn bad_amounts_name_the_key() {
        for (text, key) in [
            ("[budget]\ndaily_usd = 0\n", "[budget] daily_usd"),
            ("[budget]\nmax_cost = -1.5\n", "[budget] max_cost"),
            (
                "[budget]\nmax_duration = \"30x\"\n",
                "[budget] max_duration",
            ),
            ("[budget]\nmax_tokens = 0\n", "[budget] max_tokens"),
            (
                "[budget.providers]\nanthropic = 1e9\n",
                "[budget.providers] anthropic",
            ),
        ] {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(key) && e.starts_with("/h/config.toml"), "{e}");
        }
    }
}
