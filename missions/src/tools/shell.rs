//! shell: `sh -c` in the working directory, with a timeout that kills the whole process group.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncReadExt;

use sortie_sandbox::{Sandbox, Tracked};

use super::{cap, opt_u64, str_arg, ToolBox, ToolResult};
use crate::ToolOutcome;

pub(super) async fn run(tools: &ToolBox, sandbox: &Sandbox, args: &Value) -> ToolResult {
    let command = match str_arg(args, "command") {
        Ok(c) => c.to_string(),
        Err(e) => return ToolResult::error(e),
    };
    let timeout = match opt_u64(args, "timeout_secs") {
        Ok(t) => t
            .map_or(tools.shell_timeout, Duration::from_secs)
            .min(tools.max_shell_timeout),
        Err(e) => return ToolResult::error(e),
    };
    let mut cmd = sh_command(sandbox, &command);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return ToolResult::error(format!("cannot start `sh`: {e}")),
    };
    // Whatever ends this call early (timeout, or the mission being cancelled and this future
    // dropped) takes the command's whole process tree with it.
    let mut group = CallGuard::new(sandbox, child.id(), &command);
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let collect = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let read_out = async {
            if let Some(s) = stdout.as_mut() {
                let _ = s.read_to_end(&mut out).await;
            }
        };
        let read_err = async {
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_end(&mut err).await;
            }
        };
        tokio::join!(read_out, read_err);
        let status = child.wait().await;
        (status, out, err)
    };
    match tokio::time::timeout(timeout, collect).await {
        Ok((status, out, err)) => {
            group.finished();
            let code = match status {
                Ok(s) => s
                    .code()
                    .map_or_else(|| "killed by a signal".to_string(), |c| c.to_string()),
                Err(e) => format!("unknown ({e})"),
            };
            let mut text = format!("exit code: {code}\n");
            append_stream(&mut text, "stdout", &out);
            append_stream(&mut text, "stderr", &err);
            let outcome = if code == "0" {
                ToolOutcome::Ok
            } else {
                ToolOutcome::Error
            };
            ToolResult {
                outcome,
                output: cap(text),
            }
        }
        Err(_) => {
            drop(group);
            ToolResult {
                outcome: ToolOutcome::TimedOut,
                output: format!(
                    "the command timed out after {}s and was killed: {command}",
                    timeout.as_secs()
                ),
            }
        }
    }
}

fn append_stream(text: &mut String, name: &str, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    text.push_str(&format!("--- {name} ---\n"));
    text.push_str(&String::from_utf8_lossy(bytes));
    if !text.ends_with('\n') {
        text.push('\n');
    }
}

/// `sh -c LINE` in the mission's sandbox (through the launcher, clean environment, a
/// process group of its own), stdin closed, both outputs piped.
fn sh_command(sandbox: &Sandbox, line: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::from(sandbox.command("sh", &[], true, false));
    cmd.arg("-c")
        .arg(line)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A launcher cleans up after itself when asked; killing it outright would not.
        .kill_on_drop(!sandbox.launched());
    cmd
}

/// The running command, recorded in the ledger; ended with its whole tree when dropped
/// before [`CallGuard::finished`]. A finished command's leftovers (`sleep 300 &`) go too.
struct CallGuard {
    tracked: Option<Tracked>,
    launched: bool,
    done: bool,
}

impl CallGuard {
    fn new(sandbox: &Sandbox, pid: Option<u32>, line: &str) -> Self {
        let launched = sandbox.launched();
        let tracked = pid.map(|pid| {
            let label = format!("shell: {line}");
            match &sandbox.ledger {
                Some(ledger) => ledger.track(pid, &label, launched),
                None => Tracked::untracked(pid, launched),
            }
        });
        Self {
            tracked,
            launched,
            done: false,
        }
    }

    fn finished(&mut self) {
        self.done = true;
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        let Some(tracked) = &self.tracked else {
            return;
        };
        // The launcher has already killed what the command left behind when it exited.
        if !(self.done && self.launched) {
            tracked.terminate();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn reports_exit_code_and_both_streams() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = run(
            &ToolBox::default(),
            &Sandbox::unconfined(dir.path()),
            &json!({"command":"echo out; echo err >&2; exit 3"}),
        )
        .await;
        assert_eq!(r.outcome, ToolOutcome::Error);
        assert_eq!(
            r.output,
            "exit code: 3\n--- stdout ---\nout\n--- stderr ---\nerr\n"
        );
    }

    #[tokio::test]
    async fn dropping_a_running_command_kills_its_children_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = dir.path().join("survived");
        let command = format!("(sleep 1; touch {}) & sleep 30", marker.display());
        let (tools, args) = (ToolBox::default(), json!({ "command": command }));
        let sandbox = Sandbox::unconfined(dir.path());
        let call = run(&tools, &sandbox, &args);
        // Cancel the call the way a cancelled mission does: drop it mid-run.
        let _ = tokio::time::timeout(Duration::from_millis(300), call).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(
            !marker.exists(),
            "a child of the cancelled command kept running"
        );
    }

    #[tokio::test]
    async fn a_command_past_its_timeout_is_killed_with_its_children() {
        let dir = tempfile::tempdir().expect("tempdir");
        let started = std::time::Instant::now();
        let r = run(
            &ToolBox::default(),
            &Sandbox::unconfined(dir.path()),
            &json!({"command":"sleep 30 & sleep 30; echo never", "timeout_secs": 1}),
        )
        .await;
        assert_eq!(r.outcome, ToolOutcome::TimedOut);
        assert!(r.output.contains("timed out after 1s"));
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the timeout did not end the command"
        );
    }
}
