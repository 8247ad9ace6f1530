//! The new-mission box's MCP line (which servers the mission will use) and the list
//! Ctrl-T opens to choose them.

use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::{centered, overlay_block};
use crate::tui::app::McpPicker;

/// The list of servers, each checked or not, the cursor on one.
pub(super) fn picker(f: &mut Frame, p: &McpPicker, servers: &[(String, bool)]) {
    let lines: Vec<Line> = servers
        .iter()
        .zip(&p.on)
        .enumerate()
        .map(|(i, ((name, enabled), on))| {
            let here = i == p.cursor;
            let text = format!(
                "{} [{}] {name}{}",
                if here { "▶" } else { " " },
                if *on { "x" } else { " " },
                if *enabled {
                    ""
                } else {
                    "  (not enabled by default)"
                }
            );
            let style = if here {
                Style::default().reversed()
            } else {
                Style::default()
            };
            Line::styled(text, style)
        })
        .collect();
    let h = (lines.len() as u16 + 2).clamp(3, f.area().height.saturating_sub(2));
    let area = centered(f.area(), 64, h);
    let skip = p.cursor.saturating_sub(h.saturating_sub(3) as usize);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines.into_iter().skip(skip).collect::<Vec<_>>()).block(overlay_block(
            "MCP servers — Space toggles, Enter done, Esc back",
        )),
        area,
    );
}

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
