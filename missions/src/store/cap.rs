//! The most one event may hold. A 30 MB model answer or tool output stored whole makes
//! every reader of the log (the API, `show`, a resume) carry it; past the cap, the event's
//! long text (answer text, thinking, tool output, a user message) is cut, with a note that
//! says how much was left out. Tool-call arguments and signed reasoning are never cut:
//! they must replay exactly.

use std::sync::atomic::{AtomicUsize, Ordering};

use sortie_transports::ContentBlock;

use super::Store;
use crate::{MissionEvent, StoredEvent};

/// The default cap: 1 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1024 * 1024;

static MAX_EVENT_BYTES: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_EVENT_BYTES);

impl Store {
    /// Sets the most one stored event may hold (at least 4 KiB).
    pub fn set_max_event_bytes(&self, max: usize) {
        set_max_event_bytes(max);
    }
}

/// Sets the most one stored event may hold (at least 4 KiB), in every store of the process.
pub fn set_max_event_bytes(max: usize) {
    MAX_EVENT_BYTES.store(max.max(4096), Ordering::SeqCst);
}

/// Cuts `text` to about `keep` bytes (on a character boundary), with a note.
fn cut(text: &mut String, keep: usize) {
    if text.len() <= keep {
        return;
    }
    let total = text.len();
    text.truncate(sortie_transports::text::head(text, keep).len());
    text.push_str(&format!(
        "\n[… cut by sortie: this was {total} bytes; one stored event holds at most {} bytes ([daemon.limits] max_event_bytes)]",
        MAX_EVENT_BYTES.load(Ordering::SeqCst)
    ));
}

/// The texts of an event that may be cut.
fn texts(event: &mut MissionEvent) -> Vec<&mut String> {
    match event {
        MissionEvent::UserMessage { text } => vec![text],
        MissionEvent::ToolResult { output, .. } => vec![output],
        MissionEvent::Warning { message } | MissionEvent::Error { message, .. } => vec![message],
        MissionEvent::AssistantMessage { content, .. } => content
            .iter_mut()
            .filter_map(|b| match b {
                ContentBlock::Text { text } => Some(text),
                ContentBlock::Thinking {
                    text,
                    signature: None,
                    ..
                } => Some(text),
                ContentBlock::ToolResult { content, .. } => Some(content),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The event's bytes and the event, cut to the cap when over it.
pub(super) fn capped(value: Vec<u8>, mut stored: StoredEvent) -> (Vec<u8>, StoredEvent) {
    let max = MAX_EVENT_BYTES.load(Ordering::SeqCst);
    if value.len() <= max {
        return (value, stored);
    }
    let mut fields = texts(&mut stored.event);
    if fields.is_empty() {
        return (value, stored);
    }
    // Each text gets an equal share of what the cap leaves after the rest of the event.
    let texts_len: usize = fields.iter().map(|t| t.len()).sum();
    let rest = value.len().saturating_sub(texts_len);
    let share = max.saturating_sub(rest + 512) / fields.len();
    for t in fields.iter_mut() {
        cut(t, share);
    }
    match serde_json::to_vec(&stored) {
        Ok(v) => (v, stored),
        Err(_) => (value, stored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_answer_is_cut_with_a_note_and_a_small_one_kept() {
        let event = |text: String| StoredEvent {
            seq: 0,
            at: chrono::Utc::now(),
            event: MissionEvent::AssistantMessage {
                turn: 1,
                content: vec![
                    ContentBlock::Text { text },
                    ContentBlock::ToolUse {
                        id: "c".into(),
                        name: "shell".into(),
                        arguments: "{\"command\":\"ls\"}".into(),
                    },
                ],
                stop_reason: sortie_transports::StopReason::ToolUse,
            },
        };
        let big = event("x".repeat(3 * DEFAULT_MAX_EVENT_BYTES));
        let raw = serde_json::to_vec(&big).expect("json");
        let (bytes, cut_event) = capped(raw, big);
        assert!(bytes.len() <= DEFAULT_MAX_EVENT_BYTES, "{}", bytes.len());
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("cut by sortie: this was 3145728 bytes"));
        assert!(
            text.contains("{\\\"command\\\":\\\"ls\\\"}"),
            "tool arguments kept"
        );
        assert_eq!(
            serde_json::from_slice::<StoredEvent>(&bytes).ok(),
            Some(cut_event)
        );

        let small = event("hello".into());
        let raw = serde_json::to_vec(&small).expect("json");
        let (bytes, _) = capped(raw.clone(), small);
        assert_eq!(bytes, raw);
    }
}
