//! After a write failed on a full disk, sled refuses every later write until the store is
//! opened again. Once there is room again the daemon therefore restarts itself in place
//! (the same process id, a new port and token in `daemon.json`): running missions are
//! interrupted and resume from their last durable event, new missions work again, and
//! clients reattach (they read `daemon.json` again).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::Daemon;

/// Watches for a failed store write and stops the daemon for a restart once there is room.
pub(super) async fn watch(daemon: Arc<Daemon>) {
    loop {
        tokio::select! {
            _ = daemon.shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if daemon.store.write_failed() && daemon.store.check_space().is_ok() {
            eprintln!(
                "the disk has room again; restarting the daemon to open the store again (missions resume from their last stored event)"
            );
            daemon.restart.store(true, Ordering::SeqCst);
            daemon.shutdown.cancel();
            return;
        }
    }
}

/// Replaces this process with a fresh `sortie` started with the same arguments. Returns
/// only when that fails.
pub(super) fn restart_in_place() -> anyhow::Error {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(e) => return anyhow::anyhow!("cannot find the sortie binary to restart: {e}"),
        };
        let e = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .exec();
        anyhow::anyhow!("cannot restart the daemon: {e}")
    }
    #[cfg(not(unix))]
    anyhow::anyhow!("the store failed a write; start the daemon again")
}
