//! A provider for benchmarks: a minimal HTTP/1.1 server on a thread and runtime of its own
//! that answers each turn after a latency, from prebuilt SSE bodies.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::{Frame, Reply};

/// How a tool result's message starts in a Chat Completions body (serde_json, compact).
const TOOL_ROLE: &[u8] = br#""role":"tool""#;

/// The provider the missions talk to: a minimal HTTP/1.1 server on a thread and runtime of
/// its own, as a provider is a process (on other machines) of its own. It shares the
/// machine's two cores with what is measured, so it does as little as a server can: read a
/// request's head and body, pick the reply from the raw body, send the head, wait the
/// latency, send the prebuilt events, keep the connection alive. (The test suite's axum
/// mock, with its queues and fault injection, took about a sixth of the run's CPU.)
pub struct LeanMock {
    pub base_url: String,
    pub requests: Arc<AtomicUsize>,
    pub connections: Arc<AtomicUsize>,
}

impl LeanMock {
    /// `pick`: the index in `replies` (SSE bodies) for a request body.
    pub fn start(latency: Duration, replies: Vec<Vec<u8>>, pick: fn(&[u8]) -> usize) -> LeanMock {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the mock");
        listener.set_nonblocking(true).expect("nonblocking");
        let base_url = format!("http://{}/v1", listener.local_addr().expect("addr"));
        let requests = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let (served, accepted) = (requests.clone(), connections.clone());
        let replies: Arc<[Vec<u8>]> = replies.into();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("mock runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let Ok((socket, _)) = listener.accept().await else {
                        // Out of descriptors, say: the missions see it; do not spin.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        continue;
                    };
                    accepted.fetch_add(1, Ordering::Relaxed);
                    let (replies, served) = (replies.clone(), served.clone());
                    tokio::spawn(async move {
                        let _ = serve(socket, latency, &replies, pick, &served).await;
                    });
                }
            })
        });
        LeanMock {
            base_url,
            requests,
            connections,
        }
    }
}

/// Serves one keep-alive connection until the client closes it.
async fn serve(
    mut socket: tokio::net::TcpStream,
    latency: Duration,
    replies: &[Vec<u8>],
    pick: fn(&[u8]) -> usize,
    served: &AtomicUsize,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // As a provider streams: the head at once, the events after the latency (one chunk).
    const HEAD: &[u8] =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    let mut buf: Vec<u8> = Vec::with_capacity(8 * 1024);
    loop {
        // The head, then as much body as its content-length says.
        let (head_end, length) = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break (end + 4, content_length(&buf[..end]));
            }
            if socket.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        while buf.len() < head_end + length {
            if socket.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        }
        let body = &replies[pick(&buf[head_end..head_end + length])];
        buf.drain(..head_end + length);
        served.fetch_add(1, Ordering::Relaxed);
        socket.write_all(HEAD).await?;
        tokio::time::sleep(latency).await;
        let mut out = Vec::with_capacity(body.len() + 32);
        out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n0\r\n\r\n");
        socket.write_all(&out).await?;
    }
}

/// The content-length of a request head (0 without one).
fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// A scripted reply's SSE bytes, as the test suite's mock would stream them.
pub fn sse_bytes(reply: Reply) -> Vec<u8> {
    let Reply::Stream { frames, .. } = reply.coalesced() else {
        panic!("a streamed reply");
    };
    frames
        .into_iter()
        .flat_map(|f| match f {
            Frame::Raw(bytes) => bytes,
            _ => Vec::new(),
        })
        .collect()
}

/// A turn's reply from the request: how many tool results it carries (0, 1, then 2+).
pub fn by_tool_results(body: &[u8]) -> usize {
    body.windows(TOOL_ROLE.len())
        .filter(|w| *w == TOOL_ROLE)
        .count()
        .min(2)
}

/// The bench missions' three turns: two `list_dir` calls, then the answer, chosen by how
/// many tool results a request carries.
pub fn three_turns() -> Vec<Vec<u8>> {
    (0..3)
        .map(|results| {
            sse_bytes(if results < 2 {
                Reply::tool_call(
                    &format!("call_{results}"),
                    "list_dir",
                    serde_json::json!({}),
                )
            } else {
                Reply::text("Done: the directory holds what it should.")
            })
        })
        .collect()
}

/// The bench missions' spec: look at `cwd` with the scripted provider `local`.
pub fn bench_spec(cwd: &std::path::Path) -> sortie_missions::MissionSpec {
    sortie_missions::MissionSpec {
        prompt: "look at the directory".into(),
        provider: "local".into(),
        model: "mock-model".into(),
        transport: "openai-compatible".into(),
        cwd: cwd.to_path_buf(),
        policy: sortie_missions::PermissionPolicy::Auto,
        max_turns: 10,
        sandbox: None,
        labels: Vec::new(),
    }
}

/// A number from the environment, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident memory of this process, from /proc (MB).
pub fn peak_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}
