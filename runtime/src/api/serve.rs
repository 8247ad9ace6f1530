//! How `sortie serve` listens: what the command line asks of the daemon.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::bail;

/// How `sortie serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub bind: IpAddr,
    /// 0: any free port (clients read it from `daemon.json`).
    pub port: u16,
    /// Bind a non-loopback address even though the API would be reachable from elsewhere.
    pub force_bind: bool,
    /// Exit after this long idle: no mission queued or running, no schedule due to fire,
    /// no API request.
    pub idle_exit: Option<Duration>,
}

impl ServeOptions {
    /// Refuses an address other machines could reach, unless forced.
    pub fn check_bind(&self) -> anyhow::Result<()> {
        let ip = self.bind;
        if !ip.is_loopback() && !self.force_bind {
            bail!(
            "refusing to serve on {ip}: the API (which runs commands through missions) would be reachable from other machines; use 127.0.0.1, or pass --force-bind if you really mean it"
        );
        }
        Ok(())
    }
}
