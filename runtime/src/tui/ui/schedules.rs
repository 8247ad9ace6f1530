//! The schedules screen: next runs as countdowns, and the last run.

use super::*;
use serde_json::Value;

pub(super) fn schedules(f: &mut Frame, app: &App, area: Rect) {
    let rows: Vec<Row> = app.schedules.iter().map(|s| row(app, s)).collect();
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
    details(f, detail, selected(app));
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

/// One schedule's row: id, name, timing, the next run as a countdown, the last run.
fn row(app: &App, s: &Value) -> Row<'static> {
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
}

/// The selected schedule in full, under the list.
fn selected(app: &App) -> Vec<Line<'static>> {
    match app.schedules.get(app.schedule_selected) {
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
    }
}
