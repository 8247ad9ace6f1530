//! The HTTP layer under async-openai: no hidden retries, and failures keep their status,
//! headers and body so [`crate::classify()`] can read them.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use futures::StreamExt;

use super::auth_headers::{auth_headers, Fixed, Wire};
use crate::auth::Credentials;
use crate::sse::{SseDecoder, SseEvent};
use crate::Secret;
use crate::{ErrorClass, EventStream, TransportError, TransportEvent};

/// Largest error body we read; anything past it is dropped.
const MAX_ERROR_BODY: usize = 256 * 1024;

/// A non-2xx answer, kept whole for classification.
#[derive(Debug, Clone, thiserror::Error)]
#[error("HTTP {status}")]
pub struct HttpFailure {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Carries a credential failure through async-openai's error type (unboxed again in
/// `openai_chat::map_openai_error`).
fn boxed(e: TransportError) -> OpenAIError {
    OpenAIError::Boxed(Box::new(e))
}

/// A tower service that sends each request once. Recovery decides about retries, so the
/// default async-openai retry layer is replaced by this. It also puts the auth and the
/// configured headers on, in the one place every direct transport does.
#[derive(Clone)]
pub(crate) struct SendOnce {
    client: reqwest::Client,
    credentials: Option<Credentials>,
    api_key: Option<Secret>,
    headers: Vec<(String, String)>,
}

impl SendOnce {
    pub(crate) fn new(
        client: reqwest::Client,
        credentials: Option<Credentials>,
        api_key: Option<Secret>,
        headers: Vec<(String, String)>,
    ) -> Self {
        Self {
            client,
            credentials,
            api_key,
            headers,
        }
    }
}

type SendFuture = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

impl tower::Service<HttpRequestFactory> for SendOnce {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = SendFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let mut request = factory.build().await?;
            let fixed = Fixed {
                key: this.api_key.as_ref(),
                ..Default::default()
            };
            let auth = auth_headers(
                Wire::OpenAi,
                this.credentials.as_ref(),
                fixed,
                &this.headers,
            )
            .await
            .map_err(boxed)?;
            // async-openai always sends a bearer header (empty here): ours replaces it.
            request.headers_mut().remove(reqwest::header::AUTHORIZATION);
            for (name, value) in &auth {
                request.headers_mut().append(name, value.clone());
            }
            let response = this.client.execute(request).await?;
            if response.status().is_success() {
                return Ok(response);
            }
            Err(OpenAIError::Boxed(Box::new(read_failure(response).await)))
        })
    }
}

async fn read_failure(response: reqwest::Response) -> HttpFailure {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(Ok(chunk)) = chunks.next().await {
        let room = MAX_ERROR_BODY.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if room <= chunk.len() {
            break;
        }
    }
    HttpFailure {
        status,
        headers,
        body,
    }
}

/// The error for a request that could not be sent or whose connection broke.
pub(crate) fn reqwest_error(e: &reqwest::Error, base_url: &str) -> TransportError {
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = format!("{detail}: {s}");
        source = s.source();
    }
    if e.is_timeout() {
        TransportError::new(
            ErrorClass::Timeout,
            format!("request to {base_url} timed out: {detail}"),
        )
    } else if e.is_connect() {
        TransportError::new(
            ErrorClass::Network,
            format!("cannot connect to {base_url}: {detail}"),
        )
    } else {
        TransportError::new(
            ErrorClass::Network,
            format!("request to {base_url} failed: {detail}"),
        )
    }
}

/// The error for a provider that went silent.
pub(crate) fn timeout_error(idle: Duration, phase: &str) -> TransportError {
    TransportError::new(
        ErrorClass::Timeout,
        format!(
            "the provider sent nothing for {}s ({phase})",
            idle.as_secs_f32()
        ),
    )
}

/// The error for a stream event that is not what the wire format promises.
pub(crate) fn malformed(reason: &str, content: &str) -> TransportError {
    let mut excerpt: String = content.chars().take(160).collect();
    if excerpt.len() < content.len() {
        excerpt.push('…');
    }
    TransportError::new(
        ErrorClass::MalformedResponse,
        format!("the provider sent a malformed stream event ({reason}): {excerpt:?}"),
    )
}

/// Runs a producer that sends into a channel, and returns the receiving end as a stream.
/// Dropping the stream stops the producer at its next send.
pub(crate) fn channel_stream<F, Fut>(produce: F) -> EventStream
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<TransportEvent, TransportError>>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(produce(tx));
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// Sends a request and returns the response once it is known to be a success; a failure
/// is read (capped) and classified.
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
    base_url: &str,
    idle: Duration,
) -> Result<reqwest::Response, TransportError> {
    let response = tokio::time::timeout(idle, request.send())
        .await
        .map_err(|_| timeout_error(idle, "waiting for the response to start"))?
        .map_err(|e| reqwest_error(&e, base_url))?;
    if response.status().is_success() {
        return Ok(response);
    }
    let mut url = response.url().clone();
    url.set_query(None);
    let failure = read_failure(response).await;
    Err(failure.error_at(url.as_str()))
}

impl HttpFailure {
    /// The failure as a transport error; a 404 names the URL that was not found, which is
    /// how a wrong `base_url` shows up.
    pub fn error_at(&self, url: &str) -> TransportError {
        let mut error = TransportError::from_http(self.status, &self.headers, &self.body);
        if self.status == 404 {
            error.message = format!(
                "{} (at {url}; check the provider's base_url)",
                error.message
            );
        }
        error
    }
}

/// The warning a stream's parser gives at its end for the event types it did not know
/// (`name ×count`, in name order); none when it knew them all.
pub(crate) fn skipped_warning(
    skipped: &std::collections::BTreeMap<String, u32>,
) -> Option<TransportEvent> {
    if skipped.is_empty() {
        return None;
    }
    let list: Vec<String> = skipped.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
    Some(TransportEvent::Warning(format!(
        "skipped unknown stream events: {}",
        list.join(", ")
    )))
}

/// A provider's SSE wire format, turned into transport events one SSE event at a time.
pub trait WireParser: Send + 'static {
    /// One decoded SSE event.
    fn event(&mut self, event: SseEvent) -> Result<Vec<TransportEvent>, TransportError>;
    /// True once the terminal event arrived: nothing after it matters.
    fn finished(&self) -> bool;
    /// The connection closed before [`WireParser::finished`]: the error to report.
    fn cut_short(&self) -> TransportError;
}

/// Feeds a whole recorded stream through a parser (tests and benchmarks).
pub fn parse_recorded<P: WireParser>(
    bytes: &[u8],
    mut parser: P,
) -> Result<Vec<TransportEvent>, TransportError> {
    let mut decoder = SseDecoder::default();
    let mut events = Vec::new();
    decoder
        .feed(bytes, &mut events)
        .map_err(|e| TransportError::new(ErrorClass::MalformedResponse, e.to_string()))?;
    let mut out = Vec::new();
    for event in events {
        out.extend(parser.event(event)?);
        if parser.finished() {
            return Ok(out);
        }
    }
    Err(parser.cut_short())
}

/// What one step of a pulled stream gave: items to pass on, and whether that was the end.
pub(crate) type Step<S> = (S, Vec<Result<TransportEvent, TransportError>>, bool);

/// A stream its consumer pulls: each `step` reads the next piece of input (a chunk, an SSE
/// event) and says what it gave; the items are passed on in order, and nothing is read
/// after the step that said it was the end (a finished answer or an error). No task of its
/// own and no channel between the wire and the consumer: a turn of a mission is one task.
pub(crate) fn pulled<S, F, Fut>(state: S, step: F) -> EventStream
where
    S: Send + 'static,
    F: FnMut(S) -> Fut + Send + 'static,
    Fut: Future<Output = Step<S>> + Send + 'static,
{
    let queue = std::collections::VecDeque::new();
    Box::pin(futures::stream::unfold(
        (Some(state), queue, step),
        |(mut state, mut queue, mut step)| async move {
            loop {
                if let Some(item) = queue.pop_front() {
                    return Some((item, (state, queue, step)));
                }
                let (next, items, ended) = step(state.take()?).await;
                queue.extend(items);
                if !ended {
                    state = Some(next);
                }
            }
        },
    ))
}

/// Streams a response body through a parser, with an idle timeout between chunks.
pub(crate) fn drive<P: WireParser>(
    response: reqwest::Response,
    idle: Duration,
    base_url: String,
    parser: P,
) -> EventStream {
    let state = (
        response.bytes_stream(),
        SseDecoder::default(),
        parser,
        Vec::new(),
    );
    pulled(
        state,
        move |(mut body, mut decoder, mut parser, mut decoded)| {
            let base_url = base_url.clone();
            async move {
                let chunk = match tokio::time::timeout(idle, body.next()).await {
                    Err(_) => {
                        let items = vec![Err(timeout_error(idle, "mid-stream"))];
                        return ((body, decoder, parser, decoded), items, true);
                    }
                    Ok(None) => {
                        let items = vec![Err(parser.cut_short())];
                        return ((body, decoder, parser, decoded), items, true);
                    }
                    Ok(Some(Err(e))) => {
                        let mut err = reqwest_error(&e, &base_url);
                        err.message = format!("the stream broke: {}", err.message);
                        return ((body, decoder, parser, decoded), vec![Err(err)], true);
                    }
                    Ok(Some(Ok(chunk))) => chunk,
                };
                let mut items = Vec::new();
                let mut ended = false;
                if let Err(e) = decoder.feed(&chunk, &mut decoded) {
                    items.push(Err(TransportError::new(
                        ErrorClass::MalformedResponse,
                        e.to_string(),
                    )));
                    ended = true;
                }
                for event in decoded.drain(..) {
                    if ended {
                        break;
                    }
                    match parser.event(event) {
                        Ok(events) => items.extend(events.into_iter().map(Ok)),
                        Err(e) => {
                            items.push(Err(e));
                            ended = true;
                        }
                    }
                    ended |= parser.finished();
                }
                ((body, decoder, parser, decoded), items, ended)
            }
        },
    )
}

/// GETs a JSON document (a models listing), classified on failure.
pub(crate) async fn get_json(
    request: reqwest::RequestBuilder,
    base_url: &str,
    idle: Duration,
) -> Result<serde_json::Value, TransportError> {
    let response = send(request, base_url, idle).await?;
    let bytes = tokio::time::timeout(idle, response.bytes())
        .await
        .map_err(|_| timeout_error(idle, "reading the answer"))?
        .map_err(|e| reqwest_error(&e, base_url))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| malformed(&e.to_string(), &String::from_utf8_lossy(&bytes)))
}

/// The HTTP client every direct transport uses: no overall timeout (streams are long), a
/// connect timeout, and the idle timeout applied per read by the caller. One client per
/// connect timeout and scheme is shared by the whole process (sharing it shares its
/// connection pool). Only a client for an `https` base URL loads the system's TLS roots
/// (about 150 files, most of a start-up): a plain-`http` one (a local Ollama, vLLM, a
/// loopback gateway) trusts no root at all, so it never reads them.
pub(crate) fn http_client(
    connect_timeout: Duration,
    base_url: &str,
) -> Result<reqwest::Client, TransportError> {
    static CLIENTS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<(Duration, bool), reqwest::Client>>,
    > = std::sync::OnceLock::new();
    let tls = !base_url
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("http://");
    let clients = CLIENTS.get_or_init(Default::default);
    let mut clients = clients.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(client) = clients.get(&(connect_timeout, tls)) {
        return Ok(client.clone());
    }
    let mut builder = reqwest::Client::builder().connect_timeout(connect_timeout);
    if !tls {
        builder = builder.tls_certs_only(Vec::new());
    }
    let client = builder.build().map_err(|e| {
        TransportError::new(
            ErrorClass::Network,
            format!("cannot build HTTP client: {e}"),
        )
    })?;
    clients.insert((connect_timeout, tls), client.clone());
    Ok(client)
}

/// Marks a turn's errors, before and during the stream, with the credential that was used.
pub(crate) fn tag_errors(
    credentials: &Option<Credentials>,
    result: Result<EventStream, TransportError>,
) -> Result<EventStream, TransportError> {
    let Some(credentials) = credentials.clone() else {
        return result;
    };
    match result {
        Err(e) => Err(credentials.tag(e)),
        Ok(stream) => Ok(Box::pin(
            stream.map(move |item| item.map_err(|e| credentials.tag(e))),
        )),
    }
}

/// Marks one error with the credential that was used, when there is a credential source.
pub(crate) fn tag_error(
    credentials: &Option<Credentials>,
    error: TransportError,
) -> TransportError {
    match credentials {
        Some(c) => c.tag(error),
        None => error,
    }
}
