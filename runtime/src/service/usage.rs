//! `sortie usage`: what missions spent since a day, from their records (each keeps its
//! spend per day and provider), summed by day, provider and schedule.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, Utc};
use sortie_missions::budget::{parse_duration, DaySpend};
use sortie_missions::scheduler::RunOutcome;
use sortie_missions::{Mission, MissionId, MissionStore};

use crate::api::{DayUsage, ProviderUsage, ScheduleUsage, UsageReport, UsageSum};

/// The first day `since` covers: `7d` (today and the 6 days before), `24h`, or a date.
pub fn since_day(since: &str, today: NaiveDate) -> anyhow::Result<NaiveDate> {
    if let Ok(day) = NaiveDate::parse_from_str(since.trim(), "%Y-%m-%d") {
        return Ok(day);
    }
    let span = parse_duration("--since", since).map_err(|e| {
        // The spans are the budgets' (at most 366 days); a date goes back further.
        if e.contains("366 days") {
            anyhow::anyhow!(
                "--since `{}` goes back more than 366 days; give the first day as a date instead (like 2025-01-01)",
                since.trim()
            )
        } else {
            anyhow::Error::msg(e)
                .context("give --since as a duration (7d, 24h) or a date (2026-11-01)")
        }
    })?;
    let days = span.as_secs().div_ceil(86_400).max(1);
    Ok(today - chrono::Days::new(days - 1))
}

/// What a mission spent, per day and provider; a record from before budgets counts its
/// whole cost on the day it was last updated.
fn spend_of(m: &Mission) -> Vec<DaySpend> {
    if !m.spend.is_empty() || m.cost_usd.is_none() {
        return m.spend.clone();
    }
    vec![DaySpend {
        day: m.updated_at.date_naive(),
        provider: m.provider.clone(),
        cost_usd: m.cost_usd.unwrap_or(0.0),
        tokens: m.usage.prompt_tokens() + m.usage.output_tokens,
    }]
}

/// Adds one mission's spend to a sum, counting the mission once.
#[derive(Default)]
struct Summing {
    sum: UsageSum,
    seen: std::collections::HashSet<MissionId>,
}

impl Summing {
    fn add(&mut self, id: MissionId, s: &DaySpend) {
        self.sum.cost_usd += s.cost_usd;
        self.sum.tokens += s.tokens;
        if self.seen.insert(id) {
            self.sum.missions += 1;
        }
    }
}

/// The sums since `since`.
pub async fn report(store: &dyn MissionStore, since: NaiveDate) -> anyhow::Result<UsageReport> {
    let (missions, _) = store.missions().await?;
    let (schedules, _) = store.schedules().await?;
    let mut started_by: HashMap<MissionId, (String, Option<String>)> = HashMap::new();
    for s in &schedules {
        for run in &s.runs {
            if let RunOutcome::Started { mission } = run.outcome {
                started_by.insert(mission, (s.id.clone(), s.name.clone()));
            }
        }
    }
    let mut total = Summing::default();
    let mut days: BTreeMap<NaiveDate, Summing> = BTreeMap::new();
    let mut providers: BTreeMap<String, Summing> = BTreeMap::new();
    let mut by_schedule: BTreeMap<String, (Option<String>, Summing)> = BTreeMap::new();
    for m in missions
        .iter()
        .filter(|m| m.updated_at.date_naive() >= since)
    {
        for s in spend_of(m).iter().filter(|s| s.day >= since) {
            total.add(m.id, s);
            days.entry(s.day).or_default().add(m.id, s);
            providers
                .entry(s.provider.clone())
                .or_default()
                .add(m.id, s);
            if let Some((id, name)) = started_by.get(&m.id) {
                let entry = by_schedule
                    .entry(id.clone())
                    .or_insert_with(|| (name.clone(), Summing::default()));
                entry.1.add(m.id, s);
            }
        }
    }
    Ok(UsageReport {
        since,
        total: total.sum,
        days: days
            .into_iter()
            .map(|(day, s)| DayUsage { day, sum: s.sum })
            .collect(),
        providers: providers
            .into_iter()
            .map(|(provider, s)| ProviderUsage {
                provider,
                sum: s.sum,
            })
            .collect(),
        schedules: by_schedule
            .into_iter()
            .map(|(schedule, (name, s))| ScheduleUsage {
                schedule,
                name,
                sum: s.sum,
            })
            .collect(),
    })
}

/// [`report`] for a `since` as a person writes it, counted from today (UTC).
pub async fn report_since(store: &dyn MissionStore, since: &str) -> anyhow::Result<UsageReport> {
    report(store, since_day(since, Utc::now().date_naive())?).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_span_or_a_date() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 30).expect("date");
        assert_eq!(
            since_day("7d", today).expect("7d"),
            NaiveDate::from_ymd_opt(2026, 11, 24).expect("date")
        );
        assert_eq!(since_day("24h", today).expect("24h"), today);
        assert_eq!(
            since_day("2026-11-01", today).expect("date"),
            NaiveDate::from_ymd_opt(2026, 11, 1).expect("date")
        );
        let e = since_day("7x", today).expect_err("bad");
        assert!(format!("{e:#}").contains("--since"), "{e:#}");
        // Too far back: no word of budgets, and what to write instead.
        let e = format!("{:#}", since_day("400d", today).expect_err("too far"));
        assert!(!e.contains("budget"), "{e}");
        assert!(e.contains("as a date"), "{e}");
        assert_eq!(
            since_day("2025-01-01", today).expect("an old date"),
            NaiveDate::from_ymd_opt(2025, 1, 1).expect("date")
        );
    }
}
