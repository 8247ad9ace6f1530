//! Missions and their event logs in PostgreSQL.

use chrono::Utc;
use deadpool_postgres::Transaction;

use super::PgStore;
use crate::store::{cap, redact, MissionFilter, MissionPage};
use crate::{Mission, MissionEvent, MissionId, MissionSpec, StoreError, StoredEvent};

/// Locks a mission's row for the append that follows, with the daemon whose live lease
/// holds it (if any).
const LOCK_RECORD: &str = "SELECT record::text, CASE WHEN lease_until > now() THEN leased_by END,
            leased_by, lease_instance
     FROM missions WHERE id = $1 FOR UPDATE";

/// Inserts the event and updates the record in one statement, and tells the listeners
/// (see `listen`) once the transaction commits.
const WRITE_EVENT: &str = "WITH e AS (
        INSERT INTO events (mission_id, seq, at, event) VALUES ($1, $2, $3, $4::text::json)
    )
    UPDATE missions SET record = $5::text::json, status = $6, updated_at = $3, event_count = $7
    WHERE id = $1
    RETURNING pg_notify('sortie_events', $8)";

/// The longest log a new mission is written behind with.
const MAX_BEHIND_LOG: usize = 64;

/// A new mission's row and its first events, and the notice of them.
const CREATE: &str = "WITH m AS (
        INSERT INTO missions (id, status, created_at, updated_at, event_count, record,
                              leased_by, lease_until, lease_instance)
        VALUES ($1, $2, $3, $4, $5, $6::text::json, $7,
                CASE WHEN $7::text IS NULL THEN NULL
                     ELSE now() + make_interval(secs => $8) END, $9)
        RETURNING id
    ), e AS (
        INSERT INTO events (mission_id, seq, at, event)
        SELECT m.id, b.seq, b.at, b.event::json
        FROM m, unnest($10::int8[], $11::timestamptz[], $12::text[]) AS b(seq, at, event)
    )
    SELECT pg_notify('sortie_events', $13) FROM m";

pub(super) fn encode<T: serde::Serialize>(value: &T, what: &str) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        id: what.to_string(),
        error: format!("cannot encode: {e}"),
    })
}

fn decode_mission(id: &str, raw: &str) -> Result<Mission, StoreError> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt {
        id: id.to_string(),
        error: e.to_string(),
    })
}

/// A stored event, or [`MissionEvent::Unreadable`] in its place.
fn decode_event(seq: u64, raw: &str) -> StoredEvent {
    serde_json::from_str::<StoredEvent>(raw).unwrap_or_else(|e| StoredEvent {
        seq,
        at: Utc::now(),
        event: MissionEvent::Unreadable {
            error: format!("event {seq} cannot be decoded: {e}"),
        },
    })
}

/// The next event of `mission` as stored (secrets masked, capped) and its JSON, with the
/// record brought up to date past it.
pub(super) fn next_event(
    mission: &mut Mission,
    event: MissionEvent,
) -> Result<(StoredEvent, String), StoreError> {
    let id = mission.id.to_string();
    let now = Utc::now();
    let seq = mission.event_count;
    let stored = StoredEvent {
        seq,
        at: now,
        event,
    };
    let value = encode(&stored, &id)?.into_bytes();
    let (value, stored) = redact::masked(value, stored);
    let (value, stored) = cap::capped(value, stored);
    let value = String::from_utf8(value).map_err(|e| StoreError::Corrupt {
        id: id.clone(),
        error: format!("an encoded event is not UTF-8: {e}"),
    })?;
    stored.event.apply(mission);
    mission.event_count = seq + 1;
    mission.updated_at = now;
    Ok((stored, value))
}

pub(super) fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl PgStore {
    /// Creates a mission with its `Created` and first `UserMessage` events, in one
    /// transaction.
    pub async fn create_mission(&self, spec: MissionSpec) -> Result<Mission, StoreError> {
        self.create_mission_with_id(MissionId::new(), spec).await
    }

    /// The same, under an id made beforehand.
    pub async fn create_mission_with_id(
        &self,
        id: MissionId,
        spec: MissionSpec,
    ) -> Result<Mission, StoreError> {
        self.create_mission_with_setup_id(id, spec, Vec::new())
            .await
    }

    /// Creates a mission with its first events and then `setup`, in one write.
    pub async fn create_mission_with_setup(
        &self,
        spec: MissionSpec,
        setup: Vec<MissionEvent>,
    ) -> Result<Mission, StoreError> {
        self.create_mission_with_setup_id(MissionId::new(), spec, setup)
            .await
    }

    async fn create_mission_with_setup_id(
        &self,
        id: MissionId,
        spec: MissionSpec,
        setup: Vec<MissionEvent>,
    ) -> Result<Mission, StoreError> {
        let prompt = MissionEvent::UserMessage {
            text: spec.prompt.clone(),
        };
        let log = std::iter::once(prompt).chain(setup).collect();
        self.create_with_log(id, spec, log).await
    }

    /// Creates a mission forked from `parent` at its event `at`: its `created`, the
    /// `forked` link, then `history`, in one transaction.
    pub async fn create_fork(
        &self,
        spec: MissionSpec,
        parent: MissionId,
        at: u64,
        history: Vec<MissionEvent>,
    ) -> Result<Mission, StoreError> {
        let mut log = vec![MissionEvent::Forked {
            parent,
            parent_seq: at,
        }];
        log.extend(history);
        self.create_with_log(MissionId::new(), spec, log).await
    }

    /// Inserts the mission's row, its `Created` event and then `log`: with the next round
    /// of writes (see `behind`; durable once flushed, as on sled), or at once for a long
    /// log.
    async fn create_with_log(
        &self,
        id: MissionId,
        spec: MissionSpec,
        log: Vec<MissionEvent>,
    ) -> Result<Mission, StoreError> {
        // A few events are written behind, with the next round; a long log (a fork's
        // history) at once.
        let (spec, log) = if log.len() <= MAX_BEHIND_LOG {
            match self.create_behind(id, spec, log)? {
                Ok(mission) => return Ok(mission),
                Err(parts) => parts,
            }
        } else {
            (spec, log)
        };
        let client = self.client().await?;
        let mission = self.create_in(&client, id, spec, log).await?;
        // Remembered once committed: a record whose write rolled back is never used.
        self.remember(&mission);
        Ok(mission)
    }

    /// The mission's row, its `Created` event and then `log`, in one statement (inside a
    /// transaction when `tx` is one).
    pub(super) async fn create_in(
        &self,
        tx: &impl deadpool_postgres::GenericClient,
        id: MissionId,
        spec: MissionSpec,
        log: Vec<MissionEvent>,
    ) -> Result<Mission, StoreError> {
        let mut mission = Mission::new(id, spec.clone(), Utc::now());
        let (mut seqs, mut ats, mut events) = (vec![], vec![], vec![]);
        for event in std::iter::once(MissionEvent::Created { spec }).chain(log) {
            let (stored, value) = next_event(&mut mission, event)?;
            seqs.push(as_i64(stored.seq));
            ats.push(stored.at);
            events.push(value);
        }
        // A daemon holds what it creates until it offers it to the queue (or runs it): no
        // other daemon takes a mission whose setup events are still being written.
        let (holder, hold_secs) = match self.owner.get() {
            Some(o) => (Some(o.name.as_str()), o.lease.as_secs_f64()),
            None => (None, 0.0),
        };
        let create = tx
            .prepare_cached(CREATE)
            .await
            .map_err(|e| self.failed(&e))?;
        tx.execute(
            &create,
            &[
                &id.0,
                &mission.status.as_str(),
                &mission.created_at,
                &mission.updated_at,
                &as_i64(mission.event_count),
                &encode(&mission, &id.to_string())?,
                &holder,
                &hold_secs,
                &self.owner_instance(),
                &seqs,
                &ats,
                &events,
                &format!("{id}:0"),
            ],
        )
        .await
        .map_err(|e| self.failed(&e))?;
        Ok(mission)
    }

    /// Appends one event and updates the mission's record, in one transaction.
    pub async fn append(
        &self,
        id: &MissionId,
        event: MissionEvent,
    ) -> Result<StoredEvent, StoreError> {
        let event = match self.append_behind(id, event).await? {
            Ok(stored) => return Ok(stored),
            Err(event) => event,
        };
        // Events of it still queued go first (it stopped running here meanwhile).
        self.settle_for(id).await?;
        let event = match self.append_fast(id, event).await? {
            Ok(stored) => return Ok(stored),
            Err(event) => event,
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.failed(&e))?;
        let (stored, mission) = self.append_in(&tx, id, event).await?;
        tx.commit().await.map_err(|e| self.failed(&e))?;
        self.remember(&mission);
        Ok(stored)
    }

    /// The append inside `tx`: the event as stored and the record after it.
    async fn append_in(
        &self,
        tx: &Transaction<'_>,
        id: &MissionId,
        event: MissionEvent,
    ) -> Result<(StoredEvent, Mission), StoreError> {
        let lock = tx
            .prepare_cached(LOCK_RECORD)
            .await
            .map_err(|e| self.failed(&e))?;
        let row = tx
            .query_opt(&lock, &[&id.0])
            .await
            .map_err(|e| self.failed(&e))?
            .ok_or_else(|| StoreError::UnknownMission(id.to_string()))?;
        let (holder, leased_by): (Option<String>, Option<String>) = (row.get(1), row.get(2));
        let instance: Option<String> = row.get(3);
        if self.runs_here(id)
            && (leased_by.as_deref() != self.owner_name()
                || instance.as_deref() != self.owner_instance())
        {
            return Err(StoreError::LeaseLost { id: id.to_string() });
        }
        if let Some(daemon) = holder.filter(|h| Some(h.as_str()) != self.owner_name()) {
            return Err(StoreError::LeasedElsewhere {
                id: id.to_string(),
                daemon,
            });
        }
        let mut mission = decode_mission(&id.to_string(), row.get(0))?;
        let (stored, value) = next_event(&mut mission, event)?;
        let (seq, now) = (stored.seq, stored.at);
        let write = tx
            .prepare_cached(WRITE_EVENT)
            .await
            .map_err(|e| self.failed(&e))?;
        tx.execute(
            &write,
            &[
                &id.0,
                &as_i64(seq),
                &now,
                &value,
                &encode(&mission, &id.to_string())?,
                &mission.status.as_str(),
                &as_i64(mission.event_count),
                &format!("{id}:{seq}"),
            ],
        )
        .await
        .map_err(|e| self.failed(&e))?;
        Ok((stored, mission))
    }

    /// One mission's record: as this process keeps it for a mission it runs, else once
    /// this process's queued events are written.
    pub async fn mission(&self, id: &MissionId) -> Result<Mission, StoreError> {
        if let Some(kept) = self.kept_record(id) {
            return Ok(kept);
        }
        self.settle_for(id).await?;
        self.mission_direct(id).await
    }

    /// One mission's record as the database has it.
    pub(super) async fn mission_direct(&self, id: &MissionId) -> Result<Mission, StoreError> {
        let client = self.client().await?;
        let read = client
            .prepare_cached("SELECT record::text FROM missions WHERE id = $1")
            .await
            .map_err(|e| self.failed(&e))?;
        let row = client
            .query_opt(&read, &[&id.0])
            .await
            .map_err(|e| self.failed(&e))?
            .ok_or_else(|| StoreError::UnknownMission(id.to_string()))?;
        decode_mission(&id.to_string(), row.get(0))
    }

    /// Finds a mission by its full id or a unique prefix of it.
    pub async fn resolve(&self, text: &str) -> Result<MissionId, StoreError> {
        let text = text.trim();
        if let Ok(id) = text.parse::<MissionId>() {
            self.mission(&id).await?;
            return Ok(id);
        }
        let wanted = text.to_lowercase();
        if wanted.len() < 4 || !wanted.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(StoreError::UnknownMission(text.to_string()));
        }
        // Missions created here are found as soon as they are made.
        self.settle().await?;
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id FROM missions WHERE starts_with(id::text, $1) ORDER BY id LIMIT 2",
                &[&wanted],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        match rows.as_slice() {
            [one] => Ok(MissionId(one.get(0))),
            [] => Err(StoreError::UnknownMission(text.to_string())),
            _ => {
                let count: i64 = client
                    .query_one(
                        "SELECT count(*) FROM missions WHERE starts_with(id::text, $1)",
                        &[&wanted],
                    )
                    .await
                    .map_err(|e| self.failed(&e))?
                    .get(0);
                Err(StoreError::AmbiguousMission {
                    prefix: text.to_string(),
                    count: count as usize,
                })
            }
        }
    }

    /// Every mission, oldest first, and a description of each unreadable record.
    pub async fn missions(&self) -> Result<(Vec<Mission>, Vec<String>), StoreError> {
        self.settle().await?;
        let client = self.client().await?;
        let rows = client
            .query("SELECT id, record::text FROM missions ORDER BY id", &[])
            .await
            .map_err(|e| self.failed(&e))?;
        let mut missions = Vec::new();
        let mut problems = Vec::new();
        for row in rows {
            let id: uuid::Uuid = row.get(0);
            match serde_json::from_str::<Mission>(row.get(1)) {
                Ok(m) => missions.push(m),
                Err(e) => problems.push(format!("mission {id}: unreadable record ({e}); skipped")),
            }
        }
        Ok((missions, problems))
    }

    /// Up to `limit` missions matching `filter`, in id order.
    pub async fn missions_page(
        &self,
        filter: &MissionFilter,
        limit: usize,
    ) -> Result<MissionPage, StoreError> {
        let limit = limit.max(1);
        self.settle().await?;
        let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, record::text FROM missions
                 WHERE ($1::uuid IS NULL OR id > $1)
                   AND (cardinality($2::text[]) = 0 OR status = ANY($2))
                   AND ($3::timestamptz IS NULL OR updated_at > $3)
                 ORDER BY id LIMIT $4",
                &[
                    &filter.after.map(|id| id.0),
                    &statuses,
                    &filter.updated_since,
                    &(limit as i64 + 1),
                ],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        let mut page = MissionPage::default();
        for (i, row) in rows.iter().enumerate() {
            let id: uuid::Uuid = row.get(0);
            if i == limit {
                // There is more: the next page starts after the last row of this one.
                page.next_cursor = Some(MissionId(rows[i - 1].get(0)));
                break;
            }
            match serde_json::from_str::<Mission>(row.get(1)) {
                Ok(m) => page.missions.push(m),
                Err(e) => page
                    .problems
                    .push(format!("mission {id}: unreadable record ({e}); skipped")),
            }
        }
        Ok(page)
    }

    /// Deletes a mission and its whole event log.
    pub async fn delete_mission(&self, id: &MissionId) -> Result<(), StoreError> {
        self.settle_for(id).await?;
        let client = self.client().await?;
        let deleted = client
            .execute("DELETE FROM missions WHERE id = $1", &[&id.0])
            .await
            .map_err(|e| self.failed(&e))?;
        if deleted == 0 {
            return Err(StoreError::UnknownMission(id.to_string()));
        }
        Ok(())
    }

    /// The event log from sequence number `from` on.
    pub async fn events_from(
        &self,
        id: &MissionId,
        from: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        Ok(self
            .event_rows(id, from)
            .await?
            .into_iter()
            .map(|(seq, raw)| decode_event(seq, &raw))
            .collect())
    }

    /// The event log from `from` on as stored JSON objects (one that is not an object
    /// comes back as an encoded [`MissionEvent::Unreadable`]).
    pub async fn events_json_from(
        &self,
        id: &MissionId,
        from: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let rows = self.event_rows(id, from).await?;
        Ok(rows
            .into_iter()
            .map(|(seq, raw)| {
                if raw.trim_start().starts_with('{') {
                    return (seq, raw.into_bytes());
                }
                let unreadable = StoredEvent {
                    seq,
                    at: Utc::now(),
                    event: MissionEvent::Unreadable {
                        error: format!("event {seq} cannot be decoded"),
                    },
                };
                (seq, serde_json::to_vec(&unreadable).unwrap_or_default())
            })
            .collect())
    }

    async fn event_rows(
        &self,
        id: &MissionId,
        from: u64,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        self.settle_for(id).await?;
        let client = self.client().await?;
        let query = client
            .prepare_cached(
                "SELECT seq, event::text FROM events WHERE mission_id = $1 AND seq >= $2 ORDER BY seq",
            )
            .await
            .map_err(|e| self.failed(&e))?;
        let rows = client
            .query(&query, &[&id.0, &as_i64(from)])
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(rows
            .into_iter()
            .map(|row| (row.get::<_, i64>(0) as u64, row.get(1)))
            .collect())
    }
}
