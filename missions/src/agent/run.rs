//! The turn loop, step by step: set the run up, then per turn compress if due, ask the
//! model (with recovery), store its answer, run the tools it called; stop when it is done,
//! fails, is cancelled or runs out of turns.

use std::iter::Peekable;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use sortie_transports::{Completion, ContentBlock, Message, Role, ToolSpec, TurnRequest};
use tokio_util::sync::CancellationToken;

use super::budgets::{estimate_request, Clock};
use super::counted::Counted;
use super::sandboxing::TempDir;
use super::stream::{Live, TurnEnd};
use super::tool_call::Where;
use super::{
    history_from_events, millis_since, strip_thinking, turns, Current, FallbackModel,
    MissionRunner, RunError, Update,
};
use crate::auxiliary::estimate_tokens;
use crate::recovery::{Abilities, Attempts, Next};
use crate::{prompts, CliSession, Mission, MissionEvent, MissionId, MissionStatus};

/// A step either lets the run go on (with what it produced) or ends it.
pub(super) enum Flow<T> {
    Go(T),
    End(Box<Mission>),
}

impl<T> Flow<T> {
    pub(super) fn end(mission: Mission) -> Self {
        Flow::End(Box::new(mission))
    }
}

/// Ends the calling step with the mission when the step it ran ended the run.
macro_rules! go {
    ($flow:expr) => {
        match $flow {
            Flow::Go(value) => value,
            Flow::End(mission) => return Ok(Flow::End(mission)),
        }
    };
}

/// What one run works with: fixed at its start, or carried from turn to turn.
pub(super) struct RunState<'a> {
    pub(super) id: MissionId,
    pub(super) mission: Mission,
    pub(super) history: Vec<Message>,
    cwd: PathBuf,
    sandbox: Arc<sortie_sandbox::Sandbox>,
    /// Removes the mission's temp dir when the run ends.
    _temp: TempDir,
    pub(super) system: String,
    pub(super) cli_system: String,
    /// The built-in tools.
    builtin: Arc<[ToolSpec]>,
    /// The tools of this turn: the built-ins and what the MCP servers offer now.
    pub(super) specs: Arc<[ToolSpec]>,
    /// The mission's MCP servers, ended with the run.
    mcp: Option<sortie_mcp::McpSet>,
    /// Turns the log already holds answers for.
    finished: u32,
    pub(super) current: Current,
    /// How long the mission has run, for `--max-duration`.
    pub(super) clock: Clock,
    fallbacks: Peekable<std::slice::Iter<'a, FallbackModel>>,
    disable_thinking: bool,
    session: Option<CliSession>,
    /// The CLI session already holds the pending user message.
    holds_pending: bool,
    /// What the provider counted for the last answer, for the compression threshold.
    pub(super) counted: Option<Counted>,
    /// Messages sent to the mission not yet in the conversation (`sortie send`).
    pub(super) queued: std::collections::VecDeque<String>,
    /// The log is read for sent messages from here on.
    pub(super) scanned: u64,
}

impl MissionRunner {
    /// Runs a mission from where its log stands until it completes, fails, runs out of
    /// turns, or `cancel` fires.
    pub async fn run(&self, id: MissionId, cancel: CancellationToken) -> Result<Mission, RunError> {
        let mut run = self.start_run(id).await?;
        for turn in run.finished + 1..=run.mission.max_turns {
            // A turn boundary: messages sent meanwhile join the conversation.
            self.take_queued(&mut run).await?;
            if let Flow::End(mission) = self.compress_if_due(&mut run).await? {
                return Ok(*mission);
            }
            run.specs = self.turn_specs(&id, run.mcp.as_ref(), &run.builtin).await?;
            self.record(
                &id,
                MissionEvent::TurnStarted {
                    turn,
                    model: run.current.model.clone(),
                },
            )
            .await?;
            // Durable before anything of the turn acts. A direct provider's answer acts only
            // once taken (its tools run after another flush), so its request goes out while
            // the turn start is written; a failed write ends the turn, its request already
            // sent. A CLI that runs tools as it answers hears of the turn only once it is
            // written (`ask_model` waits for it, whichever transport a fallback brought).
            let flushed = async { Ok::<_, RunError>(self.store.flush_mission(&id).await?) };
            let asked = tokio::try_join!(flushed, self.ask_model(&mut run, turn, &cancel))?.1;
            let done = match asked {
                Flow::Go(done) => done,
                Flow::End(mission) => return Ok(*mission),
            };
            if let Flow::End(mission) = self.take_answer(&mut run, turn, done, &cancel).await? {
                return Ok(*mission);
            }
        }
        self.out_of_turns(&id, run.mission.max_turns).await
    }

    /// Loads the mission, settles what a crashed run left open, prepares the sandbox and
    /// the prompts, and records the mission as running.
    async fn start_run(&self, id: MissionId) -> Result<RunState<'_>, RunError> {
        let mission = self.store.mission(&id).await?;
        let mut events = self.store.events(&id).await?;
        let settled = self.settle_open_calls(&id, &mission, &events).await?;
        events.extend(settled);
        let history = history_from_events(&events);
        let cwd = PathBuf::from(&mission.cwd);
        let cwd_text = cwd.display().to_string();
        let (sandbox, temp, sandbox_text) = self.prepare_sandbox(&id, &mission).await?;
        let vars = [
            ("cwd", cwd_text.as_str()),
            ("sandbox", sandbox_text.as_str()),
        ];
        let mut system = prompts::render(&self.system_template, &vars);
        self.add_instructions(&id, &mission, &mut system).await?;
        let cli_system = prompts::render(&self.cli_system_template, &vars);
        let mcp = self.start_mcp(&id, &events, &sandbox).await?;
        self.record(
            &id,
            MissionEvent::Status {
                status: MissionStatus::Running,
                reason: None,
            },
        )
        .await?;
        let runs_tools = self.transport.runs_tools();
        let counted = Counted::from_log(&events, &history);
        let queued = crate::steering::pending_messages(&events)
            .into_iter()
            .map(|p| p.text)
            .collect();
        let scanned = events.last().map_or(0, |e| e.seq + 1);
        Ok(RunState {
            clock: Clock::from_log(&events),
            queued,
            scanned,
            counted,
            id,
            finished: turns::finished_turns(&mission, &events, runs_tools),
            holds_pending: turns::session_holds_pending(&events),
            current: Current {
                transport: self.transport.clone(),
                provider: mission.provider.clone(),
                model: mission.model.clone(),
            },
            session: mission.session.clone(),
            mission,
            history,
            cwd,
            sandbox: Arc::new(sandbox),
            _temp: temp,
            system,
            cli_system,
            builtin: self.tools.specs(),
            specs: self.tools.specs(),
            mcp,
            fallbacks: self.fallback.iter().peekable(),
            disable_thinking: false,
        })
    }

    /// Compresses the history before a turn when it passed the auxiliary's threshold: the
    /// tokens the provider counted for the last answer (cache reads included) plus an
    /// estimate of what came after it; only an estimate before the first answer.
    async fn compress_if_due(&self, run: &mut RunState<'_>) -> Result<Flow<()>, RunError> {
        let Some(aux) = &self.auxiliary else {
            return Ok(Flow::Go(()));
        };
        let (tokens, how) = match &run.counted {
            Some(counted) => (counted.tokens_now(&run.history), "the provider counted"),
            None => (estimate_tokens(&run.history), "estimated"),
        };
        if aux.past_threshold(tokens, &run.history) {
            let reason = format!(
                "the history passed {:.0}% of the {}-token context window ({how} ~{tokens} tokens)",
                aux.compress_at * 100.0,
                aux.context_window
            );
            go!(self.compression_within_budget(run, aux).await?);
            if self
                .compress(&run.id, aux, &mut run.history, reason)
                .await?
            {
                run.counted = None;
            }
        }
        Ok(Flow::Go(()))
    }

    /// The request of the next attempt at this turn.
    async fn turn_request(&self, run: &mut RunState<'_>) -> Result<TurnRequest, RunError> {
        let runs_tools = run.current.transport.runs_tools();
        let session = if runs_tools {
            let mut s = self.session_for(&run.id, &mut run.session).await?;
            s.holds_pending = s.resume && run.holds_pending;
            Some(s)
        } else {
            None
        };
        Ok(TurnRequest {
            model: run.current.model.clone(),
            system: if runs_tools {
                run.cli_system.clone()
            } else {
                run.system.clone()
            },
            messages: run.history.clone(),
            tools: if runs_tools {
                Default::default()
            } else {
                run.specs.clone()
            },
            max_output_tokens: None,
            disable_thinking: run.disable_thinking,
            session,
            cwd: Some(run.cwd.clone()),
            conversation: Some(run.id.to_string()),
            access: run.mission.policy.into(),
            max_turns: runs_tools.then_some(run.mission.max_turns),
            sandbox: Some(run.sandbox.clone()),
        })
    }

    /// Asks the model for this turn's answer, recovering from failures as the policy says.
    async fn ask_model(
        &self,
        run: &mut RunState<'_>,
        turn: u32,
        cancel: &CancellationToken,
    ) -> Result<Flow<Completion>, RunError> {
        let id = run.id;
        let mut attempts = Attempts::new(&self.recovery.policy);
        loop {
            let tokens = match &run.counted {
                Some(counted) => counted.tokens_now(&run.history),
                None => estimate_request(&run.system, &run.specs, &run.history),
            };
            let model = run.current.model.clone();
            go!(self.within_budget(run, &model, tokens).await?);
            let request = self.turn_request(run).await?;
            let live = Live {
                history: &mut run.history,
                session: &mut run.session,
            };
            let transport = run.current.transport.clone();
            if transport.runs_tools() {
                // The CLI acts as it answers: the turn's start (and a switch to it) first.
                self.store.flush_mission(&id).await?;
            }
            let end = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(Flow::end(self.stopped(&id, "cancelled by the user".into()).await?)),
                end = self.one_turn(transport.as_ref(), &id, turn, request, live) => end?,
            };
            // A session the CLI reported has read the pending message.
            run.holds_pending |= run.session.as_ref().is_some_and(|s| s.started);
            let error = match end {
                TurnEnd::Finished(done) => return Ok(Flow::Go(done)),
                TurnEnd::Interrupted(partial) => {
                    return Ok(Flow::Go(super::steering::partial_answer(partial)))
                }
                TurnEnd::Failed(error) => error,
            };
            go!(self.recover(run, error, &mut attempts, cancel).await?);
        }
    }

    /// Applies the recovery policy to a failed attempt: the run goes on with a next attempt,
    /// or ends.
    async fn recover(
        &self,
        run: &mut RunState<'_>,
        error: sortie_transports::TransportError,
        attempts: &mut Attempts,
        cancel: &CancellationToken,
    ) -> Result<Flow<()>, RunError> {
        let id = run.id;
        let countdown = |left: std::time::Duration| async move {
            let message = format!(
                "rate limited; retrying in {}",
                crate::recovery::seconds(left)
            );
            let _ = self.record(&id, MissionEvent::Warning { message }).await;
        };
        let abilities = Abilities {
            pool: true,
            compress: self.auxiliary.is_some(),
            fallback: run.fallbacks.peek().is_some(),
            session: run.current.transport.runs_tools(),
        };
        let step = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Ok(Flow::end(self.stopped(&id, "cancelled by the user".into()).await?)),
            step = self.recovery.apply(&error, attempts, abilities, countdown) => step,
        };
        self.record_step(&id, "turn", &error, &step).await?;
        match step.next {
            Next::Retry => {}
            Next::StripThinking => {
                strip_thinking(&mut run.history);
                run.disable_thinking = true;
            }
            Next::ResetSession => run.session = None,
            Next::Compress => {
                // A CLI session keeps the whole conversation: only a fresh one starts from
                // the compressed history.
                if run.current.transport.runs_tools() {
                    run.session = None;
                }
                let aux = self
                    .auxiliary
                    .as_ref()
                    .expect("compress is decided only with an auxiliary");
                let reason = format!("the provider said: {}", error.message);
                go!(self.compression_within_budget(run, aux).await?);
                if !self.compress(&id, aux, &mut run.history, reason).await? {
                    return Ok(Flow::end(self.fail(&id, error).await?));
                }
                run.counted = None;
            }
            Next::Fallback => {
                let next = run
                    .fallbacks
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
                            error.class, run.current.provider, run.current.model
                        ),
                    },
                )
                .await?;
                run.current = Current {
                    transport: next.transport.clone(),
                    provider: next.provider.clone(),
                    model: next.model.clone(),
                };
                *attempts = Attempts::new(&self.recovery.policy);
            }
            Next::Fail(e) => return Ok(Flow::end(self.fail(&id, e).await?)),
            Next::NeedsReauth(e) => return Ok(Flow::end(self.needs_reauth(&id, e).await?)),
        }
        Ok(Flow::Go(()))
    }

    /// Stores the model's answer and its usage, titles the mission after its first turn,
    /// and runs the tools it called; the mission completes when it called none (or the
    /// transport ran them itself).
    async fn take_answer(
        &self,
        run: &mut RunState<'_>,
        turn: u32,
        done: Completion,
        cancel: &CancellationToken,
    ) -> Result<Flow<()>, RunError> {
        let id = run.id;
        let calls = self.record_answer(run, turn, done).await?;
        let ran_tools = run.current.transport.runs_tools();
        let titling = run.finished == 0 && turn == 1;
        let finishing = calls.is_empty() || ran_tools;
        // Durable before any tool acts on what the model said, or a title is asked for; a
        // mission that ends here is made durable by its end.
        if titling || !finishing {
            self.store.flush_mission(&id).await?;
        }
        if titling && self.title_within_budget(run).await? {
            self.give_title(&id, &run.mission).await?;
        }
        // Messages sent meanwhile (or a `--now` that cut the answer) keep the run going.
        if finishing && self.take_queued_or_close(run).await? {
            return Ok(Flow::Go(()));
        }
        // The transport ran its own tools: its turn is the whole answer.
        if finishing {
            let mission = self.finish(&id, MissionStatus::Completed, None).await?;
            return Ok(Flow::end(mission));
        }
        let results = go!(self.run_calls(run, turn, calls, cancel).await?);
        run.history.push(Message {
            role: Role::User,
            content: results,
        });
        Ok(Flow::Go(()))
    }

    /// Records a turn's warnings, assistant message and usage, adds the message to the
    /// history, and returns the tool calls it made.
    async fn record_answer(
        &self,
        run: &mut RunState<'_>,
        turn: u32,
        done: Completion,
    ) -> Result<Vec<(String, String, String)>, RunError> {
        let id = run.id;
        let Completion {
            content,
            stop,
            usage,
            cost_usd: reported_cost,
            warnings,
        } = done;
        for message in warnings {
            self.record(&id, MissionEvent::Warning { message }).await?;
        }
        let ran_tools = run.current.transport.runs_tools();
        // A CLI run that ended on a tool result has no closing message to store, nor has
        // an answer cut short before its first word.
        let cut_empty = stop == sortie_transports::StopReason::Interrupted && content.is_empty();
        if !(cut_empty || ran_tools && content.is_empty()) {
            self.record(
                &id,
                MissionEvent::AssistantMessage {
                    turn,
                    content: content.clone(),
                    stop_reason: stop,
                },
            )
            .await?;
        }
        if let Some(usage) = usage {
            let cost_usd = reported_cost
                .or_else(|| self.prices.get(&run.current.model).map(|p| usage.cost(p)));
            self.record(
                &id,
                MissionEvent::Usage {
                    turn,
                    usage,
                    cost_usd,
                },
            )
            .await?;
        }
        let calls = content
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
        if (!content.is_empty() || !ran_tools) && !cut_empty {
            run.history.push(Message {
                role: Role::Assistant,
                content,
            });
        }
        if let Some(usage) = usage {
            run.counted = Some(Counted::new(&usage, run.history.len()));
        }
        Ok(calls)
    }

    /// Runs the tool calls of a turn in order, each result stored as it comes.
    async fn run_calls(
        &self,
        run: &RunState<'_>,
        turn: u32,
        calls: Vec<(String, String, String)>,
        cancel: &CancellationToken,
    ) -> Result<Flow<Vec<ContentBlock>>, RunError> {
        let id = run.id;
        let mut results = Vec::with_capacity(calls.len());
        for (call_id, name, arguments) in calls {
            if !results.is_empty() {
                // The last tool's result taken by the store before the next tool acts: a
                // store that refuses it (another daemon took the mission over) stops the
                // run here.
                self.store.settle_mission(&id).await?;
            }
            self.notify(Update::ToolStarted {
                mission: id,
                call_id: call_id.clone(),
                name: name.clone(),
                arguments: arguments.clone(),
            });
            let started = Instant::now();
            let result = tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    let reason = format!("cancelled by the user while `{name}` ran");
                    return Ok(Flow::end(self.stopped(&id, reason).await?));
                }
                r = self.run_tool(&id, Where { sandbox: &run.sandbox, mcp: run.mcp.as_ref() }, run.mission.policy, &call_id, &name, &arguments) => r,
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
                    images: result.images.clone(),
                },
            )
            .await?;
            results.push(ContentBlock::ToolResult {
                call_id,
                content: result.output,
                is_error: result.outcome != crate::ToolOutcome::Ok,
                images: result.images,
            });
        }
        Ok(Flow::Go(results))
    }

    /// Fails a mission that used all its turns.
    async fn out_of_turns(&self, id: &MissionId, max_turns: u32) -> Result<Mission, RunError> {
        let message = format!(
            "the mission reached its limit of {max_turns} turns before the model finished; raise --max-turns to let it go further"
        );
        self.record(
            id,
            MissionEvent::Error {
                class: None,
                status: None,
                message: message.clone(),
            },
        )
        .await?;
        self.finish(id, MissionStatus::Failed, Some(message)).await
    }
}
