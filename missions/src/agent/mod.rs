//! The turn loop: ask the model, store what it said, run the tools it called, repeat until
//! it stops calling tools or the mission runs out of turns.
//!
//! Every step is appended to the event log before it is acted on, and the loop can be
//! cancelled at any await.

mod auxiliary_steps;
mod budgets;
mod counted;
mod history;
mod instructions;
pub mod mcp;
mod run;
mod sandboxing;
mod segments;
mod settle;
mod steering;
mod stream;
mod tool_call;
mod turns;
mod update;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use sortie_transports::{ContentBlock, Message, Price, Role, Transport, TransportError};

pub use history::history_from_events;

use crate::auxiliary::Auxiliary;
use crate::recovery::{Policy, Recovery, Step};
use crate::tools::{Approver, DenyAll, ToolBox};
use crate::{
    prompts, Mission, MissionEvent, MissionId, MissionStatus, SharedStore, StoreError, StoredEvent,
};

/// What a runner reports while it works: stored events, and the live deltas between them.
#[derive(Debug, Clone)]
pub enum Update {
    Event {
        mission: MissionId,
        event: StoredEvent,
    },
    TextDelta {
        mission: MissionId,
        turn: u32,
        text: String,
    },
    ThinkingDelta {
        mission: MissionId,
        turn: u32,
        text: String,
    },
    /// A tool call is about to run (its call is already in the log).
    ToolStarted {
        mission: MissionId,
        call_id: String,
        name: String,
        arguments: String,
    },
    /// What a running tool call writes (`stream`: `stdout` or `stderr`), as it comes; never
    /// stored (the call's `tool_result` event is the record).
    ToolOutput {
        mission: MissionId,
        call_id: String,
        stream: String,
        text: String,
    },
    /// A tool call waits for a person's yes or no (`ask` in the daemon); `approval` names
    /// the question.
    ApprovalRequested {
        mission: MissionId,
        approval: String,
        summary: String,
    },
}

/// Receives every [`Update`] as it happens.
pub type Observer = Arc<dyn Fn(&Update) + Send + Sync>;

/// What a cancelled run records: by default `cancelled` "cancelled by the user"; a
/// supervisor sets `paused` or `interrupted` before it cancels.
#[derive(Debug, Clone, Default)]
pub struct StopStatus(Arc<std::sync::Mutex<Option<(MissionStatus, String)>>>);

impl StopStatus {
    pub fn set(&self, status: MissionStatus, reason: impl Into<String>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((status, reason.into()));
    }

    /// The status and reason set, else `status` with `reason`.
    pub fn or(&self, status: MissionStatus, reason: &str) -> (MissionStatus, String) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or((status, reason.to_string()))
    }
}

/// A runner failure that is not the mission's own: the store could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs missions over one transport.
pub struct MissionRunner {
    store: SharedStore,
    transport: Arc<dyn Transport>,
    tools: ToolBox,
    approver: Arc<dyn Approver>,
    system_template: String,
    /// Appended to the CLI's own system prompt on a transport that runs tools itself.
    cli_system_template: String,
    observer: Option<Observer>,
    prices: HashMap<String, Price>,
    recovery: Recovery,
    fallback: Vec<FallbackModel>,
    auxiliary: Option<Arc<Auxiliary>>,
    stop: StopStatus,
    /// What every mission's sandbox is made from; `None`: tools run unconfined.
    sandbox: Option<sortie_sandbox::Sandbox>,
    /// Where project instructions come from; `None`: no instructions.
    instructions: Option<crate::instructions::InstructionSources>,
    /// `[mcp_servers]`: what a mission's MCP servers are chosen from.
    mcp_servers: Arc<std::collections::BTreeMap<String, sortie_mcp::ServerConfig>>,
    /// `[budget] daily_usd` and `[budget.providers]`: caps over every mission of the store.
    daily_caps: crate::budget::DailyCaps,
    /// Where messages sent while it runs arrive (`sortie send`); `None`: only the log.
    inbox: Option<Arc<crate::steering::Inbox>>,
}

/// A model of the fallback chain, with the transport that reaches it.
#[derive(Clone)]
pub struct FallbackModel {
    pub provider: String,
    pub model: String,
    pub transport: Arc<dyn Transport>,
}

/// The model a mission is on now.
struct Current {
    transport: Arc<dyn Transport>,
    provider: String,
    model: String,
}

/// Drops thinking from earlier assistant turns; a turn that had only thinking keeps a short
/// placeholder, since an empty content array is refused.
pub fn strip_thinking(history: &mut [Message]) {
    for m in history.iter_mut().filter(|m| m.role == Role::Assistant) {
        let had = m.content.len();
        m.content.retain(|b| {
            !matches!(
                b,
                ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. }
            )
        });
        if m.content.is_empty() && had > 0 {
            m.content.push(ContentBlock::Text {
                text: sortie_transports::direct::anthropic::OMITTED_REASONING.into(),
            });
        }
    }
}

impl MissionRunner {
    pub fn new(store: impl Into<SharedStore>, transport: Arc<dyn Transport>) -> Self {
        Self {
            store: store.into(),
            transport,
            tools: ToolBox::default(),
            approver: Arc::new(DenyAll),
            system_template: prompts::template("system", None),
            cli_system_template: prompts::template("claude-code", None),
            observer: None,
            prices: HashMap::new(),
            recovery: Recovery::new(Policy::default(), None),
            fallback: Vec::new(),
            auxiliary: None,
            stop: StopStatus::default(),
            sandbox: None,
            instructions: None,
            mcp_servers: Arc::default(),
            daily_caps: Default::default(),
            inbox: None,
        }
    }

    /// What all missions together may spend in a day, and per provider.
    pub fn with_daily_caps(mut self, caps: crate::budget::DailyCaps) -> Self {
        self.daily_caps = caps;
        self
    }

    /// Put project instructions (`AGENTS.md` ...) in the system prompt of the missions that
    /// do not turn them off; never on a transport that runs tools itself (the CLI reads its
    /// own).
    pub fn with_instructions(mut self, sources: crate::instructions::InstructionSources) -> Self {
        self.instructions = Some(sources);
        self
    }

    /// What a cancelled run is recorded as (see [`StopStatus`]).
    pub fn with_stop_status(mut self, stop: StopStatus) -> Self {
        self.stop = stop;
        self
    }

    /// What each mission's sandbox is made from: the policy, the launcher, the data dir, the
    /// ledger, and as `tmpdir` the directory under which each mission gets its own.
    pub fn with_sandbox(mut self, template: sortie_sandbox::Sandbox) -> Self {
        self.sandbox = Some(template);
        self
    }

    pub fn with_tools(mut self, tools: ToolBox) -> Self {
        self.tools = tools;
        self
    }

    /// Who answers the `ask` permission policy (by default nobody: asking denies).
    pub fn with_approver(mut self, approver: Arc<dyn Approver>) -> Self {
        self.approver = approver;
        self
    }

    /// The recovery engine (its policy, and the credential pool it acts on).
    pub fn with_recovery(mut self, recovery: Recovery) -> Self {
        self.recovery = recovery;
        self
    }

    /// Models to move to, in order, when one keeps failing.
    pub fn with_fallback(mut self, chain: Vec<FallbackModel>) -> Self {
        self.fallback = chain;
        self
    }

    /// The auxiliary client for titles and compression.
    pub fn with_auxiliary(mut self, aux: Auxiliary) -> Self {
        self.auxiliary = Some(Arc::new(aux));
        self
    }

    /// Prices per model, for the cost of each turn.
    pub fn with_prices(mut self, prices: HashMap<String, Price>) -> Self {
        self.prices = prices;
        self
    }

    pub fn with_observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The system prompt template; `{{cwd}}` is filled in per mission.
    pub fn with_system_template(mut self, template: String) -> Self {
        self.system_template = template;
        self
    }

    /// What is appended to the Claude Code CLI's own system prompt; `{{cwd}}` as above.
    pub fn with_cli_system_template(mut self, template: String) -> Self {
        self.cli_system_template = template;
        self
    }

    fn notify(&self, update: Update) {
        if let Some(observer) = &self.observer {
            observer(&update);
        }
    }

    async fn record(&self, id: &MissionId, event: MissionEvent) -> Result<StoredEvent, RunError> {
        let stored = self.store.append(id, event).await?;
        if self.observer.is_some() {
            self.notify(Update::Event {
                mission: *id,
                event: stored.clone(),
            });
        }
        Ok(stored)
    }

    /// Ends the mission with `status`, durably.
    async fn finish(
        &self,
        id: &MissionId,
        status: MissionStatus,
        reason: Option<String>,
    ) -> Result<Mission, RunError> {
        let event = MissionEvent::Status { status, reason };
        match &self.inbox {
            // Closed with its last status: a message sent from here on resumes the mission
            // rather than waiting for a run that takes nothing more.
            Some(inbox) => {
                let mut closed = inbox.hold().await;
                let recorded = self.record(id, event).await;
                *closed = true;
                recorded?
            }
            None => self.record(id, event).await?,
        };
        self.store.flush_mission(id).await?;
        Ok(self.store.mission(id).await?)
    }

    /// Ends a cancelled run with the status its [`StopStatus`] says.
    async fn stopped(&self, id: &MissionId, default_reason: String) -> Result<Mission, RunError> {
        let (status, reason) = self.stop.or(MissionStatus::Cancelled, &default_reason);
        self.finish(id, status, Some(reason)).await
    }

    async fn fail(&self, id: &MissionId, error: TransportError) -> Result<Mission, RunError> {
        self.record(
            id,
            MissionEvent::Error {
                class: Some(error.class),
                status: error.status,
                message: error.message.clone(),
            },
        )
        .await?;
        self.finish(id, MissionStatus::Failed, Some(error.message))
            .await
    }

    /// Records one recovery step as an event (the credential id, never the secret).
    async fn record_step(
        &self,
        id: &MissionId,
        scope: &str,
        error: &TransportError,
        step: &Step,
    ) -> Result<(), RunError> {
        self.record(
            id,
            MissionEvent::Recovery {
                scope: scope.to_string(),
                class: error.class,
                strategy: step.strategy.name().to_string(),
                credential: error.credential.as_ref().map(|t| t.id.to_string()),
                outcome: step.outcome.clone(),
            },
        )
        .await?;
        Ok(())
    }

    /// Ends the mission waiting for a person to log in again.
    async fn needs_reauth(
        &self,
        id: &MissionId,
        error: TransportError,
    ) -> Result<Mission, RunError> {
        self.record(
            id,
            MissionEvent::Error {
                class: Some(error.class),
                status: error.status,
                message: error.message.clone(),
            },
        )
        .await?;
        let mut reason = error.message;
        if !reason.contains("sortie auth reconnect") {
            reason.push_str("; see `sortie auth list` and run `sortie auth reconnect <id>`");
        }
        reason.push_str(&format!(", then `sortie resume {id}`"));
        self.finish(id, MissionStatus::NeedsReauth, Some(reason))
            .await
    }
}

/// Milliseconds since `start`, for an event's `duration_ms`.
fn millis_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}
