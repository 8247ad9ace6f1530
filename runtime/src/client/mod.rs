//! Talking to a running daemon: every command but `serve` goes through its API when one
//! serves the data dir (mission commands and the demo start one when none does).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use serde_json::Value;
use sortie_missions::{Mission, MissionId, StoredEvent, Update};
use sortie_transports::sse::SseDecoder;

pub mod reattach;
mod start_lock;

use crate::api::instance::{self, info_path, log_path, token_path, DaemonInfo};
use crate::api::{update_from_json, CredentialRow};
use crate::config::Config;

/// A connection to the daemon of one data dir.
#[derive(Clone)]
pub struct Client {
    pub info: DaemonInfo,
    /// The data dir whose daemon this is.
    pub home: std::path::PathBuf,
    base: String,
    token: String,
    http: reqwest::Client,
}

/// The daemon serving `home`, when one answers its health check.
pub async fn running(home: &Path) -> Option<DaemonInfo> {
    Client::connect(home).await.map(|c| c.info)
}

impl Client {
    /// Connects when `daemon.json` names a daemon that answers (with the token) within 2 s.
    /// The daemon must first prove it wrote `daemon.json` (see `api::instance`), and
    /// be on loopback, or nothing is sent.
    pub async fn connect(home: &Path) -> Option<Self> {
        let info: DaemonInfo =
            serde_json::from_str(&std::fs::read_to_string(info_path(home)).ok()?).ok()?;
        let Some(addr) = instance::loopback_addr(info.addr) else {
            eprintln!(
                "warning: {} names a daemon at {}, which is not a loopback address; not sending it anything",
                info_path(home).display(),
                info.addr
            );
            return None;
        };
        // Plain `http` on loopback: no TLS, so no root certificates (reading the system's,
        // about 150 files, was most of a following client's start, and a machine without
        // any could not reach its daemon at all).
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .tls_certs_only(Vec::new())
            .build()
            .ok()?;
        let base = format!("http://{addr}");
        if !instance::verify(&http, &base, &info.instance).await {
            return None;
        }
        let token = std::fs::read_to_string(token_path(home)).ok()?;
        let client = Self {
            home: home.to_path_buf(),
            base,
            token: token.trim().to_string(),
            http,
            info,
        };
        let health = client
            .http
            .get(format!("{}/health", client.base))
            .bearer_auth(&client.token)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        health.status().is_success().then_some(client)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and returns its JSON, or the API's error message.
    async fn call(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .context("the daemon did not answer")?;
        let status = response.status();
        let text = response
            .text()
            .await
            .context("the daemon's answer was cut short")?;
        let body: Value = serde_json::from_str(&text).with_context(|| {
            format!(
                "the daemon's answer (HTTP {}) is not JSON: {}",
                status.as_u16(),
                text.chars().take(200).collect::<String>()
            )
        })?;
        if !status.is_success() {
            let message = body
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("no message");
            bail!("{message}");
        }
        Ok(body)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(self.http.get(self.url(path))).await
    }

    pub async fn get_query(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.call(self.http.get(self.url(path)).query(query)).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.call(self.http.delete(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(self.http.post(self.url(path)).json(body)).await
    }

    /// Follows a mission's event stream from `from`, handing each update to `on_update`,
    /// until the daemon ends it; returns the mission as it then is.
    pub async fn follow(
        &self,
        id: &MissionId,
        from: u64,
        mut on_update: impl FnMut(Update),
    ) -> anyhow::Result<Mission> {
        let response = self
            .http
            .get(self.url(&format!("/missions/{id}/stream?from={from}")))
            .bearer_auth(&self.token)
            .send()
            .await
            .context("the daemon did not answer")?;
        if !response.status().is_success() {
            bail!(
                "the daemon refused the event stream ({})",
                response.status()
            );
        }
        let mut bytes = response.bytes_stream();
        let mut decoder = SseDecoder::default();
        let mut events = Vec::new();
        while let Some(chunk) = bytes.next().await {
            let chunk = chunk.context("the daemon's event stream broke off")?;
            decoder.feed(&chunk, &mut events)?;
            for e in events.drain(..) {
                let data: Value = match serde_json::from_str(&e.data) {
                    Ok(v) => v,
                    Err(_) => continue,
                };
                match e.event.as_str() {
                    "event" => {
                        if let Ok(event) = serde_json::from_value::<StoredEvent>(data) {
                            on_update(Update::Event {
                                mission: *id,
                                event,
                            });
                        }
                    }
                    "delta" => {
                        if let Some(u) = update_from_json(id, &data) {
                            on_update(u);
                        }
                    }
                    "end" => {
                        return serde_json::from_value(data["mission"].clone())
                            .context("the daemon ended the stream without the mission");
                    }
                    "error" => bail!("{}", data["message"].as_str().unwrap_or("stream error")),
                    _ => {}
                }
            }
        }
        bail!("the daemon closed the event stream before the mission ended")
    }
}

/// Starts `sortie serve --idle-exit <idle>` for `home` in the background (its own process
/// group, so the terminal's Ctrl-C does not reach it; output in `daemon.log`) and
/// connects to it. Single-flight: commands that start together wait for the one holding
/// [`start_lock`] and connect to its daemon. None when it does not come up within
/// 15 s: the command then runs in this process.
pub async fn start_daemon(home: &Path, idle: u64) -> Option<Client> {
    std::fs::create_dir_all(home).ok()?;
    let _starting = match start_lock::StartLock::acquire(home, Duration::from_secs(30)).await {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("note: cannot start the sortie daemon ({e}); running here");
            return None;
        }
    };
    // Another command may have started it while this one waited for the lock.
    if let Some(client) = Client::connect(home).await {
        return Some(client);
    }
    spawn_daemon(home, idle).await
}

async fn spawn_daemon(home: &Path, idle: u64) -> Option<Client> {
    let exe = std::env::current_exe().ok()?;
    let log = sortie_missions::owner_only::append_owner_only(&log_path(home)).ok()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--home")
        .arg(home)
        .args(["serve", "--idle-exit", &idle.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().ok()?)
        .stderr(log);
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().ok()?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        if let Some(client) = Client::connect(home).await {
            eprintln!(
                "started the sortie daemon (pid {}, http://{}); it stops after {}s idle, or with `sortie serve --stop`",
                client.info.pid, client.info.addr, idle
            );
            // Reaped by whoever outlives it; this command only talks to it.
            drop(child);
            return Some(client);
        }
        if let Ok(Some(status)) = child.try_wait() {
            eprintln!(
                "note: the sortie daemon did not start ({status}; see {}); running here",
                log_path(home).display()
            );
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("note: the sortie daemon did not answer within 15 s; running here");
    None
}

/// Hands a pasted code to the daemon's login `id`. When that daemon is gone (stopped or
/// restarted while the person was in the browser), the login is resumed in the daemon now
/// serving `home` (started when `autostart` allows), from the pending login kept in the
/// store, and the code goes there. Returns the client and login id to wait on.
pub async fn hand_over_code(
    c: &Client,
    home: &Path,
    start: &Value,
    id: &str,
    code: &str,
    autostart: Option<u64>,
) -> anyhow::Result<(Client, String)> {
    let body = serde_json::json!({ "code": code });
    let first = match c.post(&format!("/auth/logins/{id}/code"), &body).await {
        Ok(_) => return Ok((c.clone(), id.to_string())),
        Err(e) => e,
    };
    let what_to_run = "run the same `sortie auth` command again: the login resumes where it was, and paste the same code";
    let Some(now) = daemon_again(home, autostart).await else {
        bail!("the sortie daemon stopped while you were logging in ({first:#}); {what_to_run}");
    };
    if now.info.pid == c.info.pid && now.info.addr == c.info.addr {
        return Err(first.context(format!(
            "handing the code to the daemon failed; {what_to_run}"
        )));
    }
    let resumed = now
        .post("/auth/logins", start)
        .await
        .with_context(|| format!("resuming the login in the restarted daemon; {what_to_run}"))?;
    let new_id = resumed["id"]
        .as_str()
        .context("the restarted daemon's login has no id")?
        .to_string();
    eprintln!(
        "note: the daemon restarted while you were logging in; handing the code to the new one"
    );
    now.post(&format!("/auth/logins/{new_id}/code"), &body)
        .await
        .with_context(|| format!("handing the code to the restarted daemon; {what_to_run}"))?;
    Ok((now, new_id))
}

/// The daemon serving `home` after the one a command used went away: the one that comes
/// up within 10 s, or one started here when `autostart` allows.
async fn daemon_again(home: &Path, autostart: Option<u64>) -> Option<Client> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if let Some(c) = Client::connect(home).await {
            return Some(c);
        }
        if autostart.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    start_daemon(home, autostart?).await
}

pub(crate) fn mission_of(v: &Value) -> anyhow::Result<Mission> {
    serde_json::from_value(v.clone()).context("the daemon sent a mission this sortie cannot read")
}

/// `sortie missions` through the daemon.
/// Reads every page (`GET /missions` is paged); list items carry the first 200
/// characters of each prompt.
pub async fn missions(client: &Client) -> anyhow::Result<(Vec<Mission>, Vec<String>)> {
    let (mut missions, mut problems) = (Vec::new(), Vec::new());
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "1000".to_string())];
        query.extend(cursor.take().map(|c| ("cursor", c)));
        let v = client.get_query("/missions", &query).await?;
        let page: Vec<Mission> = serde_json::from_value(v["missions"].clone())
            .context("the daemon sent missions this sortie cannot read")?;
        missions.extend(page);
        problems.extend(
            serde_json::from_value::<Vec<String>>(v["problems"].clone()).unwrap_or_default(),
        );
        match v["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return Ok((missions, problems)),
        }
    }
}

/// `sortie show` through the daemon.
pub async fn show(client: &Client, id: &str) -> anyhow::Result<(Mission, Vec<StoredEvent>)> {
    let mission = mission_of(&client.get(&format!("/missions/{id}")).await?)?;
    let events = client
        .get(&format!("/missions/{}/events", mission.id))
        .await?;
    let events = serde_json::from_value(events).context("unreadable events from the daemon")?;
    Ok((mission, events))
}

/// Polls a login the daemon runs until it ends: the stored credential, or why not.
pub async fn wait_login(client: &Client, id: &str) -> anyhow::Result<CredentialRow> {
    let path = format!("/auth/logins/{id}");
    loop {
        let v = client.get(&path).await?;
        match v["state"].as_str() {
            Some("pending") => tokio::time::sleep(Duration::from_millis(250)).await,
            Some("completed") => {
                return serde_json::from_value(v["credential"].clone())
                    .context("the daemon's credential is not readable")
            }
            Some("failed") => bail!("{}", v["error"].as_str().unwrap_or("the login failed")),
            other => bail!("the login ended: {}", other.unwrap_or("unknown state")),
        }
    }
}

/// `id` as one path segment (credential ids hold `#`).
pub fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The idle exit of the daemon a mission command should start, when it should start one:
/// the config says so (default yes) and `SORTIE_AUTOSTART=0` does not veto it. (`ask`
/// missions too: the daemon asks whoever follows the mission, and `sortie run` at a
/// terminal answers.)
pub fn autostart_idle(home: &Path) -> Option<u64> {
    if std::env::var("SORTIE_AUTOSTART").is_ok_and(|v| v == "0" || v == "false") {
        return None;
    }
    // A config error is the command's own to report.
    let config = Config::load(home).ok().filter(|c| c.daemon.autostart)?;
    Some(config.daemon.idle_exit_secs)
}
