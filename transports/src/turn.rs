//! Assembling a turn's events into the assistant message, for the agent loop and for
//! callers that want one whole answer.

use futures::StreamExt;

use crate::{
    ContentBlock, ErrorClass, StopReason, Transport, TransportError, TransportEvent, TurnRequest,
    Usage,
};

/// What the model said in one turn, in the order it said it.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub content: Vec<ContentBlock>,
    pub stop: StopReason,
    pub usage: Option<Usage>,
    /// What the provider said the turn cost (USD), when it says.
    pub cost_usd: Option<f64>,
    pub warnings: Vec<String>,
}

impl Completion {
    /// The text blocks, joined.
    pub fn text(&self) -> String {
        crate::types::text_of(&self.content)
    }
}

/// Collects events into content blocks: consecutive deltas of one kind extend one block, a
/// signature closes a thinking block, tool calls and redacted thinking are blocks of their own.
#[derive(Debug, Default)]
pub struct TurnAssembler {
    model: String,
    content: Vec<ContentBlock>,
    usage: Option<Usage>,
    cost_usd: Option<f64>,
    warnings: Vec<String>,
}

impl TurnAssembler {
    /// `model` is recorded on thinking blocks, so a later turn knows who signed them.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            ..Self::default()
        }
    }

    /// Takes the blocks assembled so far: the assistant message before a tool result of a
    /// transport that runs tools itself.
    pub fn take_segment(&mut self) -> Vec<ContentBlock> {
        std::mem::take(&mut self.content)
    }

    /// Takes the warnings collected so far.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Takes one event; returns the completed turn at `Done`. Session and tool-result
    /// events are the caller's to act on and change nothing here.
    pub fn push(&mut self, event: TransportEvent) -> Option<Completion> {
        match event {
            TransportEvent::TextDelta(delta) => match self.content.last_mut() {
                Some(ContentBlock::Text { text }) => text.push_str(&delta),
                _ => self.content.push(ContentBlock::Text { text: delta }),
            },
            TransportEvent::ThinkingDelta {
                text: delta,
                signature,
            } => match self.content.last_mut() {
                Some(ContentBlock::Thinking {
                    text,
                    signature: sig @ None,
                    ..
                }) => {
                    text.push_str(&delta);
                    *sig = signature;
                }
                _ => self.content.push(ContentBlock::Thinking {
                    text: delta,
                    signature,
                    model: Some(self.model.clone()),
                }),
            },
            TransportEvent::RedactedThinking(data) => {
                self.content.push(ContentBlock::RedactedThinking {
                    data,
                    model: Some(self.model.clone()),
                })
            }
            TransportEvent::ToolCall {
                id,
                name,
                arguments,
            } => self.content.push(ContentBlock::ToolUse {
                id,
                name,
                arguments,
            }),
            TransportEvent::Usage(usage) => self.usage = Some(usage),
            TransportEvent::Cost(cost) => self.cost_usd = Some(cost),
            TransportEvent::Session { .. } | TransportEvent::ToolResult { .. } => {}
            TransportEvent::Warning(w) => self.warnings.push(w),
            TransportEvent::Done(stop) => {
                return Some(Completion {
                    content: std::mem::take(&mut self.content),
                    stop,
                    usage: self.usage.take(),
                    cost_usd: self.cost_usd.take(),
                    warnings: std::mem::take(&mut self.warnings),
                })
            }
        }
        None
    }
}

/// Runs one turn and returns the whole answer (for callers that do not stream).
pub async fn complete(
    transport: &dyn Transport,
    request: TurnRequest,
) -> Result<Completion, TransportError> {
    let mut assembler = TurnAssembler::new(request.model.clone());
    let mut stream = transport.stream_turn(request).await?;
    while let Some(event) = stream.next().await {
        if let Some(done) = assembler.push(event?) {
            return Ok(done);
        }
    }
    Err(TransportError::new(
        ErrorClass::Network,
        "the transport's stream ended without finishing the turn",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_their_order_and_signatures_close_thinking() {
        let mut a = TurnAssembler::new("m1");
        let events = [
            TransportEvent::ThinkingDelta {
                text: "let me ".into(),
                signature: None,
            },
            TransportEvent::ThinkingDelta {
                text: "think".into(),
                signature: None,
            },
            TransportEvent::ThinkingDelta {
                text: String::new(),
                signature: Some("sig1".into()),
            },
            TransportEvent::TextDelta("Hel".into()),
            TransportEvent::TextDelta("lo".into()),
            TransportEvent::ThinkingDelta {
                text: "more".into(),
                signature: Some("sig2".into()),
            },
            TransportEvent::ToolCall {
                id: "t".into(),
                name: "list_dir".into(),
                arguments: "{}".into(),
            },
        ];
        for e in events {
            assert!(a.push(e).is_none());
        }
        let done = a
            .push(TransportEvent::Done(StopReason::ToolUse))
            .expect("done");
        assert_eq!(
            done.content,
            vec![
                ContentBlock::Thinking {
                    text: "let me think".into(),
                    signature: Some("sig1".into()),
                    model: Some("m1".into())
                },
                ContentBlock::Text {
                    text: "Hello".into()
                },
                ContentBlock::Thinking {
                    text: "more".into(),
                    signature: Some("sig2".into()),
                    model: Some("m1".into())
                },
                ContentBlock::ToolUse {
                    id: "t".into(),
                    name: "list_dir".into(),
                    arguments: "{}".into()
                },
            ]
        );
    }
}
