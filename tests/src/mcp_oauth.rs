//! An OAuth-protected MCP server for tests: tests/mcp-servers/oauth_server.py on the
//! official Python SDK, a resource server of the test authorization server
//! ([`crate::oauth_server::OAuthServer`]) that checks tokens by introspection.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::mcp_servers::{dir, python};
use crate::oauth_server::OAuthServer;

/// The running server; dropping it stops the process.
pub struct ProtectedMcp {
    _child: tokio::process::Child,
    /// Its endpoint, `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    base: String,
}

impl ProtectedMcp {
    pub async fn start(auth: &OAuthServer) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("addr")
            .port();
        let mut child = tokio::process::Command::new(python())
            .arg(dir().join("oauth_server.py"))
            .args(["--issuer", &auth.issuer, "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start the protected MCP server");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read server output") {
                if line.starts_with("READY ") {
                    return;
                }
            }
            panic!("the protected MCP server exited before it was ready");
        })
        .await
        .expect("the protected MCP server started in time");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let base = format!("http://127.0.0.1:{port}");
        Self {
            _child: child,
            url: format!("{base}/mcp"),
            base,
        }
    }

    /// {"authorized": n, "refused": n}: the tokens it accepted and refused.
    pub async fn stats(&self) -> Value {
        reqwest::get(format!("{}/test/stats", self.base))
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats JSON")
    }

    /// From now on the server refuses `token` (valid at the authorization server).
    pub async fn refuse(&self, token: &str) {
        let r = reqwest::Client::new()
            .post(format!("{}/test/refuse", self.base))
            .body(token.to_string())
            .send()
            .await
            .expect("refuse");
        assert!(r.status().is_success(), "{}", r.status());
    }

    /// `[mcp_servers.NAME]` for config.toml, with `extra` lines.
    pub fn toml(&self, name: &str, extra: &str) -> String {
        format!(
            "\n[mcp_servers.{name}]\nurl = \"{}\"\nstartup_timeout_secs = 60\n{extra}\n",
            self.url
        )
    }
}
