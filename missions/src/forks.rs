//! Forks (`sortie fork`): a new mission whose history is another's up to one of its events,
//! on any model. The parent's log is only read.

use std::collections::HashSet;

use sortie_transports::ContentBlock;

use crate::{MissionEvent, MissionId, StoredEvent};

/// Why a mission cannot be forked at an event.
#[derive(Debug, thiserror::Error)]
pub enum ForkError {
    #[error("mission {id} has no event {at}: its events are 0 to {last} (see `sortie show {id}`)")]
    NoSuchEvent { id: MissionId, at: u64, last: u64 },
    #[error("event {at} of mission {id} is in the middle of a tool call: `{name}` was called at event {called}{after}; fork at {before} (before the call){or_after}")]
    MidToolCall {
        id: MissionId,
        at: u64,
        name: String,
        called: u64,
        before: u64,
        after: String,
        or_after: String,
    },
}

/// The events a fork of `parent` at event `at` starts with after its `created`: the
/// conversation up to there (user messages, answers, tool results, compressions) and what
/// shapes it (the MCP servers chosen, instructions turned off, the sandbox). The parent's
/// status, turns, usage, title and CLI session stay its own, and messages still waiting in
/// its queue are not history yet.
pub fn fork_events(
    id: &MissionId,
    events: &[StoredEvent],
    at: u64,
) -> Result<Vec<MissionEvent>, ForkError> {
    let last = events.last().map_or(0, |e| e.seq);
    let Some(end) = events.iter().position(|e| e.seq == at) else {
        return Err(ForkError::NoSuchEvent { id: *id, at, last });
    };
    let cut = &events[..=end];
    check_tool_calls(id, events, cut, at)?;
    Ok(cut
        .iter()
        .filter(|e| {
            matches!(
                e.event,
                MissionEvent::UserMessage { .. }
                    | MissionEvent::AssistantMessage { .. }
                    | MissionEvent::ToolResult { .. }
                    | MissionEvent::HistoryReplaced { .. }
                    | MissionEvent::McpSelected { .. }
                    | MissionEvent::SandboxChanged { .. }
                    | MissionEvent::Instructions { enabled: false, .. }
            )
        })
        .map(|e| e.event.clone())
        .collect())
}

/// Refuses a cut between a tool call and its result, naming the nearest events to fork at.
fn check_tool_calls(
    id: &MissionId,
    events: &[StoredEvent],
    cut: &[StoredEvent],
    at: u64,
) -> Result<(), ForkError> {
    let Some((called, content)) = cut.iter().rev().find_map(|e| match &e.event {
        MissionEvent::AssistantMessage { content, .. } => Some((e.seq, content)),
        _ => None,
    }) else {
        return Ok(());
    };
    let results_of = |within: &[StoredEvent]| -> Vec<(u64, String)> {
        within
            .iter()
            .filter(|e| e.seq > called)
            .filter_map(|e| match &e.event {
                MissionEvent::ToolResult { call_id, .. } => Some((e.seq, call_id.clone())),
                _ => None,
            })
            .collect()
    };
    let answered: HashSet<String> = results_of(cut).into_iter().map(|(_, c)| c).collect();
    let open: Vec<(&String, &String)> = content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::ToolUse { id, name, .. } if !answered.contains(id) => Some((id, name)),
            _ => None,
        })
        .collect();
    let Some((_, name)) = open.first() else {
        return Ok(());
    };
    // The results recorded after the cut (the first answer or assistant message ends them).
    let later = results_of(events);
    let last_result = content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::ToolUse { id, .. } => later.iter().find(|(_, c)| c == id).map(|r| r.0),
            _ => None,
        })
        .max();
    let (after, or_after) = match last_result {
        Some(seq) => (
            format!(" and its results end at event {seq}"),
            format!(" or at {seq} (after its results)"),
        ),
        None => (" and its result was never recorded".into(), String::new()),
    };
    Err(ForkError::MidToolCall {
        id: *id,
        at,
        name: name.to_string(),
        called,
        before: called.saturating_sub(1),
        after,
        or_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ToolOutcome;
    use sortie_transports::StopReason;

    fn at(seq: u64, event: MissionEvent) -> StoredEvent {
        StoredEvent {
            seq,
            at: chrono::Utc::now(),
            event,
        }
    }

    fn log() -> Vec<StoredEvent> {
        vec![
            at(0, MissionEvent::UserMessage { text: "go".into() }),
            at(
                1,
                MissionEvent::AssistantMessage {
                    turn: 1,
                    content: vec![ContentBlock::ToolUse {
                        id: "c1".into(),
                        name: "list_dir".into(),
                        arguments: "{}".into(),
                    }],
                    stop_reason: StopReason::ToolUse,
                },
            ),
            at(
                2,
                MissionEvent::Warning {
                    message: "w".into(),
                },
            ),
            at(
                3,
                MissionEvent::ToolResult {
                    turn: 1,
                    call_id: "c1".into(),
                    name: "list_dir".into(),
                    outcome: ToolOutcome::Ok,
                    output: "a".into(),
                    duration_ms: 1,
                    images: Vec::new(),
                },
            ),
        ]
    }

    #[test]
    fn a_cut_between_a_call_and_its_result_names_the_events_around_it() {
        let id = MissionId::new();
        let err = fork_events(&id, &log(), 2).unwrap_err().to_string();
        assert!(err.contains("middle of a tool call"), "{err}");
        assert!(err.contains("fork at 0 (before the call) or at 3"), "{err}");
        assert_eq!(fork_events(&id, &log(), 3).expect("after").len(), 3);
        assert_eq!(fork_events(&id, &log(), 0).expect("before").len(), 1);
    }

    #[test]
    fn an_event_past_the_end_is_refused() {
        let id = MissionId::new();
        let err = fork_events(&id, &log(), 9).unwrap_err().to_string();
        assert!(
            err.contains("has no event 9: its events are 0 to 3"),
            "{err}"
        );
    }
}
