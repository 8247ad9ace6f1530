//! Schedules that start missions: cron (5 or 6 fields, in a time zone), an interval
//! (`every 30m`), or once (`at` an RFC 3339 time). Persisted in the store's `schedules`
//! tree. What fires when is decided here, from a given `now`, so any clock can drive it.

mod weekdays;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{MissionId, PermissionPolicy};

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Timing {
    /// A cron expression (`min hour day month weekday`, or with seconds first), read in
    /// the time zone `tz` (IANA name, e.g. `Europe/Paris`).
    Cron { expr: String, tz: String },
    /// Every `secs` seconds from the schedule's creation.
    Every { secs: u64 },
    /// Once.
    At { at: DateTime<Utc> },
}

/// A schedule that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("invalid cron expression `{expr}`: {field} field `{value}` is not valid ({hint})")]
    CronField {
        expr: String,
        field: &'static str,
        value: String,
        hint: &'static str,
    },
    #[error("invalid cron expression `{expr}`: it has {count} fields; use 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)")]
    CronFieldCount { expr: String, count: usize },
    #[error("invalid cron expression `{expr}`: {reason}")]
    Cron { expr: String, reason: String },
    #[error(
        "unknown time zone `{0}`; use an IANA name such as UTC, Europe/Paris or America/New_York"
    )]
    TimeZone(String),
    #[error(
        "invalid interval `{0}`; write a number and a unit: 90s, 30m, 2h, 1d (or combined: 1h30m)"
    )]
    Interval(String),
    #[error("the interval must be at least 1 second")]
    IntervalTooShort,
    #[error("`{0}` is too long: an interval or a jitter is at most 3650d (ten years)")]
    IntervalTooLong(String),
    #[error(
        "invalid time `{0}`; use RFC 3339, e.g. 2026-11-23T18:00:00Z or 2026-11-23T19:00:00+01:00"
    )]
    At(String),
    #[error("{0} is in the past; a one-shot schedule needs a time to come")]
    AtInThePast(DateTime<Utc>),
    #[error("the cron expression `{0}` never fires")]
    Never(String),
}

const FIELDS5: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
const FIELDS6: [&str; 6] = [
    "seconds",
    "minute",
    "hour",
    "day-of-month",
    "month",
    "day-of-week",
];

fn hint(field: &str) -> &'static str {
    match field {
        "seconds" | "minute" => "0-59, *, */n, a-b, a,b",
        "hour" => "0-23, *, */n, a-b, a,b",
        "day-of-month" => "1-31, *, */n, a-b, a,b",
        "month" => "1-12 or JAN-DEC, *, a-b, a,b",
        _ => "0-7 (0 and 7 are Sunday) or SUN-SAT, *, a-b, a,b",
    }
}

/// A parsed cron timing, ready to compute fire times.
struct Cron {
    schedule: cron::Schedule,
    tz: chrono_tz::Tz,
}

fn parse_cron(expr: &str, tz: &str) -> Result<Cron, ScheduleError> {
    let tz: chrono_tz::Tz = tz
        .parse()
        .map_err(|_| ScheduleError::TimeZone(tz.to_string()))?;
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let names: &[&str] = match fields.len() {
        5 => &FIELDS5,
        6 => &FIELDS6,
        count => {
            return Err(ScheduleError::CronFieldCount {
                expr: expr.to_string(),
                count,
            })
        }
    };
    let mut full: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
    if fields.len() == 5 {
        full.insert(0, "0".into());
    }
    full[5] = weekdays::to_cron_crate(&full[5]).map_err(|_| ScheduleError::CronField {
        expr: expr.to_string(),
        field: "day-of-week",
        value: fields[fields.len() - 1].to_string(),
        hint: hint("day-of-week"),
    })?;
    // Each field alone, the others `*`, to name the one that is wrong.
    let offset = 6 - fields.len();
    for (i, name) in names.iter().enumerate() {
        let mut probe: Vec<String> = vec![
            "0".into(),
            "*".into(),
            "*".into(),
            "*".into(),
            "*".into(),
            "*".into(),
        ];
        probe[i + offset] = full[i + offset].clone();
        let out_of_range = match *name {
            "seconds" | "minute" => numbers_above(&full[i + offset], 59),
            "hour" => numbers_above(&full[i + offset], 23),
            "day-of-month" => numbers_above(&full[i + offset], 31),
            _ => false,
        };
        if out_of_range || cron::Schedule::from_str(&probe.join(" ")).is_err() {
            return Err(ScheduleError::CronField {
                expr: expr.to_string(),
                field: name,
                value: fields[i].to_string(),
                hint: hint(name),
            });
        }
    }
    let schedule = cron::Schedule::from_str(&full.join(" ")).map_err(|e| ScheduleError::Cron {
        expr: expr.to_string(),
        reason: e.to_string(),
    })?;
    Ok(Cron { schedule, tz })
}

/// True when a plain number in the field (not a step) is above `max`.
fn numbers_above(field: &str, max: u32) -> bool {
    field.split(',').any(|part| {
        let range = part.split('/').next().unwrap_or("");
        range
            .split('-')
            .filter_map(|n| n.parse::<u32>().ok())
            .any(|n| n > max)
    })
}

/// The longest interval or jitter: ten years. Longer ones overflow date arithmetic and
/// mean nothing for a schedule.
pub const MAX_INTERVAL_SECS: u64 = 3650 * 86_400;

/// `90s`, `30m`, `2h`, `1d`, `1h30m` in seconds (a number too large for u64 saturates);
/// `None` when it is not written that way. Schedules' intervals and budgets' durations.
pub fn duration_secs(text: &str) -> Option<u64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        if number.is_empty() {
            return None;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        // A number too large for u64 is too long as well.
        let n: u64 = number.parse().unwrap_or(u64::MAX);
        number.clear();
        total = total.saturating_add(n.saturating_mul(unit));
    }
    number.is_empty().then_some(total)
}

/// `90s`, `30m`, `2h`, `1d`, `1h30m`, optionally after `every `; at most ten years.
pub fn parse_interval(text: &str) -> Result<Duration, ScheduleError> {
    let t = text.trim();
    let t = t.strip_prefix("every").unwrap_or(t).trim();
    let total = duration_secs(t).ok_or_else(|| ScheduleError::Interval(text.to_string()))?;
    if total == 0 {
        return Err(ScheduleError::IntervalTooShort);
    }
    if total > MAX_INTERVAL_SECS {
        return Err(ScheduleError::IntervalTooLong(text.trim().to_string()));
    }
    Ok(Duration::from_secs(total))
}

impl Timing {
    /// A cron timing, checked (each field, the time zone) and known to fire.
    pub fn cron(expr: &str, tz: &str) -> Result<Self, ScheduleError> {
        let c = parse_cron(expr, tz)?;
        if c.schedule
            .after(&Utc::now().with_timezone(&c.tz))
            .next()
            .is_none()
        {
            return Err(ScheduleError::Never(expr.to_string()));
        }
        Ok(Timing::Cron {
            expr: expr.trim().to_string(),
            tz: tz.to_string(),
        })
    }

    pub fn every(text: &str) -> Result<Self, ScheduleError> {
        Ok(Timing::Every {
            secs: parse_interval(text)?.as_secs(),
        })
    }

    /// A one-shot timing at an RFC 3339 time after `now`.
    pub fn at(text: &str, now: DateTime<Utc>) -> Result<Self, ScheduleError> {
        let at = DateTime::parse_from_rfc3339(text.trim())
            .map_err(|_| ScheduleError::At(text.to_string()))?
            .with_timezone(&Utc);
        if at <= now {
            return Err(ScheduleError::AtInThePast(at));
        }
        Ok(Timing::At { at })
    }

    /// The first fire time strictly after `after`; `anchor` is where intervals count from.
    pub fn next_after(&self, after: DateTime<Utc>, anchor: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Timing::Cron { expr, tz } => {
                let c = parse_cron(expr, tz).ok()?;
                c.schedule
                    .after(&after.with_timezone(&c.tz))
                    .next()
                    .map(|t| t.with_timezone(&Utc))
            }
            Timing::Every { secs } => {
                let step = chrono::Duration::try_seconds(i64::try_from(*secs).ok()?.max(1))?;
                if after < anchor {
                    return anchor.checked_add_signed(step);
                }
                let done = (after - anchor).num_seconds() / step.num_seconds() + 1;
                anchor.checked_add_signed(step.checked_mul(i32::try_from(done).ok()?)?)
            }
            Timing::At { at } => (*at > after).then_some(*at),
        }
    }

    /// How a person reads it.
    pub fn describe(&self) -> String {
        match self {
            Timing::Cron { expr, tz } => format!("cron `{expr}` ({tz})"),
            Timing::Every { secs } => format!("every {}", human_secs(*secs)),
            Timing::At { at } => format!("once at {}", at.format("%Y-%m-%d %H:%M:%S UTC")),
        }
    }
}

fn human_secs(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(d, "d"), (h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

/// What to do about runs missed while the daemon was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Missed {
    /// Record them as skipped; wait for the next time.
    #[default]
    Skip,
    /// Run once now, however many were missed.
    RunOnce,
}

/// What to do when a run is due while the previous one still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overlap {
    /// Skip the new run and record it.
    #[default]
    Skip,
    /// Start it anyway.
    Allow,
}

/// The mission a schedule starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissionTemplate {
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub cwd: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<PermissionPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<crate::SandboxMode>,
    /// No project instructions (`AGENTS.md` ...) in the system prompt.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_instructions: bool,
    /// The MCP servers of its missions (`[]`: none); absent: every enabled one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<Vec<String>>,
    /// The budget of each of its missions (over `[budget]`'s defaults); empty: those.
    #[serde(default, skip_serializing_if = "crate::budget::Budget::is_empty")]
    pub budget: crate::budget::Budget,
    /// Notices for its missions and skipped runs (`--notify`, `--no-notify`); absent:
    /// `[notify] missions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<bool>,
    /// Each mission works in a git worktree of its own (`--worktree`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub worktree: bool,
    /// Its missions run only on a daemon with these labels (`--on LABEL`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// One run of a schedule: the mission it started, or why it did not start one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleRun {
    /// When it was decided.
    pub at: DateTime<Utc>,
    /// The fire time it stands for.
    pub scheduled_for: DateTime<Utc>,
    #[serde(flatten)]
    pub outcome: RunOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RunOutcome {
    Started { mission: MissionId },
    Skipped { reason: String },
    Failed { error: String },
}

/// A schedule as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub timing: Timing,
    pub mission: MissionTemplate,
    #[serde(default)]
    pub missed: Missed,
    #[serde(default)]
    pub overlap: Overlap,
    /// Up to this many seconds of random delay for each run.
    #[serde(default)]
    pub jitter_secs: u64,
    #[serde(default)]
    pub paused: bool,
    pub created_at: DateTime<Utc>,
    /// When it fires next (jitter included); none once a one-shot schedule has run.
    pub next_run: Option<DateTime<Utc>>,
    /// The fire time `next_run` stands for, before jitter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_nominal: Option<DateTime<Utc>>,
    #[serde(default)]
    pub runs: Vec<ScheduleRun>,
}

/// How many runs a schedule remembers.
pub const HISTORY: usize = 100;

/// A run is late by more than this: the daemon was not running at its time.
pub const GRACE: chrono::Duration = chrono::Duration::seconds(60);

/// What a schedule should do now.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Start a mission for this fire time (`missed` earlier ones were not run).
    Fire {
        scheduled_for: DateTime<Utc>,
        missed: u32,
    },
    Skip {
        scheduled_for: DateTime<Utc>,
        reason: String,
    },
}

impl Schedule {
    pub fn new(
        name: Option<String>,
        timing: Timing,
        mission: MissionTemplate,
        now: DateTime<Utc>,
    ) -> Self {
        let mut s = Self {
            id: uuid::Uuid::now_v7().to_string(),
            name,
            timing,
            mission,
            missed: Missed::default(),
            overlap: Overlap::default(),
            jitter_secs: 0,
            paused: false,
            created_at: now,
            next_run: None,
            next_nominal: None,
            runs: Vec::new(),
        };
        s.plan_after(now);
        s
    }

    /// Sets the next fire time after `after` (with jitter).
    pub fn plan_after(&mut self, after: DateTime<Utc>) {
        self.next_nominal = self.timing.next_after(after, self.created_at);
        let jitter = if self.jitter_secs > 0 {
            use rand::Rng;
            rand::rng().random_range(0..=self.jitter_secs)
        } else {
            0
        };
        let jitter = chrono::Duration::try_seconds(i64::try_from(jitter).unwrap_or(i64::MAX))
            .unwrap_or(chrono::TimeDelta::MAX);
        self.next_run = self
            .next_nominal
            .map(|t| t.checked_add_signed(jitter).unwrap_or(t));
    }

    /// What is due at `now`, given whether the previous run is still going; plans the
    /// next time. Nothing when paused or not yet due.
    pub fn due(&mut self, now: DateTime<Utc>, previous_running: bool) -> Option<Decision> {
        if self.paused {
            return None;
        }
        let next = self.next_run?;
        if next > now {
            return None;
        }
        let nominal = self.next_nominal.unwrap_or(next);
        // Fire times that passed while nobody was there to run them.
        let mut late = 0u32;
        if now - next > GRACE {
            let mut t = nominal;
            while let Some(n) = self.timing.next_after(t, self.created_at) {
                if n > now || late >= 10_000 {
                    break;
                }
                late += 1;
                t = n;
            }
        }
        let latest = if late > 0 {
            // The last fire time not after now.
            let mut t = nominal;
            for _ in 0..late {
                t = self.timing.next_after(t, self.created_at).unwrap_or(t);
            }
            t
        } else {
            nominal
        };
        self.plan_after(now.max(latest));
        let missed_total = if now - next > GRACE { late + 1 } else { 0 };
        if missed_total > 0 && self.missed == Missed::Skip {
            return Some(Decision::Skip {
                scheduled_for: latest,
                reason: format!(
                    "{missed_total} run{} missed while the daemon was not running (missed = skip)",
                    if missed_total == 1 { "" } else { "s" }
                ),
            });
        }
        if previous_running && self.overlap == Overlap::Skip {
            let last = self.runs.iter().rev().find_map(|r| match &r.outcome {
                RunOutcome::Started { mission } => Some(*mission),
                _ => None,
            });
            return Some(Decision::Skip {
                scheduled_for: latest,
                reason: match last {
                    Some(m) => {
                        format!("the previous run (mission {m}) is still going (overlap = skip)")
                    }
                    None => "the previous run is still going (overlap = skip)".into(),
                },
            });
        }
        Some(Decision::Fire {
            scheduled_for: latest,
            missed: missed_total.saturating_sub(1),
        })
    }

    /// Records a run, keeping the last [`HISTORY`].
    pub fn record(&mut self, run: ScheduleRun) {
        self.runs.push(run);
        if self.runs.len() > HISTORY {
            let extra = self.runs.len() - HISTORY;
            self.runs.drain(..extra);
        }
    }

    /// The mission of the last run that started one.
    pub fn last_mission(&self) -> Option<MissionId> {
        self.runs.iter().rev().find_map(|r| match &r.outcome {
            RunOutcome::Started { mission } => Some(*mission),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn template() -> MissionTemplate {
        MissionTemplate {
            prompt: "report".into(),
            provider: None,
            model: None,
            cwd: "/tmp".into(),
            permission: None,
            max_turns: None,
            sandbox: None,
            no_instructions: false,
            mcp: None,
            budget: Default::default(),
            notify: None,
            worktree: false,
            labels: Vec::new(),
        }
    }

    #[test]
    fn a_bad_cron_field_is_named() {
        let e = Timing::cron("0 25 * * *", "UTC").expect_err("hour 25");
        assert_eq!(
            e.to_string(),
            "invalid cron expression `0 25 * * *`: hour field `25` is not valid (0-23, *, */n, a-b, a,b)"
        );
        let e = Timing::cron("*/5 * * FOO *", "UTC").expect_err("month");
        assert!(e.to_string().contains("month field `FOO`"), "{e}");
        let e = Timing::cron("* * * * 9", "UTC").expect_err("weekday");
        assert!(e.to_string().contains("day-of-week field `9`"), "{e}");
        let e = Timing::cron("61 * * * * *", "UTC").expect_err("seconds");
        assert!(e.to_string().contains("seconds field `61`"), "{e}");
        assert!(matches!(
            Timing::cron("* * *", "UTC"),
            Err(ScheduleError::CronFieldCount { count: 3, .. })
        ));
        assert_eq!(
            Timing::cron("0 9 * * *", "Mars/Olympus"),
            Err(ScheduleError::TimeZone("Mars/Olympus".into()))
        );
    }

    #[test]
    fn cron_weekdays_read_as_crontab_and_time_zones_apply() {
        // 09:00 on weekdays in Paris (UTC+1 in November).
        let timing = Timing::cron("0 9 * * 1-5", "Europe/Paris").expect("valid");
        let anchor = t("2026-11-20T00:00:00Z"); // a Friday
        let next = timing.next_after(t("2026-11-20T12:00:00Z"), anchor);
        assert_eq!(next, Some(t("2026-11-23T08:00:00Z"))); // Monday, 09:00 Paris
        let sunday = Timing::cron("30 6 * * 0", "UTC").expect("valid");
        assert_eq!(
            sunday.next_after(t("2026-11-23T00:00:00Z"), anchor),
            Some(t("2026-11-29T06:30:00Z"))
        );
        // crontab(5): 7 is Sunday in ranges and lists too.
        let weekend = Timing::cron("0 9 * * 5-7", "UTC").expect("5-7 is valid");
        let mut at = t("2026-11-23T00:00:00Z"); // a Monday
        let mut fired = Vec::new();
        for _ in 0..3 {
            at = weekend.next_after(at, anchor).expect("fires");
            fired.push(at);
        }
        assert_eq!(
            fired,
            [
                t("2026-11-27T09:00:00Z"),
                t("2026-11-28T09:00:00Z"),
                t("2026-11-29T09:00:00Z")
            ]
        );
        let daily = Timing::cron("0 9 * * 0-7", "UTC").expect("0-7 is valid");
        assert_eq!(
            daily.next_after(t("2026-11-23T10:00:00Z"), anchor),
            Some(t("2026-11-24T09:00:00Z"))
        );
        assert!(Timing::cron("0 9 * * 1-7", "UTC").is_ok());
        assert!(Timing::cron("0 9 * * 1,7", "UTC").is_ok());
        let e = Timing::cron("0 9 * * 5-2", "UTC").expect_err("backward range");
        assert!(e.to_string().contains("day-of-week field `5-2`"), "{e}");
    }

    #[test]
    fn intervals_and_one_shots() {
        assert_eq!(parse_interval("every 30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_interval("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_interval("30 minutes").is_err());
        assert_eq!(parse_interval("0s"), Err(ScheduleError::IntervalTooShort));
        let now = t("2026-11-23T10:00:00Z");
        assert!(matches!(
            Timing::at("2026-11-23T09:00:00Z", now),
            Err(ScheduleError::AtInThePast(_))
        ));
        let s = Schedule::new(None, Timing::every("30m").expect("ok"), template(), now);
        assert_eq!(s.next_run, Some(t("2026-11-23T10:30:00Z")));
    }

    #[test]
    fn fires_on_time_then_plans_the_next_and_skips_an_overlap() {
        let now = t("2026-11-23T10:00:00Z");
        let mut s = Schedule::new(None, Timing::every("30m").expect("ok"), template(), now);
        assert_eq!(s.due(t("2026-11-23T10:29:59Z"), false), None);
        assert_eq!(
            s.due(t("2026-11-23T10:30:00Z"), false),
            Some(Decision::Fire {
                scheduled_for: t("2026-11-23T10:30:00Z"),
                missed: 0
            })
        );
        assert_eq!(s.next_run, Some(t("2026-11-23T11:00:00Z")));
        // Due again while the first run still goes: skipped, recorded by the caller.
        assert!(matches!(
            s.due(t("2026-11-23T11:00:01Z"), true),
            Some(Decision::Skip { reason, .. }) if reason.contains("still going")
        ));
        s.overlap = Overlap::Allow;
        assert!(matches!(
            s.due(t("2026-11-23T11:30:00Z"), true),
            Some(Decision::Fire { .. })
        ));
        s.paused = true;
        assert_eq!(s.due(t("2026-11-23T12:00:00Z"), false), None);
    }

    #[test]
    fn runs_missed_while_down_are_skipped_or_run_once() {
        let now = t("2026-11-23T10:00:00Z");
        let mut skip = Schedule::new(None, Timing::every("30m").expect("ok"), template(), now);
        let mut once = skip.clone();
        once.missed = Missed::RunOnce;
        // Down from 10:20 to 12:10: 10:30, 11:00, 11:30 and 12:00 were missed.
        let back = t("2026-11-23T12:10:00Z");
        assert_eq!(
            skip.due(back, false),
            Some(Decision::Skip {
                scheduled_for: t("2026-11-23T12:00:00Z"),
                reason: "4 runs missed while the daemon was not running (missed = skip)".into()
            })
        );
        assert_eq!(
            once.due(back, false),
            Some(Decision::Fire {
                scheduled_for: t("2026-11-23T12:00:00Z"),
                missed: 3
            })
        );
        for s in [&skip, &once] {
            assert_eq!(s.next_run, Some(t("2026-11-23T12:30:00Z")));
        }
    }

    #[test]
    fn a_one_shot_fires_once() {
        let now = t("2026-11-23T10:00:00Z");
        let mut s = Schedule::new(
            None,
            Timing::at("2026-11-23T10:05:00Z", now).expect("ok"),
            template(),
            now,
        );
        assert!(matches!(
            s.due(t("2026-11-23T10:05:00Z"), false),
            Some(Decision::Fire { .. })
        ));
        assert_eq!(s.next_run, None);
        assert_eq!(s.due(t("2026-11-23T11:00:00Z"), false), None);
    }

    #[test]
    fn jitter_delays_within_its_bound() {
        let now = t("2026-11-23T10:00:00Z");
        let mut s = Schedule::new(None, Timing::every("1h").expect("ok"), template(), now);
        s.jitter_secs = 120;
        let mut delays = std::collections::BTreeSet::new();
        for _ in 0..50 {
            s.plan_after(now);
            let delay = s.next_run.expect("next") - t("2026-11-23T11:00:00Z");
            assert!((0..=120).contains(&delay.num_seconds()), "{delay}");
            delays.insert(delay.num_seconds());
        }
        // 50 draws from 121 values: all the same (no jitter at all) has odds of 121^-49.
        assert!(delays.len() > 1, "no jitter applied: {delays:?}");
    }
}
