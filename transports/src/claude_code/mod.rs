//! The Claude Code CLI as a transport: one `claude -p` run per turn, in its own process
//! group, its stream-json read line by line into the same events the direct transports give.
//!
//! The CLI runs its own tools, so a run may hold several model calls with tool results in
//! between ([`TransportEvent::ToolResult`]); the caller records them and does not run the
//! calls again ([`Transport::runs_tools`]). A conversation lives in a CLI session: the first
//! run starts it with `--session-id`, later runs `--resume` it, and a fresh session (after a
//! stale-thinking refusal or a lost session) gets the conversation rebuilt as text.

mod parse;
pub mod prompt;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc::Sender;

pub use parse::{Ended, StreamJsonParser, NO_CONVERSATION};

use crate::auth::{AuthMode, Credentials};
use crate::catalog::ModelInfo;
use crate::{
    ErrorClass, ModelsFuture, ToolAccess, Transport, TransportError, TransportEvent, TurnFuture,
    TurnRequest,
};

/// Where each run's `HOME` (and `CLAUDE_CONFIG_DIR`) is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HomeDir {
    /// The user's own: the CLI sees its own login, settings and sessions.
    Inherit,
    /// `<root>/<conversation>`: each mission gets its own, owner-only (the default).
    PerConversation(PathBuf),
    /// One fixed directory for every run.
    Fixed(PathBuf),
}

/// How to run the CLI.
#[derive(Debug, Clone)]
pub struct ClaudeCodeConfig {
    /// The `claude` executable (a name looked up on PATH, or a path).
    pub program: PathBuf,
    /// `ANTHROPIC_BASE_URL`, when the provider sets one.
    pub base_url: Option<String>,
    /// Each run leases from here: an API key becomes `ANTHROPIC_API_KEY`, an OAuth token
    /// `CLAUDE_CODE_OAUTH_TOKEN`. Without it the CLI uses its own login.
    pub credentials: Option<Credentials>,
    pub home: HomeDir,
    /// A run that prints nothing for this long is stopped.
    pub idle_timeout: Duration,
    /// `CLAUDE_CODE_MAX_RETRIES`: Sortie's recovery does the retrying, so 0 by default.
    pub max_retries: u32,
    /// How long a stopping run gets after SIGINT, and again after SIGTERM, before SIGKILL.
    pub grace: Duration,
    /// More arguments for every run.
    pub extra_args: Vec<String>,
    /// More environment for every run.
    pub env: Vec<(String, String)>,
}

impl ClaudeCodeConfig {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            base_url: None,
            credentials: None,
            home: HomeDir::Inherit,
            idle_timeout: Duration::from_secs(600),
            max_retries: 0,
            grace: Duration::from_secs(3),
            extra_args: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// The Claude Code CLI transport.
pub struct ClaudeCode {
    config: ClaudeCodeConfig,
}

/// Environment that would give the CLI a credential other than the one leased.
const CREDENTIAL_ENV: &[&str] = &[
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
];

/// The last bytes of stderr kept for a failure message.
const STDERR_TAIL: usize = 2_000;

/// Model aliases the CLI accepts; it takes full model ids too.
const ALIASES: &[(&str, &str)] = &[
    ("sonnet", "the latest Sonnet"),
    ("opus", "the latest Opus"),
    ("haiku", "the latest Haiku"),
    ("opusplan", "Opus in plan mode, Sonnet otherwise"),
];

impl ClaudeCode {
    pub fn new(config: ClaudeCodeConfig) -> Self {
        Self { config }
    }

    /// The command line of a run (without the prompt, which goes to stdin).
    pub fn args(&self, request: &TurnRequest) -> Vec<String> {
        let mut args: Vec<String> = ["-p", "--output-format", "stream-json", "--verbose"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if !request.model.is_empty() {
            args.extend(["--model".into(), request.model.clone()]);
        }
        match &request.session {
            Some(s) if s.resume => args.extend(["--resume".into(), s.id.clone()]),
            Some(s) => args.extend(["--session-id".into(), s.id.clone()]),
            None => {}
        }
        if !request.system.trim().is_empty() {
            args.extend(["--append-system-prompt".into(), request.system.clone()]);
        }
        match request.access {
            ToolAccess::Auto => {
                args.extend(["--permission-mode".into(), "bypassPermissions".into()])
            }
            ToolAccess::Ask => args.extend(["--permission-mode".into(), "default".into()]),
            ToolAccess::ReadOnly => args.extend([
                "--permission-mode".into(),
                "default".into(),
                "--disallowedTools".into(),
                "Bash,Edit,MultiEdit,Write,NotebookEdit".into(),
            ]),
        }
        if let Some(n) = request.max_turns {
            args.extend(["--max-turns".into(), n.to_string()]);
        }
        args.extend(self.config.extra_args.iter().cloned());
        args
    }

    /// The run's `HOME`, created owner-only when it is Sortie's.
    fn home(&self, request: &TurnRequest) -> Result<Option<PathBuf>, TransportError> {
        let dir = match &self.config.home {
            HomeDir::Inherit => return Ok(None),
            HomeDir::Fixed(dir) => dir.clone(),
            HomeDir::PerConversation(root) => {
                let key = request.conversation.as_deref().unwrap_or("shared");
                if key.is_empty() || key.contains(['/', '\\']) || key.starts_with('.') {
                    return Err(TransportError::new(
                        ErrorClass::InvalidRequest,
                        format!("conversation key {key:?} cannot name a directory"),
                    ));
                }
                // The root holds every mission's CLI state: owner-only too.
                sortie_sandbox::create_private_dir(root).map_err(|e| {
                    TransportError::new(
                        ErrorClass::InvalidRequest,
                        format!("cannot create {}: {e}", root.display()),
                    )
                })?;
                root.join(key)
            }
        };
        sortie_sandbox::create_private_dir(&dir).map_err(|e| {
            TransportError::new(
                ErrorClass::InvalidRequest,
                format!("cannot create the Claude Code home {}: {e}", dir.display()),
            )
        })?;
        Ok(Some(dir))
    }

    async fn start(&self, request: TurnRequest) -> Result<Run, TransportError> {
        let resume = request.session.as_ref().is_some_and(|s| s.resume);
        let input = match &request.session {
            // What the session holds is not said again: it is asked to go on.
            Some(s) if s.resume && s.holds_pending => prompt::CONTINUE.to_string(),
            _ => prompt::prompt(&request.messages, resume),
        };
        let mut cmd = self.command(&request)?;
        if let Some(credentials) = &self.config.credentials {
            let lease = credentials.lease().await?;
            let var = match lease.mode {
                AuthMode::ApiKey => "ANTHROPIC_API_KEY",
                AuthMode::OAuth => "CLAUDE_CODE_OAUTH_TOKEN",
            };
            cmd.env(var, lease.secret.expose());
        }
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                self.not_found()
            } else {
                TransportError::new(
                    ErrorClass::InvalidRequest,
                    format!("cannot start `{}`: {e}", self.config.program.display()),
                )
            }
        })?;
        // Recorded while it runs, so a Sortie that starts after this one died kills it.
        let sandbox = request.sandbox.as_ref();
        let tracked = child.id().map(|pid| {
            let launched = sandbox.is_some_and(|s| s.launched());
            match sandbox.and_then(|s| s.ledger.as_ref()) {
                Some(ledger) => ledger.track(pid, "claude-code", launched),
                None => sortie_sandbox::Tracked::untracked(pid, launched),
            }
        });
        let (stderr, stderr_done) = keep_stderr_tail(&mut child);
        if let Some(mut stdin) = child.stdin.take() {
            // Written beside the reading, so a CLI that writes before it has read a long
            // prompt cannot wedge both pipes. A CLI that dies at once closes its stdin;
            // what it printed says why.
            tokio::spawn(async move {
                let _ = stdin.write_all(input.as_bytes()).await;
                let _ = stdin.shutdown().await;
            });
        }
        Ok(Run {
            child,
            tracked,
            stderr,
            stderr_done,
            idle: self.config.idle_timeout,
            grace: self.config.grace,
        })
    }

    /// The CLI's command line, directory and environment for one turn (its credential
    /// aside): confined by the mission's sandbox when it has one, in a process group of its
    /// own otherwise.
    fn command(&self, request: &TurnRequest) -> Result<Command, TransportError> {
        let home = self.home(request)?;
        let mut cmd = match &request.sandbox {
            Some(sandbox) => {
                self.check_program()?;
                // The CLI keeps its sessions and settings in its home: writable in any mode.
                let writable: Vec<PathBuf> = match &home {
                    Some(home) => vec![home.clone()],
                    None => std::env::var_os("HOME")
                        .map(|h| vec![Path::new(&h).join(".claude")])
                        .unwrap_or_default(),
                };
                Command::from(sandbox.command(&self.config.program, &writable, false, true))
            }
            None => {
                let mut cmd = Command::new(&self.config.program);
                #[cfg(unix)]
                cmd.process_group(0);
                cmd
            }
        };
        cmd.args(self.args(request))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(false);
        if let Some(cwd) = &request.cwd {
            cmd.current_dir(cwd);
        }
        for var in CREDENTIAL_ENV {
            cmd.env_remove(var);
        }
        cmd.env(
            "CLAUDE_CODE_MAX_RETRIES",
            self.config.max_retries.to_string(),
        )
        .env("DISABLE_AUTOUPDATER", "1");
        if let Some(url) = &self.config.base_url {
            cmd.env("ANTHROPIC_BASE_URL", url);
        }
        if let Some(home) = &home {
            cmd.env("HOME", home)
                .env("CLAUDE_CONFIG_DIR", home.join(".claude"));
        }
        // The CLI refuses to bypass permissions as root unless told it is sandboxed; the
        // mission's `auto` policy is that say-so.
        if request.access == ToolAccess::Auto && running_as_root() {
            cmd.env("IS_SANDBOX", "1");
        }
        for (k, v) in &self.config.env {
            cmd.env(k, v);
        }
        Ok(cmd)
    }
}

/// Reads the child's stderr as it comes, keeping its last [`STDERR_TAIL`] bytes or so for
/// the error a failed run reports; the task ends when stderr closes.
fn keep_stderr_tail(
    child: &mut Child,
) -> (Arc<Mutex<String>>, Option<tokio::task::JoinHandle<()>>) {
    let stderr = Arc::new(Mutex::new(String::new()));
    let Some(mut err) = child.stderr.take() else {
        return (stderr, None);
    };
    let tail = stderr.clone();
    let done = tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
            t.push_str(&String::from_utf8_lossy(&buf[..n]));
            if t.len() > STDERR_TAIL * 2 {
                let cut = t.len() - crate::text::tail(&t, STDERR_TAIL).len();
                t.drain(..cut);
            }
        }
    });
    (stderr, Some(done))
}

/// A started run: the child and what it needs to be read and stopped.
struct Run {
    child: Child,
    /// The launcher's record; ending it ends the CLI's whole tree (its tools included).
    tracked: Option<sortie_sandbox::Tracked>,
    stderr: Arc<Mutex<String>>,
    /// The task reading stderr: it ends when the child's stderr closes.
    stderr_done: Option<tokio::task::JoinHandle<()>>,
    idle: Duration,
    grace: Duration,
}

impl Run {
    /// Reads the run to its end, sending events; stops the child when the receiver goes away
    /// or the run goes silent.
    async fn pump(mut self, tx: Sender<Result<TransportEvent, TransportError>>) {
        let Some(stdout) = self.child.stdout.take() else {
            return;
        };
        let mut lines = BufReader::new(stdout).lines();
        let mut parser = StreamJsonParser::new();
        let outcome = loop {
            let line = tokio::select! {
                _ = tx.closed() => {
                    // Cancelled: the caller dropped the stream.
                    stop(&mut self.child, self.tracked.as_ref(), self.grace).await;
                    return;
                }
                line = tokio::time::timeout(self.idle, lines.next_line()) => line,
            };
            match line {
                Err(_) => {
                    stop(&mut self.child, self.tracked.as_ref(), self.grace).await;
                    break Err(TransportError::new(
                        ErrorClass::ProcessFailed,
                        format!(
                            "claude printed nothing for {}s; stopped it{}",
                            self.idle.as_secs(),
                            self.stderr_note()
                        ),
                    ));
                }
                Ok(Ok(Some(line))) => {
                    for event in parser.line(&line) {
                        if tx.send(Ok(event)).await.is_err() {
                            stop(&mut self.child, self.tracked.as_ref(), self.grace).await;
                            return;
                        }
                    }
                    if parser.ended().is_some() {
                        break Ok(());
                    }
                }
                Ok(Ok(None)) => break Ok(()),
                Ok(Err(e)) => {
                    break Err(TransportError::new(
                        ErrorClass::ProcessFailed,
                        format!("cannot read claude's output: {e}"),
                    ))
                }
            }
        };
        // The child has said all it will; wait for it (no zombies), stopping it if it lingers.
        let status = match tokio::time::timeout(self.grace, self.child.wait()).await {
            Ok(Ok(status)) => Some(status),
            _ => {
                stop(&mut self.child, self.tracked.as_ref(), self.grace).await;
                None
            }
        };
        // Everything the child wrote to stderr, for the failure message.
        if let Some(task) = self.stderr_done.take() {
            let _ = tokio::time::timeout(self.grace, task).await;
        }
        let failure = match (outcome, parser.ended()) {
            (Err(e), _) => Some(e),
            (Ok(()), Some(Ended::Success)) => None,
            (Ok(()), Some(Ended::Failed(e))) => {
                let mut e = e.clone();
                if e.class == ErrorClass::ProcessFailed {
                    e.message.push_str(&self.stderr_note());
                }
                Some(e)
            }
            (Ok(()), None) => Some(TransportError::new(
                ErrorClass::ProcessFailed,
                format!(
                    "claude {} without a result line{}",
                    match status.and_then(|s| s.code()) {
                        Some(code) => format!("exited with status {code}"),
                        None => match status.and_then(signal_of) {
                            Some(sig) => format!("was killed by signal {sig}"),
                            None => "stopped".to_string(),
                        },
                    },
                    self.stderr_note()
                ),
            )),
        };
        if let Some(e) = failure {
            let _ = tx.send(Err(e)).await;
        }
    }

    /// `; stderr: …` with the redacted tail of stderr, or nothing.
    fn stderr_note(&self) -> String {
        let tail = self
            .stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let tail = tail.trim();
        if tail.is_empty() {
            return String::new();
        }
        let tail = crate::text::tail(tail, STDERR_TAIL);
        format!("; stderr: {}", crate::classify::redact(tail))
    }
}

#[cfg(unix)]
fn signal_of(status: std::process::ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(&status)
}

#[cfg(not(unix))]
fn signal_of(_: std::process::ExitStatus) -> Option<i32> {
    None
}

/// Stops a run the way a person at the terminal would, then harder: SIGINT, SIGTERM after
/// `grace`, then the whole tree (the launcher kills what is below it; its group is killed);
/// always reaps the child.
pub async fn stop(child: &mut Child, tracked: Option<&sortie_sandbox::Tracked>, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let pid = child.id();
    #[cfg(unix)]
    {
        use nix::sys::signal::Signal;
        for signal in [Signal::SIGINT, Signal::SIGTERM] {
            crate::process::signal_group(pid, signal);
            if tokio::time::timeout(grace, child.wait()).await.is_ok() {
                // The leader is gone; anything it left in its group goes too.
                crate::process::signal_group(pid, Signal::SIGKILL);
                return;
            }
        }
        if let Some(tracked) = tracked {
            tracked.terminate();
            if tokio::time::timeout(grace, child.wait()).await.is_ok() {
                return;
            }
        }
        crate::process::signal_group(pid, Signal::SIGKILL);
    }
    #[cfg(not(unix))]
    let _ = (pid, grace);
    let _ = child.kill().await;
    let _ = child.wait().await;
}

impl ClaudeCode {
    fn not_found(&self) -> TransportError {
        TransportError::new(
            ErrorClass::InvalidRequest,
            format!(
                "the Claude Code CLI `{}` was not found; install it (npm install -g @anthropic-ai/claude-code) or set `program` in the provider's config",
                self.config.program.display()
            ),
        )
    }

    /// Through the launcher a missing program is only an exit status: look for it first.
    fn check_program(&self) -> Result<(), TransportError> {
        let program = &self.config.program;
        let found = if program.components().count() > 1 {
            program.is_file()
        } else {
            std::env::var_os("PATH")
                .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
        };
        if found {
            Ok(())
        } else {
            Err(self.not_found())
        }
    }
}

fn running_as_root() -> bool {
    #[cfg(unix)]
    {
        nix::unistd::geteuid().is_root()
    }
    #[cfg(not(unix))]
    false
}

impl Transport for ClaudeCode {
    fn kind(&self) -> &'static str {
        "claude-code"
    }

    fn runs_tools(&self) -> bool {
        true
    }

    fn stream_turn(&self, request: TurnRequest) -> TurnFuture<'_> {
        Box::pin(async move {
            let credentials = self.config.credentials.clone();
            let tag = move |e: TransportError| match &credentials {
                Some(c) if e.class != ErrorClass::ProcessFailed => c.tag(e),
                _ => e,
            };
            let run = self.start(request).await.map_err(&tag)?;
            let stream = crate::direct::http::channel_stream(move |tx| run.pump(tx));
            Ok(Box::pin(futures::StreamExt::map(stream, move |item| {
                item.map_err(&tag)
            })) as crate::EventStream)
        })
    }

    fn list_models(&self) -> ModelsFuture<'_> {
        Box::pin(async move {
            Ok(ALIASES
                .iter()
                .map(|(id, what)| ModelInfo {
                    id: id.to_string(),
                    display_name: Some(what.to_string()),
                    owned_by: Some("claude-code".into()),
                })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_for(access: ToolAccess, resume: bool) -> Vec<String> {
        let cli = ClaudeCode::new(ClaudeCodeConfig::new("claude"));
        cli.args(&TurnRequest {
            model: "opus".into(),
            system: "be brief".into(),
            session: Some(crate::SessionRef {
                id: "s-1".into(),
                resume,
                ..Default::default()
            }),
            access,
            max_turns: Some(7),
            ..Default::default()
        })
    }

    fn has(args: &[String], pair: [&str; 2]) -> bool {
        args.windows(2).any(|w| w[0] == pair[0] && w[1] == pair[1])
    }

    #[test]
    fn the_command_line_follows_the_session_and_the_policy() {
        let a = args_for(ToolAccess::Auto, false);
        assert_eq!(
            &a[..4],
            ["-p", "--output-format", "stream-json", "--verbose"]
        );
        assert!(has(&a, ["--model", "opus"]) && has(&a, ["--session-id", "s-1"]));
        assert!(has(&a, ["--permission-mode", "bypassPermissions"]));
        assert!(has(&a, ["--append-system-prompt", "be brief"]) && has(&a, ["--max-turns", "7"]));

        let r = args_for(ToolAccess::ReadOnly, true);
        assert!(has(&r, ["--resume", "s-1"]) && !r.contains(&"--session-id".to_string()));
        assert!(has(&r, ["--permission-mode", "default"]));
        assert!(has(
            &r,
            [
                "--disallowedTools",
                "Bash,Edit,MultiEdit,Write,NotebookEdit"
            ]
        ));

        let ask = args_for(ToolAccess::Ask, true);
        assert!(has(&ask, ["--permission-mode", "default"]));
        assert!(!ask.contains(&"--disallowedTools".to_string()));
    }
}
