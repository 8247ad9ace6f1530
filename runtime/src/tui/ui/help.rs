//! The `?` overlay: every key, by screen.

use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::{centered, overlay_block};
use crate::tui::app::App;

/// Every key, by screen: two columns of sections.
/// Sections of (title, (keys, what they do)).
type HelpColumn = &'static [(&'static str, &'static [(&'static str, &'static str)])];

pub const HELP: [HelpColumn; 2] = [
    &[
        (
            "Everywhere",
            &[
                ("1 2 3 Tab", "switch screens"),
                ("n", "new mission"),
                ("?", "this help"),
                ("q", "quit (main screens)"),
                ("Ctrl-C", "quit, anywhere"),
            ],
        ),
        (
            "Missions",
            &[
                ("↑↓ j k g G", "select"),
                ("Enter → l", "open"),
                ("/", "filter (Esc clears)"),
                ("s", "cycle the sort order"),
            ],
        ),
        (
            "Accounts",
            &[
                ("r Enter", "reconnect (log in)"),
                ("a", "log in to a provider"),
            ],
        ),
        (
            "Schedules",
            &[("a", "add"), ("p", "pause / resume"), ("r", "run now")],
        ),
    ],
    &[
        (
            "A mission",
            &[
                ("i Enter", "next message"),
                ("m", "switch model, resume"),
                ("b", "raise budget, resume"),
                ("r", "resume as it is"),
                ("c / p", "cancel / pause"),
                ("y / N", "allow / deny a tool"),
                ("t", "unfold thinking, output"),
                ("↑↓ PgUp PgDn", "scroll"),
                ("G", "back to the end"),
                ("Esc ← h", "back to the list"),
            ],
        ),
        (
            "Text boxes",
            &[
                ("Enter", "send"),
                ("Alt-Enter ^J", "new line"),
                ("Tab", "sandbox (new mission)"),
                ("^W", "worktree (new mission)"),
                ("^T", "MCP (new mission)"),
                ("↑↓", "earlier entries"),
                ("Esc", "close"),
            ],
        ),
    ],
];

pub(super) fn help(f: &mut Frame, _app: &App) {
    let columns: Vec<Vec<Line>> = HELP
        .iter()
        .map(|sections| {
            let mut lines = Vec::new();
            for (section, keys) in sections.iter() {
                lines.push(Line::styled(
                    *section,
                    Style::default().fg(Color::Cyan).bold(),
                ));
                for (k, what) in keys.iter() {
                    lines.push(Line::from(vec![
                        Span::styled(format!(" {k:<13}"), Style::default().bold()),
                        Span::raw(*what),
                    ]));
                }
            }
            lines
        })
        .collect();
    let h = columns.iter().map(Vec::len).max().unwrap_or(0) as u16 + 2;
    let area = centered(f.area(), 78, h);
    f.render_widget(Clear, area);
    let block = overlay_block("keys — any key closes");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let halves = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).split(inner);
    for (lines, half) in columns.into_iter().zip(halves.iter()) {
        f.render_widget(Paragraph::new(lines), *half);
    }
}
