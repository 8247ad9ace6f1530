//! Delivering one notice: a signed POST to the webhook, retried with backoff within bounds,
//! and the notify command with the notice on stdin, within a time bound. Each try is
//! reported to the caller (who records it); nothing here blocks a mission.

/// Where each try is reported (and recorded, which may wait for the store).
pub type Report<'a> = dyn Fn(Attempt) -> futures::future::BoxFuture<'static, ()> + Send + Sync + 'a;

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::AsyncWriteExt;

use crate::config::NotifyConfig;

/// The header with the signature: `v1=` and the hex HMAC-SHA256 of `TIMESTAMP.BODY`.
pub const SIGNATURE_HEADER: &str = "X-Sortie-Signature";
/// The header with the Unix time (seconds) the signature covers.
pub const TIMESTAMP_HEADER: &str = "X-Sortie-Timestamp";
/// The header with the notice's id (the same on every try).
pub const NOTICE_HEADER: &str = "X-Sortie-Notice";
/// The longest wait between two tries, whatever `retry_secs` doubles to.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// One try at delivering a notice.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// `webhook` or `command`.
    pub channel: &'static str,
    /// 1 for the first try.
    pub attempt: u32,
    pub delivered: bool,
    /// What happened, without the URL's path or any secret.
    pub outcome: String,
}

/// The signature of `body` sent at `timestamp` (Unix seconds) with `secret`:
/// `v1=` + hex(HMAC-SHA256(secret, "{timestamp}.{body}")).
pub fn sign(secret: &[u8], timestamp: i64, body: &str) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

/// What a try's outcome says about the receiver: `scheme://host[:port]`, never its path or
/// query (a webhook URL often carries a token there).
pub fn target(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}", u.scheme()),
            (Some(h), None) => format!("{}://{h}", u.scheme()),
            _ => "the webhook".into(),
        },
        Err(_) => "the webhook".into(),
    }
}

/// How one webhook try went.
enum Try {
    Delivered(u16),
    /// Worth another try (5xx, 408, 429, no answer in time, no connection).
    Again(String),
    /// Not worth another (any other 4xx).
    Refused(String),
}

/// Posts `body` to the webhook: up to `attempts` tries, each within `timeout_secs`, waiting
/// `retry_secs` doubled between them, all within `max_secs`. Reports each try to `report`;
/// true once delivered.
pub async fn webhook(
    config: &NotifyConfig,
    url: &str,
    notice_id: &str,
    body: &str,
    report: &Report<'_>,
) -> bool {
    let secret = match &config.secret_env {
        Some(name) => match std::env::var(name) {
            Ok(v) if !v.is_empty() => Some(v),
            _ => {
                report(Attempt {
                    channel: "webhook",
                    attempt: 1,
                    delivered: false,
                    outcome: format!("not sent: the signing secret's variable ${name} ([notify] secret_env) is not set"),
                }).await;
                return false;
            }
        },
        None => None,
    };
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(config.timeout_secs))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            report(Attempt {
                channel: "webhook",
                attempt: 1,
                delivered: false,
                outcome: format!("not sent: no HTTP client: {}", e.without_url()),
            })
            .await;
            return false;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(config.max_secs);
    let mut wait = Duration::from_secs(config.retry_secs);
    let to = target(url);
    for attempt in 1..=config.attempts.max(1) {
        let left = deadline.saturating_duration_since(Instant::now());
        let bound = Duration::from_secs(config.timeout_secs).min(left);
        let outcome = try_once(&client, url, notice_id, body, secret.as_deref(), bound).await;
        let (delivered, retry, text) = match outcome {
            Try::Delivered(code) => (true, false, format!("delivered to {to} (HTTP {code})")),
            Try::Refused(why) => (false, false, format!("{to}: {why}; not tried again")),
            Try::Again(why) => (false, true, format!("{to}: {why}")),
        };
        let last = attempt == config.attempts.max(1);
        let in_time = Instant::now() + wait < deadline;
        let text = if retry && (last || !in_time) {
            format!(
                "{text}; giving up after {attempt} tries ([notify] attempts = {}, max_secs = {})",
                config.attempts, config.max_secs
            )
        } else if retry {
            format!("{text}; trying again in {}s", wait.as_secs())
        } else {
            text
        };
        report(Attempt {
            channel: "webhook",
            attempt,
            delivered,
            outcome: text,
        })
        .await;
        if delivered {
            return true;
        }
        if !retry || last || !in_time {
            return false;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_RETRY_WAIT);
    }
    false
}

async fn try_once(
    client: &reqwest::Client,
    url: &str,
    notice_id: &str,
    body: &str,
    secret: Option<&str>,
    bound: Duration,
) -> Try {
    let timestamp = chrono::Utc::now().timestamp();
    let mut request = client
        .post(url)
        .timeout(bound)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::USER_AGENT, "sortie-notify")
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(NOTICE_HEADER, notice_id)
        .body(body.to_string());
    if let Some(secret) = secret {
        request = request.header(SIGNATURE_HEADER, sign(secret.as_bytes(), timestamp, body));
    }
    match request.send().await {
        Ok(r) if r.status().is_success() => Try::Delivered(r.status().as_u16()),
        Ok(r) => {
            let code = r.status().as_u16();
            if code >= 500 || code == 408 || code == 429 {
                Try::Again(format!("HTTP {code}"))
            } else {
                Try::Refused(format!("HTTP {code}"))
            }
        }
        Err(e) if e.is_timeout() => Try::Again(format!(
            "no answer within {}s",
            bound.as_secs_f64().ceil() as u64
        )),
        Err(e) if e.is_connect() => Try::Again("cannot connect".into()),
        Err(e) => Try::Again(format!("{}", e.without_url())),
    }
}

/// The variables a desktop notifier needs beyond the sandbox's allow-list (none secret).
const DESKTOP_ENV: &[&str] = &[
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "XDG_RUNTIME_DIR",
    "DBUS_SESSION_BUS_ADDRESS",
];

/// Runs the notify command with `body` on stdin: a clean environment, through the sandbox's
/// launcher when there is one (it dies with its owner), killed with what it started after
/// `timeout_secs`. Reports the one try.
pub async fn command(
    config: &NotifyConfig,
    sandbox: &sortie_sandbox::Sandbox,
    body: &str,
    report: &Report<'_>,
) -> bool {
    let (delivered, outcome) = run_command(config, sandbox, body).await;
    report(Attempt {
        channel: "command",
        attempt: 1,
        delivered,
        outcome,
    })
    .await;
    delivered
}

async fn run_command(
    config: &NotifyConfig,
    sandbox: &sortie_sandbox::Sandbox,
    body: &str,
) -> (bool, String) {
    let Some((program, args)) = config.command.split_first() else {
        return (false, "no command".into());
    };
    let mut cmd = sandbox.command(program, &[], false, true);
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for name in DESKTOP_ENV {
        if let Ok(v) = std::env::var(name) {
            cmd.env(name, v);
        }
    }
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (false, format!("`{program}` did not start: {e}")),
    };
    let pid = child.id();
    let bound = Duration::from_secs(config.timeout_secs);
    let run = async {
        if let Some(mut stdin) = child.stdin.take() {
            // A command that does not read its stdin is not an error.
            let _ = stdin.write_all(body.as_bytes()).await;
        }
        child.wait().await
    };
    match tokio::time::timeout(bound, run).await {
        Ok(Ok(status)) if status.success() => (true, format!("`{program}` ran")),
        Ok(Ok(status)) => (false, format!("`{program}` ended with {status}")),
        Ok(Err(e)) => (false, format!("`{program}`: {e}")),
        Err(_) => {
            if let (Some(pid), true) = (pid, sandbox.launched()) {
                sortie_sandbox::tree::terminate_launcher(pid, None);
            }
            (
                false,
                format!(
                    "`{program}` did not end within {}s ([notify] timeout_secs); killed",
                    config.timeout_secs
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_the_timestamp_and_the_body() {
        // `printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key`
        let sig = sign(b"key", 1_700_000_000, "{\"a\":1}");
        assert_eq!(
            sig,
            "v1=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
        );
        assert_ne!(sig, sign(b"key", 1_700_000_001, "{\"a\":1}"));
        assert_ne!(sig, sign(b"other", 1_700_000_000, "{\"a\":1}"));
    }

    #[test]
    fn a_target_shows_no_path_or_query() {
        assert_eq!(
            target("https://hooks.example.com/T0/B1/secret-token?x=1"),
            "https://hooks.example.com"
        );
        assert_eq!(target("http://127.0.0.1:9/x"), "http://127.0.0.1:9");
    }
}
