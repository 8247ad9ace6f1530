//! How missions look in a terminal and as JSON lines.

use std::io::{IsTerminal, Write};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sortie_missions::{
    Mission, MissionEvent, MissionStatus, SandboxMode, StoredEvent, ToolOutcome,
};
use sortie_transports::{ContentBlock, StopReason};

/// ANSI styling, on only for a terminal without `NO_COLOR`.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    on: bool,
}

impl Style {
    pub fn detect() -> Self {
        Self {
            on: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    #[cfg(test)]
    pub fn plain() -> Self {
        Self { on: false }
    }

    /// True when it paints.
    pub fn colored(&self) -> bool {
        self.on
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }
    pub fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }
    pub fn red(&self, t: &str) -> String {
        self.paint("31", t)
    }
    pub fn green(&self, t: &str) -> String {
        self.paint("32", t)
    }
    pub fn yellow(&self, t: &str) -> String {
        self.paint("33", t)
    }
    pub fn cyan(&self, t: &str) -> String {
        self.paint("36", t)
    }

    pub fn status(&self, s: MissionStatus) -> String {
        match s {
            MissionStatus::Completed => self.green(s.as_str()),
            MissionStatus::Failed | MissionStatus::NeedsReauth => self.red(s.as_str()),
            MissionStatus::Running | MissionStatus::Queued => self.cyan(s.as_str()),
            MissionStatus::Cancelled | MissionStatus::Interrupted | MissionStatus::Paused => {
                self.yellow(s.as_str())
            }
            MissionStatus::BudgetReached => self.yellow(s.as_str()),
        }
    }
}

pub use super::live::Live;
use crate::text::{age, clip, cost_text, recovery_text, usage_text};

/// Prints one JSON line to stdout.
pub fn print_json_line(value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

pub(crate) fn tool_line(s: &Style, outcome: ToolOutcome, output: &str, ms: u64) -> String {
    // Shell output starts with `exit code: N` and `--- stdout ---` markers: preview the content.
    let exit = output
        .strip_prefix("exit code: ")
        .and_then(|r| r.lines().next());
    let content: Vec<&str> = output
        .lines()
        .filter(|l| {
            let marker =
                l.starts_with("exit code: ") || (l.starts_with("--- ") && l.ends_with(" ---"));
            !(l.trim().is_empty() || marker)
        })
        .collect();
    let mut first: String = content
        .first()
        .map_or("", |l| l.trim())
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    if content.len() > 1 {
        first.push_str(&format!(" (+{} lines)", content.len() - 1));
    }
    if let Some(code) = exit {
        first = format!("exit {code} · {first}");
    }
    let took = s.dim(&format!("{ms} ms"));
    match outcome {
        ToolOutcome::Ok => format!("{} {first} {took}", s.green("✓")),
        ToolOutcome::Error => format!("{} {first} {took}", s.red("✗")),
        ToolOutcome::Denied => format!("{} {first}", s.yellow("⊘")),
        ToolOutcome::TimedOut => format!("{} {first}", s.yellow("⏱")),
    }
}

/// The closing line of a run.
pub fn summary_line(s: &Style, m: &Mission, seconds: f64) -> String {
    format!(
        "── {} · {} turn{} · {}{} · {seconds:.1} s",
        s.status(m.status),
        m.turns,
        if m.turns == 1 { "" } else { "s" },
        usage_text(&m.usage),
        cost_text(m.cost_usd)
    )
}

/// The `sortie missions` table.
pub fn missions_table(s: &Style, missions: &[Mission], now: DateTime<Utc>) -> String {
    let mut out = format!(
        "{}\n",
        s.bold(&format!(
            "{:<13}  {:<14}  {:>5}  {:<24}  {:>4}  {}",
            "ID", "STATUS", "TURNS", "PROVIDER/MODEL", "AGE", "TITLE"
        ))
    );
    for m in missions {
        let status = format!("{:<14}", m.status.as_str());
        let status = status.replacen(m.status.as_str(), &s.status(m.status), 1);
        let title = m.title.clone().unwrap_or_else(|| m.prompt.clone());
        // A mission whose tools are not confined says so before its title.
        let title = match m.sandbox {
            Some(SandboxMode::Off) => format!("{} {}", s.yellow("[sandbox off]"), clip(&title, 32)),
            _ => clip(&title, 32),
        };
        // Spend against budget, when the mission has one.
        let title = match crate::text::spend_text(m) {
            spend if spend.is_empty() => title,
            spend => format!("{} {title}", s.dim(&format!("[{spend}]"))),
        };
        out.push_str(&format!(
            "{:<13}  {status}  {:>5}  {:<24}  {:>4}  {title}\n",
            &m.id.to_string()[..13],
            m.turns,
            clip(&format!("{}/{}", m.provider, m.model), 24),
            age(m.created_at, now),
        ));
    }
    out
}

/// `sandbox MODE` for a mission's header; `off` is marked, and a mission from before
/// sandboxes (none recorded) says whose mode it gets.
pub(crate) fn sandbox_text(s: &Style, mode: Option<SandboxMode>) -> String {
    match mode {
        Some(SandboxMode::Off) => s.yellow("sandbox off (not confined)"),
        Some(mode) => format!("sandbox {mode}"),
        None => "sandbox from the config ([sandbox] mode)".into(),
    }
}

/// The whole event log of one mission, readable.
pub fn mission_log(s: &Style, m: &Mission, events: &[StoredEvent]) -> String {
    let mut out = String::new();
    let title = m.title.clone().unwrap_or_else(|| clip(&m.prompt, 70));
    out.push_str(&format!("{} {}\n", s.bold("mission"), m.id));
    out.push_str(&format!("  title     {title}\n"));
    out.push_str(&format!("  status    {}\n", s.status(m.status)));
    out.push_str(&format!(
        "  model     {}/{} ({})\n",
        m.provider, m.model, m.transport
    ));
    out.push_str(&format!("  cwd       {}\n", m.cwd.display()));
    if let Some(daemon) = &m.daemon {
        out.push_str(&format!("  daemon    {daemon} (runs it now)\n"));
    }
    out.push_str(&format!(
        "  policy    {}  ·  {}  ·  max turns {}\n",
        m.policy.as_str(),
        sandbox_text(s, m.sandbox),
        m.max_turns
    ));
    out.push_str(&format!(
        "  created   {}\n",
        m.created_at.format("%Y-%m-%d %H:%M:%S UTC")
    ));
    out.push_str(&format!(
        "  turns     {}  ·  {}{}\n",
        m.turns,
        usage_text(&m.usage),
        cost_text(m.cost_usd)
    ));
    if !m.budget.is_empty() {
        out.push_str(&format!(
            "  budget    {}  ·  spent {}\n",
            crate::service::budgets::describe(&m.budget),
            crate::text::spend_text(m)
        ));
    }
    if let Some(error) = &m.error {
        out.push_str(&format!("  error     {}\n", s.red(error)));
    }
    if let Some(parent) = &m.parent_id {
        out.push_str(&format!("  forked    from {parent}\n"));
    }
    let waiting = sortie_missions::steering::pending_messages(events).len();
    if waiting > 0 {
        out.push_str(&format!(
            "  queued    {waiting} messages for its next turn\n"
        ));
    }
    out.push('\n');
    for e in events {
        let head = s.dim(&format!("#{:<4} {}", e.seq, e.at.format("%H:%M:%S")));
        let (label, body) = describe(s, &e.event);
        out.push_str(&format!(
            "{head}  {:<10} {}\n",
            label,
            indent_rest(&body, 27)
        ));
    }
    out
}

fn indent_rest(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                l.to_string()
            } else {
                format!("{pad}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn preview(text: &str, max_lines: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = lines
        .iter()
        .take(max_lines)
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    if lines.len() > max_lines {
        out.push_str(&format!("\n… {} more lines", lines.len() - max_lines));
    }
    out
}

fn describe(s: &Style, event: &MissionEvent) -> (String, String) {
    match event {
        MissionEvent::Created { spec } => ("created".into(), created_text(spec)),
        MissionEvent::SandboxChanged { mode } => ("sandbox".into(), format!("{mode} from here on")),
        MissionEvent::McpSelected { servers } => ("mcp".into(), super::mcp::describe(servers)),
        MissionEvent::Status { status, reason } => (
            "status".into(),
            match reason {
                Some(r) => format!("{} — {r}", s.status(*status)),
                None => s.status(*status),
            },
        ),
        MissionEvent::UserMessage { text } => ("user".into(), preview(text, 20)),
        MissionEvent::TurnStarted { turn, model } => ("turn".into(), format!("{turn} on {model}")),
        MissionEvent::AssistantMessage {
            content,
            stop_reason,
            ..
        } => ("assistant".into(), assistant_text(s, content, stop_reason)),
        MissionEvent::ToolResult {
            name,
            outcome,
            output,
            duration_ms,
            ..
        } => (
            "tool".into(),
            tool_text(name, outcome, output, *duration_ms),
        ),
        MissionEvent::Usage {
            usage, cost_usd, ..
        } => (
            "usage".into(),
            format!("{}{}", usage_text(usage), cost_text(*cost_usd)),
        ),
        MissionEvent::Error {
            class,
            status,
            message,
        } => {
            let class = class.map(|c| format!("[{c}] ")).unwrap_or_default();
            let status = status.map(|c| format!("(HTTP {c}) ")).unwrap_or_default();
            ("error".into(), s.red(&format!("{class}{status}{message}")))
        }
        MissionEvent::Warning { message } => ("warning".into(), s.yellow(message)),
        MissionEvent::Instructions {
            enabled,
            files,
            cut,
        } => (
            "instructions".into(),
            instructions_text(*enabled, files, *cut),
        ),
        MissionEvent::Session { id, started } => (
            "session".into(),
            s.dim(&if *started {
                format!("claude session {id}")
            } else {
                format!("new claude session {id}")
            }),
        ),
        e @ MissionEvent::Recovery { .. } => (
            "recovery".into(),
            s.yellow(&recovery_text(e).unwrap_or_default()),
        ),
        MissionEvent::Switched {
            provider,
            model,
            reason,
            ..
        } => (
            "switched".into(),
            format!("to {provider}/{model} ({reason})"),
        ),
        MissionEvent::Title { title } => ("title".into(), title.clone()),
        MissionEvent::HistoryReplaced { messages, reason } => (
            "compressed".into(),
            format!("history now {} messages ({reason})", messages.len()),
        ),
        MissionEvent::Unreadable { error } => ("corrupt".into(), s.red(error)),
        e @ (MissionEvent::MessageQueued { .. }
        | MissionEvent::Forked { .. }
        | MissionEvent::BudgetSet { .. }
        | MissionEvent::BudgetReached { .. }
        | MissionEvent::AuxiliaryUsage { .. }) => steering_and_budget_text(s, e),
        e @ (MissionEvent::NotifySet { .. }
        | MissionEvent::Notice { .. }
        | MissionEvent::Worktree { .. }) => super::notices::describe(s, e),
    }
}

/// The log lines of steering (a queued message, a fork) and of budgets (set, reached, an
/// auxiliary call's spend).
fn steering_and_budget_text(s: &Style, event: &MissionEvent) -> (String, String) {
    match event {
        MissionEvent::MessageQueued { text, now } => (
            "queued".into(),
            format!("{}{}", if *now { "(now) " } else { "" }, preview(text, 20)),
        ),
        MissionEvent::Forked { parent, parent_seq } => (
            "forked".into(),
            format!("from mission {parent} at event {parent_seq}"),
        ),
        MissionEvent::BudgetSet { budget } => {
            ("budget".into(), crate::service::budgets::describe(budget))
        }
        MissionEvent::BudgetReached { message, .. } => ("budget".into(), s.yellow(message)),
        MissionEvent::AuxiliaryUsage {
            scope,
            model,
            usage,
            cost_usd,
        } => (
            "usage".into(),
            format!(
                "{scope} on {model}: {}{}",
                usage_text(usage),
                cost_text(*cost_usd)
            ),
        ),
        _ => (String::new(), String::new()),
    }
}

/// A mission's start in the log: where it runs, under which policy and sandbox.
fn created_text(spec: &sortie_missions::MissionSpec) -> String {
    format!(
        "{}/{} in {} ({} policy{})",
        spec.provider,
        spec.model,
        spec.cwd.display(),
        spec.policy.as_str(),
        spec.sandbox
            .map(|m| format!(", {m} sandbox"))
            .unwrap_or_default()
    )
}

/// A tool's result in the log: its name, outcome and time, then a preview of its output.
fn tool_text(
    name: &str,
    outcome: &sortie_missions::ToolOutcome,
    output: &str,
    duration_ms: u64,
) -> String {
    let outcome_text = serde_json::to_value(outcome)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    format!(
        "{name} {outcome_text} ({duration_ms} ms)\n{}",
        preview(output, 12)
    )
}

/// Which project instructions files a run used.
fn instructions_text(enabled: bool, files: &[String], cut: bool) -> String {
    match (enabled, files.is_empty()) {
        (false, _) => "off for this mission".into(),
        (true, true) => "none found".into(),
        (true, false) => format!(
            "{}{}",
            files.join(", "),
            if cut { " (cut at 32 KiB)" } else { "" }
        ),
    }
}

/// A model message in the log: a preview of its text, its tool calls, why it stopped.
fn assistant_text(s: &Style, content: &[ContentBlock], stop_reason: &StopReason) -> String {
    let mut parts = Vec::new();
    for block in content {
        match block {
            ContentBlock::Text { text } => parts.push(preview(text, 40)),
            ContentBlock::Thinking { text, .. } => {
                parts.push(s.dim(&format!("(thinking, {} chars)", text.len())))
            }
            ContentBlock::ToolUse {
                name, arguments, ..
            } => parts.push(s.cyan(&format!("→ {name} {}", clip(arguments, 120)))),
            ContentBlock::RedactedThinking { .. } => parts.push(s.dim("(redacted thinking)")),
            ContentBlock::ToolResult { .. } => {}
        }
    }
    parts.push(s.dim(&format!(
            "(stop: {})",
            serde_json::to_value(stop_reason)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        )));
    parts.join("\n")
}
