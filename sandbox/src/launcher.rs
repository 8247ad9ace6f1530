//! The launcher: `sortie __sandbox SPEC -- PROGRAM ARGS...`.
//!
//! It runs as the parent of the program and stays until the program ends:
//! 1. the parent-death signal (SIGUSR1) is set, and the launcher gives up if its owner is
//!    already gone;
//! 2. it becomes a child subreaper, so what the program leaves behind is re-parented to it;
//! 3. it isolates the network (a new network namespace with its own loopback up) and then
//!    confines the file system (Landlock), both applied to itself and so to everything it
//!    starts; what the kernel lacks is reported in probe mode and otherwise skipped;
//! 4. it starts the program, forwarding nothing: signals sent to the process group reach
//!    the program directly, and the launcher ignores them;
//! 5. when the program exits, or on SIGUSR1 (its owner died, or asked), it kills every
//!    process below it and exits with the program's status.

use std::ffi::OsString;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::probe::Feature;
#[cfg(target_os = "linux")]
use crate::probe::{Outcome, Report};

#[cfg(target_os = "linux")]
mod landlock_rules;
#[cfg(target_os = "linux")]
mod netns;

/// What the owner tells the launcher (one JSON argument).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The owner's pid: a launcher whose parent is already another process exits.
    pub parent: u32,
    /// File-system rules; `None`: not confined.
    pub fs: Option<FsRules>,
    /// Run in a network namespace of its own.
    pub isolate_network: bool,
    /// Features to treat as missing.
    #[serde(default)]
    pub disable: Vec<Feature>,
    /// Apply, print a [`crate::Report`] as JSON, and exit without running anything.
    #[serde(default)]
    pub probe: bool,
    /// Features that must come out enforced, or the program is not run.
    #[serde(default)]
    pub require: Vec<Feature>,
}

/// Landlock's input: what may be written, what may never be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FsRules {
    pub writable: Vec<PathBuf>,
    pub deny_read: Vec<PathBuf>,
}

/// Exit code when the launcher itself cannot go on (bad arguments, owner gone).
const LAUNCHER_FAILED: i32 = 125;

/// Runs the launcher on the arguments that follow `__sandbox`; returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let mut args = args.into_iter();
    let spec: Spec = match args
        .next()
        .and_then(|s| serde_json::from_str(&s.to_string_lossy()).ok())
    {
        Some(spec) => spec,
        None => {
            eprintln!("sortie sandbox: the first argument must be the sandbox spec (this command is started by sortie, not by hand)");
            return LAUNCHER_FAILED;
        }
    };
    if args.next().as_deref() != Some(std::ffi::OsStr::new("--")) {
        eprintln!("sortie sandbox: expected `--` after the spec");
        return LAUNCHER_FAILED;
    }
    let Some(program) = args.next() else {
        eprintln!("sortie sandbox: no program to run");
        return LAUNCHER_FAILED;
    };
    run(spec, program, args.collect())
}

#[cfg(target_os = "linux")]
fn run(spec: Spec, program: OsString, args: Vec<OsString>) -> i32 {
    use nix::sys::prctl;
    use nix::sys::signal::Signal;
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1};

    // Until the handler below is in place, SIGUSR1 still kills: an owner that dies now
    // takes the launcher with it, before anything has started.
    if let Err(e) = prctl::set_pdeathsig(Signal::SIGUSR1) {
        eprintln!("sortie sandbox: cannot set the parent-death signal: {e}");
        return LAUNCHER_FAILED;
    }
    if u32::try_from(nix::unistd::getppid().as_raw()).ok() != Some(spec.parent) {
        return LAUNCHER_FAILED;
    }
    let _ = prctl::set_child_subreaper(true);
    let report = confine(&spec);
    if spec.probe {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
        return 0;
    }
    if let Some(why) = unmet(&spec, &report) {
        eprintln!(
            "sortie sandbox: {why}; `{}` is not run less confined than the mission was told",
            program.to_string_lossy()
        );
        return LAUNCHER_FAILED;
    }
    let mut signals =
        match signal_hook::iterator::Signals::new([SIGUSR1, SIGINT, SIGTERM, SIGHUP, SIGQUIT]) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("sortie sandbox: cannot handle signals: {e}");
                return LAUNCHER_FAILED;
            }
        };
    let mut child = match std::process::Command::new(&program).args(&args).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "sortie sandbox: cannot run `{}`: {e}",
                program.to_string_lossy()
            );
            return if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
        }
    };
    let me = std::process::id();
    let _ = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if signal == SIGUSR1 {
                    crate::tree::kill_descendants(me);
                    std::process::exit(128 + SIGUSR1);
                }
                // Others reached the program through the process group; the launcher
                // stays to clean up after it.
            }
        });
    let status = child.wait();
    crate::tree::kill_descendants(me);
    match status {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            s.code()
                .or_else(|| s.signal().map(|sig| 128 + sig))
                .unwrap_or(LAUNCHER_FAILED)
        }
        Err(_) => LAUNCHER_FAILED,
    }
}

/// The first required feature that did not come out enforced, said.
#[cfg(target_os = "linux")]
fn unmet(spec: &Spec, report: &Report) -> Option<String> {
    spec.require.iter().find_map(|f| {
        let (name, outcome) = match f {
            Feature::Landlock => ("file-system confinement (Landlock)", &report.filesystem),
            Feature::Netns => ("the network namespace", &report.network),
        };
        match outcome {
            Some(Outcome::Enforced) => None,
            Some(Outcome::Partial { reason } | Outcome::Missing { reason }) => Some(format!(
                "{name} was enforced when the mission started and is not now ({reason})"
            )),
            None => Some(format!("{name} was not applied")),
        }
    })
}

/// Applies what the spec asks, network first (a user namespace needs its maps written
/// before Landlock closes /proc/self to writes).
#[cfg(target_os = "linux")]
fn confine(spec: &Spec) -> Report {
    let forced = |f: Feature| {
        spec.disable.contains(&f).then(|| Outcome::Missing {
            reason: format!(
                "{} turned off by SORTIE_SANDBOX_UNAVAILABLE",
                match f {
                    Feature::Landlock => "Landlock",
                    Feature::Netns => "network namespaces",
                }
            ),
        })
    };
    let network = spec.isolate_network.then(|| {
        forced(Feature::Netns).unwrap_or_else(|| match netns::isolate() {
            Ok(()) => Outcome::Enforced,
            Err(reason) => Outcome::Missing { reason },
        })
    });
    if spec.fs.is_some() {
        drop_capabilities();
    }
    let filesystem = spec
        .fs
        .as_ref()
        .map(|fs| forced(Feature::Landlock).unwrap_or_else(|| landlock_rules::restrict(fs)));
    Report {
        filesystem,
        network,
    }
}

/// Gives up every capability, for good (bounding set first). Run as root, a confined
/// command could otherwise read the environment of its owner and of other processes
/// through /proc (its owner is non-dumpable, [`crate::protect_owner`], which only a
/// capability bypasses), load modules, or reconfigure the machine. Any other user has none
/// to drop.
#[cfg(target_os = "linux")]
fn drop_capabilities() {
    use caps::CapSet;
    for cap in caps::all() {
        let _ = caps::drop(None, CapSet::Bounding, cap);
    }
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        let _ = caps::clear(None, set);
    }
}

/// Elsewhere there is no confinement: the program runs, and the launcher only waits.
#[cfg(not(target_os = "linux"))]
fn run(spec: Spec, program: OsString, args: Vec<OsString>) -> i32 {
    if spec.probe {
        let missing = || crate::probe::Outcome::Missing {
            reason: "only Linux has a sandbox".into(),
        };
        let report = crate::probe::Report {
            filesystem: spec.fs.is_some().then(missing),
            network: spec.isolate_network.then(missing),
        };
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
        return 0;
    }
    match std::process::Command::new(&program).args(&args).status() {
        Ok(s) => s.code().unwrap_or(LAUNCHER_FAILED),
        Err(e) => {
            eprintln!(
                "sortie sandbox: cannot run `{}`: {e}",
                program.to_string_lossy()
            );
            127
        }
    }
}
