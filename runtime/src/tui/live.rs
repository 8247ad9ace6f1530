//! The open mission while it runs: what streams now (thinking, text, the running tool and
//! what it writes), and the view's bookkeeping of stored events.

use ratatui::style::{Color, Style};
use ratatui::text::Line;
use sortie_missions::StoredEvent;

use super::app::MissionView;
use super::markdown;

/// What the view keeps of a running tool's output: its last bytes.
const TOOL_OUTPUT_KEPT: usize = 8 * 1024;

impl MissionView {
    /// A tool call started: shown as running, with no output yet.
    pub(super) fn tool_started(&mut self, name: &str, arguments: &str) {
        self.running_tool = Some(sortie_missions::tools::ToolBox::summary(name, arguments));
        self.tool_output.clear();
    }

    /// The tool call ended (its result is stored), or the mission did.
    pub(super) fn tool_ended(&mut self) {
        self.running_tool = None;
        self.tool_output.clear();
        self.approvals.clear();
    }

    pub(super) fn push(&mut self, event: StoredEvent) {
        let first = self.rendered.is_empty();
        self.rendered
            .extend(super::ui::event_lines(&event, self.expanded, first));
        self.events.push(event);
    }

    pub(super) fn toggle_expanded(&mut self) {
        self.expanded = !self.expanded;
        self.rendered.clear();
        for e in &self.events {
            let first = self.rendered.is_empty();
            let lines = super::ui::event_lines(e, self.expanded, first);
            self.rendered.extend(lines);
        }
    }
}

/// Appends live tool output, keeping only its last [`TOOL_OUTPUT_KEPT`] bytes.
pub(super) fn push_tool_output(kept: &mut String, text: &str) {
    kept.push_str(text);
    let cut = kept.len() - sortie_transports::text::tail(kept, TOOL_OUTPUT_KEPT).len();
    kept.drain(..cut);
}

/// What of the streaming text to render: all of it when scrolled, else (past 16 KB) from a
/// paragraph break near the end, so a long answer does not cost more with every delta.
fn live_tail(v: &MissionView) -> &str {
    const TAIL: usize = 16 * 1024;
    let text = v.live_text.as_str();
    if v.scroll > 0 || text.len() <= TAIL {
        return text;
    }
    let tail = sortie_transports::text::tail(text, TAIL);
    match tail.find("\n\n") {
        Some(i) => &tail[i + 2..],
        None => tail,
    }
}

/// The lines of what streams now: thinking, text, the tool running.
pub fn live_lines(v: &MissionView) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if !v.live_thinking.is_empty() {
        super::ui::thinking(&mut lines, &v.live_thinking, v.expanded);
    }
    if !v.live_text.is_empty() {
        lines.extend(markdown::render(live_tail(v), ""));
    }
    if let Some(tool) = &v.running_tool {
        lines.push(Line::styled(
            format!("→ {tool} …"),
            Style::default().fg(Color::Cyan),
        ));
        tool_output_lines(&mut lines, v);
    }
    lines
}

/// The last lines the running tool wrote (more of them unfolded).
fn tool_output_lines(lines: &mut Vec<Line<'static>>, v: &MissionView) {
    let shown = if v.expanded { 40 } else { 6 };
    let all: Vec<&str> = v.tool_output.lines().collect();
    let dim = Style::default().fg(Color::DarkGray);
    for l in &all[all.len().saturating_sub(shown)..] {
        let l: String = l
            .chars()
            .filter(|c| !c.is_control() || *c == '\t')
            .take(300)
            .collect();
        lines.push(Line::styled(format!("  │ {l}"), dim));
    }
}
