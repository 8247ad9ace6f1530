//! The new-mission box's MCP line: which servers the mission will use (Ctrl-T changes it).

use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};

/// ` MCP: every enabled (a, b) · ^T `, ` MCP: none · ^T `, ` MCP: docs · ^T `; nothing when
/// the config has no server.
pub(super) fn line(chosen: &Option<Vec<String>>, servers: &[(String, bool)]) -> Line<'static> {
    if servers.is_empty() {
        return Line::default();
    }
    let what = match chosen {
        None => {
            let enabled: Vec<&str> = servers
                .iter()
                .filter(|(_, on)| *on)
                .map(|(n, _)| n.as_str())
                .collect();
            if enabled.is_empty() {
                "none enabled".to_string()
            } else {
                format!("every enabled ({})", enabled.join(", "))
            }
        }
        Some(names) if names.is_empty() => "none".to_string(),
        Some(names) => names.join(", "),
    };
    let style = match chosen {
        None => Style::default().fg(Color::Cyan),
        Some(_) => Style::default().fg(Color::Cyan).bold(),
    };
    Line::from(vec![
        Span::raw(" MCP: "),
        Span::styled(what, style),
        Span::styled(" · ^T ", Style::default().fg(Color::DarkGray)),
    ])
    .right_aligned()
}
