//! One streamed turn: the deltas passed on live, the answer assembled, and (for a transport
//! that runs tools itself) each message and tool result recorded as it arrives.

use std::collections::HashMap;
use std::time::Instant;

use futures::StreamExt;
use sortie_transports::{
    Completion, ContentBlock, ErrorClass, Message, SessionRef, Transport, TransportError,
    TransportEvent, TurnAssembler, TurnRequest,
};

use super::history::{self, called_name};
use super::{millis_since, MissionRunner, RunError, Update};
use crate::{CliSession, MissionEvent, MissionId, ToolOutcome};

pub(super) enum TurnEnd {
    Finished(Completion),
    /// Cut short by a `--now` message: what the model had said so far.
    Interrupted(Vec<ContentBlock>),
    Failed(TransportError),
}

/// What a turn over a transport that runs tools itself adds to the mission as it streams:
/// the conversation (assistant messages and tool results, recorded as they arrive) and the
/// CLI session.
pub(super) struct Live<'a> {
    pub(super) history: &'a mut Vec<Message>,
    pub(super) session: &'a mut Option<CliSession>,
}

impl MissionRunner {
    /// The CLI session for the next run: the mission's, or a new one (recorded before the
    /// run, so two missions never share an id and a crash leaves it known).
    pub(super) async fn session_for(
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
                )
                .await?;
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
    pub(super) async fn one_turn(
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
        loop {
            let item = tokio::select! {
                biased;
                _ = self.interrupted() => return Ok(TurnEnd::Interrupted(assembler.take_segment())),
                item = stream.next() => item,
            };
            let Some(item) = item else { break };
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
                    self.record_segment(id, turn, &mut assembler, live.history)
                        .await?;
                    continue;
                }
                TransportEvent::Session { id: session_id } => {
                    self.note_session(id, live.session, session_id).await?
                }
                TransportEvent::ToolResult {
                    call_id,
                    content,
                    is_error,
                    denied,
                } => {
                    self.record_segment(id, turn, &mut assembler, live.history)
                        .await?;
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
                            images: Vec::new(),
                        },
                    )
                    .await?;
                    let block = ContentBlock::ToolResult {
                        call_id: call_id.clone(),
                        content: content.clone(),
                        is_error: *is_error || *denied,
                        images: Vec::new(),
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

    /// The session the CLI reported: recorded (as started) unless it is the one the mission
    /// already knows as started.
    async fn note_session(
        &self,
        id: &MissionId,
        session: &mut Option<CliSession>,
        session_id: &str,
    ) -> Result<(), RunError> {
        let known = session
            .as_ref()
            .is_some_and(|s| s.started && s.id == session_id);
        if !known {
            self.record(
                id,
                MissionEvent::Session {
                    id: session_id.to_string(),
                    started: true,
                },
            )
            .await?;
            *session = Some(CliSession {
                id: session_id.to_string(),
                started: true,
            });
        }
        Ok(())
    }
}
