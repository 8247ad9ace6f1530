//! A stdio server: a child process started through the mission's sandbox (launcher,
//! Landlock, network namespace where the policy says so, parent-death signal), with the
//! clean environment plus the server's own `env` and `env_passthrough`, and recorded in
//! the process ledger until it ends.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sortie_sandbox::{Sandbox, Tracked};
use tokio::io::AsyncReadExt;

use crate::config::ServerConfig;
use crate::connection::{McpError, RmcpConnection};

/// How much of a server's stderr is kept, to explain why it failed.
const STDERR_TAIL: usize = 2048;

/// A running server process; ended with everything below it when dropped.
pub struct Process {
    child: Mutex<tokio::process::Child>,
    tracked: Tracked,
    stderr: Arc<Mutex<String>>,
    /// The values Sortie gave the server (`env`, `env_passthrough`): never repeated from
    /// its stderr into an error.
    given: Vec<String>,
}

impl Process {
    /// True once the process has ended.
    pub(crate) fn exited(&self) -> bool {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        matches!(child.try_wait(), Ok(Some(_)))
    }

    /// Gives a server that is failing a moment to exit and have its last words read.
    pub(crate) async fn settle(&self) {
        for _ in 0..20 {
            if self.exited() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    /// `what` went wrong, with the exit status and the end of stderr when there is one.
    pub(crate) fn explain(&self, what: &str) -> String {
        let mut text = what.to_string();
        let status = {
            let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
            child.try_wait().ok().flatten()
        };
        if let Some(status) = status {
            text.push_str(&format!("; the server exited ({status})"));
        }
        let mut tail = self
            .stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for value in &self.given {
            tail = tail.replace(value.as_str(), "***");
        }
        let tail = tail.trim();
        if !tail.is_empty() {
            text.push_str(&format!("; its stderr ends: {tail}"));
        }
        text
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.tracked.terminate();
    }
}

/// The server's environment beyond the sandbox's allow-list: its `env`, and its
/// `env_passthrough` from Sortie's own environment. A provider key (`api_key_env`) or a
/// variable of Sortie's own never gets through; other names the server's table gives on
/// purpose do (a tracker's token is what the server is for).
pub fn server_env(config: &ServerConfig, sandbox: &Sandbox) -> Vec<(String, String)> {
    let refused = |k: &str| {
        sandbox.env.secret_names.iter().any(|s| s == k)
            || k.to_ascii_uppercase().starts_with("SORTIE_")
    };
    let mut out: Vec<(String, String)> = config
        .env_passthrough
        .iter()
        .filter(|k| !refused(k))
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.clone(), v)))
        .collect();
    out.extend(
        config
            .env
            .iter()
            .filter(|(k, _)| !refused(k))
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    out
}

/// Starts server `name` and runs the handshake.
pub async fn start(
    name: &str,
    config: &ServerConfig,
    sandbox: &Sandbox,
) -> Result<RmcpConnection, McpError> {
    let command = config.command.as_deref().unwrap_or_default();
    let env = server_env(config, sandbox);
    // Short values (`1`, `true`) would blank half the message and hide nothing.
    let given = env
        .iter()
        .map(|(_, v)| v.clone())
        .filter(|v| v.len() >= 6)
        .collect();
    let mut cmd = sandbox.command(command, &[], false, false);
    cmd.args(&config.args)
        .envs(env)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| McpError::Start(format!("cannot start `{command}`: {e}")))?;
    let pid = child.id().unwrap_or(0);
    let label = format!("mcp server {name}: {command}");
    let tracked = match &sandbox.ledger {
        Some(ledger) => ledger.track(pid, &label, sandbox.launched()),
        None => Tracked::untracked(pid, sandbox.launched()),
    };
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(McpError::Start("its stdio could not be opened".into()));
    };
    let tail = Arc::new(Mutex::new(String::new()));
    tokio::spawn(keep_tail(stderr, tail.clone()));
    let process = Process {
        child: Mutex::new(child),
        tracked,
        stderr: tail,
        given,
    };
    let startup = Duration::from_secs(config.startup_timeout_secs);
    RmcpConnection::connect((stdout, stdin), startup, Some(process)).await
}

/// Keeps the last [`STDERR_TAIL`] bytes of what the server writes to stderr.
async fn keep_tail(mut stderr: tokio::process::ChildStderr, tail: Arc<Mutex<String>>) {
    let mut buf = vec![0u8; 4096];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        // Not logged: a server may print the values its `env` gave it; what it wrote
        // reaches a person only through `explain`, with those values masked.
        let text = String::from_utf8_lossy(&buf[..n]);
        let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
        t.push_str(&text);
        if t.len() > STDERR_TAIL {
            let mut cut = t.len() - STDERR_TAIL;
            while !t.is_char_boundary(cut) {
                cut += 1;
            }
            t.drain(..cut);
        }
    }
}
