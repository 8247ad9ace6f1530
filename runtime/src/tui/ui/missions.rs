//! The missions screen: the list, sorted and filtered, and the selected one's details.

use super::*;

pub(super) fn missions(f: &mut Frame, app: &App, area: Rect) {
    let [list, detail] = Layout::vertical([Constraint::Min(3), Constraint::Length(4)]).areas(area);
    // Narrow terminals show the model alone; the selected row's details say the rest.
    let wide = area.width >= 110;
    let visible = app.visible();
    let rows = rows(app, &visible, wide);
    let empty = rows.is_empty();
    let title = title(app, visible.len());
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
    details(f, detail, selected(app, &visible));
}

/// One row per mission shown; `wide`: with the provider and the whole transport name.
fn rows(app: &App, visible: &[&Mission], wide: bool) -> Vec<Row<'static>> {
    visible
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
        .collect()
}

/// The list's title: how many, the filter, the sort.
fn title(app: &App, shown: usize) -> String {
    match app.filter.is_empty() {
        true => format!(
            " Missions ({}) · sorted by {} ",
            app.missions.len(),
            app.sort.name()
        ),
        false => format!(
            " Missions matching “{}” ({} of {}) · sorted by {} ",
            app.filter,
            shown,
            app.missions.len(),
            app.sort.name()
        ),
    }
}

/// The selected mission in full, under the list.
fn selected(app: &App, visible: &[&Mission]) -> Vec<Line<'static>> {
    match visible.get(app.selected) {
        Some(m) => vec![
            Line::from(sandbox::marked(
                m.sandbox.unwrap_or(app.sandbox),
                vec![
                    Span::styled(mission_name(m), Style::default().bold()),
                    Span::styled(
                        format!("  {}", crate::tui::app::short(&m.id)),
                        Style::default().fg(Color::DarkGray),
                    ),
                ],
            )),
            Line::styled(
                format!(
                    "{}/{} · {} · {} turn{} · {}{}{} · {} ago · {}",
                    m.provider,
                    m.model,
                    m.transport,
                    m.turns,
                    if m.turns == 1 { "" } else { "s" },
                    render::usage_text(&m.usage),
                    render::cost_text(m.cost_usd),
                    budget_text(m),
                    render::age(m.created_at, app.now),
                    m.cwd.display()
                ) + &m
                    .daemon
                    .as_ref()
                    .map(|d| format!(" · on daemon {d}"))
                    .unwrap_or_default(),
                Style::default().fg(Color::DarkGray),
            ),
        ],
        None => vec![Line::styled(
            "n starts a mission in the current directory",
            Style::default().fg(Color::DarkGray),
        )],
    }
}

/// ` · budget $0.12/$2.00 · ...` for a mission with a budget, else nothing.
pub(super) fn budget_text(m: &Mission) -> String {
    match crate::text::spend_text(m) {
        spend if spend.is_empty() => String::new(),
        spend => format!(" · budget {spend}"),
    }
}
