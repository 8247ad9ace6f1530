//! `sortie serve`: one process that owns the store, runs missions under a supervisor, and
//! answers a JSON/SSE API on loopback behind a bearer token.
//!
//! Files in the data dir (owner-only): `daemon.json` (pid, address, start time) while it
//! runs, and `daemon.token` (the bearer token, new at every start).

pub mod accounts;
pub mod api;
pub mod approvals;
pub mod cluster;
mod connections;
mod disk_watch;
pub mod http_limits;
mod listing;
mod panics;
mod relay;
mod schedule_fire;
mod scheduler;
mod steering;
pub mod supervisor;
mod usage;
mod worktrees;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sortie_missions::{MissionEvent, MissionStatus, SharedStore, Store};
use tokio_util::sync::CancellationToken;

use crate::api::instance::{info_path, token_path, DaemonInfo};
pub use crate::api::ServeOptions;

use crate::config::Config;
pub use supervisor::{Limits, Supervisor};

/// Writes `text` to `path`, readable by its owner only from the first byte.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// The daemon's shared state.
pub struct Daemon {
    pub home: PathBuf,
    /// Missions, events, schedules: sled, or PostgreSQL shared with other daemons.
    pub store: SharedStore,
    /// The data dir's own sled store: credentials and pending logins.
    pub local: Store,
    pub pool: Arc<sortie_transports::auth::Pool>,
    pub supervisor: Arc<Supervisor>,
    pub token: String,
    /// The instance id of `daemon.json`.
    pub instance: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    /// When the API last answered a request (seconds since the epoch).
    pub last_request: std::sync::atomic::AtomicI64,
    /// Set for a daemon that exits when idle (the ones commands start).
    pub idle_exit: Option<Duration>,
    /// Logins started over the API.
    pub logins: accounts::Logins,
    /// Set when the daemon stops to start again (see `disk_watch`).
    pub restart: std::sync::atomic::AtomicBool,
}

/// A fresh bearer token: 32 random bytes, hex.
fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the daemon until SIGINT/SIGTERM or `POST /shutdown`.
pub async fn serve(home: &Path, opts: ServeOptions) -> anyhow::Result<()> {
    opts.check_bind()?;
    // `shared = true` stdio MCP servers: one process for all of this daemon's missions.
    sortie_missions::mcp::shared::enable();
    let config = Config::load(home)?;
    let local = crate::service::open_store(home)?;
    sortie_missions::set_max_event_bytes(config.daemon.limits.max_event_bytes);
    let store = crate::service::mission_store(&local, &config).await?;
    // The accounts first: a store without its key stops here, before the name is taken.
    let pool = crate::service::accounts::pool_for(&local, &store, &config).await?;
    let instance = crate::api::instance::random_hex();
    let link = match store.as_postgres() {
        Some(pg) => Some(cluster::Link::join(pg, &config, &instance).await?),
        None => None,
    };
    let _proactive = pool.spawn_proactive(Duration::from_secs(60));
    let listener = tokio::net::TcpListener::bind((opts.bind, opts.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", opts.bind, opts.port))?;
    let addr = listener.local_addr()?;
    let token = new_token();
    sortie_transports::held_secrets::hold(&token);
    write_private(&token_path(home), &token)
        .with_context(|| format!("cannot write {}", token_path(home).display()))?;
    let info = DaemonInfo {
        pid: std::process::id(),
        addr,
        started_at: chrono::Utc::now(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        instance,
    };
    write_private(&info_path(home), &serde_json::to_string_pretty(&info)?)?;

    let supervisor = Supervisor::new(
        home.to_path_buf(),
        store.clone(),
        pool.clone(),
        limits(&config),
    );
    let daemon = Arc::new(Daemon {
        home: home.to_path_buf(),
        store: store.clone(),
        local,
        pool,
        supervisor: supervisor.clone(),
        token,
        instance: info.instance.clone(),
        started_at: info.started_at,
        addr,
        shutdown: CancellationToken::new(),
        last_request: std::sync::atomic::AtomicI64::new(chrono::Utc::now().timestamp()),
        idle_exit: opts.idle_exit,
        logins: Default::default(),
        restart: Default::default(),
    });
    let claims = match &link {
        Some(link) => {
            supervisor.join(link.clone());
            let run = cluster::run(daemon.clone(), link.clone());
            Some(tokio::spawn(run))
        }
        None => {
            recover(&daemon, config.daemon.resume_interrupted).await?;
            None
        }
    };
    eprintln!(
        "sortie daemon {} serving http://{addr} (pid {}, data dir {})",
        info.version,
        info.pid,
        home.display()
    );

    let stop = daemon.shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        stop.cancel();
    });
    let scheduler = tokio::spawn(scheduler::run(daemon.clone(), daemon.shutdown.clone()));
    if let Some(idle) = opts.idle_exit {
        tokio::spawn(exit_when_idle(daemon.clone(), idle));
    }
    tokio::spawn(disk_watch::watch(daemon.clone()));
    relay::spawn(&daemon);
    let app = api::router(daemon.clone());
    let stop = daemon.shutdown.clone();
    let listener = connections::GuardedListener::new(
        listener,
        config.daemon.limits.max_connections,
        Duration::from_secs(config.daemon.limits.header_timeout_secs),
    );
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    let _ = scheduler.await;
    // The heartbeat goes on until the missions have stopped (see `cluster::leave`).
    let ended = wind_down(&daemon).await;
    if let Some(claims) = claims {
        let _ = claims.await;
    }
    sortie_missions::mcp::shared::stop_all();
    ended?;
    served.context("the API server failed")
}

/// The daemon's limits on running and queued missions, from `[daemon]`.
fn limits(config: &Config) -> Limits {
    Limits {
        global: config.daemon.max_concurrent,
        per_provider: config
            .daemon
            .per_provider
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect::<HashMap<_, _>>(),
        max_queued: config.daemon.limits.max_queued,
        max_queued_per_schedule: config.daemon.limits.max_queued_per_schedule,
    }
}

/// After the API stopped serving: interrupts the missions (they resume at the next
/// start), ends what they started, and removes `daemon.json` and the token; an error when
/// the daemon should start again in its place (the disk watch asked).
async fn wind_down(daemon: &Daemon) -> anyhow::Result<()> {
    let home = &daemon.home;
    let (running, queued) = daemon.supervisor.counts();
    if running + queued > 0 {
        eprintln!(
            "sortie daemon stopping: interrupting {} mission(s) (they resume at the next start)",
            running + queued
        );
    } else {
        eprintln!("sortie daemon stopping");
    }
    daemon
        .supervisor
        .shutdown("the daemon was stopped; the mission resumes when it starts again")
        .await;
    if let Some(link) = daemon.supervisor.cluster() {
        cluster::leave(link).await;
    }
    // The notices of missions that ended (and of skipped runs) are not cut off mid-retry.
    let notices = daemon.supervisor.notices().len();
    if let (Ok(config), true) = (daemon.supervisor.config(), notices > 0) {
        eprintln!("sortie daemon stopping: sending {notices} notice(s) still in flight");
        crate::service::notify::settle_all(daemon.supervisor.notices(), &config.notify).await;
    }
    // The interrupted tool calls' processes end with their launchers; anything still
    // recorded as ours goes now, before the daemon exits.
    for line in crate::service::sandboxing::sweep(home) {
        eprintln!("sortie daemon stopping: {line}");
    }
    let _ = std::fs::remove_file(info_path(home));
    let _ = std::fs::remove_file(token_path(home));
    if daemon.restart.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(disk_watch::restart_in_place());
    }
    Ok(())
}

/// Stops the daemon once nothing has happened for `idle`.
async fn exit_when_idle(daemon: Arc<Daemon>, idle: Duration) {
    let tick = Duration::from_millis(250)
        .max(idle / 20)
        .min(Duration::from_secs(5));
    let mut quiet_since = std::time::Instant::now();
    // Whether a schedule will fire, read again only when the schedules changed.
    let mut scheduled_as_of: Option<(Option<u64>, bool)> = None;
    loop {
        tokio::select! {
            _ = daemon.shutdown.cancelled() => return,
            _ = tokio::time::sleep(tick) => {}
        }
        if !daemon.home.exists() {
            eprintln!("the data dir {} is gone: exiting", daemon.home.display());
            daemon.shutdown.cancel();
            return;
        }
        let (running, queued) = daemon.supervisor.counts();
        let now = chrono::Utc::now();
        // Unknown (the store unreachable): read again next time.
        let generation = daemon.store.schedules_generation().await.ok();
        let scheduled = match scheduled_as_of {
            Some((Some(seen), scheduled)) if Some(seen) == generation => scheduled,
            _ => {
                let scheduled = daemon
                    .store
                    .schedules()
                    .await
                    .map(|(all, _)| all.iter().any(|s| !s.paused && s.next_run.is_some()))
                    .unwrap_or(true);
                scheduled_as_of = Some((generation, scheduled));
                scheduled
            }
        };
        let last = daemon
            .last_request
            .load(std::sync::atomic::Ordering::Relaxed);
        let recent = now.timestamp() - last < i64::try_from(idle.as_secs()).unwrap_or(i64::MAX);
        if running + queued > 0 || scheduled || recent || daemon.logins.pending() > 0 {
            quiet_since = std::time::Instant::now();
        } else if quiet_since.elapsed() >= idle {
            eprintln!(
                "sortie daemon idle for {}s (no mission, no schedule, no login, no request): exiting",
                idle.as_secs()
            );
            daemon.shutdown.cancel();
            return;
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// After a start: missions the last daemon left running are marked interrupted and, unless
/// configured otherwise, queued again; they continue from their last durable event. Records
/// that cannot be read are reported and skipped.
async fn recover(daemon: &Daemon, resume: bool) -> anyhow::Result<()> {
    let (missions, problems) = daemon.store.missions().await?;
    for problem in problems {
        eprintln!("warning: {problem}");
    }
    for mission in missions {
        match mission.status {
            MissionStatus::Running => {
                daemon
                    .store
                    .append(
                        &mission.id,
                        MissionEvent::Status {
                            status: MissionStatus::Interrupted,
                            reason: Some(
                                "the daemon stopped while the mission ran (crash, kill or reboot)"
                                    .into(),
                            ),
                        },
                    )
                    .await?;
            }
            MissionStatus::Queued | MissionStatus::Interrupted => {}
            _ => continue,
        }
        if resume {
            let mission = daemon.store.mission(&mission.id).await?;
            if let Err(e) = daemon.supervisor.submit(mission).await {
                eprintln!("warning: {e}");
            }
        }
    }
    Ok(())
}
