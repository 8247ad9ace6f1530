//! The turn loop: ask the model, store what it said, run the tools it called, repeat until
//! it stops calling tools or the mission runs out of turns.
//!
//! Every step is appended to the event log before it is acted on, and the loop can be
//! cancelled at any await.

mod history;
pub mod mcp;
mod sandboxing;
mod segments;
mod tool_call;
mod turns;
mod update;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use sortie_transports::{
    Completion, ContentBlock, ErrorClass, Message, Price, Role, SessionRef, Transport,
    TransportError, TransportEvent, TurnAssembler, TurnRequest,
};
use tokio_util::sync::CancellationToken;

use history::called_name;
pub use history::history_from_events;
use tool_call::Where;

use crate::auxiliary::Auxiliary;
use crate::recovery::{Abilities, Attempts, Next, Policy, Recovery, Step};
use crate::tools::{Approver, DenyAll, ToolBox};
use crate::{
    prompts, CliSession, Mission, MissionEvent, MissionId, MissionStatus, Store, StoreError,
    StoredEvent, ToolOutcome,
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
    store: Store,
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
    /// `[mcp_servers]`: what a mission's MCP servers are chosen from.
    mcp_servers: Arc<std::collections::BTreeMap<String, sortie_mcp::ServerConfig>>,
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

enum TurnEnd {
    Finished(Completion),
    Failed(TransportError),
}

/// What a turn over a transport that runs tools itself adds to the mission as it streams:
/// the conversation (assistant messages and tool results, recorded as they arrive) and the
/// CLI session.
struct Live<'a> {
    history: &'a mut Vec<Message>,
    session: &'a mut Option<CliSession>,
}

impl MissionRunner {
    pub fn new(store: Store, transport: Arc<dyn Transport>) -> Self {
        Self {
            store,
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
            mcp_servers: Arc::default(),
        }
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

    fn record(&self, id: &MissionId, event: MissionEvent) -> Result<StoredEvent, RunError> {
        let stored = self.store.append(id, event)?;
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
        self.record(id, MissionEvent::Status { status, reason })?;
        self.store.flush().await?;
        Ok(self.store.mission(id)?)
    }

    /// Ends a cancelled run with the status its [`StopStatus`] says.
    async fn stopped(&self, id: &MissionId, default_reason: String) -> Result<Mission, RunError> {
        let (status, reason) = self.stop.or(MissionStatus::Cancelled, &default_reason);
        self.finish(id, status, Some(reason)).await
    }

    /// Tool calls of the last assistant message that have no stored result: the run before
    /// stopped (a crash, a kill) between storing the call and storing its result. Calls that
    /// only read are run again; the others are reported to the model, never run twice.
    /// Returns the results it recorded.
    async fn settle_open_calls(
        &self,
        id: &MissionId,
        mission: &Mission,
        events: &[StoredEvent],
    ) -> Result<Vec<StoredEvent>, RunError> {
        let runs_tools = self.transport.runs_tools();
        let mut settled = Vec::new();
        let Some(at) = events
            .iter()
            .rposition(|e| matches!(e.event, MissionEvent::AssistantMessage { .. }))
        else {
            return Ok(settled);
        };
        let MissionEvent::AssistantMessage { turn, content, .. } = &events[at].event else {
            return Ok(settled);
        };
        let answered: std::collections::HashSet<&str> = events[at + 1..]
            .iter()
            .filter_map(|e| match &e.event {
                MissionEvent::ToolResult { call_id, .. } => Some(call_id.as_str()),
                _ => None,
            })
            .collect();
        let sandbox = self.sandbox_for(mission);
        for block in content {
            let ContentBlock::ToolUse {
                id: call_id,
                name,
                arguments,
            } = block
            else {
                continue;
            };
            if answered.contains(call_id.as_str()) {
                continue;
            }
            let started = Instant::now();
            let (outcome, output) = if !runs_tools && self.tools.is_idempotent(name) {
                let r = self
                    .tools
                    .run(
                        &sandbox,
                        mission.policy,
                        self.approver.as_ref(),
                        name,
                        arguments,
                    )
                    .await;
                (r.outcome, r.output)
            } else {
                (
                    ToolOutcome::Error,
                    format!(
                        "the `{name}` call was interrupted before its result was recorded; it was not run again, since it may have had effects. Check its effects before repeating it."
                    ),
                )
            };
            settled.push(self.record(
                id,
                MissionEvent::ToolResult {
                    turn: *turn,
                    call_id: call_id.clone(),
                    name: name.clone(),
                    outcome,
                    output,
                    duration_ms: millis_since(started),
                },
            )?);
        }
        Ok(settled)
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

    /// Records one recovery step as an event (the credential id, never the secret).
    fn record_step(
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
        )?;
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
        )?;
        let mut reason = error.message;
        if !reason.contains("sortie auth reconnect") {
            reason.push_str("; see `sortie auth list` and run `sortie auth reconnect <id>`");
        }
        reason.push_str(&format!(", then `sortie resume {id}`"));
        self.finish(id, MissionStatus::NeedsReauth, Some(reason))
            .await
    }

    /// Compresses the history with the auxiliary client; false when it could not.
    async fn compress(
        &self,
        id: &MissionId,
        aux: &Auxiliary,
        history: &mut Vec<Message>,
        reason: String,
    ) -> Result<bool, RunError> {
        let mut steps = Vec::new();
        let result = {
            let mut on_step = |e: &TransportError, s: &Step| steps.push((e.clone(), s.clone()));
            aux.compress(history, &mut on_step).await
        };
        for (e, s) in &steps {
            self.record_step(id, "compression", e, s)?;
        }
        match result {
            Ok(messages) => {
                let before = crate::auxiliary::estimate_tokens(history);
                let after = crate::auxiliary::estimate_tokens(&messages);
                self.record(
                    id,
                    MissionEvent::HistoryReplaced {
                        messages: messages.clone(),
                        reason: format!("{reason}; compressed from ~{before} to ~{after} tokens"),
                    },
                )?;
                *history = messages;
                Ok(true)
            }
            Err(e) => {
                self.record(
                    id,
                    MissionEvent::Warning {
                        message: format!("compression failed: {}", e.message),
                    },
                )?;
                Ok(false)
            }
        }
    }

    /// Titles the mission after its first turn; a failure is only a warning.
    async fn give_title(&self, id: &MissionId, mission: &Mission) -> Result<(), RunError> {
        let Some(aux) = self
            .auxiliary
            .as_ref()
            .filter(|a| a.titles && mission.title.is_none())
        else {
            return Ok(());
        };
        let mut steps = Vec::new();
        let result = {
            let mut on_step = |e: &TransportError, s: &Step| steps.push((e.clone(), s.clone()));
            aux.title(&mission.prompt, &mut on_step).await
        };
        for (e, s) in &steps {
            self.record_step(id, "title", e, s)?;
        }
        match result {
            Ok(title) => self.record(id, MissionEvent::Title { title })?,
            Err(e) => self.record(
                id,
                MissionEvent::Warning {
                    message: format!("no title: {}", e.message),
                },
            )?,
        };
        Ok(())
    }

    /// Runs a mission from where its log stands until it completes, fails, runs out of
    /// turns, or `cancel` fires.
    pub async fn run(&self, id: MissionId, cancel: CancellationToken) -> Result<Mission, RunError> {
        let mission = self.store.mission(&id)?;
        let mut events = self.store.events(&id)?;
        let settled = self.settle_open_calls(&id, &mission, &events).await?;
        events.extend(settled);
        let mut history = history_from_events(&events);
        let cwd = PathBuf::from(&mission.cwd);
        let cwd_text = cwd.display().to_string();
        let (sandbox, _temp, sandbox_text) = self.prepare_sandbox(&id, &mission).await?;
        let sandbox = Arc::new(sandbox);
        let vars = [
            ("cwd", cwd_text.as_str()),
            ("sandbox", sandbox_text.as_str()),
        ];
        let system = prompts::render(&self.system_template, &vars);
        let cli_system = prompts::render(&self.cli_system_template, &vars);
        let specs = self.tools.specs();
        let mcp = self.start_mcp(&id, &events, &sandbox).await?;
        self.record(
            &id,
            MissionEvent::Status {
                status: MissionStatus::Running,
                reason: None,
            },
        )?;

        let finished = turns::finished_turns(&mission, &events, self.transport.runs_tools());
        let mut current = Current {
            transport: self.transport.clone(),
            provider: mission.provider.clone(),
            model: mission.model.clone(),
        };
        let mut fallbacks = self.fallback.iter().peekable();
        let mut disable_thinking = false;
        let mut session = mission.session.clone();
        let mut holds_pending = turns::session_holds_pending(&events);
        for turn in finished + 1..=mission.max_turns {
            if let Some(aux) = &self.auxiliary {
                if aux.should_compress(&history) {
                    let reason = format!(
                        "the history passed {:.0}% of the {}-token context window",
                        aux.compress_at * 100.0,
                        aux.context_window
                    );
                    self.compress(&id, aux, &mut history, reason).await?;
                }
            }
            let turn_specs = self.turn_specs(&id, mcp.as_ref(), &specs).await?;
            self.record(
                &id,
                MissionEvent::TurnStarted {
                    turn,
                    model: current.model.clone(),
                },
            )?;
            // Durable before the provider hears of it: a crash from here on resumes this turn.
            self.store.flush().await?;
            let mut attempts = Attempts::new(&self.recovery.policy);
            let done = loop {
                let runs_tools = current.transport.runs_tools();
                let session_ref = if runs_tools {
                    let mut s = self.session_for(&id, &mut session)?;
                    s.holds_pending = s.resume && holds_pending;
                    Some(s)
                } else {
                    None
                };
                let request = TurnRequest {
                    model: current.model.clone(),
                    system: if runs_tools {
                        cli_system.clone()
                    } else {
                        system.clone()
                    },
                    messages: history.clone(),
                    tools: if runs_tools {
                        Default::default()
                    } else {
                        turn_specs.clone()
                    },
                    max_output_tokens: None,
                    disable_thinking,
                    session: session_ref,
                    cwd: Some(cwd.clone()),
                    conversation: Some(id.to_string()),
                    access: mission.policy.into(),
                    max_turns: runs_tools.then_some(mission.max_turns),
                    sandbox: Some(sandbox.clone()),
                };
                let live = Live {
                    history: &mut history,
                    session: &mut session,
                };
                let end = tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return self.stopped(&id, "cancelled by the user".into()).await,
                    end = self.one_turn(current.transport.as_ref(), &id, turn, request, live) => end?,
                };
                // A session the CLI reported has read the pending message.
                holds_pending |= session.as_ref().is_some_and(|s| s.started);
                let error = match end {
                    TurnEnd::Finished(done) => break done,
                    TurnEnd::Failed(error) => error,
                };
                let countdown = |left: std::time::Duration| {
                    let _ = self.record(
                        &id,
                        MissionEvent::Warning {
                            message: format!(
                                "rate limited; retrying in {}",
                                crate::recovery::seconds(left)
                            ),
                        },
                    );
                };
                let step = tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return self.stopped(&id, "cancelled by the user".into()).await,
                    step = self.recovery.apply(&error, &mut attempts, Abilities {
                        pool: true,
                        compress: self.auxiliary.is_some(),
                        fallback: fallbacks.peek().is_some(),
                        session: current.transport.runs_tools(),
                    }, countdown) => step,
                };
                self.record_step(&id, "turn", &error, &step)?;
                match step.next {
                    Next::Retry => {}
                    Next::StripThinking => {
                        strip_thinking(&mut history);
                        disable_thinking = true;
                    }
                    Next::ResetSession => session = None,
                    Next::Compress => {
                        // A CLI session keeps the whole conversation: only a fresh one
                        // starts from the compressed history.
                        if current.transport.runs_tools() {
                            session = None;
                        }
                        let aux = self
                            .auxiliary
                            .as_ref()
                            .expect("compress is decided only with an auxiliary");
                        if !self
                            .compress(
                                &id,
                                aux,
                                &mut history,
                                format!("the provider said: {}", error.message),
                            )
                            .await?
                        {
                            return self.fail(&id, error).await;
                        }
                    }
                    Next::Fallback => {
                        let next = fallbacks
                            .next()
                            .expect("fallback is decided only when one is left");
                        self.record(
                            &id,
                            MissionEvent::Switched {
                                provider: next.provider.clone(),
                                model: next.model.clone(),
                                transport: next.transport.kind().to_string(),
                                max_turns: None,
                                reason: format!(
                                    "fallback after {} on {}/{}",
                                    error.class, current.provider, current.model
                                ),
                            },
                        )?;
                        current = Current {
                            transport: next.transport.clone(),
                            provider: next.provider.clone(),
                            model: next.model.clone(),
                        };
                        attempts = Attempts::new(&self.recovery.policy);
                    }
                    Next::Fail(e) => return self.fail(&id, e).await,
                    Next::NeedsReauth(e) => return self.needs_reauth(&id, e).await,
                }
            };
            let Completion {
                content,
                stop,
                usage,
                cost_usd: reported_cost,
                warnings,
            } = done;
            for message in warnings {
                self.record(&id, MissionEvent::Warning { message })?;
            }
            let ran_tools = current.transport.runs_tools();
            // A CLI run that ended on a tool result has no closing message to store.
            if !(ran_tools && content.is_empty()) {
                self.record(
                    &id,
                    MissionEvent::AssistantMessage {
                        turn,
                        content: content.clone(),
                        stop_reason: stop,
                    },
                )?;
            }
            if let Some(usage) = usage {
                let cost_usd = reported_cost
                    .or_else(|| self.prices.get(&current.model).map(|p| usage.cost(p)));
                self.record(
                    &id,
                    MissionEvent::Usage {
                        turn,
                        usage,
                        cost_usd,
                    },
                )?;
            }
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
            if !content.is_empty() || !ran_tools {
                history.push(Message {
                    role: Role::Assistant,
                    content,
                });
            }
            let titling = finished == 0 && turn == 1;
            let finishing = calls.is_empty() || ran_tools;
            // Durable before any tool acts on what the model said, or a title is asked for;
            // a mission that ends here is made durable by its end.
            if titling || !finishing {
                self.store.flush().await?;
            }
            if titling {
                self.give_title(&id, &mission).await?;
            }
            // The transport ran its own tools: its turn is the whole answer.
            if finishing {
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
                    _ = cancel.cancelled() => return self.stopped(&id, format!("cancelled by the user while `{name}` ran")).await,
                    r = self.run_tool(&id, Where { sandbox: &sandbox, mcp: mcp.as_ref() }, mission.policy, &call_id, &name, &arguments) => r,
                };
                self.record(
                    &id,
                    MissionEvent::ToolResult {
                        turn,
                        call_id: call_id.clone(),
                        name,
                        outcome: result.outcome,
                        output: result.output.clone(),
                        duration_ms: millis_since(started),
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

    /// The CLI session for the next run: the mission's, or a new one (recorded before the
    /// run, so two missions never share an id and a crash leaves it known).
    fn session_for(
        &self,
        id: &MissionId,
        session: &mut Option<CliSession>,
    ) -> Result<SessionRef, RunError> {
        let current = match session {
            Some(s) => s.clone(),
            None => {
                let fresh = CliSession {
                    id: uuid::Uuid::now_v7().to_string(),
                    started: false,
                };
                self.record(
                    id,
                    MissionEvent::Session {
                        id: fresh.id.clone(),
                        started: false,
                    },
                )?;
                *session = Some(fresh.clone());
                fresh
            }
        };
        Ok(SessionRef {
            id: current.id,
            resume: current.started,
            holds_pending: false,
        })
    }

    /// Streams one turn, forwarding deltas, and assembles what the model said. A transport
    /// that runs tools itself has each assistant message and tool result recorded (and added
    /// to `live.history`) as it arrives.
    async fn one_turn(
        &self,
        transport: &dyn Transport,
        id: &MissionId,
        turn: u32,
        request: TurnRequest,
        live: Live<'_>,
    ) -> Result<TurnEnd, RunError> {
        let mut assembler = TurnAssembler::new(request.model.clone());
        let mut started: HashMap<String, Instant> = HashMap::new();
        let mut stream = match transport.stream_turn(request).await {
            Ok(s) => s,
            Err(e) => return Ok(TurnEnd::Failed(e)),
        };
        while let Some(item) = stream.next().await {
            let event = match item {
                Ok(event) => event,
                Err(e) => return Ok(TurnEnd::Failed(e)),
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
                TransportEvent::ToolCall {
                    id: call_id,
                    name,
                    arguments,
                } if transport.runs_tools() => {
                    started.insert(call_id.clone(), Instant::now());
                    self.notify(Update::ToolStarted {
                        mission: *id,
                        call_id: call_id.clone(),
                        name: name.clone(),
                        arguments: arguments.clone(),
                    });
                    // Stored as it streams, before the CLI runs it.
                    if let Some(done) = assembler.push(event) {
                        return Ok(TurnEnd::Finished(done));
                    }
                    self.record_segment(id, turn, &mut assembler, live.history)?;
                    continue;
                }
                TransportEvent::Session { id: session_id } => {
                    let known = live
                        .session
                        .as_ref()
                        .is_some_and(|s| s.started && &s.id == session_id);
                    if !known {
                        self.record(
                            id,
                            MissionEvent::Session {
                                id: session_id.clone(),
                                started: true,
                            },
                        )?;
                        *live.session = Some(CliSession {
                            id: session_id.clone(),
                            started: true,
                        });
                    }
                }
                TransportEvent::ToolResult {
                    call_id,
                    content,
                    is_error,
                    denied,
                } => {
                    self.record_segment(id, turn, &mut assembler, live.history)?;
                    let name = called_name(live.history, call_id);
                    self.record(
                        id,
                        MissionEvent::ToolResult {
                            turn,
                            call_id: call_id.clone(),
                            name,
                            outcome: match (denied, is_error) {
                                (true, _) => ToolOutcome::Denied,
                                (false, true) => ToolOutcome::Error,
                                (false, false) => ToolOutcome::Ok,
                            },
                            output: content.clone(),
                            duration_ms: started.remove(call_id).map_or(0, millis_since),
                        },
                    )?;
                    let block = ContentBlock::ToolResult {
                        call_id: call_id.clone(),
                        content: content.clone(),
                        is_error: *is_error || *denied,
                    };
                    history::push_tool_result(live.history, block);
                }
                _ => {}
            }
            if let Some(done) = assembler.push(event) {
                return Ok(TurnEnd::Finished(done));
            }
        }
        Ok(TurnEnd::Failed(TransportError::new(
            ErrorClass::Network,
            "the transport's stream ended without finishing the turn",
        )))
    }
}

/// Milliseconds since `start`, for an event's `duration_ms`.
fn millis_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}
