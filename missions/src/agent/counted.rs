//! What the provider counted for the last answer: the compression threshold's measure once
//! there is one, instead of a guess from the characters of the history.

use sortie_transports::{Message, Role, Usage};

use crate::auxiliary::estimate_tokens;
use crate::{MissionEvent, StoredEvent};

/// The tokens of the last request and its answer, and how long the history was then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counted {
    tokens: u64,
    history_len: usize,
}

impl Counted {
    /// The last answer's counts: the whole prompt (fresh input, cache reads and writes)
    /// and the answer, with the history as long as it is once the answer is in it.
    pub(super) fn new(usage: &Usage, history_len: usize) -> Self {
        Self {
            tokens: usage.prompt_tokens() + usage.output_tokens,
            history_len,
        }
    }

    /// The history's size now: the counted tokens plus an estimate of what came after the
    /// answer (tool results, a next message).
    pub(super) fn tokens_now(&self, history: &[Message]) -> u64 {
        let after = history.get(self.history_len..).unwrap_or_default();
        self.tokens + estimate_tokens(after)
    }

    /// From a mission's log (a resumed run): the last usage recorded, unless the history
    /// was replaced since; the history counted up to its last answer.
    pub(super) fn from_log(events: &[StoredEvent], history: &[Message]) -> Option<Self> {
        let mut last = None;
        for e in events {
            match &e.event {
                MissionEvent::Usage { usage, .. } => last = Some(*usage),
                MissionEvent::HistoryReplaced { .. } => last = None,
                _ => {}
            }
        }
        let answered = history.iter().rposition(|m| m.role == Role::Assistant)? + 1;
        last.map(|usage| Self::new(&usage, answered))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_reads_count_and_what_came_after_is_estimated() {
        let usage = Usage {
            input_tokens: 100,
            cache_read_tokens: 8_000,
            cache_write_tokens: 50,
            output_tokens: 10,
            ..Default::default()
        };
        let mut history = vec![Message::user("go")];
        let counted = Counted::new(&usage, history.len());
        assert_eq!(counted.tokens_now(&history), 8_160);
        history.push(Message::user("x".repeat(400)));
        assert_eq!(counted.tokens_now(&history), 8_260);
        assert_eq!(
            counted.tokens_now(&[]),
            8_160,
            "a shorter history is not an error"
        );
    }
}
