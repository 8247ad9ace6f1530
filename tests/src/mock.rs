//! A scripted provider server on 127.0.0.1 with fault injection. It answers any path, so
//! one mock speaks OpenAI Chat Completions, Anthropic Messages or OpenAI Responses, as the
//! scripted replies say (see the builders here and in `anthropic_wire` / `responses_wire`).
//!
//! Each request takes the next [`Reply`] from the queue; every request body is recorded so
//! a test can check what the runtime sent. An empty queue answers 500 with a message that
//! names the problem, so a test that under-scripts fails loudly.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use axum::Router;
use serde_json::{json, Value};
use sortie::loopback::LoopbackServer;

/// One piece of a streamed answer.
#[derive(Debug, Clone)]
pub enum Frame {
    /// `data: <json>\n\n`
    Data(Value),
    /// `event: <name>\ndata: <json>\n\n`
    Event(String, Value),
    /// Bytes sent exactly as given (malformed SSE, split UTF-8 ...).
    Raw(Vec<u8>),
    Pause(Duration),
}

/// What the mock answers to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// An SSE stream. `end`: `[DONE]` and close, close without `[DONE]`, or hang open.
    Stream { frames: Vec<Frame>, end: End },
    /// A plain HTTP answer (errors, whole JSON completions).
    Http {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Done,
    Close,
    Hang,
}

fn chunk(delta: Value, finish: Option<&str>) -> Frame {
    Frame::Data(json!({
        "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0, "model": "mock-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    }))
}

fn usage(input: u64, output: u64) -> Frame {
    Frame::Data(json!({
        "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0, "model": "mock-model",
        "choices": [], "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output}
    }))
}

/// Splits text into small pieces, as providers stream it.
fn pieces(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(size.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

impl Reply {
    /// Streamed text, then `finish_reason: stop`, usage 10/5, `[DONE]`.
    pub fn text(text: &str) -> Self {
        let mut frames = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
        frames.extend(
            pieces(text, 4)
                .into_iter()
                .map(|p| chunk(json!({"content": p}), None)),
        );
        frames.push(chunk(json!({}), Some("stop")));
        frames.push(usage(10, 5));
        Reply::Stream {
            frames,
            end: End::Done,
        }
    }

    /// One streamed tool call with its arguments split into small deltas.
    pub fn tool_call(id: &str, name: &str, arguments: Value) -> Self {
        Self::tool_calls(&[(id, name, arguments)])
    }

    /// Several tool calls in one turn, their argument deltas interleaved.
    pub fn tool_calls(calls: &[(&str, &str, Value)]) -> Self {
        let mut frames = vec![chunk(json!({"role": "assistant", "content": null}), None)];
        let split: Vec<Vec<String>> = calls
            .iter()
            .map(|(_, _, a)| pieces(&a.to_string(), 3))
            .collect();
        for (i, (id, name, _)) in calls.iter().enumerate() {
            frames.push(chunk(
                json!({"tool_calls": [{"index": i, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
                None,
            ));
        }
        let longest = split.iter().map(Vec::len).max().unwrap_or(0);
        for step in 0..longest {
            for (i, parts) in split.iter().enumerate() {
                if let Some(part) = parts.get(step) {
                    frames.push(chunk(
                        json!({"tool_calls": [{"index": i, "function": {"arguments": part}}]}),
                        None,
                    ));
                }
            }
        }
        frames.push(chunk(json!({}), Some("tool_calls")));
        frames.push(usage(20, 7));
        Reply::Stream {
            frames,
            end: End::Done,
        }
    }

    /// A tool call whose stream closes half-way through its arguments.
    pub fn cut_mid_tool_call(name: &str) -> Self {
        Reply::Stream {
            frames: vec![
                chunk(json!({"content": "Writing it now."}), None),
                chunk(
                    json!({"tool_calls": [{"index": 0, "id": "call_cut", "type": "function", "function": {"name": name, "arguments": "{\"path\": \"out"}}]}),
                    None,
                ),
            ],
            end: End::Close,
        }
    }

    /// Some text, then a line that is not JSON.
    pub fn malformed() -> Self {
        Reply::Stream {
            frames: vec![
                chunk(json!({"content": "Hello"}), None),
                Frame::Raw(b"data: {\"choices\": [{\"delta\": {\"content\": \"oops\"\n\n".to_vec()),
            ],
            end: End::Done,
        }
    }

    /// Some text, then nothing: the connection stays open.
    pub fn stall_after(text: &str) -> Self {
        Reply::Stream {
            frames: vec![chunk(json!({"content": text}), None)],
            end: End::Hang,
        }
    }

    /// An HTTP error with a body.
    pub fn error(status: u16, body: &str) -> Self {
        Reply::Http {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    /// An HTTP error with headers (Retry-After ...).
    pub fn error_with_headers(status: u16, headers: &[(&str, &str)], body: &str) -> Self {
        Reply::Http {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.into(),
        }
    }

    /// A JSON document with status 200 (models listings ...).
    pub fn json(body: Value) -> Self {
        Reply::Http {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }

    /// A stream of named SSE events (`event: <type>`), as Anthropic and Responses send.
    pub fn events(events: Vec<Value>, end: End) -> Self {
        let frames = events
            .into_iter()
            .map(|e| Frame::Event(e["type"].as_str().unwrap_or("").to_string(), e))
            .collect();
        Reply::Stream { frames, end }
    }

    /// A whole (non-streamed) completion with text.
    pub fn whole_text(text: &str) -> Self {
        Reply::Http {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: json!({
                "id": "chatcmpl-mock", "object": "chat.completion", "created": 0, "model": "mock-model",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
            })
            .to_string(),
        }
    }

    /// The same Chat Completions reply reporting `input` prompt and `output` completion
    /// tokens instead of its own counts.
    pub fn with_usage(self, input: u64, output: u64) -> Self {
        match self {
            Reply::Stream { frames, end } => Reply::Stream {
                frames: frames
                    .into_iter()
                    .map(|f| match f {
                        Frame::Data(v) if v.get("usage").is_some() => usage(input, output),
                        other => other,
                    })
                    .collect(),
                end,
            },
            other => other,
        }
    }

    /// The same reply after a pause (a provider's latency before its first byte).
    pub fn delayed(self, pause: Duration) -> Self {
        match self {
            Reply::Stream { mut frames, end } => {
                frames.insert(0, Frame::Pause(pause));
                Reply::Stream { frames, end }
            }
            other => other,
        }
    }

    /// The same reply with its frames between pauses sent as one write: the same bytes for
    /// the client to parse, less work for this mock (benchmarks that measure the client).
    pub fn coalesced(self) -> Self {
        match self {
            Reply::Stream { frames, end } => {
                let mut out = Vec::new();
                let mut pending: Vec<u8> = Vec::new();
                for f in frames {
                    match f {
                        Frame::Pause(d) => {
                            if !pending.is_empty() {
                                out.push(Frame::Raw(std::mem::take(&mut pending)));
                            }
                            out.push(Frame::Pause(d));
                        }
                        Frame::Data(v) => pending.extend(format!("data: {v}\n\n").into_bytes()),
                        Frame::Event(name, v) => {
                            pending.extend(format!("event: {name}\ndata: {v}\n\n").into_bytes())
                        }
                        Frame::Raw(b) => pending.extend(b),
                    }
                }
                if end == End::Done {
                    pending.extend(b"data: [DONE]\n\n");
                }
                if !pending.is_empty() {
                    out.push(Frame::Raw(pending));
                }
                Reply::Stream {
                    frames: out,
                    end: if end == End::Done { End::Close } else { end },
                }
            }
            other => other,
        }
    }

    /// The same reply with a pause before each frame.
    pub fn paced(self, pause: Duration) -> Self {
        match self {
            Reply::Stream { frames, end } => Reply::Stream {
                frames: frames
                    .into_iter()
                    .flat_map(|f| [Frame::Pause(pause), f])
                    .collect(),
                end,
            },
            other => other,
        }
    }
}

#[derive(Default)]
struct Shared {
    replies: VecDeque<Reply>,
    requests: Vec<Value>,
    /// When each request arrived (its body read), in order.
    arrivals: Vec<std::time::Instant>,
    headers: Vec<HeaderMap>,
    paths: Vec<String>,
    /// When set, the reply given once the queue is empty (for benchmarks).
    repeat: Option<Reply>,
    /// Replies for one path, taken before the shared queue.
    by_path: std::collections::HashMap<String, VecDeque<Reply>>,
    /// Credentials the server refuses (bearer token or x-api-key), with the refusal.
    refused: Vec<(String, Reply)>,
}

/// A running mock. Dropping it stops the server.
pub struct MockProvider {
    server: LoopbackServer,
    shared: Arc<Mutex<Shared>>,
}

impl MockProvider {
    pub async fn start() -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let server = LoopbackServer::start(app).await.expect("bind 127.0.0.1:0");
        Self { server, shared }
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        self.server.v1_url()
    }

    /// `http://127.0.0.1:PORT`, for transports that add `/v1/...` themselves (Anthropic).
    pub fn root_url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// The path of every request received so far.
    pub fn paths(&self) -> Vec<String> {
        self.lock().paths.clone()
    }

    /// Queues the answer to the next request.
    pub fn push(&self, reply: Reply) -> &Self {
        self.lock().replies.push_back(reply);
        self
    }

    /// Queues the answer to the next request for `path` (before the shared queue).
    pub fn push_for(&self, path: &str, reply: Reply) -> &Self {
        self.lock()
            .by_path
            .entry(path.to_string())
            .or_default()
            .push_back(reply);
        self
    }

    /// Answers every request that carries `credential` (as a bearer token or an x-api-key)
    /// with `reply`, the way a server treats a revoked token, however often it is tried.
    pub fn refuse_credential(&self, credential: &str, reply: Reply) -> &Self {
        self.lock().refused.push((credential.to_string(), reply));
        self
    }

    /// Answers every request past the queue with `reply`.
    pub fn repeat(&self, reply: Reply) {
        self.lock().repeat = Some(reply);
    }

    /// Every request body received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.lock().requests.clone()
    }

    /// The headers of every request received so far.
    pub fn request_headers(&self) -> Vec<HeaderMap> {
        self.lock().headers.clone()
    }

    pub fn hits(&self) -> usize {
        self.lock().requests.len()
    }

    /// When request `n` (from 0) arrived, once it has: for timings that must not depend
    /// on how often the caller looks.
    pub fn arrival(&self, n: usize) -> Option<std::time::Instant> {
        self.lock().arrivals.get(n).copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn answer(
    State(shared): State<Arc<Mutex<Shared>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = std::time::Instant::now();
    // The body is parsed outside the lock (many requests at once must not queue behind one
    // another's JSON).
    let body_json = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let presented: Vec<String> = ["authorization", "x-api-key"]
        .iter()
        .filter_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).to_string())
        .collect();
    let path = uri.path().to_string();
    let reply = {
        let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
        s.paths.push(path.clone());
        s.requests.push(body_json);
        s.arrivals.push(arrived);
        s.headers.push(headers);
        let refused = s
            .refused
            .iter()
            .find(|(c, _)| presented.contains(c))
            .map(|(_, r)| r.clone());
        refused
            .or_else(|| s.by_path.get_mut(&path).and_then(VecDeque::pop_front))
            .or_else(|| s.replies.pop_front())
            .or_else(|| s.repeat.clone())
    };
    let Some(reply) = reply else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":{"message":"mock: no scripted reply left for this request","type":"mock_error"}}"#,
        )
            .into_response();
    };
    match reply {
        Reply::Http {
            status,
            headers,
            body,
        } => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() =
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            for (k, v) in headers {
                if let (Ok(k), Ok(v)) = (
                    HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(&v),
                ) {
                    response.headers_mut().insert(k, v);
                }
            }
            response
        }
        Reply::Stream { frames, end } => {
            let mut items: Vec<Frame> = frames;
            if end == End::Done {
                items.push(Frame::Raw(b"data: [DONE]\n\n".to_vec()));
            }
            let body =
                futures::stream::unfold((items.into_iter(), end), |(mut it, end)| async move {
                    loop {
                        match it.next() {
                            Some(Frame::Pause(d)) => tokio::time::sleep(d).await,
                            Some(Frame::Data(v)) => {
                                return Some((
                                    Ok::<_, Infallible>(Bytes::from(format!("data: {v}\n\n"))),
                                    (it, end),
                                ))
                            }
                            Some(Frame::Raw(b)) => return Some((Ok(Bytes::from(b)), (it, end))),
                            Some(Frame::Event(name, v)) => {
                                return Some((
                                    Ok(Bytes::from(format!("event: {name}\ndata: {v}\n\n"))),
                                    (it, end),
                                ))
                            }
                            None if end == End::Hang => futures::future::pending::<()>().await,
                            None => return None,
                        }
                    }
                });
            let mut response = Response::new(Body::from_stream(body));
            response.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("text/event-stream"),
            );
            response
        }
    }
}
