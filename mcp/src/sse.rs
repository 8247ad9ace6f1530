//! The older HTTP+SSE transport (MCP 2024-11-05), for servers that do not speak streamable
//! HTTP: a GET opens an SSE stream whose first `endpoint` event names the URL to POST
//! JSON-RPC messages to; the answers come back as `message` events on that stream.
//!
//! rmcp 3 has no client for it, so this is ours, implementing rmcp's [`Transport`] so the
//! rest of [`RmcpConnection`] is shared. Bounded: each event at most [`MAX_EVENT`] bytes
//! (the bound of a streamable HTTP answer), the stream and the `endpoint` event within the
//! startup timeout, each POST within it too; the POST URL must be on the stream's origin
//! (the bearer token goes nowhere else).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{StatusCode, Url};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::RoleClient;
use sortie_transports::sse::{SseDecoder, SseEvent};
use tokio::sync::mpsc;

use crate::config::ServerConfig;
use crate::connection::{McpError, RmcpConnection};

/// Largest SSE event read from the server (one JSON-RPC message): a bigger one ends the
/// connection rather than being buffered. The same bound as a streamable HTTP answer.
pub const MAX_EVENT: usize = crate::http::MAX_RESPONSE;

/// Messages read ahead of the client.
const QUEUE: usize = 64;

/// Why the stream ended, for the error of the calls it ends.
type Ended = Arc<Mutex<Option<String>>>;

/// A failed POST, or a stream that is gone.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SseError(String);

/// rmcp's view of one HTTP+SSE session.
pub struct SseTransport {
    client: reqwest::Client,
    post: Url,
    token: Option<String>,
    post_timeout: Duration,
    rx: mpsc::Receiver<ServerJsonRpcMessage>,
    reader: tokio::task::JoinHandle<()>,
    ended: Ended,
}

/// Connects to the HTTP+SSE server at `config.url` and runs the handshake.
pub async fn connect(config: &ServerConfig) -> Result<RmcpConnection, McpError> {
    let startup = Duration::from_secs(config.startup_timeout_secs);
    let url = config.url.as_deref().unwrap_or_default();
    let token = crate::remote::bearer_token(config)?;
    let transport = tokio::time::timeout(startup, open(url, token, startup))
        .await
        .map_err(|_| {
            McpError::Start(format!(
                "its SSE stream sent no `endpoint` event within {}s (startup_timeout_secs)",
                startup.as_secs()
            ))
        })??;
    let ended = transport.ended.clone();
    Ok(RmcpConnection::connect(transport, startup, None)
        .await?
        .with_closed_reason(ended))
}

/// Opens the stream and reads up to the `endpoint` event.
async fn open(
    url: &str,
    token: Option<String>,
    startup: Duration,
) -> Result<SseTransport, McpError> {
    let start = |e: String| McpError::Start(e);
    let base = Url::parse(url).map_err(|e| start(format!("`url` `{url}` is not a URL: {e}")))?;
    let client = reqwest::Client::builder()
        .connect_timeout(startup)
        .build()
        .map_err(|e| start(format!("cannot make an HTTP client: {e}")))?;
    let mut request = client.get(base.clone()).header(ACCEPT, "text/event-stream");
    if let Some(token) = &token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| start(format!("cannot open its SSE stream: {}", without_url(&e))))?;
    let status = response.status();
    if !status.is_success() {
        return Err(start(format!("opening its SSE stream got HTTP {status}")));
    }
    let is_sse = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !is_sse {
        return Err(start(
            "its answer to GET is not an SSE stream (text/event-stream): is `url` the server's SSE endpoint?".into(),
        ));
    }
    let mut body = response.bytes_stream();
    let mut decoder = SseDecoder::with_limit(MAX_EVENT);
    let mut pending: Vec<SseEvent> = Vec::new();
    let endpoint = loop {
        if let Some(at) = pending.iter().position(|e| e.event == "endpoint") {
            let event = pending.remove(at);
            pending.drain(..at);
            break event.data;
        }
        match body.next().await {
            Some(Ok(chunk)) => decoder
                .feed(&chunk, &mut pending)
                .map_err(|e| start(format!("its SSE stream: {e}")))?,
            Some(Err(e)) => {
                return Err(start(format!(
                    "its SSE stream failed before the `endpoint` event: {}",
                    without_url(&e)
                )))
            }
            None => {
                return Err(start(
                    "its SSE stream ended before the `endpoint` event".into(),
                ))
            }
        }
    };
    let post = post_url(&base, endpoint.trim()).map_err(start)?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let ended: Ended = Arc::default();
    let reader = tokio::spawn(read(body, decoder, pending, tx, ended.clone()));
    Ok(SseTransport {
        client,
        post,
        token,
        post_timeout: startup,
        rx,
        reader,
        ended,
    })
}

/// The URL the `endpoint` event names, resolved against the stream's; refused when it is
/// on another origin.
pub(crate) fn post_url(base: &Url, endpoint: &str) -> Result<Url, String> {
    let post = base
        .join(endpoint)
        .map_err(|e| format!("its `endpoint` event `{endpoint}` is not a URL: {e}"))?;
    if post.origin() != base.origin() {
        return Err(format!(
            "its `endpoint` event points to another origin ({}); refused",
            post.origin().ascii_serialization()
        ));
    }
    Ok(post)
}

/// Reads the stream's `message` events into `tx` until it ends; says why in `ended`.
async fn read<S>(
    mut body: S,
    mut decoder: SseDecoder,
    mut events: Vec<SseEvent>,
    tx: mpsc::Sender<ServerJsonRpcMessage>,
    ended: Ended,
) where
    S: futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
{
    let why = loop {
        for event in events.drain(..) {
            if !(event.event.is_empty() || event.event == "message") {
                continue;
            }
            match serde_json::from_str::<ServerJsonRpcMessage>(&event.data) {
                Ok(message) => {
                    if tx.send(message).await.is_err() {
                        return;
                    }
                }
                Err(e) => tracing::warn!("an MCP server's SSE message is not JSON-RPC: {e}"),
            }
        }
        match body.next().await {
            Some(Ok(chunk)) => {
                if let Err(e) = decoder.feed(&chunk, &mut events) {
                    break format!("its SSE stream was cut: {e}");
                }
            }
            Some(Err(e)) if e.is_body() || e.is_decode() => {
                break "its SSE stream was cut off mid-answer".to_string()
            }
            Some(Err(e)) => break format!("its SSE stream failed: {}", without_url(&e)),
            None => break "its SSE stream ended".to_string(),
        }
    };
    *ended.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
}

/// A reqwest error's text without its URL (which may carry a session id).
fn without_url(e: &reqwest::Error) -> String {
    let mut e = e.to_string();
    if let Some(at) = e.find(" for url (") {
        e.truncate(at);
    }
    e
}

impl Transport<RoleClient> for SseTransport {
    type Error = SseError;

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl std::future::Future<Output = Result<(), SseError>> + Send + 'static {
        let mut request = self
            .client
            .post(self.post.clone())
            .timeout(self.post_timeout)
            .json(&item);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let ended = self.ended.clone();
        async move {
            let gone = || {
                ended
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
                    .map(|why| format!("; {why}"))
                    .unwrap_or_default()
            };
            let response = request.send().await.map_err(|e| {
                SseError(format!(
                    "posting a message failed: {}{}",
                    without_url(&e),
                    gone()
                ))
            })?;
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else if status == StatusCode::NOT_FOUND {
                Err(SseError(format!(
                    "the server no longer knows this session (HTTP 404){}",
                    gone()
                )))
            } else {
                Err(SseError(format!("posting a message got HTTP {status}")))
            }
        }
    }

    fn receive(
        &mut self,
    ) -> impl std::future::Future<Output = Option<ServerJsonRpcMessage>> + Send {
        self.rx.recv()
    }

    async fn close(&mut self) -> Result<(), SseError> {
        self.reader.abort();
        Ok(())
    }
}

impl Drop for SseTransport {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_resolves_on_the_streams_origin_and_another_origin_is_refused() {
        let base = Url::parse("http://127.0.0.1:8000/sse").expect("url");
        assert_eq!(
            post_url(&base, "/messages/?session_id=ab")
                .expect("same origin")
                .as_str(),
            "http://127.0.0.1:8000/messages/?session_id=ab"
        );
        assert_eq!(
            post_url(&base, "message?sessionId=1")
                .expect("relative")
                .as_str(),
            "http://127.0.0.1:8000/message?sessionId=1"
        );
        let err = post_url(&base, "http://evil.example/steal").expect_err("other origin");
        assert!(err.contains("another origin"), "{err}");
        assert!(
            post_url(&base, "http://127.0.0.1:9000/m").is_err(),
            "another port"
        );
    }
}
