//! MCP servers speaking the older HTTP+SSE transport (MCP 2024-11-05) on a free loopback
//! port: `faulty_server.py --sse PORT` (the Python SDK's `SseServerTransport`) and
//! server-everything's `sse` mode. Each is stopped when dropped.

use std::time::{Duration, Instant};

use sortie_missions::mcp::ServerConfig;

use crate::mcp_servers::{dir, everything_js, python};

/// A server on loopback; killed when dropped.
pub struct SseServer {
    child: std::process::Child,
    /// Its SSE endpoint, `http://127.0.0.1:PORT/sse`.
    pub url: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port()
}

impl SseServer {
    /// faulty_server.py over HTTP+SSE.
    pub async fn faulty() -> Self {
        let port = free_port();
        let mut cmd = std::process::Command::new(python());
        cmd.arg(dir().join("faulty_server.py"))
            .arg("--sse")
            .arg(port.to_string());
        Self::run(cmd, port).await
    }

    /// server-everything's `sse` mode.
    pub async fn everything() -> Self {
        let port = free_port();
        let mut cmd = std::process::Command::new("node");
        cmd.arg(everything_js())
            .arg("sse")
            .env("PORT", port.to_string());
        Self::run(cmd, port).await
    }

    async fn run(mut cmd: std::process::Command, port: u16) -> Self {
        let child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the server starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the SSE server never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}/sse"),
        }
    }

    /// `[mcp_servers.NAME]` reaching it at `url`, with no `transport` (the fallback finds SSE).
    pub fn config(&self) -> ServerConfig {
        ServerConfig {
            url: Some(self.url.clone()),
            startup_timeout_secs: 60,
            ..ServerConfig::default()
        }
    }

    /// True once the server process has ended.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for SseServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
