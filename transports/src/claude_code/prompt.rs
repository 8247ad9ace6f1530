//! What a Claude Code run is asked: the pending user message, or, for a fresh session that
//! continues a conversation, the conversation rebuilt as plain text.

use crate::{ContentBlock, Message, Role};

/// Longest tool output kept per call in a rebuilt transcript.
const MAX_TOOL_OUTPUT: usize = 2_000;

/// What a resumed session is told when nothing new was said (a retry after a failure).
pub const CONTINUE: &str =
    "Continue the task from where you stopped; the previous attempt was interrupted.";

/// The user text after the last assistant message: what the next run answers.
pub fn pending(messages: &[Message]) -> Option<String> {
    let start = messages
        .iter()
        .rposition(|m| m.role == Role::Assistant)
        .map_or(0, |i| i + 1);
    let text: Vec<String> = messages[start..]
        .iter()
        .filter(|m| m.role == Role::User)
        .map(Message::text)
        .filter(|t| !t.trim().is_empty())
        .collect();
    (!text.is_empty()).then(|| text.join("\n\n"))
}

/// The prompt of a run: for a resumed session only what is new; for a fresh session the
/// whole conversation as text when there was one (signed thinking left out: it belongs to
/// the session that made it), then what is new.
pub fn prompt(messages: &[Message], resume: bool) -> String {
    let pending = pending(messages);
    let start = messages
        .iter()
        .rposition(|m| m.role == Role::Assistant)
        .map_or(0, |i| i + 1);
    let earlier = &messages[..start];
    if resume || earlier.is_empty() {
        return pending.unwrap_or_else(|| CONTINUE.to_string());
    }
    let mut out = String::from(
        "This conversation continues an earlier session that cannot be resumed. \
         Its transcript follows; the tools it mentions already ran and their effects are in place.\n\n\
         <transcript>\n",
    );
    for message in earlier {
        render(message, &mut out);
    }
    // Tool results after the last assistant message belong to the transcript too.
    for message in &messages[start..] {
        if message
            .content
            .iter()
            .any(|b| matches!(b, ContentBlock::ToolResult { .. }))
        {
            render(message, &mut out);
        }
    }
    out.push_str("</transcript>\n\n");
    match pending {
        Some(text) => out.push_str(&text),
        None => out.push_str(CONTINUE),
    }
    out
}

fn render(message: &Message, out: &mut String) {
    let who = match message.role {
        Role::User => "User",
        Role::Assistant => "Assistant",
    };
    for block in &message.content {
        match block {
            ContentBlock::Text { text } if !text.trim().is_empty() => {
                out.push_str(&format!("[{who}]\n{}\n\n", text.trim_end()));
            }
            ContentBlock::ToolUse {
                name, arguments, ..
            } => out.push_str(&format!("[{who} called {name}] {arguments}\n\n")),
            ContentBlock::ToolResult {
                content, is_error, ..
            } => {
                let mut shown: String = content.chars().take(MAX_TOOL_OUTPUT).collect();
                if shown.len() < content.len() {
                    shown.push('…');
                }
                let label = if *is_error {
                    "Tool error"
                } else {
                    "Tool result"
                };
                out.push_str(&format!("[{label}]\n{}\n\n", shown.trim_end()));
            }
            // Thinking is signed by the session (and model) that made it.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assistant(content: Vec<ContentBlock>) -> Message {
        Message {
            role: Role::Assistant,
            content,
        }
    }

    #[test]
    fn a_resumed_session_gets_only_the_new_message() {
        let history = vec![
            Message::user("first"),
            assistant(vec![ContentBlock::Text { text: "ok".into() }]),
            Message::user("second"),
        ];
        assert_eq!(prompt(&history, true), "second");
        assert_eq!(prompt(&history[..1], false), "first");
    }

    #[test]
    fn a_fresh_session_gets_the_transcript_without_thinking() {
        let history = vec![
            Message::user("remember PAPAYA"),
            assistant(vec![
                ContentBlock::Thinking {
                    text: "secret chain".into(),
                    signature: Some("sig".into()),
                    model: Some("m1".into()),
                },
                ContentBlock::ToolUse {
                    id: "t1".into(),
                    name: "Bash".into(),
                    arguments: r#"{"command":"ls"}"#.into(),
                },
            ]),
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    call_id: "t1".into(),
                    content: "a.txt".into(),
                    is_error: false,
                    images: Vec::new(),
                }],
            },
            assistant(vec![ContentBlock::Text {
                text: "noted".into(),
            }]),
            Message::user("what was the word?"),
        ];
        let p = prompt(&history, false);
        assert!(p.contains("[User]\nremember PAPAYA"), "{p}");
        assert!(
            p.contains(r#"[Assistant called Bash] {"command":"ls"}"#),
            "{p}"
        );
        assert!(p.contains("[Tool result]\na.txt"), "{p}");
        assert!(p.contains("[Assistant]\nnoted"), "{p}");
        assert!(p.ends_with("</transcript>\n\nwhat was the word?"), "{p}");
        assert!(!p.contains("secret chain") && !p.contains("sig"), "{p}");
    }

    #[test]
    fn nothing_new_asks_to_continue() {
        let history = vec![
            Message::user("go"),
            assistant(vec![ContentBlock::Text {
                text: "done".into(),
            }]),
        ];
        assert_eq!(prompt(&history, true), CONTINUE);
        assert!(prompt(&history, false).ends_with(CONTINUE));
    }
}
