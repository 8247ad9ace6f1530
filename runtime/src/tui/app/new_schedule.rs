//! The new-schedule boxes: a timing, then a prompt, made into the body of `POST /schedules`.

use serde_json::Value;

/// The body of `POST /schedules` from the TUI's two answers.
pub fn schedule_body(timing: &str, prompt: &str) -> Result<Value, String> {
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    let timing = timing.trim();
    let mut body = serde_json::json!({"prompt": prompt, "cwd": cwd});
    if let Some(rest) = timing.strip_prefix("every ") {
        body["every"] = rest.trim().into();
    } else if let Some(rest) = timing.strip_prefix("at ") {
        body["at"] = rest.trim().into();
    } else if let Some(rest) = timing.strip_prefix("cron ") {
        // `cron <5 or 6 fields> [zone]`: a last word with a `/` is an IANA zone.
        let mut fields: Vec<&str> = rest.split_whitespace().collect();
        if fields
            .last()
            .is_some_and(|f| f.contains('/') && f.chars().next().is_some_and(char::is_alphabetic))
        {
            body["tz"] = fields.pop().unwrap_or_default().into();
        }
        body["cron"] = fields.join(" ").into();
    } else {
        return Err(format!(
            "`{timing}` is not a timing: start it with `every`, `cron` or `at`"
        ));
    }
    Ok(body)
}
