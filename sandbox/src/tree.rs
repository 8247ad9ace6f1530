//! Processes as Linux shows them in /proc: start times (so a reused pid is never taken for
//! ours), descendants, and killing a whole tree.

use std::time::{Duration, Instant};

/// What /proc/PID/stat says of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub state: char,
    pub ppid: u32,
    pub pgrp: u32,
    /// Clock ticks after boot at which it started: with the pid, names one process.
    pub start: u64,
}

/// Reads /proc/PID/stat; `None` when there is no such process.
pub fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<Stat> {
    // The command name is in parentheses and may hold anything: read after the last one.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) ppid(4) pgrp(5) ... starttime(22).
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// When `pid` started, if it runs (zombies included).
pub fn start_time(pid: u32) -> Option<u64> {
    stat(pid).map(|s| s.start)
}

/// True while the process `pid` that started at `start` runs and is not a zombie.
pub fn alive(pid: u32, start: u64) -> bool {
    stat(pid).is_some_and(|s| s.start == start && s.state != 'Z')
}

/// The direct children of `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// Every process below `pid`, parents before their children.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut next = children(pid);
    while let Some(p) = next.pop() {
        if out.contains(&p) {
            continue;
        }
        out.push(p);
        next.extend(children(p));
    }
    out
}

/// The processes whose process group is `pgrp`.
pub fn group_members(pgrp: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| stat(*pid).is_some_and(|s| s.pgrp == pgrp && s.state != 'Z'))
        .collect()
}

/// True while some process of group `pgrp` runs (zombies do not count).
pub fn group_alive(pgrp: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(raw) = i32::try_from(pgrp) else {
            return false;
        };
        if raw <= 1 || nix::sys::signal::killpg(nix::unistd::Pid::from_raw(raw), None).is_err() {
            return false;
        }
    }
    !group_members(pgrp).is_empty()
}

#[cfg(unix)]
fn kill(pid: u32, signal: nix::sys::signal::Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        if raw > 1 {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), signal);
        }
    }
}

#[cfg(unix)]
fn killpg(pgrp: u32, signal: nix::sys::signal::Signal) {
    if let Ok(raw) = i32::try_from(pgrp) {
        if raw > 1 {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(raw), signal);
        }
    }
}

/// Kills every process below `root` (SIGKILL), reaping what becomes ours, until none is
/// left. Bounded: a tree that keeps forking faster than it dies is given up after 2 s.
#[cfg(unix)]
pub fn kill_descendants(root: u32) {
    use nix::sys::signal::Signal;
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        reap();
        let live: Vec<u32> = descendants(root)
            .into_iter()
            .filter(|p| stat(*p).is_some_and(|s| s.state != 'Z'))
            .collect();
        if live.is_empty() || Instant::now() > deadline {
            break;
        }
        // Stop first, so nothing forks between our look and the kill.
        for p in &live {
            kill(*p, Signal::SIGSTOP);
        }
        for p in &live {
            kill(*p, Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    reap();
}

/// Reaps every child of this process that has ended.
#[cfg(unix)]
fn reap() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Ends a launcher started by this process and everything below it: the launcher is asked
/// (SIGUSR1) to kill its tree and exit; if it has not within a second, its process group is
/// killed. Returns at once; the wait happens on a short-lived thread.
#[cfg(unix)]
pub fn terminate_launcher(pid: u32, start: Option<u64>) {
    use nix::sys::signal::Signal;
    let Some(start) = start.or_else(|| start_time(pid)) else {
        return;
    };
    if !alive(pid, start) {
        // The launcher is gone (its command may have killed it): what is left in its
        // process group goes now.
        kill_group(pid, start);
        return;
    }
    kill(pid, Signal::SIGUSR1);
    let _ = std::thread::Builder::new()
        .name("sortie-reaper".into())
        .spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(1);
            while Instant::now() < deadline {
                if !alive(pid, start) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            kill_group(pid, start);
        });
}

/// Kills the process group `pgrp` led by the process that started at `start`, unless the
/// pid now names another process. With its leader gone, a group that still has members is
/// still ours: a pid is not reused while it names a live process group.
#[cfg(unix)]
pub fn kill_group(pgrp: u32, start: u64) -> bool {
    use nix::sys::signal::Signal;
    match stat(pgrp) {
        Some(s) if s.start != start => false,
        Some(_) => {
            let below = descendants(pgrp);
            killpg(pgrp, Signal::SIGKILL);
            for p in below {
                kill(p, Signal::SIGKILL);
            }
            true
        }
        None => {
            if group_members(pgrp).is_empty() {
                return false;
            }
            killpg(pgrp, Signal::SIGKILL);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_are_read_after_the_command_name_whatever_it_holds() {
        let line = "4242 (we ird) name)) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                state: 'S',
                ppid: 1,
                pgrp: 4242,
                start: 987654
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_seen_with_a_stable_start_time() {
        let me = std::process::id();
        let start = start_time(me).expect("own stat");
        assert!(alive(me, start));
        assert!(
            !alive(me, start + 1),
            "another start time is another process"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_tree_of_processes_is_seen_and_killed_whole() {
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("sleep 300 & sleep 300 & wait")
            .spawn()
            .expect("sh");
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        while descendants(pid).len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let below = descendants(pid);
        assert_eq!(below.len(), 2, "two sleeps under sh: {below:?}");
        let me = std::process::id();
        assert!(descendants(me).contains(&pid));
        kill_descendants(pid);
        for p in &below {
            assert!(
                stat(*p).is_none_or(|s| s.state == 'Z'),
                "{p} survived the kill"
            );
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
