//! A streamable HTTP server (`url`), with the bearer token `bearer_token_env` names.

use std::time::Duration;

use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;

use crate::config::ServerConfig;
use crate::connection::{McpError, RmcpConnection};

/// Largest answer read from the server: a bigger one is refused, not buffered.
pub(crate) const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// Connects to server `config.url` and runs the handshake.
pub async fn connect(config: &ServerConfig) -> Result<RmcpConnection, McpError> {
    let url = config.url.as_deref().unwrap_or_default();
    let mut transport_config = StreamableHttpClientTransportConfig::with_uri(url)
        .max_json_response_size(MAX_RESPONSE)
        .max_sse_event_size(MAX_RESPONSE);
    if let Some(var) = &config.bearer_token_env {
        let token = std::env::var(var).map_err(|_| {
            McpError::Start(format!(
                "`bearer_token_env` names `{var}`, which is not set in Sortie's environment"
            ))
        })?;
        transport_config = transport_config.auth_header(token);
    }
    let transport = StreamableHttpClientTransport::from_config(transport_config);
    let startup = Duration::from_secs(config.startup_timeout_secs);
    RmcpConnection::connect(transport, startup, None).await
}
