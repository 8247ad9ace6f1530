//! The MCP servers the tests run on loopback, installed by scripts/test.sh: the reference
//! `@modelcontextprotocol/server-everything` (npm, pinned in
//! tests/mcp-servers/package-lock.json, run with node directly) and `faulty_server.py` on
//! the official Python SDK (`mcp` on PyPI, pinned in tests/mcp-servers/requirements.txt,
//! in the venv tests/mcp-servers/.venv).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sortie_missions::mcp::ServerConfig;

/// tests/mcp-servers.
pub fn dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mcp-servers")
}

fn installed(path: PathBuf, how: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run scripts/test.sh (it runs {how})",
        path.display()
    );
    path
}

/// server-everything's entry point.
pub fn everything_js() -> PathBuf {
    installed(
        dir().join("node_modules/@modelcontextprotocol/server-everything/dist/index.js"),
        "npm ci --prefix tests/mcp-servers",
    )
}

/// The venv's Python, with the MCP SDK.
pub fn python() -> PathBuf {
    installed(
        dir().join(".venv/bin/python"),
        "python3 -m venv tests/mcp-servers/.venv and pip install -r tests/mcp-servers/requirements.txt",
    )
}

/// server-everything over stdio.
pub fn everything_stdio() -> ServerConfig {
    ServerConfig {
        command: Some("node".into()),
        args: vec![everything_js().display().to_string(), "stdio".into()],
        startup_timeout_secs: 60,
        ..ServerConfig::default()
    }
}

/// faulty_server.py with `args` (`--mode exit`, `--marker FILE`).
pub fn faulty(args: &[&str]) -> ServerConfig {
    let mut all = vec![dir().join("faulty_server.py").display().to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    ServerConfig {
        command: Some(python().display().to_string()),
        args: all,
        startup_timeout_secs: 60,
        ..ServerConfig::default()
    }
}

/// `[mcp_servers.NAME]` for config.toml: the command, its arguments and `extra` lines.
pub fn toml(name: &str, config: &ServerConfig, extra: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("string");
    let args: Vec<String> = config.args.iter().map(|a| q(a)).collect();
    format!(
        "\n[mcp_servers.{name}]\ncommand = {}\nargs = [{}]\nstartup_timeout_secs = {}\n{extra}\n",
        q(config.command.as_deref().unwrap_or_default()),
        args.join(", "),
        config.startup_timeout_secs
    )
}

/// server-everything over streamable HTTP on a free loopback port; stopped when dropped.
pub struct HttpEverything {
    child: std::process::Child,
    /// Its endpoint, `http://127.0.0.1:PORT/mcp`.
    pub url: String,
}

impl HttpEverything {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("addr")
            .port();
        let child = std::process::Command::new("node")
            .arg(everything_js())
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("node");
        let deadline = Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "server-everything never listened"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}/mcp"),
        }
    }
}

impl Drop for HttpEverything {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
