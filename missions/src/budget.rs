//! Budgets: what a mission may spend (`--max-cost`, `--max-tokens`, `--max-duration`), the
//! daily caps over every mission (`[budget] daily_usd`, `[budget.providers]`), and the one
//! decision that says whether the next model call may go.
//!
//! A call goes only when what was spent plus what the call is estimated to take stays
//! within every budget; else the mission stops before it, in `budget_reached`, and a
//! `resume` with a larger budget continues it.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A mission's own limits; `None`: no limit of that kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// US dollars, at the `[prices]` of its models (or the cost the CLI reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_usd: Option<f64>,
    /// Tokens read and written: the whole prompt of every call and its answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Seconds the mission may run (summed over its runs; time stopped does not count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_secs: Option<u64>,
}

impl Budget {
    /// True when no limit is set.
    pub fn is_empty(&self) -> bool {
        self.max_cost_usd.is_none() && self.max_tokens.is_none() && self.max_duration_secs.is_none()
    }

    /// These limits, each replaced by `other`'s where it sets one.
    pub fn overridden_by(self, other: Budget) -> Budget {
        Budget {
            max_cost_usd: other.max_cost_usd.or(self.max_cost_usd),
            max_tokens: other.max_tokens.or(self.max_tokens),
            max_duration_secs: other.max_duration_secs.or(self.max_duration_secs),
        }
    }
}

/// The most a budget may say: a million dollars, a trillion tokens, a year. Beyond these a
/// number is a typo, not a limit.
pub const MAX_COST_USD: f64 = 1_000_000.0;
pub const MAX_TOKENS: u64 = 1_000_000_000_000;
pub const MAX_DURATION_SECS: u64 = 366 * 86_400;

/// Checks a dollar amount given as `what` (a flag or a config key).
pub fn check_usd(what: &str, usd: f64) -> Result<f64, String> {
    if !usd.is_finite() || usd <= 0.0 {
        return Err(format!(
            "{what} must be a number of US dollars above 0 (got {usd})"
        ));
    }
    if usd > MAX_COST_USD {
        return Err(format!(
            "{what} of ${usd} is more than the ${MAX_COST_USD} a budget may be; is it a typo?"
        ));
    }
    Ok(usd)
}

/// Checks a token count given as `what`.
pub fn check_tokens(what: &str, tokens: u64) -> Result<u64, String> {
    if tokens == 0 {
        return Err(format!("{what} must be at least 1 token"));
    }
    if tokens > MAX_TOKENS {
        return Err(format!(
            "{what} of {tokens} tokens is more than the {MAX_TOKENS} a budget may be; is it a typo?"
        ));
    }
    Ok(tokens)
}

/// Parses a duration given as `what`: `90s`, `30m`, `2h`, `1d`, `1h30m`; above 0, at most a
/// year.
pub fn parse_duration(what: &str, text: &str) -> Result<Duration, String> {
    let bad =
        || format!("{what}: `{text}` is not a duration; write it like 90s, 30m, 2h, 1d or 1h30m");
    let total = crate::scheduler::duration_secs(text).ok_or_else(bad)?;
    if total == 0 {
        return Err(format!("{what} must be longer than 0 (got `{text}`)"));
    }
    if total > MAX_DURATION_SECS {
        return Err(format!(
            "{what} of `{text}` is longer than the 366 days a budget may be; is it a typo?"
        ));
    }
    Ok(Duration::from_secs(total))
}

/// `90s`, `30m`, `1h30m`: a number of seconds as a person writes it.
pub fn duration_text(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// `[budget] daily_usd` and `[budget.providers]`: what all missions together may spend in a
/// day (UTC), and per provider.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DailyCaps {
    pub total_usd: Option<f64>,
    pub providers: BTreeMap<String, f64>,
}

impl DailyCaps {
    pub fn is_empty(&self) -> bool {
        self.total_usd.is_none() && self.providers.is_empty()
    }
}

/// What one mission spent in one day (UTC) on one provider; the mission's record keeps
/// one per day and provider, so daily sums read records, not logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaySpend {
    pub day: NaiveDate,
    pub provider: String,
    #[serde(default)]
    pub cost_usd: f64,
    #[serde(default)]
    pub tokens: u64,
}

/// Adds a call's spend to a record's list.
pub(crate) fn add_spend(
    spend: &mut Vec<DaySpend>,
    day: NaiveDate,
    provider: &str,
    cost: f64,
    tokens: u64,
) {
    match spend
        .iter_mut()
        .find(|s| s.day == day && s.provider == provider)
    {
        Some(s) => {
            s.cost_usd += cost;
            s.tokens += tokens;
        }
        None => spend.push(DaySpend {
            day,
            provider: provider.to_string(),
            cost_usd: cost,
            tokens,
        }),
    }
}

/// Which budget a call would pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetKind {
    /// The mission's `--max-cost`.
    MaxCost,
    /// The mission's `--max-tokens`.
    MaxTokens,
    /// The mission's `--max-duration`.
    MaxDuration,
    /// `[budget] daily_usd`, over every mission.
    DailyUsd,
    /// `[budget.providers]`, over every mission on that provider.
    DailyProvider,
}

impl BudgetKind {
    /// The flag or config key that sets it.
    pub fn key(&self) -> &'static str {
        match self {
            BudgetKind::MaxCost => "--max-cost",
            BudgetKind::MaxTokens => "--max-tokens",
            BudgetKind::MaxDuration => "--max-duration",
            BudgetKind::DailyUsd => "[budget] daily_usd",
            BudgetKind::DailyProvider => "[budget.providers]",
        }
    }
}

/// What the next call would spend and what was spent, as the decision reads them.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub budget: Budget,
    /// What the mission spent so far (`None`: no price known).
    pub cost_usd: Option<f64>,
    pub tokens: u64,
    pub elapsed: Duration,
    /// The next call's estimate: the tokens of its prompt, and their cost.
    pub next_tokens: u64,
    pub next_cost_usd: f64,
    /// Today's spend over every mission, and on the mission's provider.
    pub daily: Option<DailyFacts>,
}

/// Today's caps and spend, for the provider the next call goes to.
#[derive(Debug, Clone, Default)]
pub struct DailyFacts {
    pub caps: DailyCaps,
    pub provider: String,
    pub spent_usd: f64,
    pub spent_provider_usd: f64,
}

/// The budget a call would pass: which, its limit, what was spent, what the call would
/// add, and by how much it would pass the limit (all in the budget's unit: US dollars,
/// tokens or seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reached {
    pub budget: BudgetKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub limit: f64,
    pub spent: f64,
    pub next: f64,
    pub over_by: f64,
}

impl Reached {
    /// How a person reads it, with the way on.
    pub fn message(&self, mission: &str) -> String {
        let (unit, fmt): (&str, fn(f64) -> String) = match self.budget {
            BudgetKind::MaxTokens => ("tokens", |v| format!("{v:.0}")),
            BudgetKind::MaxDuration => ("s", |v| format!("{v:.0}")),
            _ => ("USD", |v| format!("{v:.4}")),
        };
        let whose = match (&self.budget, &self.provider) {
            (BudgetKind::DailyProvider, Some(p)) => format!("{} {p}", self.budget.key()),
            _ => self.budget.key().to_string(),
        };
        let how = match self.budget {
            BudgetKind::MaxCost | BudgetKind::MaxTokens | BudgetKind::MaxDuration => format!(
                "continue with a larger one: sortie resume {mission} {} <more>",
                self.budget.key()
            ),
            _ => format!(
                "raise it in config.toml or wait for tomorrow (UTC), then: sortie resume {mission}"
            ),
        };
        format!(
            "budget reached: {whose} is {} {unit}; spent {} {unit}, the next call would add ~{} {unit}, passing it by {} {unit}; {how}",
            fmt(self.limit),
            fmt(self.spent),
            fmt(self.next),
            fmt(self.over_by),
        )
    }
}

/// Whether the next call may go: the first budget it would pass, else `None`. A limit
/// equal to what would be spent is not passed.
pub fn decide(f: &Facts) -> Option<Reached> {
    let check = |budget: BudgetKind, provider: Option<&str>, limit: f64, spent: f64, next: f64| {
        (spent + next > limit).then(|| Reached {
            budget,
            provider: provider.map(str::to_string),
            limit,
            spent,
            next,
            over_by: spent + next - limit,
        })
    };
    let b = &f.budget;
    let cost = f.cost_usd.unwrap_or(0.0);
    let mut found = None;
    if let Some(limit) = b.max_cost_usd {
        found = found.or_else(|| check(BudgetKind::MaxCost, None, limit, cost, f.next_cost_usd));
    }
    if let Some(limit) = b.max_tokens {
        found = found.or_else(|| {
            check(
                BudgetKind::MaxTokens,
                None,
                limit as f64,
                f.tokens as f64,
                f.next_tokens as f64,
            )
        });
    }
    if let Some(limit) = b.max_duration_secs {
        // The next call's length is not known: time up is time up.
        let spent = f.elapsed.as_secs_f64();
        if spent >= limit as f64 {
            found = found.or(Some(Reached {
                budget: BudgetKind::MaxDuration,
                provider: None,
                limit: limit as f64,
                spent,
                next: 0.0,
                over_by: spent - limit as f64,
            }));
        }
    }
    if let Some(d) = &f.daily {
        if let Some(limit) = d.caps.total_usd {
            found = found.or_else(|| {
                check(
                    BudgetKind::DailyUsd,
                    None,
                    limit,
                    d.spent_usd,
                    f.next_cost_usd,
                )
            });
        }
        if let Some(limit) = d.caps.providers.get(&d.provider) {
            found = found.or_else(|| {
                check(
                    BudgetKind::DailyProvider,
                    Some(&d.provider),
                    *limit,
                    d.spent_provider_usd,
                    f.next_cost_usd,
                )
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_bad_ones_name_the_flag() {
        assert_eq!(
            parse_duration("--max-duration", "1h30m"),
            Ok(Duration::from_secs(5400))
        );
        assert_eq!(
            parse_duration("--max-duration", "45s"),
            Ok(Duration::from_secs(45))
        );
        for bad in ["30x", "-5m", "", "m", "5", "1.5h"] {
            let e = parse_duration("--max-duration", bad).expect_err(bad);
            assert!(e.starts_with("--max-duration"), "{e}");
        }
        assert!(parse_duration("--max-duration", "0m")
            .expect_err("zero")
            .contains("longer than 0"));
        assert!(parse_duration("--max-duration", "400d")
            .expect_err("absurd")
            .contains("366 days"));
    }

    #[test]
    fn amounts_are_above_zero_and_sane() {
        assert!(check_usd("--max-cost", 0.0).is_err());
        assert!(check_usd("--max-cost", -1.0).is_err());
        assert!(check_usd("--max-cost", f64::NAN).is_err());
        assert!(check_usd("--max-cost", 1e12)
            .expect_err("absurd")
            .contains("typo"));
        assert_eq!(check_usd("--max-cost", 2.5), Ok(2.5));
        assert!(check_tokens("--max-tokens", 0).is_err());
        assert!(check_tokens("--max-tokens", u64::MAX).is_err());
    }

    #[test]
    fn a_call_that_would_pass_a_budget_does_not_go() {
        let mut f = Facts {
            budget: Budget {
                max_cost_usd: Some(1.0),
                max_tokens: Some(1000),
                max_duration_secs: Some(60),
            },
            cost_usd: Some(0.5),
            tokens: 400,
            next_tokens: 600,
            next_cost_usd: 0.5,
            elapsed: Duration::from_secs(10),
            daily: None,
        };
        assert_eq!(decide(&f), None, "reaching a limit exactly is within it");
        f.next_tokens = 601;
        let r = decide(&f).expect("tokens");
        assert_eq!(r.budget, BudgetKind::MaxTokens);
        assert_eq!(r.over_by, 1.0);
        f.next_cost_usd = 0.75;
        assert_eq!(decide(&f).expect("cost").budget, BudgetKind::MaxCost);
        let f = Facts {
            budget: Budget {
                max_duration_secs: Some(60),
                ..Default::default()
            },
            elapsed: Duration::from_secs(61),
            ..Default::default()
        };
        assert_eq!(decide(&f).expect("time").budget, BudgetKind::MaxDuration);
    }

    #[test]
    fn daily_caps_count_every_mission() {
        let f = Facts {
            next_cost_usd: 1.0,
            daily: Some(DailyFacts {
                caps: DailyCaps {
                    total_usd: Some(20.0),
                    providers: [("anthropic".to_string(), 10.0)].into(),
                },
                provider: "anthropic".into(),
                spent_usd: 12.0,
                spent_provider_usd: 9.5,
            }),
            ..Default::default()
        };
        let r = decide(&f).expect("provider cap");
        assert_eq!(r.budget, BudgetKind::DailyProvider);
        assert!(r.message("m").contains("[budget.providers] anthropic"));
        assert!((r.over_by - 0.5).abs() < 1e-9);
    }
}
