//! `sortie store copy`: moves the data dir's sled store into a PostgreSQL database:
//! missions (records as they are: same ids, statuses, counters), every event with its
//! sequence number and time, schedules, the models cache, and the credentials and pending
//! logins (sealed there with the key the daemons share, `[store] key_env`).
//!
//! - The sled store is opened as its one owner: a daemon that holds it is named, with how
//!   to stop it.
//! - Nothing is written before every mission, credential and schedule is checked against
//!   the target: one already there under the same id must be this store's own earlier copy
//!   (the same record and number of events), or the copy is refused.
//! - Missions go over one at a time (its record and events in one transaction, see
//!   `PgStore::import_mission`), a page of records and one mission's events in memory at
//!   once. A copy that stopped half way is completed by running it again; nothing is
//!   written twice.
//! - At the end both sides are counted (the target by its rows) and compared.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use serde::Serialize;
use sortie_missions::postgres::{Found, PgCredentials, PgStore};
use sortie_missions::{CachedModels, Mission, MissionFilter, MissionId, Store};
use sortie_transports::auth::sealed::Sealer;
use sortie_transports::auth::{Credential, CredentialBackend, PendingLogin, PendingLoginBackend};

use crate::config::{Config, StoreLocation};

/// Missions read from sled (and checked on the target) per page.
const PAGE: usize = 100;
/// How many conflicting missions a refusal names.
const NAMED: usize = 5;

/// What `sortie store copy` was asked.
#[derive(Debug, Clone, Default)]
pub struct CopyRequest {
    /// The target's URL (`--to`); none: the configured store.
    pub to: Option<String>,
    /// The variable holding the target's password (`--password-env`; default `[store]
    /// password_env`), for a URL without one.
    pub password_env: Option<String>,
    /// The variable holding the key credentials are sealed with there (`--key-env`;
    /// default `[store] key_env`).
    pub key_env: Option<String>,
}

/// How far a copy is.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub events: u64,
}

/// Something counted on both sides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counted {
    pub sled: u64,
    pub postgres: u64,
}

/// What a copy did, and the counts it checked.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CopyReport {
    /// The sled store copied from.
    pub from: String,
    /// The target, without its password.
    pub to: String,
    pub missions: Counted,
    pub events: Counted,
    pub schedules: Counted,
    pub credentials: Counted,
    pub pending_logins: Counted,
    pub models: Counted,
    /// Missions this run wrote.
    pub copied: u64,
    /// Missions an earlier run had copied (left as they are).
    pub already_there: u64,
    /// What could not be read on the sled side (skipped).
    pub warnings: Vec<String>,
    /// Each count that differs between the two sides.
    pub mismatches: Vec<String>,
    /// No mismatch.
    pub ok: bool,
}

impl CopyReport {
    /// The counted kinds, by name, in the order they are shown.
    pub fn rows(&self) -> [(&'static str, Counted); 6] {
        [
            ("missions", self.missions),
            ("events", self.events),
            ("schedules", self.schedules),
            ("credentials", self.credentials),
            ("pending logins", self.pending_logins),
            ("models cache", self.models),
        ]
    }

    fn check(&mut self) {
        self.mismatches = self
            .rows()
            .iter()
            .filter(|(_, c)| c.sled != c.postgres)
            .map(|(name, c)| format!("{name}: {} in sled, {} in PostgreSQL", c.sled, c.postgres))
            .collect();
        self.ok = self.mismatches.is_empty();
    }
}

/// Copies the sled store of the data dir `home` into the PostgreSQL database `request`
/// names, reporting progress every `every` missions.
pub async fn copy(
    home: &Path,
    config: &Config,
    request: &CopyRequest,
    every: u64,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> anyhow::Result<CopyReport> {
    let url = target_url(config, request)?;
    let local = super::open_store(home)?;
    let creds = super::accounts::credential_store(&local)?;
    let (credentials, problems) = creds.all()?;
    let mut report = CopyReport {
        from: local.path().display().to_string(),
        warnings: problems,
        ..Default::default()
    };
    let pending = pending_logins(&local)?;
    let sealer = match (credentials.len() + pending.len(), key_var(config, request)) {
        (0, _) => None,
        (_, Some(var)) => Some(Arc::new(Sealer::from_env(&var).map_err(anyhow::Error::msg)?)),
        (n, None) => bail!(
            "the data dir holds {n} credentials and pending logins, sealed in PostgreSQL with a key the daemons share: name the variable that holds it with --key-env VAR (or `[store] key_env`); make one with `openssl rand -base64 32`"
        ),
    };
    let target = PgStore::open_with(&url, super::store_migrate::pg_options(config, 4)).await?;
    report.to = target.url().to_string();
    let pg_creds = match sealer {
        Some(s) => Some(target.credentials(s).await?),
        None => None,
    };
    check_missions(&local, &target).await?;
    if let Some(pg) = &pg_creds {
        check_credentials(&credentials, pg, target.url()).await?;
    }
    copy_missions(&local, &target, &mut report, every, progress).await?;
    copy_schedules(&local, &target, &mut report).await?;
    copy_models(&local, &target, &mut report).await?;
    if let Some(pg) = &pg_creds {
        copy_credentials(&credentials, &pending, pg, &mut report).await?;
    }
    report.check();
    Ok(report)
}

/// The target URL (`--to`, else the configured store's), with its password from the
/// environment when it has none.
fn target_url(config: &Config, request: &CopyRequest) -> anyhow::Result<String> {
    let to = match &request.to {
        Some(to) => to.clone(),
        None => match config.store.location().map_err(anyhow::Error::msg)? {
            StoreLocation::Postgres(url) => url,
            StoreLocation::Sled => bail!(
                "name the PostgreSQL database to copy into: `sortie store copy --to postgres://USER@HOST:5432/DB --password-env VAR` (or set `[store] url`, or SORTIE_STORE_URL)"
            ),
        },
    };
    let mut parsed = reqwest::Url::parse(&to).map_err(|e| {
        anyhow::anyhow!("--to is not a URL ({e}); write it as `postgres://USER@HOST:5432/DB`")
    })?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        bail!(
            "--to is a `{}` URL; the store takes `postgres://USER@HOST:5432/DB`",
            parsed.scheme()
        );
    }
    if parsed.password().is_some() {
        return Ok(to);
    }
    let var = request
        .password_env
        .clone()
        .or_else(|| config.store.password_env.clone());
    let Some(var) = var else {
        return Ok(to);
    };
    let password = std::env::var(&var).map_err(|_| {
        anyhow::anyhow!(
            "--password-env names {var}, which is not set; set it to the database password"
        )
    })?;
    parsed
        .set_password(Some(&password))
        .map_err(|()| anyhow::anyhow!("--to has no host to log in to"))?;
    Ok(parsed.to_string())
}

fn key_var(config: &Config, request: &CopyRequest) -> Option<String> {
    request
        .key_env
        .clone()
        .or_else(|| config.store.key_env.clone())
}

/// The live pending logins of the sled store (expired ones are not copied).
fn pending_logins(local: &Store) -> anyhow::Result<Vec<PendingLogin>> {
    let tree = local.db().open_tree("oauth_sessions")?;
    let mut out = Vec::new();
    for entry in tree.iter() {
        let (_, raw) = entry?;
        if let Ok(p) = serde_json::from_slice::<PendingLogin>(&raw) {
            if p.expires_at > chrono::Utc::now() {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// Every page of the sled store's missions, in id order.
fn page(local: &Store, after: Option<MissionId>) -> anyhow::Result<sortie_missions::MissionPage> {
    let filter = MissionFilter {
        after,
        ..Default::default()
    };
    Ok(local.missions_page(&filter, PAGE)?)
}

/// Refuses when the target holds any of the missions under the same id and differently.
async fn check_missions(local: &Store, target: &PgStore) -> anyhow::Result<()> {
    let mut different = Vec::new();
    let mut after = None;
    loop {
        let page = page(local, after)?;
        let found = target.check_import(&page.missions).await?;
        for (m, f) in page.missions.iter().zip(found) {
            if let Found::Different(why) = f {
                different.push(format!("{}: {why}", m.id));
            }
        }
        match page.next_cursor {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    if different.is_empty() {
        return Ok(());
    }
    let more = different.len().saturating_sub(NAMED);
    let mut text = different[..different.len().min(NAMED)].join("\n  ");
    if more > 0 {
        text.push_str(&format!("\n  … and {more} more"));
    }
    bail!(
        "refusing to copy: {} of these missions are already in {} and differ there (nothing was copied):\n  {text}\ncopy into an empty database, or remove those missions there first",
        different.len(),
        target.url()
    )
}

/// Refuses when the target holds another credential under the id of one of these.
async fn check_credentials(
    credentials: &[Credential],
    pg: &PgCredentials,
    url: &str,
) -> anyhow::Result<()> {
    for c in credentials {
        if let Some(there) = pg.get(&c.id).await? {
            if there.provider != c.provider || there.created_at != c.created_at {
                bail!(
                    "refusing to copy: {url} already holds another credential `{}` (of `{}`, added {}; here of `{}`, added {}); nothing was copied: remove it there first (`sortie auth remove {}` on that store)",
                    c.id.0,
                    there.provider,
                    there.created_at.to_rfc3339(),
                    c.provider,
                    c.created_at.to_rfc3339(),
                    c.id.0
                );
            }
        }
    }
    Ok(())
}

/// Copies the missions one at a time, counting both sides a page at a time.
async fn copy_missions(
    local: &Store,
    target: &PgStore,
    report: &mut CopyReport,
    every: u64,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> anyhow::Result<()> {
    let total = local.db().open_tree("missions")?.len() as u64;
    let every = every.max(1);
    let mut after = None;
    loop {
        let page = page(local, after)?;
        report.warnings.extend(page.problems.iter().cloned());
        for m in &page.missions {
            copy_mission(local, target, m, report).await?;
            report.missions.sled += 1;
            if report.missions.sled.is_multiple_of(every) {
                progress(Progress {
                    done: report.missions.sled,
                    total,
                    events: report.events.sled,
                });
            }
        }
        let ids: Vec<MissionId> = page.missions.iter().map(|m| m.id).collect();
        let census = target.census(&ids).await?;
        report.missions.postgres += census.missions;
        report.events.postgres += census.events;
        match page.next_cursor {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(())
}

async fn copy_mission(
    local: &Store,
    target: &PgStore,
    m: &Mission,
    report: &mut CopyReport,
) -> anyhow::Result<()> {
    let events = local.events_json_from(&m.id, 0)?;
    report.events.sled += events.len() as u64;
    match target
        .import_mission(m, &events)
        .await
        .with_context(|| format!("copying mission {}", m.id))?
    {
        Found::Absent => report.copied += 1,
        Found::Same => report.already_there += 1,
        Found::Different(why) => bail!(
            "mission {} changed in {} while copying: {why}; run the copy again",
            m.id,
            target.url()
        ),
    }
    Ok(())
}

async fn copy_schedules(
    local: &Store,
    target: &PgStore,
    report: &mut CopyReport,
) -> anyhow::Result<()> {
    let (schedules, problems) = local.schedules()?;
    report.warnings.extend(problems);
    for s in &schedules {
        target.import_schedule(s).await?;
    }
    let ids: Vec<String> = schedules.iter().map(|s| s.id.clone()).collect();
    report.schedules = Counted {
        sled: ids.len() as u64,
        postgres: target.schedules_present(&ids).await?,
    };
    Ok(())
}

async fn copy_models(
    local: &Store,
    target: &PgStore,
    report: &mut CopyReport,
) -> anyhow::Result<()> {
    let tree = local.db().open_tree("models")?;
    let mut providers = Vec::new();
    for entry in tree.iter() {
        let (key, raw) = entry?;
        let provider = String::from_utf8_lossy(&key).into_owned();
        // A cache: an unreadable entry is fetched again, not copied.
        let Ok(cached) = serde_json::from_slice::<CachedModels>(&raw) else {
            continue;
        };
        target.import_models(&provider, &cached).await?;
        providers.push(provider);
    }
    report.models = Counted {
        sled: providers.len() as u64,
        postgres: target.models_present(&providers).await?,
    };
    Ok(())
}

/// Stores each credential the target does not have yet (one it has is its earlier copy,
/// possibly refreshed there since: left as it is), and the pending logins.
async fn copy_credentials(
    credentials: &[Credential],
    pending: &[PendingLogin],
    pg: &PgCredentials,
    report: &mut CopyReport,
) -> anyhow::Result<()> {
    for c in credentials {
        if pg.get(&c.id).await?.is_none() {
            pg.put(c).await?;
        }
    }
    let logins = pg.pending_logins();
    for p in pending {
        logins.put(p).await?;
    }
    let mut present = 0;
    for c in credentials {
        present += u64::from(pg.get(&c.id).await?.is_some());
    }
    let mut live = 0;
    for p in pending {
        live += u64::from(logins.get(&p.state).await?.is_some());
    }
    report.credentials = Counted {
        sled: credentials.len() as u64,
        postgres: present,
    };
    report.pending_logins = Counted {
        sled: pending.len() as u64,
        postgres: live,
    };
    Ok(())
}
