//! A `url` server reached with an OAuth login (`sortie auth login mcp:NAME`): each request
//! carries `Authorization: Bearer` from the login's [`TokenSource`]; a 401 gets one
//! refresh and one retry, and after that the connection fails with a clear
//! "needs login" naming the command to run.
//!
//! The SDK's own `AuthClient` does the same around its `AuthorizationManager`; this is
//! that wrapper around Sortie's credential pool instead (see `sortie_transports`'
//! `auth::oauth::resource` for why the discovery is Sortie's own too).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpClientTransportConfig, StreamableHttpError,
    StreamableHttpPostResponse, StreamableHttpResponseLimits,
};
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Map, Value};
use sse_stream::{Error as SseError, Sse};

use crate::config::ServerConfig;
use crate::connection::{BoxFuture, Connection, McpError, RemoteTool, RmcpConnection};

/// The start of every "needs login" error (what `sortie mcp ls` shows as the state).
pub const NEEDS_LOGIN: &str = "needs login";

/// Where the tokens of a server's OAuth login come from (Sortie's credential pool).
/// Token values never appear in the errors.
pub trait TokenSource: Send + Sync {
    /// The access token to send now (refreshed first when about to expire); `Ok(None)`:
    /// no login is stored. `Err`: the login is unusable, and why.
    fn token(&self) -> BoxFuture<'_, Result<Option<String>, String>>;
    /// The server refused `stale`: a new token after one refresh, or why there is none.
    fn refresh<'a>(&'a self, stale: &'a str) -> BoxFuture<'a, Result<String, String>>;
    /// The command that logs in, `sortie auth login mcp:NAME`.
    fn login_command(&self) -> String;
}

/// A server's [`TokenSource`], carried in its [`ServerConfig`] (never written to config).
#[derive(Clone)]
pub struct Login(pub Arc<dyn TokenSource>);

impl PartialEq for Login {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Login({})", self.0.login_command())
    }
}

/// Why the server wants a login, once it said so.
type Refusal = Arc<Mutex<Option<String>>>;

/// reqwest's streamable HTTP client with the login's token on each request.
#[derive(Clone)]
struct OAuthHttp {
    inner: reqwest::Client,
    source: Arc<dyn TokenSource>,
    refusal: Refusal,
}

type HttpResult<T> = Result<T, StreamableHttpError<reqwest::Error>>;

impl OAuthHttp {
    fn refuse(&self, why: String) {
        *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
    }

    /// Runs `call` with the current token; on a 401, one refresh and one retry.
    async fn with_token<T, F, Fut>(&self, call: F) -> HttpResult<T>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: std::future::Future<Output = HttpResult<T>>,
    {
        let command = self.source.login_command();
        let (token, unusable) = match self.source.token().await {
            Ok(token) => (token, None),
            Err(why) => (None, Some(why)),
        };
        let result = call(token.clone()).await;
        let Err(StreamableHttpError::AuthRequired(challenge)) = result else {
            return result;
        };
        let why = match (token, unusable) {
            (_, Some(why)) => format!("{NEEDS_LOGIN}: {command} ({why})"),
            (None, None) => format!("{NEEDS_LOGIN}: {command} (the server answered 401 and no login is stored)"),
            (Some(sent), None) => match self.source.refresh(&sent).await {
                Ok(fresh) if fresh != sent => {
                    let again = call(Some(fresh)).await;
                    if !matches!(again, Err(StreamableHttpError::AuthRequired(_))) {
                        return again;
                    }
                    format!("{NEEDS_LOGIN}: {command} (the server refused the login even after a refresh)")
                }
                Ok(_) => format!(
                    "{NEEDS_LOGIN}: {command} (the server refused the token and the refresh gave the same one)"
                ),
                Err(why) => format!("{NEEDS_LOGIN}: {command} ({why})"),
            },
        };
        self.refuse(why);
        Err(StreamableHttpError::AuthRequired(challenge))
    }
}

impl StreamableHttpClient for OAuthHttp {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<StreamableHttpPostResponse> {
        self.with_token(|token| {
            self.inner.post_message(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                token,
                headers.clone(),
            )
        })
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> HttpResult<StreamableHttpPostResponse> {
        self.with_token(|token| {
            self.inner.post_message_with_response_limits(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                token,
                headers.clone(),
                limits,
            )
        })
        .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<()> {
        self.with_token(|token| {
            self.inner
                .delete_session(uri.clone(), session_id.clone(), token, headers.clone())
        })
        .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<BoxStream<'static, Result<Sse, SseError>>> {
        self.with_token(|token| {
            self.inner.get_stream(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                token,
                headers.clone(),
            )
        })
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> HttpResult<BoxStream<'static, Result<Sse, SseError>>> {
        self.with_token(|token| {
            self.inner.get_stream_with_max_sse_event_size(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                token,
                headers.clone(),
                max_sse_event_size,
            )
        })
        .await
    }
}

/// A connection whose failures say "needs login" once the server refused the login.
struct OAuthConnection {
    conn: RmcpConnection,
    refusal: Refusal,
}

impl OAuthConnection {
    fn map(&self, e: McpError) -> McpError {
        refused(&self.refusal).unwrap_or(e)
    }
}

fn refused(refusal: &Refusal) -> Option<McpError> {
    refusal
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .map(McpError::NeedsLogin)
}

impl Connection for OAuthConnection {
    fn list_tools(&self) -> BoxFuture<'_, Result<Vec<RemoteTool>, McpError>> {
        Box::pin(async move { self.conn.list_tools().await.map_err(|e| self.map(e)) })
    }

    fn call_tool<'a>(
        &'a self,
        name: &'a str,
        arguments: Map<String, Value>,
    ) -> BoxFuture<'a, Result<Value, McpError>> {
        Box::pin(async move {
            self.conn
                .call_tool(name, arguments)
                .await
                .map_err(|e| self.map(e))
        })
    }

    fn take_tools_changed(&self) -> bool {
        self.conn.take_tools_changed()
    }

    fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }
}

/// Connects to `config.url` with the login's tokens and runs the handshake.
pub async fn connect(
    config: &ServerConfig,
    login: &Login,
    max_response: usize,
) -> Result<Arc<dyn Connection>, McpError> {
    let url = config.url.as_deref().unwrap_or_default();
    let refusal: Refusal = Arc::default();
    let client = OAuthHttp {
        inner: reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default(),
        source: login.0.clone(),
        refusal: refusal.clone(),
    };
    let transport_config = StreamableHttpClientTransportConfig::with_uri(url)
        .max_json_response_size(max_response)
        .max_sse_event_size(max_response);
    let transport = StreamableHttpClientTransport::with_client(client, transport_config);
    let startup = Duration::from_secs(config.startup_timeout_secs);
    match RmcpConnection::connect(transport, startup, None).await {
        Ok(conn) => Ok(Arc::new(OAuthConnection { conn, refusal })),
        Err(e) => Err(refused(&refusal).unwrap_or(e)),
    }
}
