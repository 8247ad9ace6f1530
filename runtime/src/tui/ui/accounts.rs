//! The accounts screen: every credential, its status and what to do next.

use super::*;

pub(super) fn credential_color(s: &CredentialStatus) -> Color {
    match s {
        CredentialStatus::Active => Color::Green,
        CredentialStatus::CoolingDown { .. } => Color::Yellow,
        CredentialStatus::NeedsReauth { .. } | CredentialStatus::Disconnected => Color::Magenta,
        CredentialStatus::EntitlementBlocked { .. } => Color::Red,
    }
}

pub(super) fn accounts(f: &mut Frame, app: &App, area: Rect) {
    let mut rows: Vec<Row> = app
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
    rows.extend(app.mcp_logins.iter().map(|m| {
        Row::new(vec![
            Cell::from(m.provider.clone()),
            Cell::from("oauth"),
            Cell::from("needs login").style(Style::default().fg(Color::Magenta)),
            Cell::from("-"),
            Cell::from("MCP server"),
            Cell::from(format!("sortie auth login {}", m.provider)),
        ])
    }));
    let empty = rows.is_empty();
    let table =
        Table::new(
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
        .block(Block::bordered().border_type(BorderType::Rounded).title(
            match app.mcp_logins.len() {
                0 => format!(" Accounts ({}) ", app.accounts.len()),
                n => format!(
                    " Accounts ({}) · {n} MCP server{} to log in to ",
                    app.accounts.len(),
                    if n == 1 { "" } else { "s" }
                ),
            },
        ))
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
        None => match app
            .account_selected
            .checked_sub(app.accounts.len())
            .and_then(|i| app.mcp_logins.get(i))
        {
            Some(m) => vec![
                Line::from(vec![
                    Span::styled(format!("MCP server {} ", m.server), Style::default().bold()),
                    Span::styled(
                        format!("needs login ({})", m.why),
                        Style::default().fg(Color::Magenta),
                    ),
                ]),
                Line::styled(
                    format!(
                        "next: sortie auth login {} · r runs the login here",
                        m.provider
                    ),
                    Style::default().fg(Color::DarkGray),
                ),
            ],
            None => vec![Line::styled(
                "a logs in to a provider",
                Style::default().fg(Color::DarkGray),
            )],
        },
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
