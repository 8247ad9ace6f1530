//! The schema: migrations applied in order, each once, recorded in `sortie_migrations`.
//! Several daemons may start at once: the migrations run in one transaction under an
//! advisory lock, so one applies them and the others find them done. A database with a
//! migration this build does not know was written by a newer sortie, and is refused.

use super::PgStore;
use crate::StoreError;

/// The migrations, in order: (version, name, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("schema/0001_initial.sql")),
    (
        2,
        "credentials",
        include_str!("schema/0002_credentials.sql"),
    ),
    (3, "daemons", include_str!("schema/0003_daemons.sql")),
];

/// The schema this build writes (its last migration).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The key of the advisory lock the migrations hold.
const LOCK: i64 = 0x736f_7274_6965; // "sortie"

impl PgStore {
    /// Applies the migrations this database lacks; refuses one migrated by a newer sortie.
    /// Returns how many were applied.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.failed(&e))?;
        let setup = format!(
            "SELECT pg_advisory_xact_lock({LOCK});
             CREATE TABLE IF NOT EXISTS sortie_migrations (
                 version    bigint PRIMARY KEY,
                 name       text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             );"
        );
        tx.batch_execute(&setup)
            .await
            .map_err(|e| self.failed(&e))?;
        let found: i64 = tx
            .query_one(
                "SELECT coalesce(max(version), 0) FROM sortie_migrations",
                &[],
            )
            .await
            .map_err(|e| self.failed(&e))?
            .get(0);
        if found > SCHEMA_VERSION {
            return Err(StoreError::DatabaseTooNew {
                url: self.shown.clone(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        let mut applied = 0;
        for (version, name, sql) in MIGRATIONS.iter().filter(|(v, ..)| *v > found) {
            tx.batch_execute(sql).await.map_err(|e| self.failed(&e))?;
            tx.execute(
                "INSERT INTO sortie_migrations (version, name) VALUES ($1, $2)",
                &[version, name],
            )
            .await
            .map_err(|e| self.failed(&e))?;
            tracing::info!("{}: applied migration {version} ({name})", self.shown);
            applied += 1;
        }
        tx.commit().await.map_err(|e| self.failed(&e))?;
        Ok(applied)
    }

    /// The schema version the database is at.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT coalesce(max(version), 0) FROM sortie_migrations",
                &[],
            )
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(row.get(0))
    }
}
