//! The one place that reads provider error bodies and decides what kind of failure it was.
//!
//! Recovery acts on the [`ErrorClass`] alone, so every signal a provider sends (status,
//! headers, the many shapes of JSON error bodies, HTML pages from proxies) is read here.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What kind of failure a provider reported, which decides how a mission recovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The credential is expired or revoked: refresh once, then retry.
    AuthExpired,
    /// The account may not use this (no subscription, no permission): refreshing cannot help.
    Entitlement,
    RateLimited {
        retry_after: Option<Duration>,
    },
    QuotaExhausted,
    Overloaded,
    ServerError,
    ContextOverflow,
    /// Anthropic refused thinking blocks signed by another model, or modified ones.
    StaleThinking,
    InvalidRequest,
    NotFound,
    Network,
    Timeout,
    /// The provider answered with something that is not its wire format.
    MalformedResponse,
    /// A CLI session cannot be resumed (the CLI has no conversation with that id).
    SessionNotFound,
    /// A CLI run crashed, ended without a result, or went silent.
    ProcessFailed,
    /// A CLI run stopped at its own turn limit.
    TurnLimit,
}

impl ErrorClass {
    /// The stable snake_case name used in events, JSON output and fixtures.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorClass::AuthExpired => "auth_expired",
            ErrorClass::Entitlement => "entitlement",
            ErrorClass::RateLimited { .. } => "rate_limited",
            ErrorClass::QuotaExhausted => "quota_exhausted",
            ErrorClass::Overloaded => "overloaded",
            ErrorClass::ServerError => "server_error",
            ErrorClass::ContextOverflow => "context_overflow",
            ErrorClass::StaleThinking => "stale_thinking",
            ErrorClass::InvalidRequest => "invalid_request",
            ErrorClass::NotFound => "not_found",
            ErrorClass::Network => "network",
            ErrorClass::Timeout => "timeout",
            ErrorClass::MalformedResponse => "malformed_response",
            ErrorClass::SessionNotFound => "session_not_found",
            ErrorClass::ProcessFailed => "process_failed",
            ErrorClass::TurnLimit => "turn_limit",
        }
    }

    /// The class named by [`ErrorClass::as_str`], if any.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "auth_expired" => ErrorClass::AuthExpired,
            "entitlement" => ErrorClass::Entitlement,
            "rate_limited" => ErrorClass::RateLimited { retry_after: None },
            "quota_exhausted" => ErrorClass::QuotaExhausted,
            "overloaded" => ErrorClass::Overloaded,
            "server_error" => ErrorClass::ServerError,
            "context_overflow" => ErrorClass::ContextOverflow,
            "stale_thinking" => ErrorClass::StaleThinking,
            "invalid_request" => ErrorClass::InvalidRequest,
            "not_found" => ErrorClass::NotFound,
            "network" => ErrorClass::Network,
            "timeout" => ErrorClass::Timeout,
            "malformed_response" => ErrorClass::MalformedResponse,
            "session_not_found" => ErrorClass::SessionNotFound,
            "process_failed" => ErrorClass::ProcessFailed,
            "turn_limit" => ErrorClass::TurnLimit,
            _ => return None,
        })
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorClass {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorClass {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        ErrorClass::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown error class `{name}`")))
    }
}

/// The class of a failure, with the provider's message made safe to show.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub class: ErrorClass,
    pub message: String,
    pub retry_after: Option<Duration>,
}

/// Longest provider message we keep; bodies can be megabytes of HTML.
const MAX_MESSAGE: usize = 600;

/// Classifies a provider failure from its HTTP status, headers and body.
///
/// Pass status 200 for an error event that arrived inside a successful stream. Never
/// panics, whatever the bytes.
pub fn classify(status: u16, headers: &[(String, String)], body: &[u8]) -> ErrorClass {
    describe(status, headers, body).class
}

/// Like [`classify`], and also extracts a readable, redacted message and the wait the
/// provider asked for.
pub fn describe(status: u16, headers: &[(String, String)], body: &[u8]) -> Verdict {
    let text = String::from_utf8_lossy(body);
    let parsed = ErrorBody::parse(&text);
    let lower = text.to_lowercase();
    let kind = parsed.kind.to_lowercase();
    let retry_after = retry_after(headers, &parsed);

    let class = class_of(status, &lower, &kind, retry_after);
    let class = match class {
        ErrorClass::RateLimited { .. } => ErrorClass::RateLimited { retry_after },
        other => other,
    };
    Verdict {
        class,
        message: message_of(status, &text, &parsed),
        retry_after,
    }
}

fn class_of(status: u16, lower: &str, kind: &str, retry_after: Option<Duration>) -> ErrorClass {
    let has = |needles: &[&str]| {
        needles
            .iter()
            .any(|n| lower.contains(n) || kind.contains(n))
    };

    // Auth signals win over everything else in the same body (xAI sends entitlement wording
    // and the WKE auth marker together).
    let auth_signal = has(&[
        "[wke=unauthenticated:",
        "oauth2 access token could not be validated",
    ]);
    if status == 401 || (auth_signal && matches!(status, 403 | 200)) {
        return ErrorClass::AuthExpired;
    }
    if has(&["authentication_error"]) && status == 200 {
        return ErrorClass::AuthExpired;
    }
    if is_stale_thinking(lower) {
        return ErrorClass::StaleThinking;
    }
    let quota = has(&[
        "insufficient_quota",
        "usage_limit_reached",
        "usage limit has been reached",
        "exceeded your current quota",
        "billing",
    ]);
    let overflow = has(&[
        "context_length_exceeded",
        "prompt is too long",
        "maximum context length",
        "context window",
        "too many tokens in the prompt",
    ]);
    match status {
        403 => ErrorClass::Entitlement,
        402 => ErrorClass::QuotaExhausted,
        429 if quota => ErrorClass::QuotaExhausted,
        429 => ErrorClass::RateLimited { retry_after },
        529 | 503 => ErrorClass::Overloaded,
        408 => ErrorClass::Timeout,
        404 => ErrorClass::NotFound,
        413 => ErrorClass::ContextOverflow,
        400 | 422 if overflow => ErrorClass::ContextOverflow,
        500..=599 if has(&["overloaded_error"]) => ErrorClass::Overloaded,
        500..=599 => ErrorClass::ServerError,
        400..=499 => ErrorClass::InvalidRequest,
        // An error event inside a 200 stream, or no status at all: the body decides.
        _ => class_from_body(kind, quota, overflow, retry_after, &has),
    }
}

fn class_from_body(
    kind: &str,
    quota: bool,
    overflow: bool,
    retry_after: Option<Duration>,
    has: &dyn Fn(&[&str]) -> bool,
) -> ErrorClass {
    if quota {
        ErrorClass::QuotaExhausted
    } else if overflow {
        ErrorClass::ContextOverflow
    } else if has(&["overloaded"]) {
        ErrorClass::Overloaded
    } else if has(&["rate_limit"]) {
        ErrorClass::RateLimited { retry_after }
    } else if has(&["permission_error", "subscription"]) {
        ErrorClass::Entitlement
    } else if has(&["not_found"]) {
        ErrorClass::NotFound
    } else if has(&["invalid_request"]) || kind == "invalid_request_error" {
        ErrorClass::InvalidRequest
    } else {
        ErrorClass::ServerError
    }
}

fn is_stale_thinking(lower: &str) -> bool {
    (lower.contains("thinking") && lower.contains("cannot be modified"))
        || lower.contains("invalid `signature` in `thinking` block")
        || lower.contains("invalid signature in thinking block")
}

/// The fields of the error body shapes providers use: `{error: {message, type, code}}`,
/// `{type: "error", error: {...}}`, `{code, error}` (xAI) and `{message}`.
#[derive(Default)]
struct ErrorBody {
    message: Option<String>,
    kind: String,
    resets_at: Option<i64>,
}

impl ErrorBody {
    fn parse(text: &str) -> Self {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(text.trim()) else {
            return Self::default();
        };
        let str_of = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(String::from);
        let mut body = Self::default();
        match value.get("error") {
            Some(serde_json::Value::Object(inner)) => {
                body.message = str_of(inner.get("message"));
                body.kind = [inner.get("type"), inner.get("code")]
                    .into_iter()
                    .filter_map(&str_of)
                    .collect::<Vec<_>>()
                    .join(" ");
                body.resets_at = inner.get("resets_at").and_then(|v| v.as_i64());
            }
            Some(serde_json::Value::String(message)) => {
                body.message = Some(message.clone());
                body.kind = str_of(value.get("code")).unwrap_or_default();
            }
            _ => {
                body.message = str_of(value.get("message")).or_else(|| str_of(value.get("detail")));
                body.kind = str_of(value.get("type")).unwrap_or_default();
            }
        }
        body
    }
}

fn message_of(status: u16, text: &str, parsed: &ErrorBody) -> String {
    let status_part = if status == 200 || status == 0 {
        String::new()
    } else {
        format!("HTTP {status}: ")
    };
    let detail = if let Some(message) = &parsed.message {
        message.clone()
    } else if text.trim().is_empty() {
        "(empty body)".to_string()
    } else if let Some(title) = html_title(text) {
        format!("an HTML error page ({title})")
    } else {
        text.trim().to_string()
    };
    let mut message = format!("{status_part}{}", redact(&detail));
    if message.len() > MAX_MESSAGE {
        message.truncate(crate::text::head(&message, MAX_MESSAGE).len());
        message.push_str(" …");
    }
    message
}

fn html_title(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    if !lower.contains("<html") && !lower.contains("<!doctype") {
        return None;
    }
    let start = lower.find("<title>")? + "<title>".len();
    let end = lower[start..].find("</title>")? + start;
    Some(text.get(start..end)?.trim().to_string())
}

/// Masks anything in a provider message that looks like a credential, and every secret
/// value this process holds (see [`crate::held_secrets`]).
pub fn redact(text: &str) -> String {
    const PREFIXES: &[&str] = &["sk-", "xai-", "Bearer ", "sess-", "eyJ"];
    let masked = crate::held_secrets::mask(text);
    let mut out = String::with_capacity(masked.len());
    let mut rest = masked.as_str();
    'outer: while !rest.is_empty() {
        for prefix in PREFIXES {
            if let Some(tail) = rest.strip_prefix(prefix) {
                let len = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.*".contains(c)))
                    .unwrap_or(tail.len());
                if len >= 6 {
                    out.push_str(prefix);
                    out.push_str("***");
                    rest = &tail[len..];
                    continue 'outer;
                }
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// The headers that carry a `Retry-After` value, in order: the provider's own, then the
/// upstream's wait as a LiteLLM gateway relays it.
const RETRY_AFTER_HEADERS: &[&str] = &["retry-after", "llm_provider-retry-after"];

/// The wait a provider asked for: `Retry-After` (seconds or HTTP-date) first, then the
/// vendor reset headers, then a `resets_at` in the body.
fn retry_after(headers: &[(String, String)], body: &ErrorBody) -> Option<Duration> {
    let now = chrono::Utc::now();
    for name in RETRY_AFTER_HEADERS {
        let Some(value) = header(headers, name) else {
            continue;
        };
        if let Ok(secs) = value.parse::<f64>() {
            if secs.is_finite() && secs >= 0.0 {
                return Some(Duration::from_secs_f64(secs.min(86_400.0)));
            }
        }
        if let Ok(at) = chrono::DateTime::parse_from_rfc2822(value) {
            return Some(
                (at.with_timezone(&chrono::Utc) - now)
                    .to_std()
                    .unwrap_or_default(),
            );
        }
    }
    let vendor = headers
        .iter()
        .filter(|(k, _)| {
            let k = k.to_ascii_lowercase();
            (k.starts_with("anthropic-ratelimit-") || k.starts_with("x-ratelimit-reset"))
                && k.ends_with("reset")
                || k.starts_with("x-ratelimit-reset-")
        })
        .filter_map(|(_, v)| {
            let v = v.trim();
            if let Ok(at) = chrono::DateTime::parse_from_rfc3339(v) {
                Some(
                    (at.with_timezone(&chrono::Utc) - now)
                        .to_std()
                        .unwrap_or_default(),
                )
            } else {
                parse_go_duration(v)
            }
        })
        .max();
    if vendor.is_some() {
        return vendor;
    }
    body.resets_at.map(|at| {
        let secs = (at - now.timestamp()).max(0);
        Duration::from_secs(u64::try_from(secs).unwrap_or(0))
    })
}

/// Parses durations like `1s`, `6m0s`, `20ms`, `1h2m3.5s` (OpenAI's reset headers).
fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = match (c, chars.peek()) {
            ('m', Some('s')) => {
                chars.next();
                0.001
            }
            ('h', _) => 3600.0,
            ('m', _) => 60.0,
            ('s', _) => 1.0,
            _ => return None,
        };
        total += number.parse::<f64>().ok()? * unit;
        number.clear();
        any = true;
    }
    if !number.is_empty() || !any || !total.is_finite() {
        return None;
    }
    Some(Duration::from_secs_f64(total.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn retry_after_seconds_wins_over_vendor_headers() {
        let v = describe(
            429,
            &h(&[("Retry-After", "12"), ("x-ratelimit-reset-requests", "1s")]),
            b"{}",
        );
        assert_eq!(
            v.class,
            ErrorClass::RateLimited {
                retry_after: Some(Duration::from_secs(12))
            }
        );
    }

    #[test]
    fn a_gateways_relayed_upstream_wait_is_read_after_retry_after() {
        // LiteLLM relays the upstream's Retry-After under its own name.
        let v = describe(
            429,
            &h(&[
                ("llm_provider-retry-after", "6"),
                ("x-ratelimit-reset-requests", "1s"),
            ]),
            b"{}",
        );
        assert_eq!(
            v.class,
            ErrorClass::RateLimited {
                retry_after: Some(Duration::from_secs(6))
            }
        );
        let v = describe(
            429,
            &h(&[("retry-after", "2"), ("llm_provider-retry-after", "6")]),
            b"{}",
        );
        assert_eq!(v.retry_after, Some(Duration::from_secs(2)));
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(parse_go_duration("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(parse_go_duration("soon"), None);
        assert_eq!(parse_go_duration("12"), None);
    }

    #[test]
    fn html_pages_become_a_short_message() {
        let v = describe(
            502,
            &[],
            b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
        );
        assert_eq!(v.class, ErrorClass::ServerError);
        assert_eq!(v.message, "HTTP 502: an HTML error page (502 Bad Gateway)");
    }

    #[test]
    fn keys_in_messages_are_masked() {
        let v = describe(
            401,
            &[],
            br#"{"error":{"message":"Incorrect API key provided: sk-proj-abcdef123456"}}"#,
        );
        assert_eq!(v.class, ErrorClass::AuthExpired);
        assert!(!v.message.contains("abcdef123456"), "{}", v.message);
        assert!(v.message.contains("sk-***"));
    }

    #[test]
    fn error_event_inside_a_stream_is_classified_by_its_body() {
        let body =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(classify(200, &[], body), ErrorClass::Overloaded);
    }

    #[test]
    fn huge_messages_are_capped_on_a_char_boundary() {
        let body = format!(r#"{{"error":{{"message":"{}"}}}}"#, "é".repeat(2000));
        let v = describe(400, &[], body.as_bytes());
        assert!(v.message.len() <= MAX_MESSAGE + 4);
        assert!(v.message.ends_with(" …"));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever a provider or a proxy sends, classification returns and never panics.
        #[test]
        fn classify_never_panics(
            status in any::<u16>(),
            headers in proptest::collection::vec((".{0,24}", ".{0,40}"), 0..6),
            body in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let verdict = describe(status, &headers, &body);
            prop_assert!(verdict.message.len() <= MAX_MESSAGE + 4);
        }

        /// JSON-shaped bodies with arbitrary strings in the usual fields, too: whatever they
        /// say, a 401 is an expired credential, a rate limit carries the wait the verdict
        /// read, and the message stays bounded.
        #[test]
        fn classify_never_panics_on_error_shaped_json(
            status in prop_oneof![Just(401u16), Just(429u16), 0u16..1000],
            kind in ".{0,30}",
            message in ".{0,300}",
            retry in ".{0,30}",
        ) {
            let body = serde_json::json!({"type": "error", "error": {"type": kind, "message": message, "code": kind}}).to_string();
            let headers = vec![("retry-after".to_string(), retry.clone()), ("x-ratelimit-reset-tokens".to_string(), retry)];
            let verdict = describe(status, &headers, body.as_bytes());
            prop_assert_eq!(classify(status, &headers, body.as_bytes()), verdict.class);
            prop_assert!(verdict.message.len() <= MAX_MESSAGE + 4);
            if status == 401 {
                prop_assert_eq!(verdict.class, ErrorClass::AuthExpired);
            }
            if let ErrorClass::RateLimited { retry_after } = verdict.class {
                prop_assert_eq!(retry_after, verdict.retry_after);
            }
        }
    }
}
