//! The run's side of steering (see [`crate::steering`]): at each turn boundary the messages
//! sent meanwhile join the conversation, each recorded as a `user_message` before the model
//! hears of it; a run about to complete takes them instead of completing; and a `--now`
//! message cuts the answer being streamed short, keeping what came as a partial answer.

use std::sync::Arc;

use sortie_transports::{Completion, ContentBlock, Message, StopReason};

use super::run::RunState;
use super::{MissionRunner, RunError};
use crate::steering::Inbox;
use crate::MissionEvent;

impl MissionRunner {
    /// Takes the messages sent to the mission's runs through `inbox` (`sortie send`).
    pub fn with_inbox(mut self, inbox: Arc<Inbox>) -> Self {
        self.inbox = Some(inbox);
        self
    }

    /// Adds the messages waiting in the log to the conversation; true when there were some.
    pub(super) async fn take_queued(&self, run: &mut RunState<'_>) -> Result<bool, RunError> {
        match self.inbox.clone() {
            Some(inbox) => {
                let _senders_held = inbox.hold().await;
                self.deliver(run, &inbox).await
            }
            None => self.deliver(run, &Inbox::new()).await,
        }
    }

    /// At the end of a run that would complete: takes the waiting messages (true: the run
    /// goes on), else closes the inbox so that later messages resume the mission instead.
    pub(super) async fn take_queued_or_close(
        &self,
        run: &mut RunState<'_>,
    ) -> Result<bool, RunError> {
        match self.inbox.clone() {
            Some(inbox) => {
                let mut closed = inbox.hold().await;
                let took = self.deliver(run, &inbox).await?;
                if !took {
                    *closed = true;
                }
                Ok(took)
            }
            None => self.deliver(run, &Inbox::new()).await,
        }
    }

    async fn deliver(&self, run: &mut RunState<'_>, inbox: &Inbox) -> Result<bool, RunError> {
        for stored in self.store.events_from(&run.id, run.scanned).await? {
            run.scanned = stored.seq + 1;
            if let MissionEvent::MessageQueued { text, .. } = stored.event {
                run.queued.push_back(text);
            }
        }
        if run.queued.is_empty() {
            return Ok(false);
        }
        while let Some(text) = run.queued.pop_front() {
            let stored = self
                .record(&run.id, MissionEvent::UserMessage { text: text.clone() })
                .await?;
            run.scanned = run.scanned.max(stored.seq + 1);
            run.history.push(Message::user(text));
        }
        inbox.clear_interrupt();
        Ok(true)
    }

    /// Resolves when a `--now` message asks to cut the current answer short (never without
    /// an inbox).
    pub(super) async fn interrupted(&self) {
        match &self.inbox {
            Some(inbox) => inbox.interrupted().await,
            None => std::future::pending().await,
        }
    }
}

/// The answer cut short by `--now`: the text that came (thinking and half-made tool calls
/// are dropped: neither can be sent back unfinished), marked `interrupted`.
pub(super) fn partial_answer(content: Vec<ContentBlock>) -> Completion {
    let text: String = content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    Completion {
        content: if text.is_empty() {
            Vec::new()
        } else {
            vec![ContentBlock::Text { text }]
        },
        stop: StopReason::Interrupted,
        usage: None,
        cost_usd: None,
        warnings: Vec::new(),
    }
}
