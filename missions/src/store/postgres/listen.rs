//! Live events across daemons: each write of a mission's events notifies the channel
//! `sortie_events` with `MISSION_ID:SEQ` (the first event it wrote) when it commits; a
//! listener gets those notices on its own connection, and reads the events themselves
//! from the table, from that one on.

use futures::future::poll_fn;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use super::PgStore;
use crate::{MissionId, StoreError};

/// How many notices wait for the listener before the connection stops being read (and
/// the server holds the rest).
const BACKLOG: usize = 1024;

/// Events stored: their mission, and the sequence number of the first of them (one write
/// may store several; read them from the table from that one on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice {
    pub mission: MissionId,
    pub seq: u64,
}

/// Notices of appended events, from any daemon on the database.
pub struct EventListener {
    notices: mpsc::Receiver<Notice>,
    _client: tokio_postgres::Client,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for EventListener {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl EventListener {
    /// The next notice; `None` once the connection ended (listen again, then read the
    /// events past the last one seen: notices sent meanwhile are not replayed).
    pub async fn recv(&mut self) -> Option<Notice> {
        self.notices.recv().await
    }
}

fn parse(payload: &str) -> Option<Notice> {
    let (id, seq) = payload.split_once(':')?;
    Some(Notice {
        mission: id.parse().ok()?,
        seq: seq.parse().ok()?,
    })
}

impl PgStore {
    /// Listens for appended events on a connection of its own.
    pub async fn listen(&self) -> Result<EventListener, StoreError> {
        let timeout = self.options.connect_timeout;
        let (client, mut connection) = tokio::time::timeout(timeout, self.config.connect(NoTls))
            .await
            .map_err(|_| self.unreachable(format!("no answer within {}s", timeout.as_secs_f64())))?
            .map_err(|e| match e.as_db_error() {
                Some(_) => self.failed(&e),
                None => self.unreachable(super::chain(&e)),
            })?;
        let (sender, notices) = mpsc::channel(BACKLOG);
        let reader = tokio::spawn(async move {
            while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        let Some(notice) = parse(n.payload()) else {
                            tracing::warn!("an event notice that is not MISSION:SEQ; skipped");
                            continue;
                        };
                        if sender.send(notice).await.is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!("the event listener's connection ended: {e}");
                        break;
                    }
                }
            }
        });
        client
            .batch_execute("LISTEN sortie_events")
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(EventListener {
            notices,
            _client: client,
            reader,
        })
    }
}
