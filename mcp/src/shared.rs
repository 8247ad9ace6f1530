//! stdio servers shared by the daemon's missions (`shared = true`): one process per server
//! for the whole daemon, started on first use, restarted once after a crash, and ended with
//! the daemon (the sandbox's launcher gives it the parent-death signal, so `kill -9` of the
//! daemon takes it too; the process ledger records it meanwhile).
//!
//! Sharing is on only where [`enable`] was called (the daemon); elsewhere a `shared` server
//! is started per mission like any other, its owner being the one process anyway. Each
//! mission still chooses its servers (`--mcp`): the registry only says which process serves
//! a server a mission uses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value};
use sortie_sandbox::Sandbox;

use crate::config::ServerConfig;
use crate::connection::{BoxFuture, Connection, McpError, RemoteTool};

/// How often a shared server is started again after a crash, in the daemon's life.
const RESTARTS: u32 = 1;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Shares `shared = true` servers between the missions of this process (the daemon).
pub fn enable() {
    ENABLED.store(true, Ordering::SeqCst);
}

/// Ends every shared server (the daemon stopping); `kill -9` leaves it to the
/// parent-death signal.
pub fn stop_all() {
    let all: Vec<_> = slots()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain()
        .collect();
    for (_, slot) in all {
        if let Ok(mut slot) = slot.try_lock() {
            slot.conn = None;
        }
    }
}

/// True when `config`'s server is shared in this process.
pub(crate) fn applies(config: &ServerConfig) -> bool {
    config.shared && config.command.is_some() && ENABLED.load(Ordering::SeqCst)
}

/// One shared server.
#[derive(Default)]
struct Slot {
    config: Option<ServerConfig>,
    conn: Option<Arc<dyn Connection>>,
    /// Bumped by whichever mission first sees `tools/list_changed`, so every mission does.
    changed: Arc<AtomicU64>,
    restarts: u32,
    /// Why it is left out for the rest of the daemon's life.
    failed: Option<String>,
}

type Slots = Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>;

fn slots() -> &'static Slots {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    SLOTS.get_or_init(Slots::default)
}

fn slot(name: &str) -> Arc<tokio::sync::Mutex<Slot>> {
    slots()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(name.to_string())
        .or_default()
        .clone()
}

/// The shared connection to server `name`, started now when it is not running (or its
/// config changed); `failed` is the connection a mission saw crash, to start it again.
pub(crate) async fn connect(
    name: &str,
    config: &ServerConfig,
    sandbox: &Sandbox,
    failed: Option<&Arc<dyn Connection>>,
) -> Result<(Arc<dyn Connection>, Vec<RemoteTool>), McpError> {
    let slot = slot(name);
    let mut slot = slot.lock().await;
    if slot.config.as_ref() != Some(config) {
        *slot = Slot {
            config: Some(config.clone()),
            ..Slot::default()
        };
    }
    if let Some(why) = &slot.failed {
        return Err(McpError::Start(why.clone()));
    }
    let live = slot
        .conn
        .as_ref()
        .filter(|c| !c.is_closed() && !failed.is_some_and(|f| same(f, c)))
        .cloned();
    let conn = match live {
        Some(conn) => conn,
        None => {
            if slot.conn.take().is_some() {
                if slot.restarts >= RESTARTS {
                    let why = "it crashed again after a restart (it is shared by the daemon's missions: restart the daemon to try it again)".to_string();
                    slot.failed = Some(why.clone());
                    return Err(McpError::Start(why));
                }
                slot.restarts += 1;
            }
            let conn: Arc<dyn Connection> =
                Arc::new(crate::stdio::start(name, config, &own_sandbox(name, sandbox)).await?);
            slot.conn = Some(conn.clone());
            conn
        }
    };
    let tools = crate::set::list_within(&conn, config).await?;
    let view: Arc<dyn Connection> = Arc::new(View {
        seen: AtomicU64::new(slot.changed.load(Ordering::SeqCst)),
        changed: slot.changed.clone(),
        inner: conn,
    });
    Ok((view, tools))
}

/// True when `view` (a mission's) is a view of `conn`.
fn same(view: &Arc<dyn Connection>, conn: &Arc<dyn Connection>) -> bool {
    view.shared_id() == Some(Arc::as_ptr(conn) as *const () as usize)
}

/// The sandbox a shared server runs in: the first mission's policy, with a working and temp
/// directory of its own under the daemon's temp dir (a mission's goes when its run ends).
/// An unconfined sandbox (library use, no launcher) is used as it is.
fn own_sandbox(name: &str, mission: &Sandbox) -> Sandbox {
    let mut sandbox = mission.clone();
    if !mission.launched() {
        return sandbox;
    }
    let root = mission.tmpdir.parent().map(std::path::Path::to_path_buf);
    if let Some(root) = root {
        let dir = root.join(format!("mcp-{name}"));
        if sortie_sandbox::create_private_dir(&dir).is_ok() {
            sandbox.cwd = dir.clone();
            sandbox.tmpdir = dir;
        }
    }
    sandbox
}

/// A mission's view of a shared connection: its own "tools changed" flag.
struct View {
    inner: Arc<dyn Connection>,
    changed: Arc<AtomicU64>,
    seen: AtomicU64,
}

impl Connection for View {
    fn list_tools(&self) -> BoxFuture<'_, Result<Vec<RemoteTool>, McpError>> {
        self.inner.list_tools()
    }

    fn call_tool<'a>(
        &'a self,
        name: &'a str,
        arguments: Map<String, Value>,
    ) -> BoxFuture<'a, Result<Value, McpError>> {
        self.inner.call_tool(name, arguments)
    }

    fn take_tools_changed(&self) -> bool {
        if self.inner.take_tools_changed() {
            self.changed.fetch_add(1, Ordering::SeqCst);
        }
        let now = self.changed.load(Ordering::SeqCst);
        self.seen.swap(now, Ordering::SeqCst) != now
    }

    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    fn shared_id(&self) -> Option<usize> {
        Some(Arc::as_ptr(&self.inner) as *const () as usize)
    }
}
