//! Drawing: one function per screen and overlay, reading the [`App`] only.

use chrono::{DateTime, Utc};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, BorderType, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;
use sortie_missions::{Mission, MissionEvent, MissionStatus, StoredEvent, ToolOutcome};
use sortie_transports::auth::{AuthMode, CredentialStatus};
use sortie_transports::ContentBlock;

use super::app::{App, InputPurpose, Overlay, Screen};
use super::markdown;
use crate::text as render;

mod accounts;
mod help;
mod mcp_choice;
mod mission;
mod missions;
mod notices;
mod overlays;
mod sandbox;
mod schedules;
use accounts::accounts;
use help::help;
pub use mission::event_lines;
use mission::mission;
pub(super) use mission::thinking;
use missions::missions;
use overlays::{input, login, picker};
use schedules::schedules;

pub fn status_color(s: MissionStatus) -> Color {
    match s {
        MissionStatus::Running => Color::Cyan,
        MissionStatus::Queued => Color::Blue,
        MissionStatus::Completed => Color::Green,
        MissionStatus::Failed => Color::Red,
        MissionStatus::NeedsReauth => Color::Magenta,
        MissionStatus::Cancelled | MissionStatus::Interrupted | MissionStatus::Paused => {
            Color::Yellow
        }
        MissionStatus::BudgetReached => Color::Yellow,
    }
}

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    // A long message (an error that says what to do) takes up to three lines.
    let status = status_line(app);
    let status_lines = (status.line_count(f.area().width) as u16).clamp(1, 3);
    let [top, main, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(status_lines),
    ])
    .areas(f.area());
    tabs(f, app, top);
    match app.screen {
        Screen::Missions => missions(f, app, main),
        Screen::Mission => mission(f, app, main),
        Screen::Accounts => accounts(f, app, main),
        Screen::Schedules => schedules(f, app, main),
    }
    f.render_widget(status, bottom);
    match &app.overlay {
        Some(Overlay::Help) => help(f, app),
        Some(Overlay::Input(_)) => input(f, app),
        Some(Overlay::Picker(_)) => picker(f, app),
        Some(Overlay::Login(_)) => login(f, app),
        Some(Overlay::McpPicker(p)) => mcp_choice::picker(f, p, &app.mcp_servers),
        None => {}
    }
}

fn tabs(f: &mut Frame, app: &App, area: Rect) {
    let mut spans = vec![Span::styled(" sortie ", Style::default().bold().reversed())];
    for (key, name, on) in [
        (
            "1",
            "Missions",
            matches!(app.screen, Screen::Missions | Screen::Mission),
        ),
        ("2", "Accounts", app.screen == Screen::Accounts),
        ("3", "Schedules", app.screen == Screen::Schedules),
    ] {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(key, Style::default().fg(Color::DarkGray)));
        let style = if on {
            Style::default().fg(Color::Cyan).bold().underlined()
        } else {
            Style::default()
        };
        spans.push(Span::styled(format!(" {name}"), style));
    }
    let running = app
        .missions
        .iter()
        .filter(|m| m.status == MissionStatus::Running)
        .count();
    let queued = app
        .missions
        .iter()
        .filter(|m| m.status == MissionStatus::Queued)
        .count();
    let right = format!("{running} running · {queued} queued ");
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let pad = (area.width as usize).saturating_sub(used + right.chars().count());
    spans.push(Span::raw(" ".repeat(pad)));
    spans.push(Span::styled(right, Style::default().fg(Color::DarkGray)));
    f.render_widget(Line::from(spans), area);
}

fn status_line(app: &App) -> Paragraph<'static> {
    let line = match app.shown_status() {
        Some((text, error)) => Line::from(Span::styled(
            format!(" {text}"),
            Style::default().fg(if error { Color::Red } else { Color::Green }),
        )),
        None => Line::from(Span::styled(
            format!(" {}", hints(app)),
            Style::default().fg(Color::DarkGray),
        )),
    };
    Paragraph::new(line).wrap(Wrap { trim: false })
}

fn hints(app: &App) -> &'static str {
    match app.screen {
        Screen::Missions => {
            "↑↓ select · Enter open · n new · / filter · s sort · Tab next · ? help · q quit"
        }
        Screen::Mission => {
            "i message · m model · c cancel · p pause · t unfold · Esc back · ? help"
        }
        Screen::Accounts => "↑↓ select · r reconnect · a log in · ? help · q quit",
        Screen::Schedules => "↑↓ select · a add · p pause/resume · r run now · ? help · q quit",
    }
}

/// The list's name for a mission: its title, else its first prompt.
pub fn mission_name(m: &Mission) -> String {
    m.title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| m.prompt.lines().next().unwrap_or("").to_string())
}

fn tokens(m: &Mission) -> String {
    let n = m.usage.prompt_tokens() + m.usage.output_tokens;
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{}k", n / 1000),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

fn cost(c: Option<f64>) -> String {
    c.map(|c| format!("${c:.2}")).unwrap_or_else(|| "-".into())
}

/// A transport's name in a narrow column.
fn transport_short(t: &str) -> &str {
    match t {
        "claude-code" => "cli",
        "openai-responses" => "resp",
        "openai-compatible" => "chat",
        "anthropic" => "msgs",
        other => other,
    }
}

/// A selected row's details, under a table.
fn details(f: &mut Frame, area: Rect, lines: Vec<Line<'static>>) {
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(
            Block::bordered()
                .border_type(BorderType::Rounded)
                .border_style(Style::default().fg(Color::DarkGray)),
        ),
        area,
    );
}

/// `in 42m 10s`, `in 3h 5m`, `expired 2m ago`, for countdowns.
pub fn countdown(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (at - now).num_seconds();
    let abs = secs.unsigned_abs();
    let text = match abs {
        0..=59 => format!("{abs}s"),
        60..=3599 => format!("{}m {:02}s", abs / 60, abs % 60),
        3600..=86_399 => format!("{}h {:02}m", abs / 3600, (abs % 3600) / 60),
        _ => format!("{}d {}h", abs / 86_400, (abs % 86_400) / 3600),
    };
    if secs >= 0 {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// A centred box `w`×`h` (clamped to the screen).
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn overlay_block(title: &str) -> Block<'static> {
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(Style::default().fg(Color::Cyan))
        .title(format!(" {title} "))
}
