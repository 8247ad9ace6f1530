//! Schedules and the models cache in PostgreSQL. Every schedule write takes the next
//! number of the `schedules_generation` sequence: as the row's version, and as the
//! generation a timer compares (deletes take one too).

use chrono::Utc;

use super::PgStore;
use crate::scheduler::Schedule;
use crate::store::CachedModels;
use crate::StoreError;

fn decode(id: &str, raw: &str) -> Result<Schedule, StoreError> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt {
        id: id.to_string(),
        error: e.to_string(),
    })
}

fn encode<T: serde::Serialize>(value: &T, what: &str) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        id: what.to_string(),
        error: e.to_string(),
    })
}

impl PgStore {
    /// Stores a schedule (new or changed).
    pub async fn put_schedule(&self, s: &Schedule) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO schedules (id, version, record)
                 VALUES ($1, nextval('schedules_generation'), $2::text::json)
                 ON CONFLICT (id) DO UPDATE
                 SET version = nextval('schedules_generation'), record = excluded.record",
                &[&s.id, &encode(s, &s.id)?],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(())
    }

    /// Every schedule in id order, and a description of each unreadable one.
    pub async fn schedules(&self) -> Result<(Vec<Schedule>, Vec<String>), StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT id, record::text FROM schedules ORDER BY id", &[])
            .await
            .map_err(|e| self.failed(&e))?;
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for row in rows {
            let id: String = row.get(0);
            match serde_json::from_str(row.get(1)) {
                Ok(s) => out.push(s),
                Err(e) => problems.push(format!("schedule {id}: unreadable record ({e}); skipped")),
            }
        }
        Ok((out, problems))
    }

    /// The schedule with this id, or the only one whose id starts with it (4+ characters).
    pub async fn schedule(&self, text: &str) -> Result<Schedule, StoreError> {
        let text = text.trim().to_lowercase();
        let client = self.client().await?;
        let exact = client
            .query_opt("SELECT record::text FROM schedules WHERE id = $1", &[&text])
            .await
            .map_err(|e| self.failed(&e))?;
        if let Some(row) = exact {
            return decode(&text, row.get(0));
        }
        if text.len() < 4 {
            return Err(StoreError::UnknownSchedule(text));
        }
        let rows = client
            .query(
                "SELECT record::text, count(*) OVER () FROM schedules
                 WHERE starts_with(id, $1) ORDER BY id LIMIT 2",
                &[&text],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        match rows.as_slice() {
            [one] => decode(&text, one.get(0)),
            [] => Err(StoreError::UnknownSchedule(text)),
            [first, ..] => Err(StoreError::AmbiguousSchedule {
                count: first.get::<_, i64>(1) as usize,
                prefix: text,
            }),
        }
    }

    /// Deletes a schedule; deleting none is no error.
    pub async fn delete_schedule(&self, id: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "WITH gone AS (DELETE FROM schedules WHERE id = $1)
                 SELECT nextval('schedules_generation')",
                &[&id],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(())
    }

    /// Reads schedule `id` with its row locked, lets `change` modify it, and writes it
    /// back, in one transaction: a change made meanwhile by another daemon waits for the
    /// lock and is never undone. `None` when it is gone or `change` returned false.
    pub async fn update_schedule(
        &self,
        id: &str,
        change: &mut (dyn for<'s> FnMut(&'s mut Schedule) -> bool + Send),
    ) -> Result<Option<Schedule>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.failed(&e))?;
        let Some(mut s) = self.lock_schedule(&tx, id).await? else {
            return Ok(None);
        };
        if !change(&mut s) {
            return Ok(None);
        }
        self.write_schedule(&tx, &s).await?;
        tx.commit().await.map_err(|e| self.failed(&e))?;
        Ok(Some(s))
    }

    /// Schedule `id` with its row locked to the end of `tx`; `None` when it is gone.
    pub(super) async fn lock_schedule(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        id: &str,
    ) -> Result<Option<Schedule>, StoreError> {
        let row = tx
            .query_opt(
                "SELECT record::text FROM schedules WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        row.map(|row| decode(id, row.get(0))).transpose()
    }

    /// Writes schedule `s` back inside `tx`, under the next generation.
    pub(super) async fn write_schedule(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        s: &Schedule,
    ) -> Result<(), StoreError> {
        tx.execute(
            "UPDATE schedules SET version = nextval('schedules_generation'),
             record = $2::text::json WHERE id = $1",
            &[&s.id, &encode(s, &s.id)?],
        )
        .await
        .map_err(|e| self.failed(&e))?;
        Ok(())
    }

    /// Moves at every schedule write, by any daemon on this database.
    pub async fn schedules_generation(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM schedules_generation",
                &[],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// The cached model list of a provider, if any (an unreadable entry counts as none).
    pub async fn cached_models(&self, provider: &str) -> Result<Option<CachedModels>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT record::text FROM models WHERE provider = $1",
                &[&provider],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(row.and_then(|row| serde_json::from_str(row.get(0)).ok()))
    }

    /// Caches a provider's model list, stamped now.
    pub async fn cache_models(
        &self,
        provider: &str,
        models: Vec<sortie_transports::ModelInfo>,
    ) -> Result<CachedModels, StoreError> {
        let cached = CachedModels {
            fetched_at: Utc::now(),
            models,
        };
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO models (provider, record) VALUES ($1, $2::text::json)
                 ON CONFLICT (provider) DO UPDATE SET record = excluded.record",
                &[
                    &provider,
                    &encode(&cached, &format!("models of {provider}"))?,
                ],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(cached)
    }
}
