//! `sortie run`'s live view of a mission: text as it streams, tool calls, what a running
//! tool writes, results; at a terminal, a spinner with the time spent waiting (see
//! [`super::spinner`]).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use sortie_missions::tools::ToolBox;
use sortie_missions::{MissionEvent, MissionStatus, Update};

use super::render::{tool_line, Style};
use super::spinner;
use crate::text::recovery_text;

/// Lines of tool output shown per live update; the rest are counted.
const TOOL_LINES: usize = 40;
/// Longest line of tool output shown; the rest of it is cut.
const TOOL_LINE: usize = 200;
/// A line of tool output still without its end is shown once it grows past this.
const PARTIAL_LINE: usize = 4096;

/// Live terminal output for a running mission.
pub struct Live {
    style: Style,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// True while the cursor sits after streamed text with no newline yet.
    mid_line: bool,
    /// True once text of the current assistant message was streamed; a message whose text
    /// never streamed (one that ended before anyone watched) is printed whole.
    streamed: bool,
    /// What streamed of the current message: when it is not the message's start (a client
    /// that began following mid-message missed the first deltas), the whole message is
    /// printed after it.
    streamed_text: String,
    /// The running tool's output line that has no end yet.
    partial: String,
}

impl Live {
    pub fn new(style: Style) -> Self {
        if std::io::stdout().is_terminal() {
            spinner::enable(style.colored());
        }
        Self {
            style,
            state: Mutex::new(State::default()),
        }
    }

    pub fn show(&self, update: &Update) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = std::io::stdout().lock();
        spinner::clear(&mut out);
        self.print(&mut state, &mut out, update);
        wait_on(update);
        // Never over text that waits for the rest of its line.
        if state.mid_line {
            spinner::stop();
        }
        spinner::show(&mut out);
        let _ = out.flush();
    }

    fn print(&self, state: &mut State, out: &mut impl Write, update: &Update) {
        let s = &self.style;
        if let Update::TextDelta { text, .. } = update {
            let _ = write!(out, "{text}");
            state.mid_line = !text.ends_with('\n');
            state.streamed = true;
            state.streamed_text.push_str(text);
            return;
        }
        let prints = match update {
            Update::ToolStarted { .. }
            | Update::ApprovalRequested { .. }
            | Update::ToolOutput { .. } => true,
            Update::Event { event, .. } => matches!(
                event.event,
                MissionEvent::ToolResult { .. }
                    | MissionEvent::Error { .. }
                    | MissionEvent::Recovery { .. }
                    | MissionEvent::Warning { .. }
                    | MissionEvent::Switched { .. }
                    | MissionEvent::AssistantMessage { .. }
            ),
            _ => false,
        };
        // Anything printed after streamed text starts on a line of its own.
        if prints && state.mid_line {
            let _ = writeln!(out);
            state.mid_line = false;
        }
        match update {
            Update::ToolStarted {
                name, arguments, ..
            } => {
                state.partial.clear();
                let _ = writeln!(
                    out,
                    "{}",
                    s.cyan(&format!("  → {}", ToolBox::summary(name, arguments)))
                );
            }
            Update::ToolOutput { text, .. } => self.tool_output(state, out, text),
            // At a terminal the question itself follows (see `client::watch`).
            Update::ApprovalRequested { summary, .. } => {
                let _ = writeln!(
                    out,
                    "{}",
                    s.yellow(&format!("  ? waiting for approval: {summary}"))
                );
            }
            Update::Event { event, .. } => self.event(state, out, &event.event),
            _ => {}
        }
    }

    /// Shows each whole line a running tool wrote (at most [`TOOL_LINES`] of one update,
    /// the rest counted); a line without its end waits for it.
    fn tool_output(&self, state: &mut State, out: &mut impl Write, text: &str) {
        state.partial.push_str(text);
        let mut shown = 0;
        while let Some(at) = state.partial.find('\n') {
            let line: String = state.partial.drain(..=at).collect();
            shown += 1;
            if shown <= TOOL_LINES {
                self.tool_output_line(out, &line);
            }
        }
        if shown > TOOL_LINES {
            let more = format!("    │ … {} more lines", shown - TOOL_LINES);
            let _ = writeln!(out, "{}", self.style.dim(&more));
        }
        if state.partial.len() > PARTIAL_LINE {
            let line = std::mem::take(&mut state.partial);
            self.tool_output_line(out, &line);
        }
    }

    fn tool_output_line(&self, out: &mut impl Write, line: &str) {
        let line = line.trim_end_matches(['\n', '\r']);
        // A command's escape sequences stay out of the terminal: control characters go.
        let mut shown: String = line
            .chars()
            .filter(|c| !c.is_control() || *c == '\t')
            .take(TOOL_LINE)
            .collect();
        if line.chars().count() > TOOL_LINE {
            shown.push('…');
        }
        let _ = writeln!(out, "{}", self.style.dim(&format!("    │ {shown}")));
    }

    fn event(&self, state: &mut State, out: &mut impl Write, event: &MissionEvent) {
        let s = &self.style;
        match event {
            MissionEvent::ToolResult {
                outcome,
                output,
                duration_ms,
                ..
            } => {
                if !state.partial.is_empty() {
                    let line = std::mem::take(&mut state.partial);
                    self.tool_output_line(out, &line);
                }
                let _ = writeln!(out, "    {}", tool_line(s, *outcome, output, *duration_ms));
            }
            e @ MissionEvent::Recovery { .. } => {
                let text = recovery_text(e).unwrap_or_default();
                let _ = writeln!(out, "{}", s.yellow(&format!("  ↻ {text}")));
            }
            MissionEvent::Warning { message } => {
                let _ = writeln!(out, "{}", s.yellow(&format!("  ! {message}")));
            }
            MissionEvent::Switched {
                provider,
                model,
                reason,
                ..
            } => {
                let _ = writeln!(
                    out,
                    "{}",
                    s.yellow(&format!("  ⇄ now on {provider}/{model} ({reason})"))
                );
            }
            MissionEvent::AssistantMessage { content, .. } => {
                let text = sortie_transports::text_of(content);
                // Only the end of it streamed here: its start went by before we followed.
                let missed_start = state.streamed
                    && text.len() > state.streamed_text.len()
                    && text.ends_with(state.streamed_text.as_str());
                if (!state.streamed || missed_start) && !text.is_empty() {
                    let _ = writeln!(out, "{}", text.trim_end());
                }
                state.streamed = false;
                state.streamed_text.clear();
            }
            // A new attempt (after an interruption): text streamed before it never
            // became a message, so the next message is printed whole if need be.
            MissionEvent::Status { .. } => {
                state.streamed = false;
                state.streamed_text.clear();
            }
            MissionEvent::Error { class, message, .. } => {
                let class = class.map(|c| format!("[{c}] ")).unwrap_or_default();
                let _ = out.flush();
                eprintln!("{}", s.red(&format!("  ✗ {class}{message}")));
            }
            _ => {}
        }
    }
}

/// What the spinner waits for after `update`: the model from the start of a turn until it
/// answers (thinking included), a tool while it runs; nothing once the mission stops.
fn wait_on(update: &Update) {
    match update {
        Update::Event { event, .. } => match &event.event {
            MissionEvent::TurnStarted { model, .. } => {
                spinner::wait_for(&format!("waiting for {model}"))
            }
            MissionEvent::Status { status, .. } if *status != MissionStatus::Running => {
                spinner::stop()
            }
            MissionEvent::ToolResult { .. } | MissionEvent::AssistantMessage { .. } => {
                spinner::stop()
            }
            _ => {}
        },
        Update::ThinkingDelta { .. } => spinner::wait_for("thinking"),
        Update::TextDelta { .. } | Update::ApprovalRequested { .. } => spinner::stop(),
        Update::ToolStarted {
            name, arguments, ..
        } => spinner::wait_for(&ToolBox::summary(name, arguments)),
        Update::ToolOutput { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sortie_missions::{MissionId, StoredEvent};
    use sortie_transports::{ContentBlock, StopReason};

    fn shown(updates: &[Update]) -> String {
        let live = Live {
            style: Style::plain(),
            state: Mutex::new(State::default()),
        };
        let mut out = Vec::new();
        let mut state = State::default();
        for u in updates {
            live.print(&mut state, &mut out, u);
        }
        String::from_utf8(out).expect("utf8")
    }

    fn message(mission: MissionId, text: &str) -> Update {
        Update::Event {
            mission,
            event: StoredEvent {
                seq: 5,
                at: chrono::Utc::now(),
                event: MissionEvent::AssistantMessage {
                    turn: 1,
                    content: vec![ContentBlock::Text { text: text.into() }],
                    stop_reason: StopReason::EndTurn,
                },
            },
        }
    }

    fn delta(mission: MissionId, text: &str) -> Update {
        Update::TextDelta {
            mission,
            turn: 1,
            text: text.into(),
        }
    }

    #[test]
    fn a_message_whose_start_streamed_before_we_followed_is_printed_whole() {
        let m = MissionId::new();
        let out = shown(&[delta(m, "ether"), message(m, "done together")]);
        assert!(out.contains("done together"), "{out:?}");
        // Streamed whole: printed once.
        let out = shown(&[
            delta(m, "done "),
            delta(m, "together"),
            message(m, "done together"),
        ]);
        assert_eq!(out.matches("done together").count(), 1, "{out:?}");
    }
}
