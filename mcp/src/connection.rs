//! The small trait the rest of Sortie sees an MCP server through, and its implementation
//! on the official SDK (`rmcp`), over a contained child process or streamable HTTP.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{NotificationContext, RunningService, ServiceError};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Map, Value};

use crate::stdio::Process;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A tool as its server lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteTool {
    pub name: String,
    pub description: String,
    pub input_schema: Map<String, Value>,
    /// The server's `readOnlyHint`.
    pub read_only: bool,
}

/// What went wrong talking to a server; the text never names the server (the caller does).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum McpError {
    /// It could not be started or reached, or did not answer `initialize`.
    #[error("{0}")]
    Start(String),
    /// The connection ended (a stdio server exited or crashed).
    #[error("{0}")]
    Closed(String),
    #[error("no answer within {}s", .0.as_secs())]
    TimedOut(Duration),
    /// The server answered with a JSON-RPC error, or something Sortie cannot read.
    #[error("{0}")]
    Protocol(String),
    /// The server answered 401 and the OAuth login (if any) could not fix it: the text
    /// starts with "needs login" and names `sortie auth login mcp:NAME`.
    #[error("{0}")]
    NeedsLogin(String),
}

/// One live connection to an MCP server.
pub trait Connection: Send + Sync {
    fn list_tools(&self) -> BoxFuture<'_, Result<Vec<RemoteTool>, McpError>>;
    /// Calls a tool; the answer is the `CallToolResult` as JSON.
    fn call_tool<'a>(
        &'a self,
        name: &'a str,
        arguments: Map<String, Value>,
    ) -> BoxFuture<'a, Result<Value, McpError>>;
    /// True once after the server said `notifications/tools/list_changed`.
    fn take_tools_changed(&self) -> bool;
    fn is_closed(&self) -> bool;
    /// Which shared connection this is a mission's view of (`shared = true` servers).
    fn shared_id(&self) -> Option<usize> {
        None
    }
}

/// Receives what the server sends on its own.
#[derive(Clone)]
struct Handler {
    changed: Arc<AtomicBool>,
}

impl ClientHandler for Handler {
    fn on_tool_list_changed(
        &self,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        self.changed.store(true, Ordering::SeqCst);
        std::future::ready(())
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("sortie", env!("CARGO_PKG_VERSION")),
        )
    }
}

/// A connection on `rmcp`; a stdio server's process lives as long as it.
pub struct RmcpConnection {
    service: RunningService<RoleClient, Handler>,
    changed: Arc<AtomicBool>,
    process: Option<Process>,
    /// Why the transport ended, when it says (the HTTP+SSE stream).
    closed_reason: Option<Arc<std::sync::Mutex<Option<String>>>>,
}

impl RmcpConnection {
    /// Runs the MCP handshake over `transport` within `startup`.
    pub(crate) async fn connect<T, E, A>(
        transport: T,
        startup: Duration,
        process: Option<Process>,
    ) -> Result<Self, McpError>
    where
        T: rmcp::transport::IntoTransport<RoleClient, E, A>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let changed = Arc::new(AtomicBool::new(false));
        let handler = Handler {
            changed: changed.clone(),
        };
        let served = tokio::time::timeout(startup, handler.serve(transport)).await;
        if let (Err(_) | Ok(Err(_)), Some(p)) = (&served, &process) {
            p.settle().await;
        }
        let why = |e: String| match &process {
            Some(p) => p.explain(&e),
            None => e,
        };
        match served {
            Ok(Ok(service)) => Ok(Self {
                service,
                changed,
                process,
                closed_reason: None,
            }),
            Ok(Err(e)) => Err(McpError::Start(why(format!(
                "it did not complete `initialize`: {e}"
            )))),
            Err(_) => Err(McpError::Start(why(format!(
                "it did not answer `initialize` within {}s (startup_timeout_secs)",
                startup.as_secs()
            )))),
        }
    }

    /// Names where the transport says why it ended.
    pub(crate) fn with_closed_reason(mut self, why: Arc<std::sync::Mutex<Option<String>>>) -> Self {
        self.closed_reason = Some(why);
        self
    }

    fn error(&self, e: ServiceError) -> McpError {
        match e {
            ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
                let mut what = "the connection to the server closed during the call".to_string();
                let why = self
                    .closed_reason
                    .as_ref()
                    .and_then(|w| w.lock().unwrap_or_else(|p| p.into_inner()).clone());
                if let Some(why) = why {
                    what.push_str(&format!(" ({why})"));
                }
                McpError::Closed(match &self.process {
                    Some(p) => p.explain(&what),
                    None => what,
                })
            }
            ServiceError::Timeout { timeout } => McpError::TimedOut(timeout),
            ServiceError::McpError(data) => {
                McpError::Protocol(format!("error {}: {}", data.code.0, data.message))
            }
            other => McpError::Protocol(other.to_string()),
        }
    }
}

impl Connection for RmcpConnection {
    fn list_tools(&self) -> BoxFuture<'_, Result<Vec<RemoteTool>, McpError>> {
        Box::pin(async move {
            let tools = self
                .service
                .peer()
                .list_all_tools()
                .await
                .map_err(|e| self.error(e))?;
            Ok(tools
                .into_iter()
                .map(|t| RemoteTool {
                    name: t.name.to_string(),
                    description: t.description.as_deref().unwrap_or("").to_string(),
                    input_schema: t.input_schema.as_ref().clone(),
                    read_only: t
                        .annotations
                        .as_ref()
                        .and_then(|a| a.read_only_hint)
                        .unwrap_or(false),
                })
                .collect())
        })
    }

    fn call_tool<'a>(
        &'a self,
        name: &'a str,
        arguments: Map<String, Value>,
    ) -> BoxFuture<'a, Result<Value, McpError>> {
        Box::pin(async move {
            let params = CallToolRequestParams::new(name.to_string()).with_arguments(arguments);
            let result = self
                .service
                .peer()
                .call_tool(params)
                .await
                .map_err(|e| self.error(e))?;
            serde_json::to_value(result).map_err(|e| McpError::Protocol(e.to_string()))
        })
    }

    fn take_tools_changed(&self) -> bool {
        self.changed.swap(false, Ordering::SeqCst)
    }

    fn is_closed(&self) -> bool {
        self.service.is_closed() || self.process.as_ref().is_some_and(Process::exited)
    }
}

impl Drop for RmcpConnection {
    fn drop(&mut self) {
        self.service.cancellation_token().cancel();
    }
}
