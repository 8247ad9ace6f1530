//! shell: `sh -c` in the working directory. Its output is read as it comes, into bounded
//! memory, and passed on live; the call ends when the command exits (whatever its
//! children hold open), past its timeout, or past `max_output_bytes`, and its whole
//! process group is gone when it returns.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};

use sortie_sandbox::{Sandbox, Tracked};

use super::output::{budgets, Bounded, LiveOutput, LiveTap, Stream};
use super::{cap, opt_u64, str_arg, ToolBox, ToolResult, MAX_OUTPUT};
use crate::ToolOutcome;

/// How long output is still read after the command exited, before what it left running
/// is killed.
const GRACE: Duration = Duration::from_millis(300);
/// How often live output is passed on.
const LIVE_EVERY: Duration = Duration::from_millis(100);
/// Longest wait for a killed process group to be gone.
const REAP: Duration = Duration::from_secs(5);
const CHUNK: usize = 16 * 1024;

/// How a shell call's process is started, the one place that says so: `sh -c LINE` in the
/// mission's sandbox (through the launcher, clean environment, a process group of its
/// own), stdin closed, both outputs piped.
fn command(sandbox: &Sandbox, command_line: &str) -> Command {
    let mut cmd = Command::from(sandbox.command("sh", &[], true, false));
    cmd.arg("-c")
        .arg(command_line)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A launcher cleans up after itself when asked; killing it outright would not.
        .kill_on_drop(!sandbox.launched());
    cmd
}

/// What the command wrote, and how it ended.
#[derive(Default)]
struct Capture {
    out: Bounded,
    err: Bounded,
    total: u64,
    status: Option<std::io::Result<ExitStatus>>,
    over_limit: bool,
}

pub(super) async fn run(
    tools: &ToolBox,
    sandbox: &Sandbox,
    args: &Value,
    live: &LiveOutput<'_>,
) -> ToolResult {
    let command_line = match str_arg(args, "command") {
        Ok(c) => c.to_string(),
        Err(e) => return ToolResult::error(e),
    };
    let timeout = match opt_u64(args, "timeout_secs") {
        Ok(t) => t
            .map_or(tools.shell_timeout, Duration::from_secs)
            .min(tools.max_shell_timeout),
        Err(e) => return ToolResult::error(e),
    };
    let mut child = match command(sandbox, &command_line).spawn() {
        Ok(c) => c,
        Err(e) => return ToolResult::error(format!("cannot start `sh`: {e}")),
    };
    // Whatever ends this call early (the mission being cancelled and this future dropped)
    // takes the command's whole process tree with it.
    let mut group = CallGuard::new(sandbox, child.id(), &command_line);
    let mut capture = Capture::default();
    let mut tap = LiveTap::new(live);
    let collected = tokio::time::timeout(
        timeout,
        collect(&mut child, &mut capture, &mut tap, tools.max_output_bytes),
    )
    .await;
    tap.flush(true);
    group.end().await;
    if capture.status.is_none() {
        capture.status = tokio::time::timeout(REAP, child.wait()).await.ok();
    }
    let body = render(&capture);
    if collected.is_err() {
        return ToolResult {
            outcome: ToolOutcome::TimedOut,
            output: cap(format!(
                "the command timed out after {}s and was killed: {command_line}\n{body}",
                timeout.as_secs()
            )),
            images: Vec::new(),
        };
    }
    if capture.over_limit {
        return ToolResult::error(cap(format!(
            "the command wrote more than {} bytes ([tools] max_output_bytes) and was killed: {command_line}\n{body}",
            tools.max_output_bytes
        )));
    }
    let code = match &capture.status {
        Some(Ok(s)) => s
            .code()
            .map_or_else(|| "killed by a signal".to_string(), |c| c.to_string()),
        Some(Err(e)) => format!("unknown ({e})"),
        None => "unknown (it did not end)".to_string(),
    };
    ToolResult {
        outcome: if code == "0" {
            ToolOutcome::Ok
        } else {
            ToolOutcome::Error
        },
        output: cap(format!("exit code: {code}\n{body}")),
        images: Vec::new(),
    }
}

/// The chunks a pipe yields, tagged with their stream, until it closes.
fn chunks<R: AsyncRead + Unpin>(
    reader: Option<R>,
    stream: Stream,
) -> impl futures::Stream<Item = (Stream, Vec<u8>)> {
    futures::stream::unfold(reader, move |reader| async move {
        let mut reader = reader?;
        let mut buf = vec![0; CHUNK];
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some(((stream, buf), Some(reader)))
            }
        }
    })
}

/// Reads both streams until the command exited and they closed, or a short grace after it
/// exited (a background child may hold them open), or until the output passed `limit`.
async fn collect(child: &mut Child, capture: &mut Capture, tap: &mut LiveTap<'_>, limit: u64) {
    let stdout = chunks(child.stdout.take(), Stream::Stdout);
    let stderr = chunks(child.stderr.take(), Stream::Stderr);
    let mut output = std::pin::pin!(futures::stream::select(stdout, stderr));
    let mut open = true;
    let mut flush = tokio::time::interval(LIVE_EVERY);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut grace_until = None;
    loop {
        tokio::select! {
            chunk = output.next(), if open => match chunk {
                Some((stream, bytes)) => {
                    capture.total += bytes.len() as u64;
                    match stream {
                        Stream::Stdout => capture.out.push(&bytes),
                        Stream::Stderr => capture.err.push(&bytes),
                    }
                    tap.push(stream, &bytes);
                    if capture.total > limit {
                        capture.over_limit = true;
                        return;
                    }
                }
                None if capture.status.is_some() => return,
                None => open = false,
            },
            status = child.wait(), if capture.status.is_none() => {
                capture.status = Some(status);
                if !open {
                    return;
                }
                grace_until = Some(tokio::time::Instant::now() + GRACE);
            }
            _ = sleep_until(grace_until), if grace_until.is_some() => return,
            _ = flush.tick() => tap.flush(false),
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The result's body: each stream that wrote something, within the result's size.
fn render(c: &Capture) -> String {
    let (out_budget, err_budget) = budgets(&c.out, &c.err, MAX_OUTPUT - 400);
    let mut text = String::new();
    for (name, stream, budget) in [
        ("stdout", &c.out, out_budget),
        ("stderr", &c.err, err_budget),
    ] {
        if stream.is_empty() {
            continue;
        }
        text.push_str(&format!("--- {name} ---\n"));
        text.push_str(&stream.render(budget));
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    text
}

/// The running command, recorded in the ledger while it runs; ended with its whole tree
/// when dropped before [`CallGuard::end`] (a cancelled mission drops the call).
struct CallGuard {
    tracked: Option<Tracked>,
    launched: bool,
    ended: bool,
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
            ended: false,
        }
    }

    /// Ends what is left of the command and waits (bounded) until none of its processes
    /// runs. A launcher that is still there (timeout, output cap) kills its tree when asked;
    /// a command without one loses its process group.
    async fn end(&mut self) {
        self.ended = true;
        let Some(tracked) = &self.tracked else {
            return;
        };
        let pid = tracked.pid();
        if self.launched {
            tracked.terminate();
        } else {
            kill_group(Some(pid));
        }
        let started = std::time::Instant::now();
        while sortie_sandbox::tree::group_alive(pid) && started.elapsed() < REAP {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if let Some(tracked) = &self.tracked {
            tracked.terminate();
        }
    }
}

/// Kills a command started without the launcher and everything in its process group.
fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    sortie_transports::process::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
    #[cfg(not(unix))]
    let _ = pid;
}

#[cfg(test)]
#[path = "shell_tests.rs"]
mod tests;
