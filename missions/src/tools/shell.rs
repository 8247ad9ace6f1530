//! shell: `sh -c` in the working directory. Its output is read as it comes, into bounded
//! memory, and passed on live; the call ends when the command exits (whatever its
//! children hold open), past its timeout, or past `max_output_bytes`, and its whole
//! process group is gone when it returns.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};

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

/// How a shell call's process is started: the one place that says so.
fn command(_tools: &ToolBox, cwd: &Path, command_line: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command_line)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
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
    cwd: &Path,
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
    let mut child = match command(tools, cwd, &command_line).spawn() {
        Ok(c) => c,
        Err(e) => return ToolResult::error(format!("cannot start `sh`: {e}")),
    };
    // Whatever ends this call early (the mission being cancelled and this future dropped)
    // takes the command's whole process group with it.
    let mut group = GroupGuard(child.id());
    let mut capture = Capture::default();
    let mut tap = LiveTap::new(live);
    let collected = tokio::time::timeout(
        timeout,
        collect(&mut child, &mut capture, &mut tap, tools.max_output_bytes),
    )
    .await;
    tap.flush(true);
    end_group(group.0.take()).await;
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

/// Kills the process group it names when dropped, unless taken first.
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        kill_group(self.0.take());
    }
}

/// Kills the command and everything it started (it leads its own process group).
fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    sortie_transports::process::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
    #[cfg(not(unix))]
    let _ = pid;
}

/// Kills the group and waits (bounded) until none of its processes runs any more.
async fn end_group(pid: Option<u32>) {
    kill_group(pid);
    #[cfg(unix)]
    if let Some(pgid) = pid.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 1) {
        let started = std::time::Instant::now();
        while super::group::alive(pgid) && started.elapsed() < REAP {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[cfg(test)]
#[path = "shell_tests.rs"]
mod tests;
