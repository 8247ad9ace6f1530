//! An HTTP server on 127.0.0.1 that stops when dropped: the demo model, and the mock
//! providers of the tests, are built on it.

use std::net::SocketAddr;

/// A running server on a free loopback port.
pub struct LoopbackServer {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl LoopbackServer {
    /// Binds 127.0.0.1 on a free port and serves `app` until dropped.
    pub async fn start(app: axum::Router) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let stop = async {
                let _ = rx.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::warn!("loopback server on {addr} stopped: {e}");
            }
        });
        Ok(Self {
            addr,
            shutdown: Some(tx),
        })
    }

    /// `http://127.0.0.1:PORT/v1`, the base URL of an OpenAI-compatible server.
    pub fn v1_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
