//! A `url` server: streamable HTTP, or the older HTTP+SSE transport when its config says
//! `transport = "sse"` or when it answers the streamable HTTP `initialize` POST with 404
//! or 405 (the backwards-compatibility rule of the MCP specification).

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::StatusCode;

use crate::config::{ServerConfig, Transport};
use crate::connection::{McpError, RmcpConnection};

/// Connects to server `config.url` over the transport it speaks.
pub async fn connect(config: &ServerConfig) -> Result<RmcpConnection, McpError> {
    match config.transport {
        Some(Transport::Sse) => return crate::sse::connect(config).await,
        Some(Transport::StreamableHttp) => return crate::http::connect(config).await,
        None => {}
    }
    let streamable = crate::http::connect(config).await;
    let Err(McpError::Start(why)) = &streamable else {
        return streamable;
    };
    if !only_sse(config).await {
        return streamable;
    }
    crate::sse::connect(config).await.map_err(|e| {
        McpError::Start(format!(
            "it refused streamable HTTP ({why}), and the older HTTP+SSE transport failed too: {e}"
        ))
    })
}

/// True when the server answers an `initialize` POST with 404 or 405: it speaks only the
/// older HTTP+SSE transport.
async fn only_sse(config: &ServerConfig) -> bool {
    let Some(url) = config.url.as_deref() else {
        return false;
    };
    let Ok(token) = bearer_token(config) else {
        return false;
    };
    let timeout = Duration::from_secs(config.startup_timeout_secs);
    let Ok(client) = reqwest::Client::builder().timeout(timeout).build() else {
        return false;
    };
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": "2025-03-26",
            "capabilities": {},
            "clientInfo": {"name": "sortie", "version": env!("CARGO_PKG_VERSION")}
        }
    });
    let mut request = client
        .post(url)
        .header(ACCEPT, "application/json, text/event-stream")
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(r) => matches!(
            r.status(),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        ),
        Err(_) => false,
    }
}

/// The bearer token `bearer_token_env` names, if any.
pub(crate) fn bearer_token(config: &ServerConfig) -> Result<Option<String>, McpError> {
    let Some(var) = &config.bearer_token_env else {
        return Ok(None);
    };
    std::env::var(var).map(Some).map_err(|_| {
        McpError::Start(format!(
            "`bearer_token_env` names `{var}`, which is not set in Sortie's environment"
        ))
    })
}
