//! Live events across daemons. On a PostgreSQL store every append notifies `MISSION:SEQ`
//! (see `PgStore::listen`); this daemon listens, and for a mission it does not run itself
//! reads the events past the last one it relayed from the table, by sequence number, and
//! publishes them into the supervisor's broadcast. The follow route (`GET
//! /missions/{id}/stream`) then streams a mission running on another daemon as it streams
//! its own: every event once, in order (it skips what it sent and fills a gap from the
//! store).
//!
//! Bounded: the listener's backlog is bounded (the server holds the rest), a follower that
//! falls behind catches up from the store as before, and the sequence numbers kept are
//! trimmed of ended missions. When the connection drops, the relay listens again with a
//! backoff (a warning says so) and reads what it missed from the table.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use sortie_missions::postgres::{Notice, PgStore};
use sortie_missions::{MissionEvent, MissionId, MissionStatus, StoredEvent, Update};
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::broadcast::Receiver;

use super::Daemon;

/// The first wait before listening again, doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How many missions' sequence numbers are kept before ended ones are forgotten.
const KEEP: usize = 4096;

/// Starts relaying when the store is PostgreSQL (a sled store has one daemon: nothing to
/// relay). Ends with the daemon.
pub fn spawn(daemon: &Arc<Daemon>) {
    let Some(pg) = daemon.store.as_postgres().cloned() else {
        return;
    };
    let relay = Relay {
        own: daemon.supervisor.subscribe(),
        daemon: daemon.clone(),
        next: HashMap::new(),
        ended: VecDeque::new(),
    };
    tokio::spawn(relay.run(pg));
}

/// Whether mission `id` runs (or waits to) somewhere: here, or, on a shared store, on
/// another daemon (its stored status says so). A follower streams until it does not.
pub async fn runs_somewhere(daemon: &Daemon, id: &MissionId) -> bool {
    if daemon.supervisor.is_active(id) {
        return true;
    }
    if daemon.store.as_postgres().is_none() {
        return false;
    }
    daemon
        .store
        .mission(id)
        .await
        .is_ok_and(|m| matches!(m.status, MissionStatus::Running | MissionStatus::Queued))
}

struct Relay {
    daemon: Arc<Daemon>,
    /// What this daemon's supervisor publishes itself (so it is not published twice).
    own: Receiver<Update>,
    /// Per mission, the first sequence number not published yet.
    next: HashMap<MissionId, u64>,
    /// Missions whose last status was published, oldest first: forgotten first.
    ended: VecDeque<MissionId>,
}

impl Relay {
    async fn run(mut self, pg: PgStore) {
        let stop = self.daemon.shutdown.clone();
        let mut backoff = FIRST_BACKOFF;
        let mut dropped = false;
        loop {
            let listened = tokio::select! {
                _ = stop.cancelled() => return,
                l = pg.listen() => l,
            };
            match listened {
                Ok(mut listener) => {
                    if dropped {
                        tracing::warn!("listening for events on the shared store again");
                        // Notices sent meanwhile are not replayed: read the table.
                        self.catch_up().await;
                    }
                    backoff = FIRST_BACKOFF;
                    loop {
                        let notice = tokio::select! {
                            _ = stop.cancelled() => return,
                            n = listener.recv() => n,
                        };
                        match notice {
                            Some(n) => self.notice(n).await,
                            None => break,
                        }
                    }
                    tracing::warn!(
                        "the shared store's event notices stopped; listening again (followers read from the store meanwhile)"
                    );
                }
                Err(e) => tracing::warn!(
                    "cannot listen for events on the shared store ({e}); trying again in {:.1}s",
                    backoff.as_secs_f64()
                ),
            }
            dropped = true;
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// What the supervisor published itself so far, noted.
    fn drain_own(&mut self) {
        loop {
            match self.own.try_recv() {
                Ok(Update::Event { mission, event }) => self.sent(mission, &event),
                Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => return,
            }
        }
    }

    /// Notes that `event` of `mission` is in the broadcast.
    fn sent(&mut self, mission: MissionId, event: &StoredEvent) {
        let next = self.next.entry(mission).or_insert(0);
        *next = (*next).max(event.seq + 1);
        let ended = matches!(
            &event.event,
            MissionEvent::Status { status, .. }
                if !matches!(status, MissionStatus::Running | MissionStatus::Queued)
        );
        if ended {
            self.ended.push_back(mission);
        }
        while self.next.len() > KEEP || self.ended.len() > KEEP {
            let Some(old) = self.ended.pop_front() else {
                break;
            };
            self.next.remove(&old);
        }
    }

    async fn notice(&mut self, notice: Notice) {
        let id = notice.mission;
        if self.daemon.supervisor.is_active(&id) {
            // Its own supervisor publishes it.
            self.sent_up_to(id, notice.seq);
            return;
        }
        // It may have run here until just now: what the supervisor published counts.
        self.drain_own();
        if self.daemon.supervisor.receivers() <= 1 {
            // Nobody follows anything here (the one receiver is the relay's own): nothing
            // to read. A follower that comes replays the store first, then hears from here.
            self.sent_up_to(id, notice.seq);
            return;
        }
        let from = match self.next.get(&id) {
            Some(&next) if notice.seq < next => return,
            Some(&next) => next,
            // A mission first heard of: from this event on (a follower replays the rest
            // from the store).
            None => notice.seq,
        };
        self.publish_from(id, from).await;
    }

    fn sent_up_to(&mut self, id: MissionId, seq: u64) {
        let next = self.next.entry(id).or_insert(0);
        *next = (*next).max(seq + 1);
    }

    /// Publishes the stored events of `id` from `from` on.
    async fn publish_from(&mut self, id: MissionId, from: u64) {
        let events = match self.daemon.store.events_from(&id, from).await {
            Ok(events) => events,
            Err(e) => {
                // A follower reads the store itself: it sees them on its next pass.
                tracing::warn!("cannot read the events of mission {id} to relay them: {e}");
                return;
            }
        };
        for event in events {
            if self.next.get(&id).is_some_and(|&next| event.seq < next) {
                continue;
            }
            self.sent(id, &event);
            self.daemon
                .supervisor
                .publish(Update::Event { mission: id, event });
        }
    }

    /// After the listener was down: the events of the missions being relayed that were
    /// stored meanwhile.
    async fn catch_up(&mut self) {
        self.drain_own();
        let open: Vec<(MissionId, u64)> = self
            .next
            .iter()
            .filter(|(id, _)| !self.ended.contains(id) && !self.daemon.supervisor.is_active(id))
            .map(|(id, next)| (*id, *next))
            .collect();
        for (id, next) in open {
            self.publish_from(id, next).await;
        }
    }
}
