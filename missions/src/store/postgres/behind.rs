//! Write-behind for the missions this process runs: their appends are grouped, many
//! missions' events in one statement, as sled groups its writes in one flush.
//!
//! An append to a mission the daemon runs (see [`PgStore::run_here`] and
//! [`PgStore::write_here`]) takes its sequence number from the record this process keeps,
//! queues the event and returns. One writer task writes everything queued in one
//! statement per round (the events, each mission's record as of its last queued event,
//! the notices), checking per mission what the one-event append checks: the log is still
//! where this process left it, and the lease is still this daemon's. While a round is in
//! flight the next one gathers, so the statements per second stay few however many
//! missions append.
//!
//! What this changes, and what it keeps:
//! - An append that returned is durable once [`PgStore::flush_mission`] (or a flush)
//!   returned, as on sled: the runner flushes where a step must survive (a turn's start,
//!   before a tool acts, a mission's end).
//! - A mission whose events a round could not write (the database failed, the lease was
//!   lost) is failed here: every later append and flush of it returns that error, so the
//!   runner stops before any tool acts on an event that was not stored. The mark goes
//!   with the mission when it stops running here ([`PgStore::done_here`]).
//! - Reads through this handle wait for what is queued, so they see this process's
//!   writes.
//! - The queue is bounded ([`MAX_QUEUED_ROWS`], [`MAX_QUEUED_BYTES`]): an append past it
//!   waits for the writer, at most the query timeout, then fails clearly.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{watch, Notify};

use super::missions::{as_i64, encode, next_event};
use super::PgStore;
use crate::{Mission, MissionEvent, MissionId, MissionSpec, StoreError, StoredEvent};

/// The most events queued before an append waits for the writer.
pub(super) const MAX_QUEUED_ROWS: usize = 8192;
/// The most bytes of encoded events queued before an append waits for the writer.
pub(super) const MAX_QUEUED_BYTES: usize = 16 << 20;
/// The most failures kept for missions that do not run here (their creators' flushes
/// read them); past it those are forgotten.
const MAX_FAILED: usize = 4096;
/// The most passes an append makes at queuing its event (see `append_behind`).
const MAX_PASSES: usize = 16;
/// How often a round is tried when the database chose it as a deadlock's victim.
const MAX_ATTEMPTS: u32 = 3;
/// How long the writer task lingers with nothing to write before it ends (the next
/// append starts another).
const IDLE: Duration = Duration::from_secs(2);

/// One round's statement: the missions whose log and lease are as expected are locked,
/// their events inserted and their records written; the missions created this round are
/// inserted with theirs; the listeners are told; the ids written come back.
const WRITE_ROUND: &str = "WITH r AS (
        SELECT * FROM unnest($5::uuid[], $6::int8[], $7::text[], $8::text[], $9::int8[],
                             $10::timestamptz[], $11::bool[], $12::text[])
            AS r(id, first, record, status, count, at, here, notice)
    ), m AS (
        SELECT missions.id, r.record, r.status, r.count, r.at, r.notice
        FROM missions JOIN r ON missions.id = r.id
        WHERE missions.event_count = r.first
          AND CASE WHEN r.here THEN missions.leased_by = $13::text
                                    AND missions.lease_instance IS NOT DISTINCT FROM $14::text
                   ELSE missions.leased_by IS NULL OR missions.lease_until IS NULL
                        OR missions.lease_until <= now() OR missions.leased_by = $13::text END
        ORDER BY missions.id
        FOR UPDATE OF missions
    ), n AS (
        INSERT INTO missions (id, status, created_at, updated_at, event_count, record,
                              leased_by, lease_until, lease_instance)
        SELECT c.id, c.status, c.created, c.at, c.count, c.record::json, $13::text,
               CASE WHEN $13::text IS NULL THEN NULL
                    ELSE now() + make_interval(secs => $15::float8) END,
               $14::text
        FROM unnest($16::uuid[], $17::text[], $18::text[], $19::int8[], $20::timestamptz[],
                    $21::timestamptz[]) AS c(id, record, status, count, created, at)
        RETURNING id
    ), e AS (
        INSERT INTO events (mission_id, seq, at, event)
        SELECT b.mission_id, b.seq, b.at, b.event::json
        FROM unnest($1::uuid[], $2::int8[], $3::timestamptz[], $4::text[])
            AS b(mission_id, seq, at, event)
        WHERE b.mission_id IN (SELECT id FROM m UNION ALL SELECT id FROM n)
    ), u AS (
        UPDATE missions SET record = m.record::json, status = m.status, updated_at = m.at,
                            event_count = m.count
        FROM m WHERE missions.id = m.id
        RETURNING missions.id, m.notice
    )
    SELECT id, pg_notify('sortie_events', notice) FROM u
    UNION ALL
    SELECT id, pg_notify('sortie_events', id::text || ':0') FROM n";

/// The write-behind state of one store handle (shared by its clones).
#[derive(Default)]
pub(super) struct Behind {
    state: Mutex<State>,
    /// Wakes the writer when something is queued.
    wake: Notify,
    /// The last ticket dealt with (written, or failed).
    done: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    /// Missions whose appends are queued here (they run in this process).
    missions: HashSet<MissionId>,
    /// Their records as their queued events leave them: where their sequence numbers
    /// come from (read from the database at their first append here, then kept here
    /// alone, so that nothing else numbers their events).
    kept: HashMap<MissionId, Mission>,
    /// Events queued, in append order.
    rows: Vec<Row>,
    /// Per mission with queued events: its record after the last of them, and the
    /// sequence number of the first.
    records: HashMap<MissionId, Pending>,
    bytes: usize,
    /// The last ticket given out (one per queued event).
    issued: u64,
    /// Per mission with events queued or in flight: the ticket of its last one.
    last_ticket: HashMap<MissionId, u64>,
    /// Missions whose events could not be written, and why.
    failed: HashMap<MissionId, Failure>,
    /// Missions created here whose creation is queued or in flight: a failure of it is
    /// kept for the creator's flush even when the mission does not run here.
    created: HashSet<MissionId>,
    writer: Option<tokio::task::JoinHandle<()>>,
}

struct Row {
    id: MissionId,
    seq: u64,
    at: DateTime<Utc>,
    event: String,
}

struct Pending {
    record: Mission,
    first: u64,
    /// Fenced by this daemon's lease (see [`PgStore::run_here`]).
    here: bool,
    /// Created by this round: its row is inserted (held under this daemon's lease, if it
    /// is one, until offered).
    new: bool,
}

/// Why a mission's queued events were not written (a [`StoreError`] is not `Clone`).
#[derive(Debug, Clone)]
enum Failure {
    LeaseLost,
    Elsewhere(String),
    Unknown,
    Database { url: String, error: String },
    Unreachable { url: String, error: String },
}

impl Failure {
    fn from_error(e: &StoreError, url: &str) -> Self {
        match e {
            StoreError::Unreachable { url, error } => Failure::Unreachable {
                url: url.clone(),
                error: error.clone(),
            },
            StoreError::Database { url, error } => Failure::Database {
                url: url.clone(),
                error: error.clone(),
            },
            other => Failure::Database {
                url: url.to_string(),
                error: other.to_string(),
            },
        }
    }

    fn error(&self, id: &MissionId) -> StoreError {
        match self {
            Failure::LeaseLost => StoreError::LeaseLost { id: id.to_string() },
            Failure::Elsewhere(daemon) => StoreError::LeasedElsewhere {
                id: id.to_string(),
                daemon: daemon.clone(),
            },
            Failure::Unknown => StoreError::UnknownMission(id.to_string()),
            Failure::Database { url, error } => StoreError::Database {
                url: url.clone(),
                error: format!("{error} (events of mission {id} were not stored; it stops here, and resumes from its last stored event)"),
            },
            Failure::Unreachable { url, error } => StoreError::Unreachable {
                url: url.clone(),
                error: error.clone(),
            },
        }
    }
}

/// One round taken from the queue.
struct Round {
    rows: Vec<Row>,
    records: HashMap<MissionId, Pending>,
    last: u64,
}

impl Behind {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn add(&self, id: &MissionId) {
        self.state().missions.insert(*id);
    }

    /// The mission stops running here: its appends go straight to the database again,
    /// and a failure of its queued events is forgotten.
    pub(super) fn remove(&self, id: &MissionId) {
        let mut state = self.state();
        state.missions.remove(id);
        state.kept.remove(id);
        state.failed.remove(id);
    }
}

/// The columns of the missions a round creates.
#[derive(Default)]
struct NewMissions {
    ids: Vec<uuid::Uuid>,
    records: Vec<String>,
    statuses: Vec<&'static str>,
    counts: Vec<i64>,
    created: Vec<DateTime<Utc>>,
    updated: Vec<DateTime<Utc>>,
}

impl NewMissions {
    fn push(&mut self, id: &MissionId, record: &Mission) -> Result<(), StoreError> {
        self.ids.push(id.0);
        self.records.push(encode(record, &id.to_string())?);
        self.statuses.push(record.status.as_str());
        self.counts.push(as_i64(record.event_count));
        self.created.push(record.created_at);
        self.updated.push(record.updated_at);
        Ok(())
    }
}

/// What an attempt to queue gave.
enum Queued {
    Done(StoredEvent),
    /// The mission's appends are not queued here.
    NotHere(MissionEvent),
    /// No record of the mission here yet: read it, then try again.
    NeedRecord(MissionEvent),
    /// The queue is full: wait for the writer, then try again.
    Full(MissionEvent),
}

impl PgStore {
    /// Queues the mission's appends in this process from now on, without the lease fence
    /// of [`PgStore::run_here`] (a daemon that is not in a cluster runs it).
    pub fn write_here(&self, id: &MissionId) {
        self.behind.add(id);
    }

    /// The append of a mission this process runs: queued, or `Err(event)` back when its
    /// appends are not queued here.
    pub(super) async fn append_behind(
        &self,
        id: &MissionId,
        event: MissionEvent,
    ) -> Result<Result<StoredEvent, MissionEvent>, StoreError> {
        let mut event = event;
        // Each pass either queues, or waits for a round (which frees room), or reads the
        // record once: a few suffice unless the database stalls, and then the waits fail.
        for _ in 0..MAX_PASSES {
            match self.queue(id, event)? {
                Queued::Done(stored) => return Ok(Ok(stored)),
                Queued::NotHere(back) => return Ok(Err(back)),
                Queued::NeedRecord(back) => {
                    event = back;
                    self.settle_for(id).await?;
                    let mission = self.mission_direct(id).await?;
                    self.keep(id, mission);
                }
                Queued::Full(back) => {
                    event = back;
                    self.wait_for_room().await?;
                }
            }
        }
        Err(StoreError::Database {
            url: self.url().to_string(),
            error: format!(
                "the queue of writes stayed full ({MAX_QUEUED_ROWS} events or {} MiB) through {MAX_PASSES} rounds; mission {id}'s event was not stored",
                MAX_QUEUED_BYTES >> 20
            ),
        })
    }

    /// Keeps the record read for a mission that runs here, unless one is kept already
    /// (a record read earlier by another append may be behind it).
    fn keep(&self, id: &MissionId, mission: Mission) {
        let mut state = self.behind.state();
        if state.missions.contains(id) && !state.failed.contains_key(id) {
            state.kept.entry(*id).or_insert(mission);
        }
    }

    /// Queues the event under the state's lock, numbered from the record kept here.
    fn queue(&self, id: &MissionId, event: MissionEvent) -> Result<Queued, StoreError> {
        let mut state = self.behind.state();
        if !state.missions.contains(id) {
            return Ok(Queued::NotHere(event));
        }
        if let Some(failure) = state.failed.get(id) {
            return Err(failure.error(id));
        }
        if state.rows.len() >= MAX_QUEUED_ROWS || state.bytes >= MAX_QUEUED_BYTES {
            return Ok(Queued::Full(event));
        }
        let Some(kept) = state.kept.get_mut(id) else {
            return Ok(Queued::NeedRecord(event));
        };
        let seq = kept.event_count;
        // Fails before it changes the record, if it fails.
        let (stored, value) = next_event(kept, event)?;
        let mission = kept.clone();
        state.issued += 1;
        let ticket = state.issued;
        state.last_ticket.insert(*id, ticket);
        state.bytes += value.len();
        state.rows.push(Row {
            id: *id,
            seq,
            at: stored.at,
            event: value,
        });
        let here = self.runs_here(id);
        state
            .records
            .entry(*id)
            .and_modify(|p| p.record = mission.clone())
            .or_insert(Pending {
                record: mission,
                first: seq,
                here,
                new: false,
            });
        self.start_writer(&mut state);
        drop(state);
        self.behind.wake.notify_one();
        Ok(Queued::Done(stored))
    }

    /// Queues a new mission with its first events (`log`, after its `Created`): the
    /// mission back, or its parts back when the queue has no room for them (the caller
    /// creates it at once instead).
    pub(super) fn create_behind(
        &self,
        id: MissionId,
        spec: MissionSpec,
        log: Vec<MissionEvent>,
    ) -> Result<Result<Mission, (MissionSpec, Vec<MissionEvent>)>, StoreError> {
        let mut state = self.behind.state();
        if state.rows.len() + log.len() >= MAX_QUEUED_ROWS || state.bytes >= MAX_QUEUED_BYTES {
            return Ok(Err((spec, log)));
        }
        let mut mission = Mission::new(id, spec.clone(), Utc::now());
        let mut rows = Vec::with_capacity(log.len() + 1);
        for event in std::iter::once(MissionEvent::Created { spec }).chain(log) {
            let (stored, value) = next_event(&mut mission, event)?;
            rows.push(Row {
                id,
                seq: stored.seq,
                at: stored.at,
                event: value,
            });
        }
        state.issued += rows.len() as u64;
        let ticket = state.issued;
        state.last_ticket.insert(id, ticket);
        state.bytes += rows.iter().map(|r| r.event.len()).sum::<usize>();
        state.rows.extend(rows);
        state.created.insert(id);
        state.records.insert(
            id,
            Pending {
                record: mission.clone(),
                first: 0,
                here: false,
                new: true,
            },
        );
        self.remember(&mission);
        self.start_writer(&mut state);
        drop(state);
        self.behind.wake.notify_one();
        Ok(Ok(mission))
    }

    /// Starts the writer task unless it runs.
    fn start_writer(&self, state: &mut State) {
        if state.writer.as_ref().is_some_and(|w| !w.is_finished()) {
            return;
        }
        let store = self.clone();
        state.writer = Some(tokio::spawn(async move { store.write_rounds().await }));
    }

    /// The writer: one statement per round, until nothing was queued for [`IDLE`].
    async fn write_rounds(self) {
        loop {
            let round = {
                let mut state = self.behind.state();
                if state.rows.is_empty() {
                    None
                } else {
                    state.bytes = 0;
                    Some(Round {
                        rows: std::mem::take(&mut state.rows),
                        records: std::mem::take(&mut state.records),
                        last: state.issued,
                    })
                }
            };
            let Some(round) = round else {
                let woken = tokio::time::timeout(IDLE, self.behind.wake.notified()).await;
                if woken.is_err() {
                    let mut state = self.behind.state();
                    if state.rows.is_empty() {
                        state.writer = None;
                        return;
                    }
                }
                continue;
            };
            let outcome = self.write_round(&round).await;
            self.close_round(round, outcome).await;
        }
    }

    /// Writes one round: the ids of the missions written.
    async fn write_round(&self, round: &Round) -> Result<HashSet<uuid::Uuid>, StoreError> {
        let (mut ids, mut seqs, mut ats, mut events) = (vec![], vec![], vec![], vec![]);
        for row in &round.rows {
            ids.push(row.id.0);
            seqs.push(as_i64(row.seq));
            ats.push(row.at);
            events.push(row.event.as_str());
        }
        let n = round.records.len();
        let mut new = NewMissions::default();
        let (mut rids, mut firsts, mut records, mut statuses) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut counts, mut updated, mut heres, mut notices) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for (id, p) in &round.records {
            if p.new {
                new.push(id, &p.record)?;
                continue;
            }
            rids.push(id.0);
            firsts.push(as_i64(p.first));
            records.push(encode(&p.record, &id.to_string())?);
            statuses.push(p.record.status.as_str());
            counts.push(as_i64(p.record.event_count));
            updated.push(p.record.updated_at);
            heres.push(p.here);
            notices.push(format!("{id}:{}", p.first));
        }
        let client = self.client().await?;
        let statement = client
            .prepare_cached(WRITE_ROUND)
            .await
            .map_err(|e| self.failed(&e))?;
        let mut attempt = 0;
        let written = loop {
            attempt += 1;
            let result = client
                .query(
                    &statement,
                    &[
                        &ids,
                        &seqs,
                        &ats,
                        &events,
                        &rids,
                        &firsts,
                        &records,
                        &statuses,
                        &counts,
                        &updated,
                        &heres,
                        &notices,
                        &self.owner_name(),
                        &self.owner_instance(),
                        &self.owner_lease_secs(),
                        &new.ids,
                        &new.records,
                        &new.statuses,
                        &new.counts,
                        &new.created,
                        &new.updated,
                    ],
                )
                .await;
            match result {
                Ok(rows) => break rows,
                // The statement wrote nothing: another transaction locking some of the
                // same rows in another order lost to it, or it to that one.
                Err(e)
                    if attempt < MAX_ATTEMPTS
                        && e.code()
                            == Some(&tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED) =>
                {
                    tracing::debug!("a round of writes met a deadlock; writing it again");
                }
                Err(e) => return Err(self.failed(&e)),
            }
        };
        Ok(written.iter().map(|row| row.get(0)).collect())
    }

    /// After a round: the missions not written are failed here (and their later queued
    /// events dropped), and the waiters told.
    async fn close_round(&self, round: Round, outcome: Result<HashSet<uuid::Uuid>, StoreError>) {
        let failures: Vec<(MissionId, Failure)> = match &outcome {
            Ok(written) => {
                let missed: Vec<(MissionId, bool)> = round
                    .records
                    .iter()
                    .filter(|(id, _)| !written.contains(&id.0))
                    .map(|(id, p)| (*id, p.here))
                    .collect();
                self.why_not_written(missed).await
            }
            Err(e) => {
                tracing::warn!("the store could not write a round of events: {e}");
                let failure = Failure::from_error(e, self.url());
                round
                    .records
                    .keys()
                    .map(|id| (*id, failure.clone()))
                    .collect()
            }
        };
        let mut state = self.behind.state();
        for (id, failure) in failures {
            tracing::warn!("mission {id}: {}", failure.error(&id));
            self.records.forget(&id);
            state.kept.remove(&id);
            state.rows.retain(|row| row.id != id);
            if state.records.remove(&id).is_some() {
                state.bytes = state.rows.iter().map(|r| r.event.len()).sum();
            }
            state.last_ticket.remove(&id);
            if state.missions.contains(&id) || state.created.contains(&id) {
                if state.failed.len() >= MAX_FAILED {
                    let State {
                        failed, missions, ..
                    } = &mut *state;
                    failed.retain(|id, _| missions.contains(id));
                }
                state.failed.insert(id, failure);
            }
        }
        for id in round
            .records
            .iter()
            .filter(|(_, p)| p.new)
            .map(|(id, _)| id)
        {
            state.created.remove(id);
        }
        let last = round.last;
        state.last_ticket.retain(|_, ticket| *ticket > last);
        let done = if state.rows.is_empty() {
            state.issued
        } else {
            last
        };
        drop(state);
        self.behind.done.send_replace(done);
    }

    /// Why the round left these missions out: the lease (the fenced ones, or another live
    /// daemon's), or the mission is gone, or its log moved under this process.
    async fn why_not_written(&self, missed: Vec<(MissionId, bool)>) -> Vec<(MissionId, Failure)> {
        let mut out = Vec::with_capacity(missed.len());
        for (id, here) in missed {
            let failure = if here {
                Failure::LeaseLost
            } else {
                match self.lease_holder(&id).await {
                    Ok(Some(Some(daemon))) => Failure::Elsewhere(daemon),
                    Ok(None) => Failure::Unknown,
                    Ok(Some(None)) => Failure::Database {
                        url: self.url().to_string(),
                        error: "its log was written by another process meanwhile".into(),
                    },
                    Err(e) => Failure::from_error(&e, self.url()),
                }
            };
            out.push((id, failure));
        }
        out
    }

    /// Who holds the mission's live lease, if not this daemon: `None` when there is no
    /// such mission.
    async fn lease_holder(&self, id: &MissionId) -> Result<Option<Option<String>>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT CASE WHEN lease_until > now() THEN leased_by END FROM missions WHERE id = $1",
                &[&id.0],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(row.map(|row| {
            row.get::<_, Option<String>>(0)
                .filter(|holder| Some(holder.as_str()) != self.owner_name())
        }))
    }

    /// The record of a mission whose appends are queued here, as its queued events leave
    /// it (what a read would see once they are written).
    pub(super) fn kept_record(&self, id: &MissionId) -> Option<Mission> {
        let state = self.behind.state();
        if state.failed.contains_key(id) {
            return None;
        }
        state.kept.get(id).cloned()
    }

    /// Waits until everything queued for `id` so far is written (or failed).
    pub(super) async fn settle_for(&self, id: &MissionId) -> Result<(), StoreError> {
        let ticket = self.behind.state().last_ticket.get(id).copied();
        match ticket {
            Some(ticket) => self.wait_done(ticket).await,
            None => Ok(()),
        }
    }

    /// Waits until everything queued so far is written (or failed).
    pub(super) async fn settle(&self) -> Result<(), StoreError> {
        let ticket = self.behind.state().issued;
        self.wait_done(ticket).await
    }

    /// Makes the mission's queued events durable: its failure, if they could not be.
    pub async fn flush_mission(&self, id: &MissionId) -> Result<(), StoreError> {
        self.settle_for(id).await?;
        match self.behind.state().failed.get(id) {
            Some(failure) => Err(failure.error(id)),
            None => Ok(()),
        }
    }

    async fn wait_for_room(&self) -> Result<(), StoreError> {
        let ticket = *self.behind.done.borrow() + 1;
        self.wait_done(ticket).await
    }

    async fn wait_done(&self, ticket: u64) -> Result<(), StoreError> {
        let mut done = self.behind.done.subscribe();
        // Long enough for the round in flight and the next one, each of which may connect
        // and be tried MAX_ATTEMPTS times.
        let round = self.options.connect_timeout + self.options.query_timeout * MAX_ATTEMPTS;
        let limit = round * 2;
        let waited = tokio::time::timeout(limit, async {
            loop {
                if *done.borrow_and_update() >= ticket {
                    return;
                }
                {
                    let mut state = self.behind.state();
                    if state.rows.is_empty() && state.issued < ticket {
                        return;
                    }
                    // A writer that ended with its runtime leaves work behind: start
                    // another.
                    if !state.rows.is_empty() {
                        self.start_writer(&mut state);
                    }
                }
                if done.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        waited.map_err(|_| StoreError::Database {
            url: self.url().to_string(),
            error: format!("queued events were not written within {}s", limit.as_secs()),
        })
    }
}

impl super::fast_append::Records {
    pub(super) fn forget(&self, id: &MissionId) {
        self.lock().remove(id);
    }
}
