//! The loopback redirect of RFC 8252: a one-purpose HTTP listener on 127.0.0.1 that waits
//! for the authorization server to send the browser back with a code.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::OAuthError;

/// What the browser brought back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    pub code: String,
    pub state: String,
    /// The issuer (RFC 9207), when the server sends it; checked with
    /// [`super::OAuthClient::check_issuer`].
    pub iss: Option<String>,
}

/// A bound callback listener.
pub struct CallbackServer {
    listener: TcpListener,
    path: String,
    pub redirect_uri: String,
}

const PAGE_OK: &str = "<!doctype html><title>Sortie</title><p>Signed in. You can close this window and go back to the terminal.</p>";

impl CallbackServer {
    /// Binds 127.0.0.1 on `port` (0 or `None`: any free port).
    pub async fn bind(port: Option<u16>, path: &str) -> Result<Self, OAuthError> {
        let listener = TcpListener::bind(("127.0.0.1", port.unwrap_or(0)))
            .await
            .map_err(|e| {
                OAuthError::Invalid(format!(
                    "cannot listen on 127.0.0.1:{} for the login callback: {e}",
                    port.unwrap_or(0)
                ))
            })?;
        let port = listener
            .local_addr()
            .map_err(|e| OAuthError::Invalid(e.to_string()))?
            .port();
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        Ok(Self {
            redirect_uri: format!("http://127.0.0.1:{port}{path}"),
            listener,
            path,
        })
    }

    /// Waits for the callback whose `state` matches. Other paths get a 404, a wrong `state`
    /// a 400, and the wait goes on; an error redirect with the right state ends it.
    pub async fn wait(
        &self,
        expected_state: &str,
        timeout: Duration,
    ) -> Result<Callback, OAuthError> {
        tokio::time::timeout(timeout, self.accept_loop(expected_state))
            .await
            .map_err(|_| {
                let secs = timeout.as_secs();
                let within = if secs >= 120 {
                    format!("{} minutes", secs / 60)
                } else {
                    format!("{secs}s")
                };
                OAuthError::Invalid(format!(
                    "no login callback arrived within {within}; run the login again"
                ))
            })?
    }

    async fn accept_loop(&self, expected_state: &str) -> Result<Callback, OAuthError> {
        loop {
            let (mut socket, _) = self
                .listener
                .accept()
                .await
                .map_err(|e| OAuthError::Invalid(e.to_string()))?;
            let mut buf = vec![0u8; 8192];
            let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
                .await
                .unwrap_or(Ok(0))
                .unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let target = request
                .lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .unwrap_or("");
            let url = reqwest::Url::parse(&format!("http://127.0.0.1{target}")).ok();
            let Some(url) = url.filter(|u| u.path() == self.path) else {
                respond(&mut socket, "404 Not Found", "<p>Not found.</p>").await;
                continue;
            };
            // Only a redirect with this login's state may end the wait (with a code or a
            // refusal); anything else (a stale tab, a forged request) is turned away and
            // the wait goes on.
            let state = url
                .query_pairs()
                .find(|(k, _)| k == "state")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            if state != expected_state {
                respond(
                    &mut socket,
                    "400 Bad Request",
                    "<p>This callback does not belong to the login in progress; it was ignored.</p>",
                )
                .await;
                tracing::warn!("ignored a login callback with a wrong `state`");
                continue;
            }
            let redirect = match super::read_redirect(&url) {
                Ok(r) => r,
                Err(e) => {
                    respond(
                        &mut socket,
                        "400 Bad Request",
                        "<p>The login was refused. See the terminal.</p>",
                    )
                    .await;
                    return Err(e);
                }
            };
            let Some(code) = redirect.code else {
                respond(
                    &mut socket,
                    "400 Bad Request",
                    "<p>The callback had no code.</p>",
                )
                .await;
                return Err(OAuthError::Invalid(
                    "the login callback had no `code`".into(),
                ));
            };
            respond(&mut socket, "200 OK", PAGE_OK).await;
            return Ok(Callback {
                code,
                state,
                iss: redirect.iss,
            });
        }
    }
}

async fn respond(socket: &mut tokio::net::TcpStream, status: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(response.as_bytes()).await;
    let _ = socket.shutdown().await;
}
