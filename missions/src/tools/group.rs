//! Whether a process group still has a live process.

/// True while some process of group `pgid` runs (a zombie, dead and waiting to be reaped,
/// does not count).
#[cfg(target_os = "linux")]
pub(super) fn alive(pgid: i32) -> bool {
    use nix::sys::signal::killpg;
    use nix::unistd::Pid;
    if killpg(Pid::from_raw(pgid), None).is_err() {
        return false;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    entries.filter_map(Result::ok).any(|entry| {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            return false;
        };
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| running_in(&stat))
            .is_some_and(|group| group == pgid)
    })
}

/// The process group of a `/proc/<pid>/stat` line, unless that process is a zombie.
#[cfg(target_os = "linux")]
fn running_in(stat: &str) -> Option<i32> {
    // The command name (field 2) may hold spaces and parentheses: fields after it are
    // counted from its last `)`.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    (!matches!(state, "Z" | "X")).then_some(pgrp)
}

/// True while the group exists at all (zombies included) where `/proc` is not there.
#[cfg(all(unix, not(target_os = "linux")))]
pub(super) fn alive(pgid: i32) -> bool {
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), None).is_ok()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn reads_the_group_of_a_running_process_and_skips_zombies() {
        assert_eq!(running_in("42 (a (b) c) S 1 42 42 0 -1 4194560"), Some(42));
        assert_eq!(running_in("43 (sleep) Z 1 42 42 0"), None);
        assert!(alive(nix::unistd::getpgrp().as_raw()));
    }
}
