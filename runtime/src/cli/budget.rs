//! `--max-cost`, `--max-tokens`, `--max-duration` (run, resume, schedule add), and
//! `sortie usage`: what was spent, by day, provider and schedule.

use std::process::ExitCode;

use clap::Args;

use crate::api::UsageReport;
use crate::handle::Sortie;

/// A mission's budget as flags; each is checked as it is parsed, naming the flag.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct BudgetArgs {
    /// Stop before the model call that would spend more than this many US dollars (at
    /// `[prices]`). Default: `[budget] max_cost`.
    #[arg(long, value_name = "USD", value_parser = parse_usd, allow_negative_numbers = true)]
    pub(crate) max_cost: Option<f64>,
    /// Stop before the model call that would use more than this many tokens (prompts and
    /// answers). Default: `[budget] max_tokens`.
    #[arg(long, value_name = "N", value_parser = parse_tokens, allow_negative_numbers = true)]
    pub(crate) max_tokens: Option<u64>,
    /// Stop before a model call once the mission has run this long (90s, 30m, 2h).
    /// Default: `[budget] max_duration`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    pub(crate) max_duration: Option<String>,
}

fn parse_usd(s: &str) -> Result<f64, String> {
    let usd: f64 = s
        .trim()
        .trim_start_matches('$')
        .parse()
        .map_err(|_| format!("`{s}` is not an amount of US dollars (like 2.50)"))?;
    sortie_missions::budget::check_usd("--max-cost", usd)
}

fn parse_tokens(s: &str) -> Result<u64, String> {
    let tokens: u64 = s
        .trim()
        .replace('_', "")
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number of tokens above 0"))?;
    sortie_missions::budget::check_tokens("--max-tokens", tokens)
}

fn parse_duration(s: &str) -> Result<String, String> {
    sortie_missions::budget::parse_duration("--max-duration", s)?;
    Ok(s.trim().to_string())
}

/// `sortie usage`: spend since `since` (`7d`, `24h`, or a date), as a table or JSON.
pub(crate) async fn usage(sortie: &Sortie, since: &str, json: bool) -> anyhow::Result<ExitCode> {
    let report = sortie.usage(since).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(ExitCode::SUCCESS)
}

fn table(r: &UsageReport) -> String {
    let mut out = format!(
        "since {} (UTC): ${:.4} · {} tokens · {} missions\n",
        r.since, r.total.cost_usd, r.total.tokens, r.total.missions
    );
    let mut section = |title: &str, rows: Vec<(String, &crate::api::UsageSum)>| {
        if rows.is_empty() {
            return;
        }
        out.push_str(&format!("\n{title}\n"));
        for (name, s) in rows {
            out.push_str(&format!(
                "  {name:<28} ${:>10.4}  {:>12} tokens  {:>4} missions\n",
                s.cost_usd, s.tokens, s.missions
            ));
        }
    };
    section(
        "by day",
        r.days.iter().map(|d| (d.day.to_string(), &d.sum)).collect(),
    );
    section(
        "by provider",
        r.providers
            .iter()
            .map(|p| (p.provider.clone(), &p.sum))
            .collect(),
    );
    section(
        "by schedule",
        r.schedules
            .iter()
            .map(|s| (s.name.clone().unwrap_or_else(|| s.schedule.clone()), &s.sum))
            .collect(),
    );
    out
}
