//! Signalling a child's whole process group (children started with `process_group(0)`).

/// Sends `signal` to the process group led by `pid`. Group ids 0 and 1 would mean our own
/// group and init: those are never signalled.
#[cfg(unix)]
pub fn signal_group(pid: Option<u32>, signal: nix::sys::signal::Signal) {
    use nix::sys::signal::killpg;
    use nix::unistd::Pid;
    if let Some(pgid) = pid.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 1) {
        if let Err(e) = killpg(Pid::from_raw(pgid), signal) {
            tracing::debug!("signalling process group {pgid} with {signal}: {e}");
        }
    }
}
