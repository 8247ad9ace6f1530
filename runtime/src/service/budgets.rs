//! Budgets of a mission as a request asks for them: checked (each error names the field or
//! flag), put over `[budget]`'s defaults, and refused on a model whose spend cannot be
//! counted.

use anyhow::bail;
use sortie_missions::budget::{check_tokens, check_usd, parse_duration, Budget};
use sortie_missions::{Mission, MissionEvent, MissionId, MissionStore};

use crate::config::Config;

/// The budget fields of a request (`max_cost`, `max_tokens`, `max_duration`, as the flags
/// `--max-cost`, `--max-tokens`, `--max-duration`), checked.
pub fn requested(
    max_cost: Option<f64>,
    max_tokens: Option<u64>,
    max_duration: Option<&str>,
) -> anyhow::Result<Budget> {
    let err = anyhow::Error::msg;
    Ok(Budget {
        max_cost_usd: max_cost
            .map(|v| check_usd("--max-cost (max_cost)", v))
            .transpose()
            .map_err(err)?,
        max_tokens: max_tokens
            .map(|v| check_tokens("--max-tokens (max_tokens)", v))
            .transpose()
            .map_err(err)?,
        max_duration_secs: max_duration
            .map(|v| parse_duration("--max-duration (max_duration)", v).map(|d| d.as_secs()))
            .transpose()
            .map_err(err)?,
    })
}

/// A cost budget needs a price for `model` (the Claude Code CLI reports its own cost).
pub fn check_priced(
    config: &Config,
    budget: &Budget,
    model: &str,
    transport: &str,
) -> anyhow::Result<()> {
    if budget.max_cost_usd.is_none() || transport == "claude-code" {
        return Ok(());
    }
    if config.prices.contains_key(model) {
        return Ok(());
    }
    bail!(
        "a cost budget (--max-cost, or `[budget] max_cost` in config.toml) needs the price of model `{model}` to count what the mission spends; add it to {}:\n\n[prices.\"{model}\"]\ninput = 3.0     # USD per million input tokens\noutput = 15.0   # USD per million output tokens",
        config.path.display()
    )
}

/// The budget of a new mission: the request's limits over `[budget]`'s defaults.
pub fn for_new(config: &Config, asked: Budget) -> Budget {
    config.budget.defaults.overridden_by(asked)
}

/// On a resume: records the mission's new budget when the request changes it.
pub async fn record_change(
    store: &dyn MissionStore,
    id: &MissionId,
    before: &Mission,
    asked: Budget,
) -> anyhow::Result<()> {
    let budget = before.budget.overridden_by(asked);
    if budget != before.budget {
        store.append(id, MissionEvent::BudgetSet { budget }).await?;
    }
    Ok(())
}

/// A budget as one line: `$2.00 · 100,000 tokens · 30m`, or `none`.
pub fn describe(budget: &Budget) -> String {
    let mut parts = Vec::new();
    if let Some(usd) = budget.max_cost_usd {
        parts.push(format!("${usd:.2}"));
    }
    if let Some(t) = budget.max_tokens {
        parts.push(format!("{t} tokens"));
    }
    if let Some(s) = budget.max_duration_secs {
        parts.push(sortie_missions::budget::duration_text(s));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(" · ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_requests_name_the_flag() {
        let e = requested(Some(0.0), None, None).expect_err("zero");
        assert!(e.to_string().contains("--max-cost"), "{e}");
        let e = requested(None, None, Some("-5m")).expect_err("negative");
        assert!(e.to_string().contains("--max-duration"), "{e}");
        let e = requested(None, Some(0), None).expect_err("zero tokens");
        assert!(e.to_string().contains("--max-tokens"), "{e}");
        let b = requested(Some(2.5), Some(1000), Some("1h30m")).expect("fine");
        assert_eq!(describe(&b), "$2.50 · 1000 tokens · 1h30m");
    }
}
