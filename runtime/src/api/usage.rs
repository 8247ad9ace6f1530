//! `GET /usage` and `sortie usage --json`: what missions spent since a day, summed by day
//! (UTC), provider and schedule.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A sum of spend.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageSum {
    /// US dollars, at `[prices]` (or as the Claude Code CLI reported); calls of models
    /// without a price count 0.
    pub cost_usd: f64,
    /// Tokens read and written (prompts, cache reads and writes, answers).
    pub tokens: u64,
    /// Missions that spent anything in it.
    pub missions: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayUsage {
    pub day: NaiveDate,
    #[serde(flatten)]
    pub sum: UsageSum,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderUsage {
    pub provider: String,
    #[serde(flatten)]
    pub sum: UsageSum,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleUsage {
    pub schedule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub sum: UsageSum,
}

/// The whole answer: the first day counted, the total, and the sums (days oldest first,
/// providers and schedules by name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageReport {
    pub since: NaiveDate,
    pub total: UsageSum,
    pub days: Vec<DayUsage>,
    pub providers: Vec<ProviderUsage>,
    pub schedules: Vec<ScheduleUsage>,
}
