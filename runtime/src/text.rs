//! Plain text both front ends show (the CLI and the TUI): ages, counts, usage, costs,
//! recovery steps, expiry countdowns. No colour, no terminal.

use chrono::{DateTime, Utc};
use sortie_missions::MissionEvent;
use sortie_transports::auth::{AuthMode, CredentialSummary};
use sortie_transports::Usage;

pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1,234 in / 56 out tokens`, with cache and reasoning counts when there are any (`in`
/// counts the input not read from the cache).
pub fn usage_text(u: &Usage) -> String {
    let mut text = format!(
        "{} in / {} out tokens",
        thousands(u.input_tokens),
        thousands(u.output_tokens)
    );
    if u.cache_read_tokens > 0 {
        text.push_str(&format!(", {} cached", thousands(u.cache_read_tokens)));
    }
    if u.cache_write_tokens > 0 {
        text.push_str(&format!(
            ", {} written to cache",
            thousands(u.cache_write_tokens)
        ));
    }
    if u.reasoning_tokens > 0 {
        text.push_str(&format!(", {} reasoning", thousands(u.reasoning_tokens)));
    }
    text
}

/// ` · $0.0123` when the cost is known.
pub fn cost_text(cost: Option<f64>) -> String {
    cost.map(|c| format!(" · ${c:.4}")).unwrap_or_default()
}

/// How long ago, compactly: `42s`, `5m`, `3h`, `2d`.
pub fn age(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds().max(0);
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86_399 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

pub fn clip(text: &str, width: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= width {
        one_line
    } else {
        let mut t: String = one_line.chars().take(width.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// `[auth_expired] refresh xai#2: refreshed; retrying`
pub fn recovery_text(event: &MissionEvent) -> Option<String> {
    let MissionEvent::Recovery {
        scope,
        class,
        strategy,
        credential,
        outcome,
    } = event
    else {
        return None;
    };
    let on = credential
        .as_deref()
        .map(|c| format!(" {c}"))
        .unwrap_or_default();
    let scope = if scope == "turn" {
        String::new()
    } else {
        format!("{scope}: ")
    };
    Some(format!(
        "{scope}[{}] {strategy}{on}: {outcome}",
        class.as_str()
    ))
}

/// When a credential expires, for people: `-` (a key), `expired`, `in 42m`, `in 7h`.
pub fn expiry_text(c: &CredentialSummary, now: DateTime<Utc>) -> String {
    match (c.auth_mode, c.expires_at) {
        (AuthMode::ApiKey, _) => "-".into(),
        (AuthMode::OAuth, None) => "unknown".into(),
        (AuthMode::OAuth, Some(at)) => {
            let left = at - now;
            if left.num_seconds() <= 0 {
                "expired".into()
            } else if left.num_seconds() < 60 {
                format!("in {}s", left.num_seconds())
            } else if left.num_minutes() < 120 {
                format!("in {}m", left.num_minutes().max(1))
            } else {
                format!("in {}h", left.num_hours())
            }
        }
    }
}

/// A mission's spend against its budget: `$0.12/$2.00 · 1200/5000 tok · 4m/30m`; empty
/// when it has none.
pub fn spend_text(m: &sortie_missions::Mission) -> String {
    let b = &m.budget;
    let mut parts = Vec::new();
    if let Some(max) = b.max_cost_usd {
        parts.push(spent_of_usd(m.cost_usd.unwrap_or(0.0), max));
    }
    if let Some(max) = b.max_tokens {
        let used = m.usage.prompt_tokens() + m.usage.output_tokens;
        parts.push(format!("{used}/{max} tok"));
    }
    if let Some(max) = b.max_duration_secs {
        parts.push(format!("≤{}", sortie_missions::budget::duration_text(max)));
    }
    parts.join(" · ")
}

/// `$0.12/$2.00`; in cents' fractions under a dime (`$0.0012/$0.0050`), where cents
/// would show `$0.00/$0.00`.
fn spent_of_usd(spent: f64, max: f64) -> String {
    if max < 0.10 {
        format!("${spent:.4}/${max:.4}")
    } else {
        format!("${spent:.2}/${max:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sortie_transports::auth::{CredentialId, CredentialStatus};

    #[test]
    fn a_small_cost_budget_shows_its_fractions_of_a_cent() {
        assert_eq!(spent_of_usd(6.0, 10.0), "$6.00/$10.00");
        assert_eq!(spent_of_usd(0.0012, 0.0015), "$0.0012/$0.0015");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn clip_keeps_one_line_within_width() {
        assert_eq!(clip("a\nb  c", 10), "a b c");
        assert_eq!(clip("abcdefghijkl", 5), "abcd…");
    }

    #[test]
    fn expiry_countdowns_show_seconds_under_a_minute() {
        let now = Utc::now();
        let summary = |secs: i64| CredentialSummary {
            id: CredentialId("p#1".into()),
            provider: "p".into(),
            label: String::new(),
            auth_mode: AuthMode::OAuth,
            status: CredentialStatus::Active,
            expires_at: Some(now + chrono::Duration::seconds(secs)),
            has_refresh_token: true,
            account_id: None,
            scopes: vec![],
            last_used: None,
            use_count: 0,
            refresh_count: 0,
            last_error: None,
            pending_revocations: 0,
        };
        assert_eq!(expiry_text(&summary(5), now), "in 5s");
        assert_eq!(expiry_text(&summary(59), now), "in 59s");
        assert_eq!(expiry_text(&summary(90), now), "in 1m");
        assert_eq!(expiry_text(&summary(-1), now), "expired");
        assert_eq!(expiry_text(&summary(3 * 3600), now), "in 3h");
    }
}
