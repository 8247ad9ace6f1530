//! The day-of-week field as crontab(5) reads it: 0-7 with both 0 and 7 Sunday, names
//! (SUN-SAT), ranges, steps and lists; `7` is Sunday wherever it appears (`5-7` is Friday
//! to Sunday, `0-7` every day). It is handed to the `cron` crate as a list of day names,
//! which that crate reads without ambiguity (its own numbers are 1-7 from Sunday).

const NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A weekday field the crontab syntax cannot read (a number above 7, a backward range).
#[derive(Debug)]
pub(super) struct BadWeekday;

/// One day, by number (0-7) or name; 7 is 7 here (a range may end on it).
fn day(text: &str) -> Result<u32, BadWeekday> {
    if let Ok(n) = text.parse::<u32>() {
        return if n <= 7 { Ok(n) } else { Err(BadWeekday) };
    }
    NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(text))
        .map(|i| i as u32)
        .ok_or(BadWeekday)
}

/// The days (0-6, Sunday 0) one comma-separated part stands for.
fn part_days(part: &str, days: &mut [bool; 7]) -> Result<(), BadWeekday> {
    let (range, step) = match part.split_once('/') {
        Some((r, s)) => (
            r,
            Some(s.parse::<u32>().ok().filter(|s| *s > 0).ok_or(BadWeekday)?),
        ),
        None => (part, None),
    };
    let (first, last) = match range {
        "*" => (0, 7),
        r => match r.split_once('-') {
            Some((a, b)) => (day(a)?, day(b)?),
            // `a/n` runs from a to the end of the week, as in Vixie cron.
            None if step.is_some() => (day(r)?, 7),
            None => {
                let d = day(r)?;
                (d, d)
            }
        },
    };
    if first > last {
        return Err(BadWeekday);
    }
    for d in (first..=last).step_by(step.unwrap_or(1) as usize) {
        days[(d % 7) as usize] = true;
    }
    Ok(())
}

/// The field as the `cron` crate should read it: `*` for every day, else day names. Syntax
/// beyond crontab's (`?`, `L`, `#`) is passed on as written, for that crate to judge.
pub(super) fn to_cron_crate(field: &str) -> Result<String, BadWeekday> {
    let crontab_syntax = field
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '-' | ',' | '/'));
    if !crontab_syntax {
        return Ok(field.to_string());
    }
    let mut days = [false; 7];
    for part in field.split(',') {
        part_days(part, &mut days)?;
    }
    if days.iter().all(|d| *d) {
        return Ok("*".into());
    }
    Ok(NAMES
        .iter()
        .zip(days)
        .filter(|(_, on)| *on)
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(","))
}

#[cfg(test)]
mod tests {
    use super::to_cron_crate;

    fn days(field: &str) -> String {
        to_cron_crate(field).unwrap_or_else(|_| panic!("`{field}` should be valid"))
    }

    #[test]
    fn seven_is_sunday_in_ranges_and_lists() {
        assert_eq!(days("5-7"), "SUN,FRI,SAT");
        assert_eq!(days("1-7"), "*");
        assert_eq!(days("0-7"), "*");
        assert_eq!(days("0-6"), "*");
        assert_eq!(days("7"), "SUN");
        assert_eq!(days("0"), "SUN");
        assert_eq!(days("0,7"), "SUN");
        assert_eq!(days("6,7"), "SUN,SAT");
        assert_eq!(days("1,7"), "SUN,MON");
        assert_eq!(days("6-7,1"), "SUN,MON,SAT");
    }

    #[test]
    fn names_steps_and_stars() {
        assert_eq!(days("MON-FRI"), "MON,TUE,WED,THU,FRI");
        assert_eq!(days("sat,sun"), "SUN,SAT");
        assert_eq!(days("*"), "*");
        assert_eq!(days("*/2"), "SUN,TUE,THU,SAT");
        assert_eq!(days("1-5/2"), "MON,WED,FRI");
        assert_eq!(days("5/1"), "SUN,FRI,SAT");
        assert_eq!(days("3/2"), "SUN,WED,FRI");
        assert_eq!(days("?"), "?");
    }

    #[test]
    fn what_crontab_refuses_is_refused() {
        for bad in ["8", "5-2", "1-8", "*/0", "FOO", "", "1,", "-1"] {
            assert!(to_cron_crate(bad).is_err(), "`{bad}` was accepted");
        }
    }
}
