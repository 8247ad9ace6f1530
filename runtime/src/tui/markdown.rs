//! Assistant text as terminal lines: headings, emphasis, inline and fenced code, lists,
//! quotes, links and rules. Wrapping is left to the paragraph that shows the lines.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

/// Renders Markdown to lines, each prefixed by `indent`.
pub fn render(text: &str, indent: &str) -> Vec<Line<'static>> {
    let mut r = Renderer {
        lines: Vec::new(),
        current: Vec::new(),
        styles: vec![Style::default()],
        lists: Vec::new(),
        quote: 0,
        in_code: false,
        indent: indent.to_string(),
        pending_item: None,
    };
    let options = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES;
    for event in Parser::new_ext(text, options) {
        r.event(event);
    }
    r.flush();
    while r
        .lines
        .last()
        .is_some_and(|l| l.spans.iter().all(|s| s.content.trim().is_empty()))
    {
        r.lines.pop();
    }
    r.lines
}

struct Renderer {
    lines: Vec<Line<'static>>,
    current: Vec<Span<'static>>,
    styles: Vec<Style>,
    /// Open lists: the next number of an ordered one, None for bullets.
    lists: Vec<Option<u64>>,
    quote: usize,
    in_code: bool,
    indent: String,
    /// The marker of a list item whose first line has not started yet.
    pending_item: Option<String>,
}

impl Renderer {
    fn style(&self) -> Style {
        *self.styles.last().unwrap_or(&Style::default())
    }

    fn push_style(&mut self, f: impl FnOnce(Style) -> Style) {
        let next = f(self.style());
        self.styles.push(next);
    }

    fn prefix(&mut self) -> Vec<Span<'static>> {
        let mut spans = vec![Span::raw(self.indent.clone())];
        if self.quote > 0 {
            spans.push(Span::styled(
                "│ ".repeat(self.quote),
                Style::default().fg(Color::DarkGray),
            ));
        }
        let depth = self.lists.len().saturating_sub(1);
        match self.pending_item.take() {
            Some(marker) => {
                spans.push(Span::raw("  ".repeat(depth)));
                spans.push(Span::styled(marker, Style::default().fg(Color::Cyan)));
            }
            None if !self.lists.is_empty() => spans.push(Span::raw("  ".repeat(depth + 1))),
            None => {}
        }
        spans
    }

    fn text(&mut self, text: &str) {
        if self.current.is_empty() {
            self.current = self.prefix();
        }
        self.current
            .push(Span::styled(text.to_string(), self.style()));
    }

    fn flush(&mut self) {
        if !self.current.is_empty() {
            self.lines
                .push(Line::from(std::mem::take(&mut self.current)));
        }
    }

    fn blank(&mut self) {
        self.flush();
        if self
            .lines
            .last()
            .is_some_and(|l| !l.spans.iter().all(|s| s.content.trim().is_empty()))
        {
            // Empty, not the indent alone: a line of spaces wraps into two rows.
            self.lines.push(Line::raw(""));
        }
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) if self.in_code => {
                for line in t.lines() {
                    let mut spans = self.prefix();
                    spans.push(Span::styled(
                        format!("  {line}"),
                        Style::default().fg(Color::Yellow),
                    ));
                    self.lines.push(Line::from(spans));
                }
            }
            Event::Text(t) => self.text(&t),
            Event::Code(c) => {
                if self.current.is_empty() {
                    self.current = self.prefix();
                }
                self.current.push(Span::styled(
                    c.to_string(),
                    Style::default().fg(Color::Yellow),
                ));
            }
            Event::SoftBreak => self.text(" "),
            Event::HardBreak => self.flush(),
            Event::Rule => {
                self.flush();
                let mut spans = self.prefix();
                spans.push(Span::styled(
                    "─".repeat(24),
                    Style::default().fg(Color::DarkGray),
                ));
                self.lines.push(Line::from(spans));
            }
            Event::TaskListMarker(done) => self.text(if done { "[x] " } else { "[ ] " }),
            Event::Html(h) | Event::InlineHtml(h) => self.text(&h),
            _ => {}
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => {}
            Tag::Heading { level, .. } => {
                self.blank();
                let color = match level {
                    HeadingLevel::H1 => Color::Magenta,
                    HeadingLevel::H2 => Color::Cyan,
                    _ => Color::Blue,
                };
                self.push_style(|s| s.fg(color).add_modifier(Modifier::BOLD));
            }
            Tag::BlockQuote(_) => {
                self.flush();
                self.quote += 1;
                self.push_style(|s| s.add_modifier(Modifier::ITALIC));
            }
            Tag::CodeBlock(kind) => {
                self.blank();
                if let CodeBlockKind::Fenced(lang) = kind {
                    if !lang.is_empty() {
                        let mut spans = self.prefix();
                        spans.push(Span::styled(
                            format!("  {lang}"),
                            Style::default().fg(Color::DarkGray),
                        ));
                        self.lines.push(Line::from(spans));
                    }
                }
                self.in_code = true;
            }
            Tag::List(start) => {
                if self.lists.is_empty() {
                    self.blank();
                } else {
                    self.flush();
                }
                self.lists.push(start);
            }
            Tag::Item => {
                self.flush();
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ => "• ".to_string(),
                };
                self.pending_item = Some(marker);
            }
            Tag::Emphasis => self.push_style(|s| s.add_modifier(Modifier::ITALIC)),
            Tag::Strong => self.push_style(|s| s.add_modifier(Modifier::BOLD)),
            Tag::Strikethrough => self.push_style(|s| s.add_modifier(Modifier::CROSSED_OUT)),
            Tag::Link { .. } => {
                self.push_style(|s| s.fg(Color::Blue).add_modifier(Modifier::UNDERLINED))
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => self.blank(),
            TagEnd::Heading(_) => {
                self.styles.pop();
                self.blank();
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.quote = self.quote.saturating_sub(1);
                self.styles.pop();
            }
            TagEnd::CodeBlock => {
                self.in_code = false;
                self.blank();
            }
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
                if self.lists.is_empty() {
                    self.blank();
                }
            }
            TagEnd::Item => self.flush(),
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link => {
                self.styles.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Line<'_>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn headings_lists_code_and_emphasis() {
        let md = "# Title\n\nSome *soft* and **bold** with `code`.\n\n- one\n- two\n  1. nested\n\n```rust\nfn main() {}\n```\n\n> quoted\n";
        let lines = render(md, "");
        assert_eq!(
            plain(&lines),
            [
                "Title",
                "",
                "Some soft and bold with code.",
                "",
                "• one",
                "• two",
                "  1. nested",
                "",
                "  rust",
                "  fn main() {}",
                "",
                "│ quoted",
            ]
        );
        let bold = lines[2]
            .spans
            .iter()
            .find(|s| s.content == "bold")
            .expect("bold span");
        assert!(bold.style.add_modifier.contains(Modifier::BOLD));
        let code = lines[2]
            .spans
            .iter()
            .find(|s| s.content == "code")
            .expect("code span");
        assert_eq!(code.style.fg, Some(Color::Yellow));
    }

    #[test]
    fn plain_text_and_broken_markdown_still_show_every_word() {
        let lines = render("just words\nover two lines **unclosed", "  ");
        assert_eq!(plain(&lines), ["  just words over two lines **unclosed"]);
    }
}
