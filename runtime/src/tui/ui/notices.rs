//! Notices and worktrees on the mission screen: in its header (notices on or off, the
//! worktree's branch) and in its conversation (each notice's try, the worktree made).

use super::*;

/// What the header adds for notices and a worktree: ` · notices off · worktree sortie/…`.
pub(super) fn header_extras(m: &Mission) -> String {
    let mut out = String::new();
    match m.notify {
        Some(true) => out.push_str(" · notices on"),
        Some(false) => out.push_str(" · notices off"),
        None => {}
    }
    if let Some(wt) = &m.worktree {
        out.push_str(&format!(" · worktree {}", wt.branch));
    }
    out
}

/// The conversation's line for a notice or worktree event, if it is one.
pub(super) fn event_line(event: &MissionEvent) -> Option<Line<'static>> {
    let dim = Style::default().fg(Color::DarkGray);
    match event {
        MissionEvent::Notice {
            kind,
            channel,
            attempt,
            delivered,
            outcome,
        } => Some(Line::styled(
            format!("✉ notice {kind} by {channel} (try {attempt}): {outcome}"),
            if *delivered {
                dim
            } else {
                Style::default().fg(Color::Yellow)
            },
        )),
        MissionEvent::Worktree { worktree } => Some(Line::styled(
            format!(
                "⎇ works in its own worktree {} on branch {} (sortie diff {})",
                worktree.path.display(),
                worktree.branch,
                worktree.branch.trim_start_matches("sortie/")
            ),
            Style::default().fg(Color::Cyan),
        )),
        MissionEvent::NotifySet { enabled } => Some(Line::styled(
            format!(
                "✉ notices {} from here on",
                if *enabled { "on" } else { "off" }
            ),
            dim,
        )),
        _ => None,
    }
}
