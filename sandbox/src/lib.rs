//! Containment for every process a mission starts: tool commands, MCP servers, the Claude
//! Code CLI.
//!
//! A contained process is started through a launcher: the `sortie` binary re-entered as
//! `sortie __sandbox SPEC -- PROGRAM ARGS...` (see [`launcher`]). The launcher sets the
//! parent-death signal, confines itself (Landlock for the file system, a network namespace
//! for "no network"), starts the program, and when the program exits, or its owner dies,
//! kills every process the program left behind before it exits itself. The environment is
//! cleared down to an allow-list before the launcher starts ([`env`]), and each launcher is
//! recorded in a [`Ledger`] so that the next start of an owner that died kills what is left.
//!
//! The crate holds no `unsafe`: the launcher is a separate process, so nothing has to run
//! between `fork` and `exec`.

pub mod env;
pub mod launcher;
mod ledger;
mod owner_only;
mod policy;
mod probe;
pub mod tree;

pub use env::EnvPolicy;
pub use ledger::{Ledger, Tracked};
pub use owner_only::create_private_dir;
pub use policy::{Sandbox, SandboxMode, SandboxPolicy};
pub use probe::{Feature, Outcome, Report};

/// The hidden subcommand of the `sortie` binary that runs the launcher.
pub const LAUNCHER_ARG: &str = "__sandbox";

/// Makes this process (a daemon or a `sortie run` that holds keys and tokens in memory and
/// in its environment) non-dumpable, so that the processes it starts, which run as the
/// same user, cannot read its `/proc/PID/environ` or `/proc/PID/mem`. A confined process
/// run as root also loses CAP_SYS_PTRACE in the launcher, which would bypass this.
pub fn protect_owner() {
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!("cannot make this process non-dumpable: {e}");
    }
}
