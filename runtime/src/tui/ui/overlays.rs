//! The boxes drawn over a screen: text input, the model picker, a login.

use super::*;

pub(super) fn input(f: &mut Frame, app: &App) {
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
                InputPurpose::NewMission {
                    sandbox: mode,
                    worktree,
                    ref mcp,
                } => overlay_block(&input.title)
                    .title_bottom(sandbox::choice_line(mode))
                    .title_bottom(super::mcp_choice::line(mcp, &app.mcp_servers))
                    .title_top(sandbox::worktree_line(worktree)),
                _ => overlay_block(&input.title),
            }),
        area,
    );
}

pub(super) fn picker(f: &mut Frame, app: &App) {
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

/// What a login asks of the person: where to go, the code to enter or paste, how long.
fn prompt_lines(
    lines: &mut Vec<Line<'static>>,
    p: &crate::api::LoginPrompt,
    code: &str,
    now: DateTime<Utc>,
) {
    let bold = Style::default().bold();
    lines.push(Line::from(vec![
        Span::raw("Provider: "),
        Span::styled(p.provider.clone(), bold),
        Span::raw(format!("   flow: {}", p.flow)),
    ]));
    lines.push(Line::raw(""));
    let link = Style::default().fg(Color::Blue).underlined();
    match p.user_code.as_deref() {
        Some(user_code) => {
            lines.push(Line::raw("Open this page on any device:"));
            lines.push(Line::styled(p.url.clone(), link));
            lines.push(Line::raw(""));
            lines.push(Line::from(vec![
                Span::raw("and enter the code  "),
                Span::styled(
                    format!(" {user_code} "),
                    Style::default().fg(Color::Black).bg(Color::Yellow).bold(),
                ),
            ]));
        }
        None => {
            lines.push(Line::raw("Open this URL to sign in:"));
            lines.push(Line::styled(p.url.clone(), link));
        }
    }
    lines.push(Line::raw(""));
    let dim = Style::default().fg(Color::DarkGray);
    if p.needs_code {
        lines.push(Line::raw(
            "Paste the code it shows (or the URL the browser lands on):",
        ));
        lines.push(Line::from(vec![
            Span::styled(format!("> {code}"), bold),
            Span::styled("▏", Style::default().fg(Color::Cyan)),
        ]));
    } else if let Some(r) = &p.redirect_uri {
        lines.push(Line::styled(
            format!("waiting for the browser to come back to {r} …"),
            dim,
        ));
    } else {
        lines.push(Line::styled("waiting for the approval …", dim));
    }
    lines.push(Line::styled(
        format!("expires {}", countdown(p.expires_at, now)),
        dim,
    ));
}

pub(super) fn login(f: &mut Frame, app: &App) {
    let Some(Overlay::Login(l)) = &app.overlay else {
        return;
    };
    let mut lines: Vec<Line> = Vec::new();
    match &l.prompt {
        None => lines.push(Line::raw("starting the login…")),
        Some(p) => prompt_lines(&mut lines, p, &l.code, app.now),
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
