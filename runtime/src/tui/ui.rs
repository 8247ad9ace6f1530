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

mod help;
mod sandbox;
use help::help;

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
    let n = m.usage.input_tokens + m.usage.output_tokens;
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

fn missions(f: &mut Frame, app: &App, area: Rect) {
    let [list, detail] = Layout::vertical([Constraint::Min(3), Constraint::Length(4)]).areas(area);
    // Narrow terminals show the model alone; the selected row's details say the rest.
    let wide = area.width >= 110;
    let visible = app.visible();
    let rows: Vec<Row> = visible
        .iter()
        .map(|m| {
            let model = if wide {
                format!("{}/{}", m.provider, m.model)
            } else {
                m.model.clone()
            };
            let transport = if wide {
                m.transport.as_str()
            } else {
                transport_short(&m.transport)
            };
            Row::new(vec![
                Cell::from(m.status.as_str()).style(Style::default().fg(status_color(m.status))),
                Cell::from(mission_name(m)),
                Cell::from(model),
                Cell::from(transport.to_string()),
                Cell::from(m.turns.to_string()),
                Cell::from(tokens(m)),
                Cell::from(cost(m.cost_usd)),
                Cell::from(render::age(m.created_at, app.now)),
            ])
        })
        .collect();
    let empty = rows.is_empty();
    let title = match app.filter.is_empty() {
        true => format!(
            " Missions ({}) · sorted by {} ",
            app.missions.len(),
            app.sort.name()
        ),
        false => format!(
            " Missions matching “{}” ({} of {}) · sorted by {} ",
            app.filter,
            visible.len(),
            app.missions.len(),
            app.sort.name()
        ),
    };
    let widths = if wide {
        [12, 0, 30, 17, 5, 6, 6, 4]
    } else {
        [12, 0, 14, 4, 3, 6, 6, 3]
    };
    let constraints: Vec<Constraint> = widths
        .iter()
        .map(|w| {
            if *w == 0 {
                Constraint::Fill(1)
            } else {
                Constraint::Length(*w)
            }
        })
        .collect();
    let header = if wide {
        [
            "STATUS",
            "MISSION",
            "PROVIDER/MODEL",
            "TRANSPORT",
            "TURNS",
            "TOKENS",
            "COST",
            "AGE",
        ]
    } else {
        [
            "STATUS", "MISSION", "MODEL", "VIA", "TRN", "TOKENS", "COST", "AGE",
        ]
    };
    let table = Table::new(rows, constraints)
        .column_spacing(1)
        .header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD)))
        .block(
            Block::bordered()
                .border_type(BorderType::Rounded)
                .title(title),
        )
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
        .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected((!empty).then_some(app.selected));
    f.render_stateful_widget(table, list, &mut state);
    if empty {
        let text = if app.missions.is_empty() {
            "No missions yet. Press n to start one."
        } else {
            "No mission matches the filter (Esc clears it)."
        };
        let inner = Rect {
            y: list.y + 3,
            height: 1,
            ..list.inner(ratatui::layout::Margin::new(2, 0))
        };
        f.render_widget(Paragraph::new(text).fg(Color::DarkGray), inner);
    }
    let lines = match visible.get(app.selected) {
        Some(m) => vec![
            Line::from(sandbox::marked(
                m.sandbox.unwrap_or(app.sandbox),
                vec![
                    Span::styled(mission_name(m), Style::default().bold()),
                    Span::styled(
                        format!("  {}", super::app::short(&m.id)),
                        Style::default().fg(Color::DarkGray),
                    ),
                ],
            )),
            Line::styled(
                format!(
                    "{}/{} · {} · {} turn{} · {}{} · {} ago · {}",
                    m.provider,
                    m.model,
                    m.transport,
                    m.turns,
                    if m.turns == 1 { "" } else { "s" },
                    render::usage_text(&m.usage),
                    render::cost_text(m.cost_usd),
                    render::age(m.created_at, app.now),
                    m.cwd.display()
                ),
                Style::default().fg(Color::DarkGray),
            ),
        ],
        None => vec![Line::styled(
            "n starts a mission in the current directory",
            Style::default().fg(Color::DarkGray),
        )],
    };
    details(f, detail, lines);
}

/// The lines one stored event adds to the conversation (`first`: nothing is shown yet).
/// The mission view keeps them (see `App`), so a frame renders only what is new.
pub fn event_lines(e: &StoredEvent, expanded: bool, first: bool) -> Vec<Line<'static>> {
    let mut lines: Vec<Line<'static>> = Vec::new();
    let dim = Style::default().fg(Color::DarkGray);
    {
        match &e.event {
            // The first prompt is also the first user message: shown once, from that.
            MissionEvent::UserMessage { text } => {
                if !first {
                    lines.push(Line::raw(""));
                }
                lines.push(Line::from(vec![
                    Span::styled("› ", Style::default().fg(Color::Green).bold()),
                    Span::styled(text.clone(), Style::default().bold()),
                ]));
                lines.push(Line::raw(""));
            }
            MissionEvent::AssistantMessage { content, .. } => {
                for block in content {
                    match block {
                        ContentBlock::Text { text } => lines.extend(markdown::render(text, "")),
                        ContentBlock::Thinking { text, .. } => thinking(&mut lines, text, expanded),
                        ContentBlock::RedactedThinking { .. } => {
                            lines.push(Line::styled("▸ thinking (encrypted)", dim))
                        }
                        ContentBlock::ToolUse {
                            name, arguments, ..
                        } => {
                            lines.push(Line::styled(
                                format!(
                                    "→ {}",
                                    sortie_missions::tools::ToolBox::summary(name, arguments)
                                ),
                                Style::default().fg(Color::Cyan),
                            ));
                            if expanded {
                                lines.push(Line::styled(format!("    {arguments}"), dim));
                            }
                        }
                        _ => {}
                    }
                }
            }
            MissionEvent::ToolResult {
                outcome,
                output,
                duration_ms,
                ..
            } => {
                let (mark, color) = match outcome {
                    ToolOutcome::Ok => ("✓", Color::Green),
                    ToolOutcome::Error | ToolOutcome::TimedOut => ("✗", Color::Red),
                    ToolOutcome::Denied => ("⊘", Color::Yellow),
                };
                let all: Vec<&str> = output.lines().collect();
                let shown = if expanded {
                    all.len()
                } else {
                    all.len().min(3)
                };
                let first = all.first().copied().unwrap_or("");
                lines.push(Line::from(vec![
                    Span::styled(format!("  {mark} "), Style::default().fg(color)),
                    Span::raw(render::clip(first, 200)),
                    Span::styled(format!("  {duration_ms} ms"), dim),
                ]));
                for l in all.iter().take(shown).skip(1) {
                    lines.push(indented(l, "    ", dim));
                }
                if all.len() > shown {
                    lines.push(Line::styled(
                        format!("    … {} more lines (t unfolds)", all.len() - shown),
                        dim,
                    ));
                }
            }
            e @ MissionEvent::Recovery { .. } => lines.push(Line::styled(
                format!("↻ {}", render::recovery_text(e).unwrap_or_default()),
                Style::default().fg(Color::Black).bg(Color::Yellow),
            )),
            MissionEvent::Switched {
                provider,
                model,
                transport,
                reason,
                ..
            } => {
                lines.push(Line::styled(
                    format!("⇄ now on {provider}/{model} ({transport}): {reason}"),
                    Style::default().fg(Color::Magenta),
                ));
            }
            MissionEvent::SandboxChanged { mode } => lines.push(Line::from(sandbox::marked(
                *mode,
                vec![Span::styled(
                    "⇄ tools run in a new sandbox from here on",
                    dim,
                )],
            ))),
            MissionEvent::Warning { message } => lines.push(Line::styled(
                format!("! {message}"),
                Style::default().fg(Color::Yellow),
            )),
            MissionEvent::Error { message, .. } => lines.push(Line::styled(
                format!("✗ {message}"),
                Style::default().fg(Color::Red),
            )),
            MissionEvent::Status { status, reason }
                if !matches!(status, MissionStatus::Running | MissionStatus::Queued) =>
            {
                let text = match reason {
                    Some(r) => format!("── {} · {r}", status.as_str()),
                    None => format!("── {}", status.as_str()),
                };
                lines.push(Line::styled(
                    text,
                    Style::default().fg(status_color(*status)),
                ));
            }
            MissionEvent::HistoryReplaced { reason, .. } => {
                lines.push(Line::styled(format!("⋯ history compressed: {reason}"), dim))
            }
            MissionEvent::Unreadable { error } => lines.push(Line::styled(
                format!("? unreadable event: {error}"),
                Style::default().fg(Color::Red),
            )),
            _ => {}
        }
    }
    lines
}

/// `text` indented by `by`; a blank line stays empty (ratatui's wrapping draws a line of
/// spaces alone as two rows).
fn indented(text: &str, by: &str, style: Style) -> Line<'static> {
    if text.trim().is_empty() {
        Line::raw("")
    } else {
        Line::styled(format!("{by}{text}"), style)
    }
}

pub(super) fn thinking(lines: &mut Vec<Line<'static>>, text: &str, expanded: bool) {
    let dim = Style::default()
        .fg(Color::DarkGray)
        .add_modifier(Modifier::ITALIC);
    let n = text.lines().count();
    if expanded {
        lines.push(Line::styled("▾ thinking", dim));
        for l in text.lines() {
            lines.push(indented(l, "  ", dim));
        }
    } else {
        lines.push(Line::styled(
            format!(
                "▸ thinking ({n} line{}, t unfolds)",
                if n == 1 { "" } else { "s" }
            ),
            dim,
        ));
    }
}

fn mission(f: &mut Frame, app: &App, area: Rect) {
    let m = app.open_mission();
    let approvals = app.view.approvals.len().min(3) as u16;
    let [head, body, asks] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(if approvals > 0 { approvals + 2 } else { 0 }),
    ])
    .areas(area);
    let header = match m {
        Some(m) => Text::from(vec![
            Line::from(
                [
                    Span::styled(
                        format!(" {} ", m.status.as_str()),
                        Style::default().fg(Color::Black).bg(status_color(m.status)),
                    ),
                    Span::raw(" "),
                ]
                .into_iter()
                .chain(sandbox::marked(
                    m.sandbox.unwrap_or(app.sandbox),
                    vec![Span::styled(mission_name(m), Style::default().bold())],
                ))
                .collect::<Vec<_>>(),
            ),
            Line::styled(
                format!(
                    " {}/{} · {} · {} turn{} · {} tokens{} · {}",
                    m.provider,
                    m.model,
                    m.transport,
                    m.turns,
                    if m.turns == 1 { "" } else { "s" },
                    tokens(m),
                    render::cost_text(m.cost_usd),
                    super::app::short(&m.id)
                ),
                Style::default().fg(Color::DarkGray),
            ),
        ]),
        None => Text::raw(" loading…"),
    };
    f.render_widget(Paragraph::new(header), head);
    // Only the tail that can be on screen is wrapped and drawn: walking back from the end
    // until the lines fill the view plus the scroll (a line takes at least its width
    // divided by the view's, so this never takes too few).
    let live = super::live::live_lines(&app.view);
    let rendered = &app.view.rendered;
    let width = body.width.saturating_sub(2).max(1) as usize;
    let need = body.height as usize + app.view.scroll as usize;
    let (mut start, mut est) = (rendered.len() + live.len(), 0usize);
    while start > 0 && est < need {
        start -= 1;
        let line = if start >= rendered.len() {
            &live[start - rendered.len()]
        } else {
            &rendered[start]
        };
        est += line.width().div_ceil(width).max(1);
    }
    let shown: Vec<Line> = rendered[start.min(rendered.len())..]
        .iter()
        .cloned()
        .chain(live.into_iter().skip(start.saturating_sub(rendered.len())))
        .collect();
    let para = Paragraph::new(shown)
        .wrap(Wrap { trim: false })
        .block(Block::bordered().border_type(BorderType::Rounded));
    // It wraps at the width it is given: the view's inside, within the border.
    let total = para.line_count(body.width.saturating_sub(2)) as u16;
    let bottom = total.saturating_sub(body.height);
    let top = bottom.saturating_sub(app.view.scroll);
    f.render_widget(para.scroll((top, 0)), body);
    if approvals > 0 {
        let lines: Vec<Line> = app
            .view
            .approvals
            .iter()
            .take(3)
            .map(|(_, summary)| {
                Line::from(vec![
                    Span::styled("allow ", Style::default().bold()),
                    Span::raw(summary.clone()),
                    Span::raw("?  y yes · N no"),
                ])
            })
            .collect();
        f.render_widget(
            Paragraph::new(lines).block(
                Block::bordered()
                    .border_type(BorderType::Rounded)
                    .border_style(Style::default().fg(Color::Yellow))
                    .title(" waiting for approval "),
            ),
            asks,
        );
    }
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

fn credential_color(s: &CredentialStatus) -> Color {
    match s {
        CredentialStatus::Active => Color::Green,
        CredentialStatus::CoolingDown { .. } => Color::Yellow,
        CredentialStatus::NeedsReauth { .. } | CredentialStatus::Disconnected => Color::Magenta,
        CredentialStatus::EntitlementBlocked { .. } => Color::Red,
    }
}

fn accounts(f: &mut Frame, app: &App, area: Rect) {
    let rows: Vec<Row> = app
        .accounts
        .iter()
        .map(|r| {
            let c = &r.summary;
            let expiry = match (c.auth_mode, c.expires_at) {
                (AuthMode::ApiKey, _) => "-".to_string(),
                (AuthMode::OAuth, None) => "unknown".to_string(),
                (AuthMode::OAuth, Some(at)) if at <= app.now => "expired".to_string(),
                (AuthMode::OAuth, Some(at)) => countdown(at, app.now),
            };
            Row::new(vec![
                Cell::from(c.id.to_string()),
                Cell::from(c.auth_mode.as_str()),
                Cell::from(c.status.name()).style(Style::default().fg(credential_color(&c.status))),
                Cell::from(expiry),
                Cell::from(c.label.clone()),
                Cell::from(r.next_step.clone()),
            ])
        })
        .collect();
    let empty = rows.is_empty();
    let table = Table::new(
        rows,
        [
            Constraint::Length(14),
            Constraint::Length(7),
            Constraint::Length(12),
            Constraint::Length(11),
            Constraint::Length(10),
            Constraint::Fill(1),
        ],
    )
    .header(
        Row::new(["ID", "MODE", "STATUS", "EXPIRES", "LABEL", "NEXT"])
            .style(Style::default().bold()),
    )
    .block(
        Block::bordered()
            .border_type(BorderType::Rounded)
            .title(format!(" Accounts ({}) ", app.accounts.len())),
    )
    .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
    .highlight_symbol("▶ ");
    let [area, detail] = Layout::vertical([Constraint::Min(3), Constraint::Length(4)]).areas(area);
    let mut state = TableState::default().with_selected((!empty).then_some(app.account_selected));
    f.render_stateful_widget(table, area, &mut state);
    let lines = match app.accounts.get(app.account_selected) {
        Some(r) => {
            let why = match &r.summary.status {
                CredentialStatus::CoolingDown { reason, .. }
                | CredentialStatus::NeedsReauth { reason }
                | CredentialStatus::EntitlementBlocked { reason } => format!(" ({reason})"),
                _ => String::new(),
            };
            vec![
                Line::from(vec![
                    Span::styled(format!("{} ", r.summary.id), Style::default().bold()),
                    Span::styled(
                        format!("{}{why}", r.summary.status.name()),
                        Style::default().fg(credential_color(&r.summary.status)),
                    ),
                    Span::styled(
                        format!(
                            " · used {} times · refreshed {}",
                            r.summary.use_count, r.summary.refresh_count
                        ),
                        Style::default().fg(Color::DarkGray),
                    ),
                ]),
                Line::styled(
                    format!("next: {} · r runs the login here", r.next_step),
                    Style::default().fg(Color::DarkGray),
                ),
            ]
        }
        None => vec![Line::styled(
            "a logs in to a provider",
            Style::default().fg(Color::DarkGray),
        )],
    };
    details(f, detail, lines);
    if empty {
        let inner = Rect {
            y: area.y + 3,
            height: 2,
            ..area.inner(ratatui::layout::Margin::new(2, 0))
        };
        f.render_widget(
            Paragraph::new(
                "No credentials yet. Press a to log in, or run `sortie auth add-key <provider>`.",
            )
            .wrap(Wrap { trim: true })
            .fg(Color::DarkGray),
            inner,
        );
    }
}

fn schedules(f: &mut Frame, app: &App, area: Rect) {
    let rows: Vec<Row> = app
        .schedules
        .iter()
        .map(|s| {
            let id: String = s["id"].as_str().unwrap_or("?").chars().take(8).collect();
            let name = s["name"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| s["mission"]["prompt"].as_str().unwrap_or("").to_string());
            let paused = s["paused"].as_bool().unwrap_or(false);
            let next = match (
                paused,
                s["next_run"]
                    .as_str()
                    .and_then(|t| t.parse::<DateTime<Utc>>().ok()),
            ) {
                (true, _) => "paused".to_string(),
                (false, Some(at)) => countdown(at, app.now),
                (false, None) => "never".to_string(),
            };
            let last = s["runs"]
                .as_array()
                .and_then(|r| r.last())
                .map(|r| {
                    let at = r["at"]
                        .as_str()
                        .and_then(|t| t.parse::<DateTime<Utc>>().ok());
                    format!(
                        "{} {}",
                        r["outcome"].as_str().unwrap_or("?"),
                        at.map(|a| format!("{} ago", render::age(a, app.now)))
                            .unwrap_or_default()
                    )
                })
                .unwrap_or_else(|| "-".into());
            Row::new(vec![
                Cell::from(id),
                Cell::from(name),
                Cell::from(s["when"].as_str().unwrap_or("").to_string()),
                Cell::from(next).style(Style::default().fg(if paused {
                    Color::Yellow
                } else {
                    Color::Cyan
                })),
                Cell::from(last),
            ])
        })
        .collect();
    let empty = rows.is_empty();
    let table = Table::new(
        rows,
        [
            Constraint::Length(9),
            Constraint::Fill(2),
            Constraint::Fill(2),
            Constraint::Length(12),
            Constraint::Length(16),
        ],
    )
    .header(Row::new(["ID", "NAME", "WHEN", "NEXT RUN", "LAST RUN"]).style(Style::default().bold()))
    .block(
        Block::bordered()
            .border_type(BorderType::Rounded)
            .title(format!(" Schedules ({}) ", app.schedules.len())),
    )
    .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
    .highlight_symbol("▶ ");
    let [area, detail] = Layout::vertical([Constraint::Min(3), Constraint::Length(4)]).areas(area);
    let mut state = TableState::default().with_selected((!empty).then_some(app.schedule_selected));
    f.render_stateful_widget(table, area, &mut state);
    let lines = match app.schedules.get(app.schedule_selected) {
        Some(s) => {
            let next = s["next_run"]
                .as_str()
                .and_then(|t| t.parse::<DateTime<Utc>>().ok())
                .map(|at| format!(" · next {}", at.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default();
            vec![
                Line::from(vec![
                    Span::styled(
                        format!("{}{next}", s["when"].as_str().unwrap_or("")),
                        Style::default().bold(),
                    ),
                    Span::styled(
                        match s["runs"].as_array().map_or(0, Vec::len) {
                            0 => " · no run yet".to_string(),
                            1 => " · 1 run recorded".to_string(),
                            n => format!(" · {n} runs recorded"),
                        },
                        Style::default().fg(Color::DarkGray),
                    ),
                ]),
                Line::styled(
                    format!("› {}", s["mission"]["prompt"].as_str().unwrap_or("")),
                    Style::default().fg(Color::DarkGray),
                ),
            ]
        }
        None => vec![Line::styled(
            "a adds a schedule",
            Style::default().fg(Color::DarkGray),
        )],
    };
    details(f, detail, lines);
    if empty {
        let inner = Rect {
            y: area.y + 3,
            height: 1,
            ..area.inner(ratatui::layout::Margin::new(2, 0))
        };
        f.render_widget(
            Paragraph::new("No schedules yet. Press a to add one.").fg(Color::DarkGray),
            inner,
        );
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

fn input(f: &mut Frame, app: &App) {
    let Some(Overlay::Input(input)) = &app.overlay else {
        return;
    };
    let full = f.area();
    let lines = input.text.split('\n').count() as u16;
    let h = (lines + 2).clamp(3, 10);
    let area = if input.purpose == InputPurpose::Filter {
        Rect {
            x: 0,
            y: full.height.saturating_sub(h + 1),
            width: full.width,
            height: h,
        }
    } else {
        centered(full, full.width.saturating_sub(4).min(100), h)
    };
    let mut text = Text::raw(input.text.clone());
    text.push_span(Span::styled("▏", Style::default().fg(Color::Cyan)));
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(match input.purpose {
                InputPurpose::NewMission { sandbox: mode } => {
                    overlay_block(&input.title).title_bottom(sandbox::choice_line(mode))
                }
                _ => overlay_block(&input.title),
            }),
        area,
    );
}

fn picker(f: &mut Frame, app: &App) {
    let Some(Overlay::Picker(p)) = &app.overlay else {
        return;
    };
    let current = app
        .open_mission()
        .map(|m| (m.provider.clone(), m.model.clone()));
    let (title, items): (String, Vec<String>) = match (&p.provider, &p.models) {
        (None, _) => (
            "Provider — Enter to choose, Esc to close".into(),
            p.providers.clone(),
        ),
        (Some(name), None) => (format!("{name}: listing models…"), Vec::new()),
        (Some(name), Some(models)) => (
            format!("{name} — model (Enter), Esc for providers"),
            models.clone(),
        ),
    };
    let mut lines: Vec<Line> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let is_current = match (&p.provider, &current) {
                (None, Some((provider, _))) => provider == item,
                (Some(name), Some((provider, model))) => provider == name && model == item,
                _ => false,
            };
            let mark = if is_current { " (current)" } else { "" };
            let style = if i == p.selected {
                Style::default().reversed()
            } else {
                Style::default()
            };
            Line::styled(
                format!("{} {item}{mark}", if i == p.selected { "▶" } else { " " }),
                style,
            )
        })
        .collect();
    if let Some(e) = &p.error {
        lines.push(Line::styled(
            format!("cannot list the models: {e}"),
            Style::default().fg(Color::Red),
        ));
        lines.push(Line::styled(
            "Enter resumes on the provider's default model",
            Style::default().fg(Color::DarkGray),
        ));
    }
    let h = (lines.len() as u16 + 2).clamp(4, f.area().height.saturating_sub(2));
    let area = centered(f.area(), 60, h);
    let skip = p.selected.saturating_sub(h.saturating_sub(3) as usize);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines.into_iter().skip(skip).collect::<Vec<_>>())
            .block(overlay_block(&title)),
        area,
    );
}

fn login(f: &mut Frame, app: &App) {
    let Some(Overlay::Login(l)) = &app.overlay else {
        return;
    };
    let mut lines: Vec<Line> = Vec::new();
    let bold = Style::default().bold();
    match &l.prompt {
        None => lines.push(Line::raw("starting the login…")),
        Some(p) => {
            lines.push(Line::from(vec![
                Span::raw("Provider: "),
                Span::styled(p.provider.clone(), bold),
                Span::raw(format!("   flow: {}", p.flow)),
            ]));
            lines.push(Line::raw(""));
            match p.user_code.as_deref() {
                Some(code) => {
                    lines.push(Line::raw("Open this page on any device:"));
                    lines.push(Line::styled(
                        p.url.clone(),
                        Style::default().fg(Color::Blue).underlined(),
                    ));
                    lines.push(Line::raw(""));
                    lines.push(Line::from(vec![
                        Span::raw("and enter the code  "),
                        Span::styled(
                            format!(" {code} "),
                            Style::default().fg(Color::Black).bg(Color::Yellow).bold(),
                        ),
                    ]));
                }
                None => {
                    lines.push(Line::raw("Open this URL to sign in:"));
                    lines.push(Line::styled(
                        p.url.clone(),
                        Style::default().fg(Color::Blue).underlined(),
                    ));
                }
            }
            lines.push(Line::raw(""));
            if p.needs_code {
                lines.push(Line::raw(
                    "Paste the code it shows (or the URL the browser lands on):",
                ));
                lines.push(Line::from(vec![
                    Span::styled(format!("> {}", l.code), bold),
                    Span::styled("▏", Style::default().fg(Color::Cyan)),
                ]));
            } else if let Some(r) = &p.redirect_uri {
                lines.push(Line::styled(
                    format!("waiting for the browser to come back to {r} …"),
                    Style::default().fg(Color::DarkGray),
                ));
            } else {
                lines.push(Line::styled(
                    "waiting for the approval …",
                    Style::default().fg(Color::DarkGray),
                ));
            }
            lines.push(Line::styled(
                format!("expires {}", countdown(p.expires_at, app.now)),
                Style::default().fg(Color::DarkGray),
            ));
        }
    }
    match (l.state.as_str(), &l.error) {
        (_, Some(e)) => lines.push(Line::styled(
            format!("✗ {e}"),
            Style::default().fg(Color::Red),
        )),
        ("exchanging", _) => lines.push(Line::styled(
            "exchanging the code…",
            Style::default().fg(Color::Cyan),
        )),
        ("cancelled", _) => lines.push(Line::styled(
            "cancelled",
            Style::default().fg(Color::Yellow),
        )),
        _ => {}
    }
    lines.push(Line::styled(
        "^O opens it in a browser · ^Y copies it (OSC 52) · Esc closes (and gives a pending login up)",
        Style::default().fg(Color::DarkGray),
    ));
    // Full width and no side borders: a long URL wraps onto whole lines, with nothing of
    // the frame inside it when it is selected and copied.
    let block = Block::new()
        .borders(ratatui::widgets::Borders::TOP | ratatui::widgets::Borders::BOTTOM)
        .border_style(Style::default().fg(Color::Cyan))
        .title(" log in ");
    let para = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(block);
    let full = f.area();
    let h = (para.line_count(full.width) as u16).min(full.height);
    let area = Rect {
        x: 0,
        y: full.y + (full.height - h) / 2,
        width: full.width,
        height: h,
    };
    f.render_widget(Clear, area);
    f.render_widget(para, area);
}
