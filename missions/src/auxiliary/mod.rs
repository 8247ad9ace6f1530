//! The auxiliary client: mission titles and history compression, on a cheap model (or the
//! mission's own), through the same credential pool and the same recovery engine as the
//! main loop. Its failures are warnings, never a mission failure.

use std::sync::Arc;

use sortie_transports::{
    complete, ContentBlock, ErrorClass, Message, Role, Transport, TransportError, TurnRequest,
};

use crate::prompts;
use crate::recovery::{Abilities, Attempts, Next, Recovery, Step};

/// Where an auxiliary call reports each recovery step.
pub type OnStep<'a> = &'a mut (dyn FnMut(&TransportError, &Step) + Send);

pub struct Auxiliary {
    pub transport: Arc<dyn Transport>,
    pub model: String,
    pub recovery: Recovery,
    /// Give missions a title after their first turn.
    pub titles: bool,
    /// Compress when the estimated tokens pass this fraction of the context window.
    pub compress_at: f64,
    pub context_window: u64,
    /// Messages at the end that compression keeps as they are (at least).
    pub keep_last: usize,
    title_template: String,
    compress_template: String,
}

impl Auxiliary {
    pub fn new(
        transport: Arc<dyn Transport>,
        model: impl Into<String>,
        recovery: Recovery,
        home: Option<&std::path::Path>,
    ) -> Self {
        Self {
            transport,
            model: model.into(),
            recovery,
            titles: true,
            compress_at: 0.8,
            context_window: 128_000,
            keep_last: 6,
            title_template: prompts::template("title", home),
            compress_template: prompts::template("compress", home),
        }
    }

    /// The title and compression templates to use instead of the embedded ones.
    pub fn with_templates(mut self, title: String, compress: String) -> Self {
        self.title_template = title;
        self.compress_template = compress;
        self
    }

    /// One auxiliary request, retried as the recovery engine says; its text, and what the
    /// provider counted for it (and the cost it reported, if any).
    async fn call(
        &self,
        system: &str,
        text: String,
        on_step: OnStep<'_>,
    ) -> Result<Answered<String>, TransportError> {
        let mut attempts = Attempts::new(&self.recovery.policy);
        let mut request = TurnRequest {
            model: self.model.clone(),
            system: system.to_string(),
            messages: vec![Message::user(text)],
            ..Default::default()
        };
        loop {
            let error = match complete(self.transport.as_ref(), request.clone()).await {
                Ok(done) => {
                    return Ok(Answered {
                        usage: done.usage,
                        cost_usd: done.cost_usd,
                        value: done.text(),
                    })
                }
                Err(e) => e,
            };
            let step = self
                .recovery
                .apply(&error, &mut attempts, Abilities::default(), |_| async {})
                .await;
            on_step(&error, &step);
            match step.next {
                Next::Retry => {}
                Next::StripThinking => request.disable_thinking = true,
                _ => return Err(error),
            }
        }
    }

    /// A title of at most 8 words for a mission's prompt.
    pub async fn title(&self, prompt: &str, on_step: OnStep<'_>) -> Result<String, TransportError> {
        Ok(self.title_counted(prompt, on_step).await?.value)
    }

    /// [`Self::title`], with what the call used.
    pub async fn title_counted(
        &self,
        prompt: &str,
        on_step: OnStep<'_>,
    ) -> Result<Answered<String>, TransportError> {
        let system = prompts::render(&self.title_template, &[("prompt", prompt)]);
        let answered = self.call(&system, prompt.to_string(), on_step).await?;
        let title = clean_title(&answered.value).ok_or_else(|| {
            TransportError::new(
                ErrorClass::MalformedResponse,
                "the title model answered with no text",
            )
        })?;
        Ok(answered.map(title))
    }

    /// True when the history is estimated past the compression threshold.
    pub fn should_compress(&self, history: &[Message]) -> bool {
        self.past_threshold(estimate_tokens(history), history)
    }

    /// True when `tokens` (counted by the provider, or estimated) pass the compression
    /// threshold and the history has a middle to compress.
    pub fn past_threshold(&self, tokens: u64, history: &[Message]) -> bool {
        tokens as f64 > self.compress_at * self.context_window as f64
            && plan(history, self.keep_last).is_some()
    }

    /// The history with its middle replaced by a summary: the first user message and the
    /// last turns stay as they are, and no tool call is separated from its result.
    pub async fn compress(
        &self,
        history: &[Message],
        on_step: OnStep<'_>,
    ) -> Result<Vec<Message>, TransportError> {
        Ok(self.compress_counted(history, on_step).await?.value)
    }

    /// [`Self::compress`], with what the call used.
    pub async fn compress_counted(
        &self,
        history: &[Message],
        on_step: OnStep<'_>,
    ) -> Result<Answered<Vec<Message>>, TransportError> {
        let start = plan(history, self.keep_last).ok_or_else(|| {
            TransportError::new(
                ErrorClass::ContextOverflow,
                "the history is too short to compress",
            )
        })?;
        let answered = self
            .call(&self.compress_template, render(&history[1..start]), on_step)
            .await?;
        let messages = compressed(history, start, &answered.value);
        Ok(answered.map(messages))
    }

    /// The request a compression of `history` would send, for a budget's estimate: the
    /// middle it summarises; `None` when there is nothing to compress.
    pub fn compression_input(&self, history: &[Message]) -> Option<Vec<Message>> {
        let start = plan(history, self.keep_last)?;
        Some(vec![Message::user(format!(
            "{}{}",
            self.compress_template,
            render(&history[1..start])
        ))])
    }

    /// The request a title for `prompt` would send, for a budget's estimate.
    pub fn title_input(&self, prompt: &str) -> Vec<Message> {
        vec![Message::user(format!(
            "{}{prompt}{prompt}",
            self.title_template
        ))]
    }
}

/// What an auxiliary call answered, with what the provider counted for it.
#[derive(Debug, Clone)]
pub struct Answered<T> {
    pub value: T,
    pub usage: Option<sortie_transports::Usage>,
    /// The cost the provider reported (the CLI does), else `None`.
    pub cost_usd: Option<f64>,
}

impl<T> Answered<T> {
    fn map<U>(self, value: U) -> Answered<U> {
        Answered {
            value,
            usage: self.usage,
            cost_usd: self.cost_usd,
        }
    }
}

/// The first line of a model's answer, without quotes or markdown, at most 8 words.
pub fn clean_title(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line
        .trim_start_matches(['#', '*', '-', ' '])
        .trim_matches(['"', '\'', '*', '`', ' ', '.']);
    let title = line
        .split_whitespace()
        .take(8)
        .collect::<Vec<_>>()
        .join(" ");
    (!title.is_empty()).then(|| title.chars().take(80).collect())
}

/// A rough token count: four characters a token.
pub fn estimate_tokens(history: &[Message]) -> u64 {
    let chars: usize = history
        .iter()
        .flat_map(|m| m.content.iter())
        .map(|b| match b {
            ContentBlock::Text { text } | ContentBlock::Thinking { text, .. } => text.len(),
            ContentBlock::RedactedThinking { data, .. } => data.len(),
            ContentBlock::ToolUse {
                arguments, name, ..
            } => arguments.len() + name.len(),
            ContentBlock::ToolResult { content, .. } => content.len(),
        })
        .sum();
    (chars / 4) as u64
}

/// Where the kept tail starts: an assistant message (so its tool results stay with it), at
/// least `keep_last` messages from the end, with something in between to summarise.
pub fn plan(history: &[Message], keep_last: usize) -> Option<usize> {
    let mut start = history.len().checked_sub(keep_last.max(1))?;
    while start > 1 && history[start].role != Role::Assistant {
        start -= 1;
    }
    (start >= 2 && history[start].role == Role::Assistant).then_some(start)
}

/// The compressed history: the first message with the summary appended, then the tail.
pub fn compressed(history: &[Message], start: usize, summary: &str) -> Vec<Message> {
    let mut first = history[0].clone();
    first.content.push(ContentBlock::Text {
        text: format!(
            "\n\n[Summary of the work so far, compressed by Sortie to fit the context window]\n{}",
            summary.trim()
        ),
    });
    std::iter::once(first)
        .chain(history[start..].iter().cloned())
        .collect()
}

/// The messages as plain text for the summariser.
pub fn render(messages: &[Message]) -> String {
    let clip = |t: &str, n: usize| -> String {
        if t.len() <= n {
            t.to_string()
        } else {
            format!("{} […]", sortie_transports::text::head(t, n))
        }
    };
    let mut out = String::new();
    for m in messages {
        for b in &m.content {
            let line = match (m.role, b) {
                (Role::User, ContentBlock::Text { text }) => format!("User: {text}"),
                (Role::Assistant, ContentBlock::Text { text }) => format!("Agent: {text}"),
                (
                    _,
                    ContentBlock::ToolUse {
                        name, arguments, ..
                    },
                ) => format!("Agent called `{name}` with {}", clip(arguments, 500)),
                (
                    _,
                    ContentBlock::ToolResult {
                        content, is_error, ..
                    },
                ) => {
                    format!(
                        "Tool {}: {}",
                        if *is_error { "error" } else { "result" },
                        clip(content, 2000)
                    )
                }
                _ => continue,
            };
            out.push_str(&line);
            out.push_str("\n\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str) -> Message {
        Message {
            role: Role::Assistant,
            content: vec![ContentBlock::ToolUse {
                id: id.into(),
                name: "shell".into(),
                arguments: "{}".into(),
            }],
        }
    }
    fn result(id: &str) -> Message {
        Message {
            role: Role::User,
            content: vec![ContentBlock::ToolResult {
                call_id: id.into(),
                content: "ok".into(),
                is_error: false,
                images: Vec::new(),
            }],
        }
    }

    #[test]
    fn the_tail_starts_at_an_assistant_turn_so_calls_keep_their_results() {
        let mut h = vec![Message::user("go")];
        for i in 0..10 {
            h.push(call(&i.to_string()));
            h.push(result(&i.to_string()));
        }
        let start = plan(&h, 3).expect("a plan");
        assert_eq!(h[start].role, Role::Assistant);
        assert!(h.len() - start >= 3);
        let out = compressed(&h, start, "did things");
        assert_eq!(out[0].role, Role::User);
        assert!(out[0].text().contains("did things"));
        assert_eq!(out[1].role, Role::Assistant);
        // Every call in the result still has its result right after it.
        for w in out.windows(2) {
            if let Some(ContentBlock::ToolUse { id, .. }) = w[0].content.first() {
                assert!(
                    matches!(w[1].content.first(), Some(ContentBlock::ToolResult { call_id, .. }) if call_id == id)
                );
            }
        }
        assert!(plan(&h[..3], 3).is_none(), "nothing to summarise");
    }

    #[test]
    fn titles_are_cleaned_and_short() {
        assert_eq!(
            clean_title("\n\"Fix the flaky login test in CI now please today\".\n").as_deref(),
            Some("Fix the flaky login test in CI now")
        );
        assert_eq!(
            clean_title("## Summarise checklist"),
            Some("Summarise checklist".into())
        );
        assert_eq!(clean_title("  \n "), None);
    }
}
