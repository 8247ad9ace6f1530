//! The API's listener under a flood of connections: at most `max_connections` are served
//! at once, and a connection that does not send its first request head within
//! `header_timeout` is closed. When all slots are taken, the oldest connection that is
//! still waiting for its head, or has been silent both ways for three header timeouts (a
//! kept-alive connection nobody uses; 30 s by default), is closed to make room, so neither half-open nor idle
//! connections can keep a real client (the CLI) out. After the first head there is no
//! read deadline otherwise: an event stream may stay open as long as its mission runs.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A TCP listener with a connection cap and a deadline for the first request head.
pub struct GuardedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    header_timeout: Duration,
    /// The open connections, oldest first.
    open: Arc<Mutex<VecDeque<Arc<Evict>>>>,
}

/// Milliseconds since the first call: a clock cheap to store in an atomic.
fn now_ms() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// What the listener knows of a connection, and how it tells it to close.
#[derive(Default)]
struct Evict {
    now: AtomicBool,
    waker: futures::task::AtomicWaker,
    head_done: AtomicBool,
    active_ms: AtomicU64,
}

impl Evict {
    fn evict(&self) {
        self.now.store(true, Ordering::SeqCst);
        self.waker.wake();
    }

    fn touch(&self) {
        self.active_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Waiting for its head, or silent for longer than `idle_ms`.
    fn evictable(&self, now: u64, idle_ms: u64) -> bool {
        !self.head_done.load(Ordering::Relaxed)
            || now.saturating_sub(self.active_ms.load(Ordering::Relaxed)) > idle_ms
    }
}

impl GuardedListener {
    pub fn new(inner: TcpListener, max_connections: usize, header_timeout: Duration) -> Self {
        Self {
            inner,
            slots: Arc::new(Semaphore::new(max_connections.max(1))),
            header_timeout: header_timeout.max(Duration::from_millis(100)),
            open: Arc::default(),
        }
    }

    /// A slot: a free one, or the one of the oldest connection waiting for its head or
    /// idle (looked for again every quarter second while none is).
    async fn slot(&self) -> OwnedSemaphorePermit {
        loop {
            let oldest = {
                let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
                // Forget the closed ones.
                open.retain(|e| Arc::strong_count(e) > 1);
                if let Ok(p) = self.slots.clone().try_acquire_owned() {
                    return p;
                }
                let now = now_ms();
                // An event stream sends a keep-alive every 15 s: it is not idle for 30.
                let idle_ms = 3 * self.header_timeout.as_millis() as u64;
                open.iter()
                    .position(|e| e.evictable(now, idle_ms))
                    .and_then(|i| open.remove(i))
            };
            if let Some(e) = oldest {
                e.evict();
            }
            let wait = self.slots.clone().acquire_owned();
            if let Ok(Ok(p)) = tokio::time::timeout(Duration::from_millis(250), wait).await {
                return p;
            }
        }
    }
}

impl axum::serve::Listener for GuardedListener {
    type Io = GuardedIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    // Accepted first: a full house makes room for the newcomer.
                    let permit = self.slot().await;
                    let _ = stream.set_nodelay(true);
                    let evict = Arc::new(Evict::default());
                    evict.touch();
                    self.open
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push_back(evict.clone());
                    let io = GuardedIo {
                        stream,
                        _permit: permit,
                        deadline: Some(Box::pin(tokio::time::sleep(self.header_timeout))),
                        evict,
                        matched: 0,
                    };
                    return (io, addr);
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection holding one slot until it closes.
pub struct GuardedIo {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    /// Until the first request head is in; `None` after.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Set when the slot is needed for another.
    evict: Arc<Evict>,
    /// How much of `\r\n\r\n` the bytes read so far end with.
    matched: usize,
}

const HEAD_END: &[u8; 4] = b"\r\n\r\n";

impl GuardedIo {
    fn scan(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.matched = if b == HEAD_END[self.matched] {
                self.matched + 1
            } else if b == b'\r' {
                1
            } else {
                0
            };
            if self.matched == HEAD_END.len() {
                self.deadline = None;
                self.evict.head_done.store(true, Ordering::Relaxed);
                return;
            }
        }
    }
}

impl AsyncRead for GuardedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        this.evict.waker.register(cx.waker());
        if this.evict.now.load(Ordering::SeqCst) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "closed to make room: every slot was taken and this connection was waiting or idle",
            )));
        }
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.evict.touch();
                }
                if this.deadline.is_some() {
                    let new = buf.filled()[before..].to_vec();
                    this.scan(&new);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let expired = this
                    .deadline
                    .as_mut()
                    .is_some_and(|d| d.as_mut().poll(cx).is_ready());
                if expired {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request head within the header timeout",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for GuardedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.evict.touch();
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.evict.touch();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
