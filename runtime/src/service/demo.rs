//! `sortie demo`: a built-in scripted model on loopback, clearly not a real LLM, that
//! drives a whole mission (streamed text, tool calls, a final answer) with no API key.
//!
//! It speaks OpenAI Chat Completions, so the mission runs through the same transport,
//! agent loop, tools and store as a real one. Each answer depends on the conversation so
//! far: the model really reads the tool results it gets back.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::loopback::LoopbackServer;

/// The model name the demo reports.
pub const DEMO_MODEL: &str = "sortie-demo-scripted";

/// The file the demo mission works on.
pub const NOTES: &str = "# Launch checklist\n\n- [x] Write the announcement\n- [ ] Update the changelog\n- [x] Tag the release\n- [ ] Notify the mailing list\n- [ ] Rotate the staging credentials\n";

/// The prompt of the demo mission.
pub const PROMPT: &str = "Look at the files here, find the open items in the checklist, write them to summary.md, and check the result.";

#[derive(Clone)]
struct Pace(Duration);

/// A running scripted model. Dropping it stops the server.
pub struct DemoModel {
    server: LoopbackServer,
}

impl DemoModel {
    /// Starts the model on 127.0.0.1 on a free port. `pace` is the pause between streamed
    /// words, so a person can watch the text arrive.
    pub async fn start(pace: Duration) -> std::io::Result<Self> {
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .route("/pace/{ms}/v1/chat/completions", post(complete_paced))
            .with_state(Pace(pace));
        Ok(Self {
            server: LoopbackServer::start(app).await?,
        })
    }

    pub fn base_url(&self) -> String {
        self.server.v1_url()
    }

    /// The base URL of this model streaming at another pace (one daemon serves every
    /// demo, each at its own pace).
    pub fn paced_url(&self, pace: Duration) -> String {
        self.base_url()
            .replace("/v1", &format!("/pace/{}/v1", pace.as_millis()))
    }
}

/// A demo mission ready to run: its working directory (with the notes it works on) and
/// its spec.
pub fn prepare(
    home: &std::path::Path,
    policy: sortie_missions::PermissionPolicy,
) -> anyhow::Result<(std::path::PathBuf, sortie_missions::MissionSpec)> {
    use anyhow::Context;
    let dir = home
        .join("demo")
        .join(chrono::Utc::now().format("%Y%m%d-%H%M%S-%3f").to_string());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join("notes.md"), NOTES).context("cannot write the demo's notes.md")?;
    let spec = sortie_missions::MissionSpec {
        prompt: PROMPT.to_string(),
        provider: "demo".into(),
        model: DEMO_MODEL.into(),
        transport: "openai-compatible".into(),
        cwd: dir.canonicalize()?,
        policy,
        max_turns: 10,
        sandbox: Some(crate::config::Config::load(home)?.sandbox.mode),
        labels: Vec::new(),
    };
    Ok((dir, spec))
}

/// The runner of a demo mission against the model at `base_url` (titles come from it too).
pub fn runner(
    store: &sortie_missions::SharedStore,
    home: &std::path::Path,
    base_url: String,
) -> anyhow::Result<sortie_missions::MissionRunner> {
    use sortie_missions::auxiliary::Auxiliary;
    use sortie_missions::recovery::{Policy, Recovery};
    let mut config = sortie_transports::direct::OpenAiChatConfig::new(base_url);
    config.idle_timeout = Duration::from_secs(30);
    let transport: std::sync::Arc<dyn sortie_transports::Transport> =
        std::sync::Arc::new(sortie_transports::direct::OpenAiChat::new(config)?);
    let aux = Auxiliary::new(
        transport.clone(),
        DEMO_MODEL,
        Recovery::new(Policy::default(), None),
        Some(home),
    );
    // The demo's tools run in the sandbox a real mission would get (its mode from the
    // config, default workspace-write).
    let config = crate::config::Config::load(home)?;
    Ok(
        sortie_missions::MissionRunner::new(store.clone(), transport)
            .with_auxiliary(aux)
            .with_sandbox(crate::service::sandboxing::template(home, &config)),
    )
}

/// One scripted answer: text, then at most one tool call.
struct Step {
    text: String,
    call: Option<(&'static str, Value)>,
}

fn tool_results(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or(""))
        .collect()
}

fn next_step(messages: &[Value]) -> Step {
    let results = tool_results(messages);
    let last = results.last().copied().unwrap_or("");
    let step = |text: &str, call| Step {
        text: text.to_string(),
        call,
    };
    match results.len() {
        0 => step(
            "I'll start by looking at what is in the working directory.",
            Some(("list_dir", json!({}))),
        ),
        1 if last.contains("notes.md") => step(
            "There is a notes file. Let me read it.",
            Some(("read_file", json!({"path": "notes.md"}))),
        ),
        1 => step("I can't find notes.md here, so there is nothing to summarise.", None),
        2 => {
            let open: Vec<&str> = last
                .lines()
                .filter_map(|l| l.trim().strip_prefix("- [ ] "))
                .collect();
            let done = last.lines().filter(|l| l.trim().starts_with("- [x] ")).count();
            if open.is_empty() {
                return step("The checklist has no open items; nothing to write.", None);
            }
            let mut summary = format!("# Open items ({} of {})\n\n", open.len(), open.len() + done);
            for item in &open {
                summary.push_str(&format!("- {item}\n"));
            }
            Step {
                text: format!(
                    "The checklist has {} items: {done} done and {} open. I'll write the open ones to summary.md.",
                    open.len() + done,
                    open.len()
                ),
                call: Some(("write_file", json!({"path": "summary.md", "content": summary}))),
            }
        }
        3 if last.starts_with("wrote") => step(
            "Now let me check the file on disk.",
            Some(("shell", json!({"command": "wc -l summary.md && head -n 3 summary.md"}))),
        ),
        3 => step(&format!("I could not write summary.md: {last}"), None),
        _ if last.starts_with("permission denied") => step(
            "Done. summary.md lists the open checklist items; I was not allowed to run the check, \
             so it is unverified. (This answer came from Sortie's built-in scripted demo model, not a real LLM.)",
            None,
        ),
        _ => step(
            "Done. summary.md lists the open checklist items, and the check above shows it on disk. \
             (This answer came from Sortie's built-in scripted demo model, not a real LLM.)",
            None,
        ),
    }
}

fn chunk(delta: Value, finish: Option<&str>) -> Bytes {
    let body = json!({
        "id": "chatcmpl-demo",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": DEMO_MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    });
    Bytes::from(format!("data: {body}\n\n"))
}

async fn complete_paced(
    axum::extract::Path(ms): axum::extract::Path<u64>,
    Json(request): Json<Value>,
) -> Response {
    complete(State(Pace(Duration::from_millis(ms))), Json(request)).await
}

async fn complete(State(pace): State<Pace>, Json(request): Json<Value>) -> Response {
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    // The auxiliary client asks for a title without offering tools.
    let step = if request.get("tools").is_none_or(Value::is_null) {
        Step {
            text: "Summarise the open checklist items".into(),
            call: None,
        }
    } else {
        next_step(&messages)
    };
    let prompt_chars: usize = messages.iter().map(|m| m.to_string().len()).sum();
    let usage = json!({
        "prompt_tokens": prompt_chars / 4,
        "completion_tokens": step.text.len() / 4 + 8,
        "total_tokens": prompt_chars / 4 + step.text.len() / 4 + 8
    });
    let call_json = step.call.as_ref().map(|(name, args)| {
        json!({"id": format!("call_demo_{}", tool_results(&messages).len()), "type": "function",
               "function": {"name": name, "arguments": args.to_string()}})
    });
    let finish = if step.call.is_some() {
        "tool_calls"
    } else {
        "stop"
    };

    if request["stream"] != json!(true) {
        let mut message = json!({"role": "assistant", "content": step.text});
        if let Some(call) = call_json {
            message["tool_calls"] = json!([call]);
        }
        return Json(json!({
            "id": "chatcmpl-demo", "object": "chat.completion", "created": 0, "model": DEMO_MODEL,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage
        }))
        .into_response();
    }

    let mut frames: Vec<Bytes> = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    for word in step.text.split_inclusive(' ') {
        frames.push(chunk(json!({"content": word}), None));
    }
    if let Some(mut call) = call_json {
        // Send the arguments in two pieces, as real providers do.
        let args = call["function"]["arguments"]
            .as_str()
            .unwrap_or("{}")
            .to_string();
        let cut = args
            .char_indices()
            .nth(args.chars().count() / 2)
            .map_or(0, |(i, _)| i);
        call["function"]["arguments"] = json!(&args[..cut]);
        call["index"] = json!(0);
        frames.push(chunk(json!({"content": "\n", "tool_calls": [call]}), None));
        frames.push(chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": &args[cut..]}}]}),
            None,
        ));
    }
    frames.push(chunk(json!({}), Some(finish)));
    frames.push(Bytes::from(format!(
        "data: {}\n\n",
        json!({"id": "chatcmpl-demo", "object": "chat.completion.chunk", "created": 0, "model": DEMO_MODEL, "choices": [], "usage": usage})
    )));
    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));

    let delay = pace.0;
    let stream = futures::stream::unfold(frames.into_iter(), move |mut frames| async move {
        let frame = frames.next()?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Some((Ok::<_, Infallible>(frame), frames))
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_reads_the_checklist_it_was_given() {
        let messages = vec![
            json!({"role": "user", "content": PROMPT}),
            json!({"role": "tool", "content": "notes.md  (10 bytes)"}),
            json!({"role": "tool", "content": NOTES}),
        ];
        let step = next_step(&messages);
        assert!(
            step.text.contains("5 items: 2 done and 3 open"),
            "{}",
            step.text
        );
        let (name, args) = step.call.expect("a write");
        assert_eq!(name, "write_file");
        let content = args["content"].as_str().expect("content");
        assert!(content.starts_with("# Open items (3 of 5)"));
        assert!(content.contains("- Rotate the staging credentials"));
    }
}
