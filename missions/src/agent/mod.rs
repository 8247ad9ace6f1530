//! The turn loop: ask the model, store what it said, run the tools it called, repeat until
//! it stops calling tools or the mission runs out of turns.
//!
//! Every step is appended to the event log before it is acted on, and the loop can be
//! cancelled at any await.

mod history;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use sortie_transports::{
    Completion, ContentBlock, ErrorClass, Message, Price, Role, Transport, TransportError,
    TransportEvent, TurnAssembler, TurnRequest,
};
use tokio_util::sync::CancellationToken;

pub use history::history_from_events;

use crate::tools::{Approver, DenyAll, ToolBox};
use crate::{
    prompts, Mission, MissionEvent, MissionId, MissionStatus, Store, StoreError, StoredEvent,
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
}

/// Receives every [`Update`] as it happens.
pub type Observer = Arc<dyn Fn(&Update) + Send + Sync>;

/// A runner failure that is not the mission's own: the store could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs missions over one transport.
pub struct MissionRunner {
    store: Store,
    transport: Arc<dyn Transport>,
    tools: ToolBox,
    approver: Arc<dyn Approver>,
    system_template: String,
    observer: Option<Observer>,
    prices: HashMap<String, Price>,
}

enum TurnEnd {
    Finished(Completion),
    Failed(TransportError),
}

impl MissionRunner {
    pub fn new(store: Store, transport: Arc<dyn Transport>) -> Self {
        Self {
            store,
            transport,
            tools: ToolBox::default(),
            approver: Arc::new(DenyAll),
            system_template: prompts::template("system", None),
            observer: None,
            prices: HashMap::new(),
        }
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

    fn notify(&self, update: Update) {
        if let Some(observer) = &self.observer {
            observer(&update);
        }
    }

    fn record(&self, id: &MissionId, event: MissionEvent) -> Result<StoredEvent, RunError> {
        let stored = self.store.append(id, event)?;
        self.notify(Update::Event {
            mission: *id,
            event: stored.clone(),
        });
        Ok(stored)
    }

    /// Ends the mission with `status`, durably.
    async fn finish(
        &self,
        id: &MissionId,
        status: MissionStatus,
        reason: Option<String>,
    ) -> Result<Mission, RunError> {
        self.record(id, MissionEvent::Status { status, reason })?;
        self.store.flush().await?;
        Ok(self.store.mission(id)?)
    }

    async fn fail(&self, id: &MissionId, error: TransportError) -> Result<Mission, RunError> {
        self.record(
            id,
            MissionEvent::Error {
                class: Some(error.class),
                status: error.status,
                message: error.message.clone(),
            },
        )?;
        self.finish(id, MissionStatus::Failed, Some(error.message))
            .await
    }

    /// Runs a mission from where its log stands until it completes, fails, runs out of
    /// turns, or `cancel` fires.
    pub async fn run(&self, id: MissionId, cancel: CancellationToken) -> Result<Mission, RunError> {
        let mission = self.store.mission(&id)?;
        let mut history = history_from_events(&self.store.events(&id)?);
        let cwd = PathBuf::from(&mission.cwd);
        let system = prompts::render(
            &self.system_template,
            &[("cwd", &cwd.display().to_string())],
        );
        let specs = self.tools.specs();
        self.record(
            &id,
            MissionEvent::Status {
                status: MissionStatus::Running,
                reason: None,
            },
        )?;

        for turn in mission.turns + 1..=mission.max_turns {
            self.record(
                &id,
                MissionEvent::TurnStarted {
                    turn,
                    model: mission.model.clone(),
                },
            )?;
            let request = TurnRequest {
                model: mission.model.clone(),
                system: system.clone(),
                messages: history.clone(),
                tools: specs.clone(),
                max_output_tokens: None,
            };
            let end = tokio::select! {
                biased;
                _ = cancel.cancelled() => return self.finish(&id, MissionStatus::Cancelled, Some("cancelled by the user".into())).await,
                end = self.one_turn(&id, turn, request) => end,
            };
            let Completion {
                content,
                stop,
                usage,
                warnings,
            } = match end {
                TurnEnd::Finished(done) => done,
                TurnEnd::Failed(error) => return self.fail(&id, error).await,
            };
            for message in warnings {
                self.record(&id, MissionEvent::Warning { message })?;
            }
            self.record(
                &id,
                MissionEvent::AssistantMessage {
                    turn,
                    content: content.clone(),
                    stop_reason: stop,
                },
            )?;
            if let Some(usage) = usage {
                let cost_usd = self.prices.get(&mission.model).map(|p| usage.cost(p));
                self.record(
                    &id,
                    MissionEvent::Usage {
                        turn,
                        usage,
                        cost_usd,
                    },
                )?;
            }
            // Durable before any tool acts on what the model said.
            self.store.flush().await?;
            let calls: Vec<(String, String, String)> = content
                .iter()
                .filter_map(|b| match b {
                    ContentBlock::ToolUse {
                        id,
                        name,
                        arguments,
                    } => Some((id.clone(), name.clone(), arguments.clone())),
                    _ => None,
                })
                .collect();
            history.push(Message {
                role: Role::Assistant,
                content,
            });
            if calls.is_empty() {
                return self.finish(&id, MissionStatus::Completed, None).await;
            }
            let mut results = Vec::with_capacity(calls.len());
            for (call_id, name, arguments) in calls {
                self.notify(Update::ToolStarted {
                    mission: id,
                    call_id: call_id.clone(),
                    name: name.clone(),
                    arguments: arguments.clone(),
                });
                let started = Instant::now();
                let result = tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return self.finish(&id, MissionStatus::Cancelled, Some(format!("cancelled by the user while `{name}` ran"))).await,
                    r = self.tools.run(&cwd, mission.policy, self.approver.as_ref(), &name, &arguments) => r,
                };
                self.record(
                    &id,
                    MissionEvent::ToolResult {
                        turn,
                        call_id: call_id.clone(),
                        name,
                        outcome: result.outcome,
                        output: result.output.clone(),
                        duration_ms: u64::try_from(started.elapsed().as_millis())
                            .unwrap_or(u64::MAX),
                    },
                )?;
                results.push(ContentBlock::ToolResult {
                    call_id,
                    content: result.output,
                    is_error: result.outcome != crate::ToolOutcome::Ok,
                });
            }
            history.push(Message {
                role: Role::User,
                content: results,
            });
        }
        let message = format!(
            "the mission reached its limit of {} turns before the model finished; raise --max-turns to let it go further",
            mission.max_turns
        );
        self.record(
            &id,
            MissionEvent::Error {
                class: None,
                status: None,
                message: message.clone(),
            },
        )?;
        self.finish(&id, MissionStatus::Failed, Some(message)).await
    }

    /// Streams one turn, forwarding deltas, and assembles what the model said.
    async fn one_turn(&self, id: &MissionId, turn: u32, request: TurnRequest) -> TurnEnd {
        let mut assembler = TurnAssembler::new(request.model.clone());
        let mut stream = match self.transport.stream_turn(request).await {
            Ok(s) => s,
            Err(e) => return TurnEnd::Failed(e),
        };
        while let Some(item) = stream.next().await {
            let event = match item {
                Ok(event) => event,
                Err(e) => return TurnEnd::Failed(e),
            };
            match &event {
                TransportEvent::TextDelta(delta) => self.notify(Update::TextDelta {
                    mission: *id,
                    turn,
                    text: delta.clone(),
                }),
                TransportEvent::ThinkingDelta { text, .. } if !text.is_empty() => {
                    self.notify(Update::ThinkingDelta {
                        mission: *id,
                        turn,
                        text: text.clone(),
                    })
                }
                _ => {}
            }
            if let Some(done) = assembler.push(event) {
                return TurnEnd::Finished(done);
            }
        }
        TurnEnd::Failed(TransportError::new(
            ErrorClass::Network,
            "the transport's stream ended without finishing the turn",
        ))
    }
}
