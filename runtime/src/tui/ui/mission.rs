//! One mission, live: its events as lines, the streaming answer, the thinking folded.

use super::*;

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
                assistant(&mut lines, content, expanded)
            }
            MissionEvent::ToolResult {
                outcome,
                output,
                duration_ms,
                ..
            } => tool_result(&mut lines, *outcome, output, *duration_ms, expanded),
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
            MissionEvent::MessageQueued { text, now } => lines.push(Line::styled(
                format!(
                    "⧗ queued{}: {text}",
                    if *now { " (now)" } else { " for the next turn" }
                ),
                Style::default().fg(Color::Yellow),
            )),
            MissionEvent::Forked { parent, parent_seq } => lines.push(Line::styled(
                format!("⑂ forked from mission {parent} at event {parent_seq}"),
                Style::default().fg(Color::Magenta),
            )),
            MissionEvent::Unreadable { error } => lines.push(Line::styled(
                format!("? unreadable event: {error}"),
                Style::default().fg(Color::Red),
            )),
            e @ (MissionEvent::Notice { .. }
            | MissionEvent::Worktree { .. }
            | MissionEvent::NotifySet { .. }) => lines.extend(notices::event_line(e)),
            _ => {}
        }
    }
    lines
}

/// A model message: its text as Markdown, thinking folded, tool calls.
fn assistant(lines: &mut Vec<Line<'static>>, content: &[ContentBlock], expanded: bool) {
    let dim = Style::default().fg(Color::DarkGray);
    for block in content {
        match block {
            ContentBlock::Text { text } => lines.extend(markdown::render(text, "")),
            ContentBlock::Thinking { text, .. } => thinking(lines, text, expanded),
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

/// A tool's result: its mark, the first line and the time, then a few more lines (all of
/// them when `expanded`).
fn tool_result(
    lines: &mut Vec<Line<'static>>,
    outcome: ToolOutcome,
    output: &str,
    duration_ms: u64,
    expanded: bool,
) {
    let dim = Style::default().fg(Color::DarkGray);
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

/// `text` indented by `by`; a blank line stays empty (ratatui's wrapping draws a line of
/// spaces alone as two rows).
pub(super) fn indented(text: &str, by: &str, style: Style) -> Line<'static> {
    if text.trim().is_empty() {
        Line::raw("")
    } else {
        Line::styled(format!("{by}{text}"), style)
    }
}

pub(in crate::tui) fn thinking(lines: &mut Vec<Line<'static>>, text: &str, expanded: bool) {
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

pub(super) fn mission(f: &mut Frame, app: &App, area: Rect) {
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
                    " {}/{} · {} · {} turn{} · {} tokens{}{} · {}{}",
                    m.provider,
                    m.model,
                    m.transport,
                    m.turns,
                    if m.turns == 1 { "" } else { "s" },
                    tokens(m),
                    render::cost_text(m.cost_usd),
                    super::missions::budget_text(m),
                    crate::tui::app::short(&m.id),
                    notices::header_extras(m)
                ) + &m
                    .parent_id
                    .map(|p| format!(" · forked from {}", crate::tui::app::short(&p)))
                    .unwrap_or_default(),
                Style::default().fg(Color::DarkGray),
            ),
        ]),
        None => Text::raw(" loading…"),
    };
    f.render_widget(Paragraph::new(header), head);
    // Only the tail that can be on screen is wrapped and drawn: walking back from the end
    // until the lines fill the view plus the scroll (a line takes at least its width
    // divided by the view's, so this never takes too few).
    let live = crate::tui::live::live_lines(&app.view);
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
