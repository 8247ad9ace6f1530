//! The tools a model may call, confined to the mission's working directory and governed
//! by its permission policy. A failed or denied tool answers the model with an error; it
//! never ends the mission.

mod files;
mod grep;
pub mod mcp;
#[cfg(unix)]
mod open;
mod output;
mod paths;
mod shell;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sortie_sandbox::{Sandbox, SandboxMode};
use sortie_transports::ToolSpec;

pub use output::LiveOutput;
pub use paths::resolve_in;

use crate::ToolOutcome;

/// Longest tool output handed back to the model; the rest is cut with a visible note.
pub const MAX_OUTPUT: usize = 30_000;

/// What the model may do without asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PermissionPolicy {
    /// Every tool runs.
    #[default]
    Auto,
    /// Tools that change files or run commands are denied.
    ReadOnly,
    /// Tools that change files or run commands ask first; with no one to ask, denied.
    Ask,
}

impl From<PermissionPolicy> for sortie_transports::ToolAccess {
    /// What a transport that runs tools itself (the Claude Code CLI) may let them do.
    fn from(p: PermissionPolicy) -> Self {
        match p {
            PermissionPolicy::Auto => Self::Auto,
            PermissionPolicy::ReadOnly => Self::ReadOnly,
            PermissionPolicy::Ask => Self::Ask,
        }
    }
}

impl PermissionPolicy {
    pub fn as_str(&self) -> &'static str {
        match self {
            PermissionPolicy::Auto => "auto",
            PermissionPolicy::ReadOnly => "read-only",
            PermissionPolicy::Ask => "ask",
        }
    }
}

impl FromStr for PermissionPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "read-only" | "readonly" => Ok(Self::ReadOnly),
            "ask" => Ok(Self::Ask),
            other => Err(format!(
                "unknown permission policy `{other}` (expected auto, read-only or ask)"
            )),
        }
    }
}

/// Asks a person whether a tool call may run.
pub trait Approver: Send + Sync {
    /// `summary` is one line describing the call, e.g. `shell: cargo test`.
    fn approve<'a>(&'a self, summary: &'a str) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>>;
}

/// The approver for a mission with nobody to ask: it always says no.
pub struct DenyAll;

impl Approver for DenyAll {
    fn approve<'a>(&'a self, _summary: &'a str) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(async { false })
    }
}

/// What a tool call produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    pub outcome: ToolOutcome,
    pub output: String,
    /// Images the tool returned (MCP tools only), sent where the wire format takes them.
    pub images: Vec<sortie_transports::ImageData>,
}

impl ToolResult {
    fn ok(output: impl Into<String>) -> Self {
        Self {
            outcome: ToolOutcome::Ok,
            output: cap(output.into()),
            images: Vec::new(),
        }
    }

    fn error(output: impl Into<String>) -> Self {
        Self {
            outcome: ToolOutcome::Error,
            output: output.into(),
            images: Vec::new(),
        }
    }
}

/// A tool failure the model can read and act on.
type ToolError = String;

/// Default of `[tools] max_output_bytes`: 64 MiB.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 64 * 1024 * 1024;

/// The built-in tools.
#[derive(Debug, Clone)]
pub struct ToolBox {
    /// Default and upper bound for `shell` timeouts.
    pub shell_timeout: Duration,
    pub max_shell_timeout: Duration,
    /// Output a shell command may write in all (both streams) before it is killed.
    pub max_output_bytes: u64,
    /// Timeout of every other tool call.
    pub file_timeout: Duration,
}

impl Default for ToolBox {
    fn default() -> Self {
        Self {
            shell_timeout: Duration::from_secs(120),
            max_shell_timeout: Duration::from_secs(600),
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            file_timeout: Duration::from_secs(60),
        }
    }
}

impl ToolBox {
    /// True for tools that only read: running one again has no effect beyond its answer,
    /// so a call cut short by a crash may be run again on resume.
    pub fn is_idempotent(&self, name: &str) -> bool {
        matches!(name, "read_file" | "list_dir" | "grep")
    }

    /// The specs sent to the model: built once per process and shared by every mission and
    /// turn (a turn request holds them without copying their JSON schemas).
    pub fn specs(&self) -> Arc<[ToolSpec]> {
        static SPECS: OnceLock<Arc<[ToolSpec]>> = OnceLock::new();
        SPECS.get_or_init(|| Self::build_specs().into()).clone()
    }

    fn build_specs() -> Vec<ToolSpec> {
        let spec = |name: &str, description: &str, parameters: Value| ToolSpec {
            name: name.into(),
            description: description.into(),
            parameters,
        };
        vec![
            spec(
                "shell",
                "Run a shell command (sh -c) in the working directory. Returns the exit code, stdout and stderr.",
                json!({"type":"object","properties":{
                    "command":{"type":"string","description":"The command line."},
                    "timeout_secs":{"type":"integer","description":"Kill the command after this many seconds (default 120)."}
                },"required":["command"]}),
            ),
            spec(
                "read_file",
                "Read a text file, optionally only lines start_line..=end_line (1-based).",
                json!({"type":"object","properties":{
                    "path":{"type":"string"},
                    "start_line":{"type":"integer"},
                    "end_line":{"type":"integer"}
                },"required":["path"]}),
            ),
            spec(
                "write_file",
                "Create or overwrite a file with the given content. Parent directories are created.",
                json!({"type":"object","properties":{
                    "path":{"type":"string"},
                    "content":{"type":"string"}
                },"required":["path","content"]}),
            ),
            spec(
                "edit_file",
                "Replace one exact occurrence of old_text with new_text in a file. old_text must occur exactly once.",
                json!({"type":"object","properties":{
                    "path":{"type":"string"},
                    "old_text":{"type":"string"},
                    "new_text":{"type":"string"}
                },"required":["path","old_text","new_text"]}),
            ),
            spec(
                "list_dir",
                "List a directory (default: the working directory). Directories end with '/'.",
                json!({"type":"object","properties":{"path":{"type":"string"}}}),
            ),
            spec(
                "grep",
                "Search files under a path for a regular expression. Returns path:line: text for each match.",
                json!({"type":"object","properties":{
                    "pattern":{"type":"string"},
                    "path":{"type":"string","description":"File or directory to search (default: the working directory)."}
                },"required":["pattern"]}),
            ),
        ]
    }

    /// True for tools that change files or run commands.
    pub fn mutates(name: &str) -> bool {
        matches!(name, "shell" | "write_file" | "edit_file")
    }

    /// A one-line description of a call, for approval prompts and progress output.
    pub fn summary(name: &str, arguments: &str) -> String {
        let args: Value = serde_json::from_str(arguments).unwrap_or(Value::Null);
        let field = |k: &str| args.get(k).and_then(Value::as_str).unwrap_or("");
        let detail = match name {
            "shell" => field("command").to_string(),
            "grep" => format!("{} in {}", field("pattern"), or_dot(field("path"))),
            "list_dir" => or_dot(field("path")).to_string(),
            _ => field("path").to_string(),
        };
        let mut line = format!("{name}: {detail}");
        if line.len() > 160 {
            line.truncate(sortie_transports::text::head(&line, 157).len());
            line.push_str("...");
        }
        line
    }

    /// Runs one tool call under the policy, in the mission's sandbox. Never fails: errors
    /// become the result text.
    pub async fn run(
        &self,
        sandbox: &Sandbox,
        policy: PermissionPolicy,
        approver: &dyn Approver,
        name: &str,
        arguments: &str,
    ) -> ToolResult {
        let call = Call {
            sandbox,
            policy,
            approver,
            name,
            arguments,
        };
        self.run_live(call, &|_, _| {}).await
    }

    /// Runs one tool call as [`ToolBox::run`] does, passing what a command writes to `live`
    /// as it comes.
    pub async fn run_live(&self, call: Call<'_>, live: &LiveOutput<'_>) -> ToolResult {
        let Call {
            sandbox,
            policy,
            approver,
            name,
            arguments,
        } = call;
        if Self::mutates(name) {
            let allowed = match policy {
                PermissionPolicy::Auto => true,
                PermissionPolicy::ReadOnly => false,
                PermissionPolicy::Ask => approver.approve(&Self::summary(name, arguments)).await,
            };
            if !allowed {
                return ToolResult {
                    outcome: ToolOutcome::Denied,
                    output: format!(
                        "permission denied: `{name}` is not allowed by the mission's `{}` permission policy. Do not retry it; continue without it or explain what you would have done.",
                        policy.as_str()
                    ),
                    images: Vec::new(),
                };
            }
        }
        let args: Value = match serde_json::from_str(if arguments.trim().is_empty() {
            "{}"
        } else {
            arguments
        }) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                return ToolResult::error(format!("arguments for `{name}` must be a JSON object"))
            }
            Err(e) => {
                return ToolResult::error(format!("arguments for `{name}` are not valid JSON: {e}"))
            }
        };
        let cwd = sandbox.cwd.as_path();
        if sandbox.mode() == SandboxMode::ReadOnly && matches!(name, "write_file" | "edit_file") {
            return ToolResult::error(format!(
                "sandbox: write to `{}` refused (read-only); the mission's sandbox allows no changes to files",
                args.get("path").and_then(Value::as_str).unwrap_or("")
            ));
        }
        if let Some(refusal) = denied_path(sandbox, &args) {
            return ToolResult::error(refusal);
        }
        if name == "shell" {
            return self.shell(sandbox, policy, approver, &args, live).await;
        }
        let work = async {
            match name {
                "read_file" => files::read(cwd, &args).await,
                "write_file" => files::write(cwd, &args).await,
                "edit_file" => files::edit(cwd, &args).await,
                "list_dir" => files::list(cwd, &args).await,
                "grep" => grep::run(cwd, &args, denied_dirs(sandbox)).await,
                other => Err(format!(
                    "unknown tool `{other}`; available: shell, read_file, write_file, edit_file, list_dir, grep"
                )),
            }
        };
        match tokio::time::timeout(self.file_timeout, work).await {
            Ok(Ok(out)) => ToolResult::ok(out),
            Ok(Err(e)) => ToolResult::error(e),
            Err(_) => ToolResult {
                outcome: ToolOutcome::TimedOut,
                output: format!(
                    "`{name}` did not finish within {:?} and was abandoned; try a narrower path",
                    self.file_timeout
                ),
                images: Vec::new(),
            },
        }
    }
}

impl ToolBox {
    /// A shell call; one that failed on what looks like the sandbox's refusal says so, and
    /// under `ask` may be run once more outside the sandbox if the person approves.
    async fn shell(
        &self,
        sandbox: &Sandbox,
        policy: PermissionPolicy,
        approver: &dyn Approver,
        args: &Value,
        live: &LiveOutput<'_>,
    ) -> ToolResult {
        let mut result = shell::run(self, sandbox, args, live).await;
        if sandbox.mode() == SandboxMode::Off
            || result.outcome != ToolOutcome::Error
            || !looks_refused(&result.output)
        {
            return result;
        }
        let mode = sandbox.mode();
        if policy == PermissionPolicy::Ask {
            // Control characters could hide what is being approved on a terminal.
            let line: String = args
                .get("command")
                .and_then(Value::as_str)
                .unwrap_or("")
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let question = format!(
                "the `{mode}` sandbox may have refused `{line}`; run it once OUTSIDE the sandbox"
            );
            if approver.approve(&question).await {
                let mut outside = sandbox.clone();
                outside.policy.mode = SandboxMode::Off;
                let mut rerun = shell::run(self, &outside, args, live).await;
                rerun.output = format!("(run outside the sandbox, as approved)\n{}", rerun.output);
                return rerun;
            }
        }
        result.output.push_str(&format!(
            "sandbox: this command ran in the `{mode}` sandbox, which refuses {}; a `Permission denied` above may be that. It is not run outside the sandbox{}.\n",
            match mode {
                SandboxMode::ReadOnly => "every write outside $TMPDIR".to_string(),
                _ => format!(
                    "writes outside {} and $TMPDIR, and reads of Sortie's data directory",
                    sandbox.cwd.display()
                ),
            },
            if policy == PermissionPolicy::Ask { " (not approved)" } else { "" }
        ));
        result
    }
}

/// The directories a mission's file tools stay out of: Sortie's data dir and `deny_read`,
/// unless the working directory lies inside one (the demo's, under the data dir: the
/// mission's own, as the sandbox grants it to commands).
fn denied_dirs(sandbox: &Sandbox) -> Vec<PathBuf> {
    if sandbox.mode() == SandboxMode::Off {
        return Vec::new();
    }
    let cwd = sandbox
        .cwd
        .canonicalize()
        .unwrap_or_else(|_| sandbox.cwd.clone());
    sandbox
        .data_dir
        .iter()
        .chain(&sandbox.policy.deny_read)
        .filter_map(|d| d.canonicalize().ok())
        .filter(|d| !cwd.starts_with(d))
        .collect()
}

/// A file tool's path in a denied directory (a working directory may hold them, e.g. the
/// home directory): refused as the sandbox refuses commands.
fn denied_path(sandbox: &Sandbox, args: &Value) -> Option<String> {
    let raw = args.get("path").and_then(Value::as_str)?;
    let path = resolve_in(&sandbox.cwd, raw).ok()?;
    let real = path.canonicalize().unwrap_or(path);
    denied_dirs(sandbox).iter().any(|d| real.starts_with(d)).then(|| {
        format!("sandbox: `{raw}` is in Sortie's data directory or a `deny_read` path, which the `{}` sandbox does not let the mission read or write", sandbox.mode())
    })
}

/// Output that reads like the kernel refusing an access.
fn looks_refused(output: &str) -> bool {
    [
        "Permission denied",
        "Read-only file system",
        "Operation not permitted",
    ]
    .iter()
    .any(|m| output.contains(m))
}

/// One tool call: where, under which policy, who to ask, and what the model asked for.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    pub sandbox: &'a Sandbox,
    pub policy: PermissionPolicy,
    pub approver: &'a dyn Approver,
    pub name: &'a str,
    pub arguments: &'a str,
}

fn or_dot(s: &str) -> &str {
    if s.is_empty() {
        "."
    } else {
        s
    }
}

fn str_arg<'a>(args: &'a Value, key: &str) -> Result<&'a str, ToolError> {
    match args.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("argument `{key}` must be a string")),
        None => Err(format!("missing required argument `{key}`")),
    }
}

fn opt_u64(args: &Value, key: &str) -> Result<Option<u64>, ToolError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .map(Some)
            .ok_or_else(|| format!("argument `{key}` must be a non-negative integer")),
    }
}

/// Cuts text to [`MAX_OUTPUT`] bytes, keeping the head and the tail and saying what went.
pub fn cap(text: String) -> String {
    if text.len() <= MAX_OUTPUT {
        return text;
    }
    let keep = MAX_OUTPUT / 2;
    let head = sortie_transports::text::head(&text, keep);
    let tail = sortie_transports::text::tail(&text, keep);
    let omitted = text.len() - head.len() - tail.len();
    format!("{head}\n[... output truncated: {omitted} bytes omitted ...]\n{tail}")
}

/// A path argument resolved inside the working directory.
fn path_arg(cwd: &Path, args: &Value, key: &str, default_dot: bool) -> Result<PathBuf, ToolError> {
    let raw = match args.get(key) {
        None | Some(Value::Null) if default_dot => ".",
        _ => str_arg(args, key)?,
    };
    resolve_in(cwd, raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_output_keeps_head_and_tail_with_a_note() {
        let text = format!("{}{}", "a".repeat(40_000), "END");
        let capped = cap(text);
        assert!(capped.len() < 31_000);
        assert!(capped.starts_with("aaa"));
        assert!(capped.ends_with("END"));
        assert!(
            capped.contains("output truncated: 10003 bytes omitted"),
            "{}",
            &capped[14_990..15_080]
        );
    }

    #[tokio::test]
    async fn read_only_denies_writes_and_says_why() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = ToolBox::default()
            .run(
                &Sandbox::unconfined(dir.path()),
                PermissionPolicy::ReadOnly,
                &DenyAll,
                "write_file",
                r#"{"path":"x","content":"y"}"#,
            )
            .await;
        assert_eq!(r.outcome, ToolOutcome::Denied);
        assert!(r.output.contains("read-only"));
        assert!(!dir.path().join("x").exists());
    }

    #[tokio::test]
    async fn ask_without_anyone_to_ask_denies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = ToolBox::default()
            .run(
                &Sandbox::unconfined(dir.path()),
                PermissionPolicy::Ask,
                &DenyAll,
                "shell",
                r#"{"command":"touch made"}"#,
            )
            .await;
        assert_eq!(r.outcome, ToolOutcome::Denied);
        assert!(!dir.path().join("made").exists());
    }

    #[tokio::test]
    async fn bad_arguments_are_an_error_for_the_model() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tb = ToolBox::default();
        let sandbox = Sandbox::unconfined(dir.path());
        let r = tb
            .run(
                &sandbox,
                PermissionPolicy::Auto,
                &DenyAll,
                "read_file",
                "{\"path\":",
            )
            .await;
        assert_eq!(r.outcome, ToolOutcome::Error);
        assert!(r.output.contains("not valid JSON"));
        let r = tb
            .run(&sandbox, PermissionPolicy::Auto, &DenyAll, "fly", "{}")
            .await;
        assert!(r.output.contains("unknown tool `fly`"));
    }

    #[tokio::test]
    async fn file_tools_refuse_the_data_dir_and_deny_read_paths_inside_the_working_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join(".sortie");
        std::fs::create_dir_all(&home).expect("home");
        std::fs::write(home.join("daemon.token"), "secret").expect("token");
        std::fs::write(dir.path().join(".env"), "KEY=1").expect("env");
        let mut sandbox = Sandbox::unconfined(dir.path());
        sandbox.policy.mode = SandboxMode::WorkspaceWrite;
        sandbox.data_dir = Some(home);
        sandbox.policy.deny_read = vec![dir.path().join(".env")];
        let tools = ToolBox::default();
        for (name, args) in [
            ("read_file", r#"{"path":".sortie/daemon.token"}"#),
            ("list_dir", r#"{"path":".sortie"}"#),
            ("write_file", r#"{"path":".sortie/x","content":"y"}"#),
            ("read_file", r#"{"path":".env"}"#),
        ] {
            let r = tools
                .run(&sandbox, PermissionPolicy::Auto, &DenyAll, name, args)
                .await;
            assert_eq!(r.outcome, ToolOutcome::Error, "{name} {args}: {}", r.output);
            assert!(r.output.starts_with("sandbox: `"), "{}", r.output);
            assert!(!r.output.contains("secret") && !r.output.contains("KEY=1"));
        }
        let r = tools
            .run(&sandbox, PermissionPolicy::Auto, &DenyAll, "list_dir", "{}")
            .await;
        assert_eq!(r.outcome, ToolOutcome::Ok, "{}", r.output);
        // Searching the working directory passes the data dir by.
        let r = tools
            .run(
                &sandbox,
                PermissionPolicy::Auto,
                &DenyAll,
                "grep",
                r#"{"pattern":"secret"}"#,
            )
            .await;
        assert!(!r.output.contains("daemon.token"), "{}", r.output);
    }

    #[tokio::test]
    async fn a_read_only_sandbox_refuses_file_writes_naming_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sandbox = Sandbox::unconfined(dir.path());
        sandbox.policy.mode = SandboxMode::ReadOnly;
        let r = ToolBox::default()
            .run(
                &sandbox,
                PermissionPolicy::Auto,
                &DenyAll,
                "write_file",
                r#"{"path":"x","content":"y"}"#,
            )
            .await;
        assert_eq!(r.outcome, ToolOutcome::Error);
        assert!(
            r.output
                .contains("sandbox: write to `x` refused (read-only)"),
            "{}",
            r.output
        );
        assert!(!dir.path().join("x").exists());
    }

    #[tokio::test]
    async fn a_file_tool_past_its_timeout_answers_that_it_timed_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        for i in 0..3000 {
            std::fs::write(dir.path().join(format!("f{i}.txt")), "needle\n").expect("write");
        }
        let tools = ToolBox {
            file_timeout: Duration::from_millis(1),
            ..ToolBox::default()
        };
        let r = tools
            .run(
                &Sandbox::unconfined(dir.path()),
                PermissionPolicy::Auto,
                &DenyAll,
                "grep",
                r#"{"pattern":"needle"}"#,
            )
            .await;
        assert_eq!(r.outcome, ToolOutcome::TimedOut, "{}", r.output);
        assert!(
            r.output.contains("`grep` did not finish within 1ms"),
            "{}",
            r.output
        );
    }
}
