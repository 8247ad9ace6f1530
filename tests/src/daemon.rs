//! The real `sortie serve` as a child process, and an API client for it.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running daemon. Dropping it kills it (SIGKILL, as a crash would).
pub struct DaemonProc {
    pub child: Child,
    pub home: PathBuf,
    pub base: String,
    pub token: String,
    http: reqwest::Client,
}

impl DaemonProc {
    /// Starts `sortie serve` on `home` and waits (up to 30 s) until it answers.
    pub async fn start(home: &Path) -> Self {
        Self::start_with_env(home, &[]).await
    }

    /// As [`DaemonProc::start`], with these variables in the daemon's environment.
    pub async fn start_with_env(home: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_with(home, &[], env).await
    }

    /// `sortie serve ARGS...` with these variables in the daemon's environment.
    pub async fn start_with(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let _ = std::fs::remove_file(home.join("daemon.json"));
        let log = std::fs::File::create(home.join("test-daemon.log")).expect("log file");
        let child = crate::sortie(home)
            .envs(env.iter().copied())
            .arg("serve")
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sortie serve");
        let mut d = Self {
            child,
            home: home.to_path_buf(),
            base: String::new(),
            token: String::new(),
            http: reqwest::Client::new(),
        };
        let started = Instant::now();
        loop {
            let info = std::fs::read_to_string(home.join("daemon.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok());
            if let Some(info) = info {
                d.base = format!("http://{}", info["addr"].as_str().unwrap_or_default());
                d.token = std::fs::read_to_string(home.join("daemon.token"))
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                if d.get("/health").await.0 == 200 {
                    return d;
                }
            }
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!("the daemon exited ({status}): {}", d.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the daemon did not start: {}",
                d.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Reads `daemon.json` again and, when the daemon restarted itself (a new port and
    /// token), talks to the new one from then on. True when it answers.
    pub async fn reattach(&mut self) -> bool {
        let info = std::fs::read_to_string(self.home.join("daemon.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok());
        let token = std::fs::read_to_string(self.home.join("daemon.token"))
            .unwrap_or_default()
            .trim()
            .to_string();
        if let Some(info) = info.filter(|_| !token.is_empty()) {
            self.base = format!("http://{}", info["addr"].as_str().unwrap_or_default());
            self.token = token;
        }
        self.get("/health").await.0 == 200
    }

    /// What the daemon printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.join("test-daemon.log")).unwrap_or_default()
    }

    /// kill -9.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        match request.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.token),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .json(&body),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(
            self.http
                .delete(format!("{}{path}", self.base))
                .bearer_auth(&self.token),
        )
        .await
    }

    /// A request with no token at all, or the wrong one.
    /// Reads a mission's SSE stream (replay, then live) until `needle` appears; its text.
    pub async fn stream_until(&self, id: &str, needle: &str) -> String {
        let mut response = self
            .http
            .get(format!("{}/missions/{id}/stream", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("stream");
        let mut text = String::new();
        let read = async {
            while let Some(chunk) = response.chunk().await.expect("chunk") {
                text.push_str(&String::from_utf8_lossy(&chunk));
                if text.contains(needle) {
                    return;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .unwrap_or_else(|_| panic!("no `{needle}` on the stream of {id}"));
        text
    }

    pub async fn get_with_token(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut r = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        self.send(r).await
    }

    /// Polls a schedule's runs until `skipped` of them were skipped (up to 30 s); returns
    /// the runs and the first skipped one.
    pub async fn wait_skipped_runs(&self, id: &str, skipped: usize) -> (Vec<Value>, Value) {
        let started = Instant::now();
        loop {
            let (_, s) = self.get(&format!("/schedules/{id}")).await;
            let runs = s["runs"].as_array().cloned().unwrap_or_default();
            let skips: Vec<&Value> = runs.iter().filter(|r| r["outcome"] == "skipped").collect();
            if skips.len() >= skipped.max(1) {
                let first = skips[0].clone();
                return (runs, first);
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "timed out; the schedule so far: {s:#}\ndaemon log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls the mission's events until `done` says so (up to 30 s).
    pub async fn wait_events(&self, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let (_, events) = self.get(&format!("/missions/{id}/events")).await;
            let events = events.as_array().cloned().unwrap_or_default();
            if done(&events) {
                return events;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "timed out; events so far: {events:#?}\ndaemon log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for DaemonProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The statuses a mission went through, in order.
pub fn statuses(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "status")
        .map(|e| e["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// True once the mission reached a status other than queued or running after `after`.
pub fn ended(events: &[Value]) -> bool {
    events.last().is_some_and(|e| {
        e["type"] == "status" && !matches!(e["status"].as_str(), Some("running" | "queued"))
    })
}
