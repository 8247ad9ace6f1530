//! The HTTP layer under async-openai: no hidden retries, and failures keep their status,
//! headers and body so [`crate::classify()`] can read them.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use futures::StreamExt;

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

/// A tower service that sends each request once. Recovery decides about retries, so the
/// default async-openai retry layer is replaced by this.
#[derive(Clone)]
pub(crate) struct SendOnce {
    client: reqwest::Client,
}

impl SendOnce {
    pub(crate) fn new(client: reqwest::Client) -> Self {
        Self { client }
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
        let client = self.client.clone();
        Box::pin(async move {
            let mut request = factory.build().await?;
            // async-openai always sends a bearer header; a keyless endpoint (Ollama, vLLM)
            // should get none rather than an empty one.
            let empty_bearer = request
                .headers()
                .get(reqwest::header::AUTHORIZATION)
                .is_some_and(|v| v.as_bytes().trim_ascii() == b"Bearer");
            if empty_bearer {
                request.headers_mut().remove(reqwest::header::AUTHORIZATION);
            }
            let response = client.execute(request).await?;
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
