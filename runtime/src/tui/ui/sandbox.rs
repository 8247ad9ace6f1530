//! How a sandbox mode looks: dim when it confines, loud when it is `off`.

use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use sortie_missions::SandboxMode;

/// A mission's line (its name, ...) with its sandbox mode: `off` as a badge before it, where
/// a long name cannot push it off the screen; another mode quietly after it.
pub(super) fn marked(mode: SandboxMode, line: Vec<Span<'static>>) -> Vec<Span<'static>> {
    match mode {
        SandboxMode::Off => {
            let badge = Span::styled(
                " ⚠ sandbox off ",
                Style::default().fg(Color::Black).bg(Color::Yellow).bold(),
            );
            [badge, Span::raw(" ")].into_iter().chain(line).collect()
        }
        mode => line
            .into_iter()
            .chain([Span::styled(
                format!("  sandbox {mode}"),
                Style::default().fg(Color::DarkGray),
            )])
            .collect(),
    }
}

/// The new-mission box's bottom line: the mode chosen, and how to change it.
/// Over the new-mission box, once Ctrl-W chose it: the mission works in a git worktree of
/// its own (nothing is shown otherwise; `?` lists the key).
pub(super) fn worktree_line(worktree: bool) -> Line<'static> {
    if !worktree {
        return Line::default();
    }
    Line::from(vec![
        Span::styled(" own worktree", Style::default().fg(Color::Cyan).bold()),
        Span::styled(" ^W ", Style::default().fg(Color::DarkGray)),
    ])
    .right_aligned()
}

pub(super) fn choice_line(mode: SandboxMode) -> Line<'static> {
    let chosen = match mode {
        SandboxMode::Off => Span::styled(
            "off — not confined",
            Style::default().fg(Color::Yellow).bold(),
        ),
        mode => Span::styled(mode.as_str(), Style::default().fg(Color::Cyan).bold()),
    };
    Line::from(vec![
        Span::raw(" sandbox: "),
        chosen,
        Span::styled(" · Tab changes ", Style::default().fg(Color::DarkGray)),
    ])
}
