//! Messages sent to a running mission (`sortie send`): stored as `message_queued` events
//! the moment they are sent, taken by the run at its next turn boundary (recorded then as
//! the `user_message` the model sees), or at once with `--now`, which cuts the current
//! answer short.
//!
//! The log is the queue: a message is pending from its `message_queued` event until a
//! `user_message` with its text follows, in order. So a message survives a crash or a stop
//! and the next run takes it first. The [`Inbox`] only orders senders against the run's end
//! (a run that completes closes it, and a message that comes later resumes the mission
//! instead) and wakes a streaming turn for `--now`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use crate::{MissionEvent, MissionId, MissionStore, StoreError, StoredEvent};

/// The most messages that may wait for one mission's next turn.
pub const MAX_QUEUED_MESSAGES: usize = 16;

/// A message waiting for the mission's next turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMessage {
    /// The sequence number of its `message_queued` event.
    pub seq: u64,
    pub text: String,
}

/// The messages of the log still waiting, oldest first.
pub fn pending_messages(events: &[StoredEvent]) -> Vec<PendingMessage> {
    let mut pending = VecDeque::new();
    for e in events {
        match &e.event {
            MissionEvent::MessageQueued { text, .. } => pending.push_back(PendingMessage {
                seq: e.seq,
                text: text.clone(),
            }),
            MissionEvent::UserMessage { text }
                if pending.front().is_some_and(|p| &p.text == text) =>
            {
                pending.pop_front();
            }
            _ => {}
        }
    }
    pending.into()
}

/// Why a message was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The run ended (or is ending): the message must resume the mission instead.
    #[error("the mission's run has ended")]
    Closed,
    #[error("mission {id} already has {max} messages waiting for its next turn; wait until it takes them")]
    Full { id: MissionId, max: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A message queued: its event, and how many wait now (itself included).
#[derive(Debug, Clone, Copy)]
pub struct Queued {
    pub seq: u64,
    pub pending: usize,
}

/// Where senders meet one run of a mission.
#[derive(Debug, Default)]
pub struct Inbox {
    /// True once the run takes no more messages. Held by a sender while it queues and by
    /// the run while it takes messages or records its end (both store writes, so an async
    /// lock).
    closed: tokio::sync::Mutex<bool>,
    interrupt: AtomicBool,
    wake: Notify,
}

impl Inbox {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `text` as a message for the mission's next turn (with `now`, the current
    /// answer is cut short for it). The event is durable before this returns.
    pub async fn queue(
        &self,
        store: &dyn MissionStore,
        id: &MissionId,
        text: String,
        now: bool,
    ) -> Result<Queued, SendError> {
        let queued = {
            let closed = self.closed.lock().await;
            if *closed {
                return Err(SendError::Closed);
            }
            let waiting = pending_messages(&store.events(id).await?).len();
            if waiting >= MAX_QUEUED_MESSAGES {
                return Err(SendError::Full {
                    id: *id,
                    max: MAX_QUEUED_MESSAGES,
                });
            }
            let stored = store
                .append(id, MissionEvent::MessageQueued { text, now })
                .await?;
            // Set with the message, under the lock the run takes messages under: a run
            // that took the message has also seen (and cleared) the request.
            if now {
                self.interrupt.store(true, Ordering::SeqCst);
            }
            Queued {
                seq: stored.seq,
                pending: waiting + 1,
            }
        };
        if now {
            self.wake.notify_one();
        }
        store.flush_mission(id).await?;
        Ok(queued)
    }

    /// Holds senders off until the guard is dropped; setting it to true closes the inbox
    /// (the run takes nothing more: a later message resumes the mission instead).
    pub(crate) async fn hold(&self) -> tokio::sync::MutexGuard<'_, bool> {
        self.closed.lock().await
    }

    /// The `--now` request has been served.
    pub(crate) fn clear_interrupt(&self) {
        self.interrupt.store(false, Ordering::SeqCst);
    }

    /// Resolves when a `--now` message asks to cut the current answer short.
    pub(crate) async fn interrupted(&self) {
        loop {
            if self.interrupt.load(Ordering::SeqCst) {
                return;
            }
            self.wake.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seq: u64, event: MissionEvent) -> StoredEvent {
        StoredEvent {
            seq,
            at: chrono::Utc::now(),
            event,
        }
    }

    fn queued(seq: u64, text: &str) -> StoredEvent {
        at(
            seq,
            MissionEvent::MessageQueued {
                text: text.into(),
                now: false,
            },
        )
    }

    fn said(seq: u64, text: &str) -> StoredEvent {
        at(seq, MissionEvent::UserMessage { text: text.into() })
    }

    #[test]
    fn a_queued_message_waits_until_a_user_message_delivers_it_in_order() {
        let events = [said(0, "go"), queued(1, "a"), queued(2, "b"), said(3, "a")];
        assert_eq!(
            pending_messages(&events),
            vec![PendingMessage {
                seq: 2,
                text: "b".into()
            }]
        );
        let all = [said(0, "go"), queued(1, "a"), said(2, "a")];
        assert!(pending_messages(&all).is_empty());
    }

    #[tokio::test]
    async fn the_inbox_is_bounded_and_refuses_once_the_run_closed_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::Store::open(dir.path()).expect("open");
        let id = store
            .create_mission(crate::MissionSpec::for_tests("go"))
            .expect("mission")
            .id;
        let inbox = Inbox::new();
        for n in 1..=MAX_QUEUED_MESSAGES {
            let q = inbox
                .queue(&store, &id, format!("m{n}"), false)
                .await
                .expect("queued");
            assert_eq!(q.pending, n);
        }
        let full = inbox.queue(&store, &id, "more".into(), false).await;
        assert!(matches!(full, Err(SendError::Full { .. })), "{full:?}");
        // A run that closes its inbox refuses later messages.
        *inbox.hold().await = true;
        let closed = inbox.queue(&store, &id, "late".into(), true).await;
        assert!(matches!(closed, Err(SendError::Closed)), "{closed:?}");
        assert_eq!(
            pending_messages(&store.events(&id).expect("events")).len(),
            16
        );
    }

    #[test]
    fn a_resume_message_does_not_deliver_a_different_queued_one() {
        let events = [queued(1, "a"), said(2, "something else")];
        assert_eq!(pending_messages(&events).len(), 1);
    }
}
