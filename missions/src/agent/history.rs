//! Rebuilds the conversation from a mission's event log.

use std::collections::HashSet;

use sortie_transports::{ContentBlock, Message, Role};

use crate::{MissionEvent, StoredEvent};

/// The conversation as the model saw it. A tool call whose result never made it to the log
/// (the process died while it ran) is answered with an error saying it was not re-run.
pub fn history_from_events(events: &[StoredEvent]) -> Vec<Message> {
    let mut history: Vec<Message> = Vec::new();
    for stored in events {
        match &stored.event {
            MissionEvent::UserMessage { text } => history.push(Message::user(text.clone())),
            MissionEvent::HistoryReplaced { messages, .. } => history = messages.clone(),
            MissionEvent::AssistantMessage { content, .. } => {
                close_open_calls(&mut history);
                history.push(Message {
                    role: Role::Assistant,
                    content: content.clone(),
                });
            }
            MissionEvent::ToolResult {
                call_id,
                output,
                outcome,
                images,
                ..
            } => {
                let block = ContentBlock::ToolResult {
                    call_id: call_id.clone(),
                    content: output.clone(),
                    is_error: *outcome != crate::ToolOutcome::Ok,
                    images: images.clone(),
                };
                push_tool_result(&mut history, block);
            }
            _ => {}
        }
    }
    close_open_calls(&mut history);
    history
}

/// Answers the tool calls of the last assistant message that have no result yet.
/// Adds a tool result to the conversation: to the user message of results that follows
/// the calls, or as a new one.
pub(crate) fn push_tool_result(history: &mut Vec<Message>, block: ContentBlock) {
    match history.last_mut() {
        Some(last)
            if last.role == Role::User
                && last
                    .content
                    .iter()
                    .all(|b| matches!(b, ContentBlock::ToolResult { .. })) =>
        {
            last.content.push(block)
        }
        _ => history.push(Message {
            role: Role::User,
            content: vec![block],
        }),
    }
}

fn close_open_calls(history: &mut Vec<Message>) {
    let Some(assistant_at) = history.iter().rposition(|m| m.role == Role::Assistant) else {
        return;
    };
    let answered: HashSet<String> = history[assistant_at + 1..]
        .iter()
        .flat_map(|m| m.content.iter())
        .filter_map(|b| match b {
            ContentBlock::ToolResult { call_id, .. } => Some(call_id.clone()),
            _ => None,
        })
        .collect();
    let missing: Vec<ContentBlock> = history[assistant_at]
        .content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::ToolUse { id, name, .. } if !answered.contains(id) => Some(ContentBlock::ToolResult {
                call_id: id.clone(),
                content: format!("the `{name}` call was interrupted before its result was recorded; it was not re-run"),
                is_error: true,
                images: Vec::new(),
            }),
            _ => None,
        })
        .collect();
    if missing.is_empty() {
        return;
    }
    match history.get_mut(assistant_at + 1) {
        Some(next) if next.role == Role::User => {
            let at = next
                .content
                .iter()
                .take_while(|b| matches!(b, ContentBlock::ToolResult { .. }))
                .count();
            next.content.splice(at..at, missing);
        }
        _ => history.insert(
            assistant_at + 1,
            Message {
                role: Role::User,
                content: missing,
            },
        ),
    }
}

/// The name of the tool call `call_id` in the conversation (the latest assistant messages
/// first).
pub(super) fn called_name(history: &[Message], call_id: &str) -> String {
    history
        .iter()
        .rev()
        .filter(|m| m.role == Role::Assistant)
        .flat_map(|m| m.content.iter())
        .find_map(|b| match b {
            ContentBlock::ToolUse { id, name, .. } if id == call_id => Some(name.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "tool".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ToolOutcome;
    use sortie_transports::StopReason;

    fn ev(seq: u64, event: MissionEvent) -> StoredEvent {
        StoredEvent {
            seq,
            at: chrono::Utc::now(),
            event,
        }
    }

    #[test]
    fn tool_results_are_grouped_after_their_assistant_turn() {
        let events = vec![
            ev(0, MissionEvent::UserMessage { text: "go".into() }),
            ev(
                1,
                MissionEvent::AssistantMessage {
                    turn: 1,
                    content: vec![
                        ContentBlock::ToolUse {
                            id: "a".into(),
                            name: "list_dir".into(),
                            arguments: "{}".into(),
                        },
                        ContentBlock::ToolUse {
                            id: "b".into(),
                            name: "shell".into(),
                            arguments: "{}".into(),
                        },
                    ],
                    stop_reason: StopReason::ToolUse,
                },
            ),
            ev(
                2,
                MissionEvent::ToolResult {
                    turn: 1,
                    call_id: "a".into(),
                    name: "list_dir".into(),
                    outcome: ToolOutcome::Ok,
                    output: "x".into(),
                    duration_ms: 1,
                    images: Vec::new(),
                },
            ),
        ];
        let history = history_from_events(&events);
        assert_eq!(history.len(), 3);
        assert_eq!(history[2].role, Role::User);
        assert_eq!(
            history[2].content.len(),
            2,
            "the unanswered call gets a result"
        );
        assert!(
            matches!(&history[2].content[1], ContentBlock::ToolResult { call_id, is_error: true, content, .. } if call_id == "b" && content.contains("not re-run"))
        );
    }
}
