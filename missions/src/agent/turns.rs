//! Which turns count against `max_turns`: only finished ones. A turn cut short (a crash,
//! a kill, a pause, a failure) runs again under the same number when the mission resumes.

use crate::{Mission, MissionEvent, MissionStatus, StoredEvent};

/// How many turns of the mission finished. The last turn started is finished once its
/// answer is stored: the assistant message of that turn for a transport that returns
/// tool calls, the mission's completion for one that runs its own tools (its messages are
/// stored while it streams, so a message alone says nothing).
pub(crate) fn finished_turns(mission: &Mission, events: &[StoredEvent], runs_tools: bool) -> u32 {
    let Some((pos, turn)) = events
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, e)| match e.event {
            MissionEvent::TurnStarted { turn, .. } => Some((i, turn)),
            _ => None,
        })
    else {
        return mission.turns;
    };
    let after = &events[pos + 1..];
    let finished = if runs_tools {
        after.iter().any(|e| {
            matches!(
                e.event,
                MissionEvent::Status {
                    status: MissionStatus::Completed,
                    ..
                }
            )
        })
    } else {
        after.iter().any(
            |e| matches!(&e.event, MissionEvent::AssistantMessage { turn: t, .. } if *t == turn),
        )
    };
    if finished {
        turn
    } else {
        turn.saturating_sub(1)
    }
}

/// True when the mission's CLI session was reported started after the last thing the
/// user said (the prompt, or a message since): the session holds it already.
pub(crate) fn session_holds_pending(events: &[StoredEvent]) -> bool {
    let said = events.iter().rposition(|e| {
        matches!(
            e.event,
            MissionEvent::Created { .. } | MissionEvent::UserMessage { .. }
        )
    });
    let started = events
        .iter()
        .rposition(|e| matches!(e.event, MissionEvent::Session { started: true, .. }));
    // A switch to another transport or a reset drops the session: a later start counts.
    matches!((said, started), (Some(s), Some(t)) if t > s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MissionId, MissionSpec};
    use sortie_transports::StopReason;

    fn at(seq: u64, event: MissionEvent) -> StoredEvent {
        StoredEvent {
            seq,
            at: chrono::Utc::now(),
            event,
        }
    }

    fn mission(turns: u32) -> Mission {
        let spec = MissionSpec::for_tests("p");
        let mut m = Mission::new(MissionId::new(), spec, chrono::Utc::now());
        m.turns = turns;
        m
    }

    fn started(seq: u64, turn: u32) -> StoredEvent {
        at(
            seq,
            MissionEvent::TurnStarted {
                turn,
                model: "m".into(),
            },
        )
    }

    #[test]
    fn a_turn_without_its_answer_does_not_count() {
        let events = [started(0, 1)];
        assert_eq!(finished_turns(&mission(1), &events, false), 0);
        let answered = [
            started(0, 1),
            at(
                1,
                MissionEvent::AssistantMessage {
                    turn: 1,
                    content: vec![],
                    stop_reason: StopReason::EndTurn,
                },
            ),
        ];
        assert_eq!(finished_turns(&mission(1), &answered, false), 1);
        assert_eq!(finished_turns(&mission(0), &[], false), 0);
    }

    #[test]
    fn a_session_started_after_the_last_user_message_holds_it() {
        let session = |seq, started| {
            at(
                seq,
                MissionEvent::Session {
                    id: "s".into(),
                    started,
                },
            )
        };
        let said = |seq| {
            at(
                seq,
                MissionEvent::UserMessage {
                    text: "again".into(),
                },
            )
        };
        // A crash after the CLI reported its session: resuming must not send the prompt.
        let crashed = [said(0), session(1, false), session(2, true), started(3, 1)];
        assert!(session_holds_pending(&crashed));
        // A new message since: the session has not seen it.
        let resumed = [said(0), session(1, true), said(2)];
        assert!(!session_holds_pending(&resumed));
        // Never reported: nothing was delivered.
        assert!(!session_holds_pending(&[said(0), session(1, false)]));
    }

    #[test]
    fn a_cli_turn_counts_once_the_mission_completed() {
        let streamed = [
            started(0, 1),
            at(
                1,
                MissionEvent::AssistantMessage {
                    turn: 1,
                    content: vec![],
                    stop_reason: StopReason::ToolUse,
                },
            ),
        ];
        assert_eq!(finished_turns(&mission(1), &streamed, true), 0);
        let mut done = streamed.to_vec();
        done.push(at(
            2,
            MissionEvent::Status {
                status: MissionStatus::Completed,
                reason: None,
            },
        ));
        assert_eq!(finished_turns(&mission(1), &done, true), 1);
    }
}
