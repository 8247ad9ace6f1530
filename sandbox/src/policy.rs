//! The sandbox modes, the configured policy, and a mission's sandbox built from them.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::env::EnvPolicy;
use crate::launcher::{FsRules, Spec};
use crate::ledger::Ledger;
use crate::probe::{Feature, Outcome, Report};
use crate::LAUNCHER_ARG;

/// How far what a mission runs is confined (`[sandbox] mode`, `--sandbox`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// Writes only inside the working directory, the mission's temp dir and the configured
    /// writable roots; reads everywhere but Sortie's data dir and `deny_read`.
    #[default]
    WorkspaceWrite,
    /// No writes anywhere but the mission's temp dir.
    ReadOnly,
    /// No confinement (the environment is still cleaned, and children still die with
    /// their call).
    Off,
}

impl SandboxMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::WorkspaceWrite => "workspace-write",
            Self::ReadOnly => "read-only",
            Self::Off => "off",
        }
    }
}

impl FromStr for SandboxMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "workspace-write" => Ok(Self::WorkspaceWrite),
            "read-only" | "readonly" => Ok(Self::ReadOnly),
            "off" => Ok(Self::Off),
            other => Err(format!(
                "unknown sandbox mode `{other}` (expected workspace-write, read-only or off)"
            )),
        }
    }
}

impl std::fmt::Display for SandboxMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[sandbox]` in config.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxPolicy {
    pub mode: SandboxMode,
    /// False: no network but a loopback of the sandbox's own.
    pub network: bool,
    /// Writable beside the working directory and the temp dir (workspace-write only).
    pub writable_roots: Vec<PathBuf>,
    /// Never readable, beside Sortie's data dir.
    pub deny_read: Vec<PathBuf>,
}

impl Default for SandboxPolicy {
    fn default() -> Self {
        Self {
            mode: SandboxMode::default(),
            network: true,
            writable_roots: Vec::new(),
            deny_read: Vec::new(),
        }
    }
}

/// One mission's sandbox: its policy met with its directories.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub policy: SandboxPolicy,
    /// The mission's working directory.
    pub cwd: PathBuf,
    /// The mission's own temp dir (`TMPDIR`), always writable.
    pub tmpdir: PathBuf,
    /// Sortie's data dir: never readable from inside.
    pub data_dir: Option<PathBuf>,
    /// The `sortie` binary that runs the launcher; `None` (library use without the binary)
    /// starts programs directly, unconfined, in their own process group.
    pub launcher: Option<PathBuf>,
    pub env: EnvPolicy,
    /// Where each launcher is recorded while it runs.
    pub ledger: Option<Ledger>,
    /// Features treated as missing (`SORTIE_SANDBOX_UNAVAILABLE`, to see the degraded path).
    pub unavailable: Vec<Feature>,
    /// Features the probe found enforced for this mission: a launcher that cannot apply one
    /// of them refuses to run its program rather than run it less confined than the model
    /// was told.
    pub required: Vec<Feature>,
}

impl Sandbox {
    /// A sandbox with no launcher: programs run unconfined (tests of the library, and
    /// callers outside the `sortie` binary).
    pub fn unconfined(cwd: &Path) -> Self {
        Self {
            policy: SandboxPolicy {
                mode: SandboxMode::Off,
                ..SandboxPolicy::default()
            },
            cwd: cwd.to_path_buf(),
            tmpdir: std::env::temp_dir(),
            data_dir: None,
            launcher: None,
            env: EnvPolicy::default(),
            ledger: None,
            unavailable: Vec::new(),
            required: Vec::new(),
        }
    }

    pub fn mode(&self) -> SandboxMode {
        self.policy.mode
    }

    /// What the launcher is told for one process. `extra_writable` adds directories the
    /// process itself needs (the Claude Code CLI's home); `network` false isolates it when
    /// the policy says so.
    pub fn spec(&self, extra_writable: &[PathBuf], network: bool) -> Spec {
        let fs = match self.policy.mode {
            SandboxMode::Off => None,
            mode => {
                let mut writable = vec![self.tmpdir.clone()];
                if mode == SandboxMode::WorkspaceWrite {
                    writable.push(self.cwd.clone());
                    writable.extend(self.policy.writable_roots.iter().cloned());
                }
                writable.extend(extra_writable.iter().cloned());
                let mut deny_read: Vec<PathBuf> = self.data_dir.iter().cloned().collect();
                deny_read.extend(self.policy.deny_read.iter().cloned());
                Some(FsRules {
                    writable,
                    deny_read,
                })
            }
        };
        let isolate_network = !network && !self.policy.network;
        let require = self
            .required
            .iter()
            .copied()
            .filter(|f| match f {
                Feature::Landlock => fs.is_some(),
                Feature::Netns => isolate_network,
            })
            .collect();
        Spec {
            parent: std::process::id(),
            fs,
            isolate_network,
            disable: self.unavailable.clone(),
            probe: false,
            require,
        }
    }

    /// A command that runs `program` contained: through the launcher, in a process group of
    /// its own, with the clean environment (plus `[tools] env` when `tool_env`). The caller
    /// adds arguments, the working directory and stdio. `needs_network` keeps the network
    /// for a process that cannot work without it (the Claude Code CLI).
    pub fn command(
        &self,
        program: impl AsRef<OsStr>,
        extra_writable: &[PathBuf],
        tool_env: bool,
        needs_network: bool,
    ) -> std::process::Command {
        let mut cmd = match &self.launcher {
            Some(launcher) => {
                let spec = self.spec(extra_writable, needs_network);
                let mut cmd = std::process::Command::new(launcher);
                cmd.arg(LAUNCHER_ARG)
                    .arg(serde_json::to_string(&spec).unwrap_or_default())
                    .arg("--")
                    .arg(program);
                cmd
            }
            None => std::process::Command::new(program),
        };
        cmd.env_clear()
            .envs(self.env.build(std::env::vars(), tool_env))
            .env("TMPDIR", &self.tmpdir)
            .current_dir(&self.cwd);
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd
    }

    /// True when processes go through the launcher (and so clean up after themselves).
    pub fn launched(&self) -> bool {
        self.launcher.is_some()
    }

    /// The sandbox described for the model, from what the machine actually enforces.
    pub fn describe(&self, report: &Report) -> String {
        let fs_enforced = matches!(report.filesystem, Some(Outcome::Enforced));
        let mut text = match self.policy.mode {
            SandboxMode::Off => "Sandbox: off. Commands you run with `shell` are not confined: they can read and write whatever this user can.".to_string(),
            SandboxMode::ReadOnly => format!(
                "Sandbox: read-only. Commands you run with `shell` cannot write anywhere but the temporary directory {} ($TMPDIR); write_file and edit_file are refused.",
                self.tmpdir.display()
            ),
            SandboxMode::WorkspaceWrite => {
                let mut roots = vec![
                    self.cwd.display().to_string(),
                    format!("{} ($TMPDIR)", self.tmpdir.display()),
                ];
                roots.extend(self.policy.writable_roots.iter().map(|p| p.display().to_string()));
                format!(
                    "Sandbox: workspace-write. Commands you run with `shell` can write only in: {}. They can read the rest of the file system except Sortie's data directory{}.",
                    roots.join(", "),
                    if self.policy.deny_read.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " and {}",
                            self.policy
                                .deny_read
                                .iter()
                                .map(|p| p.display().to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                )
            }
        };
        if self.policy.mode != SandboxMode::Off && !fs_enforced {
            text.push_str(" On this machine that confinement is not (fully) enforced, so do not rely on it; stay within those bounds yourself.");
        }
        text.push_str(match (self.policy.network, &report.network) {
            (true, _) => " Network: available.",
            (false, Some(Outcome::Enforced)) => {
                " Network: none (only a loopback of the sandbox's own)."
            }
            (false, _) => " Network: not to be used (it could not be cut off on this machine).",
        });
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print_the_names_the_config_uses() {
        for mode in [
            SandboxMode::WorkspaceWrite,
            SandboxMode::ReadOnly,
            SandboxMode::Off,
        ] {
            assert_eq!(mode.as_str().parse::<SandboxMode>(), Ok(mode));
        }
        let err = "strict".parse::<SandboxMode>().expect_err("unknown");
        assert!(err.contains("workspace-write, read-only or off"), "{err}");
    }

    #[test]
    fn the_spec_lists_what_each_mode_may_write_and_never_the_data_dir() {
        let mut sandbox = Sandbox::unconfined(Path::new("/work/repo"));
        sandbox.tmpdir = "/data/tmp/m1".into();
        sandbox.data_dir = Some("/data".into());
        sandbox.policy = SandboxPolicy {
            mode: SandboxMode::WorkspaceWrite,
            network: false,
            writable_roots: vec!["/cache".into()],
            deny_read: vec!["/secrets".into()],
        };
        let spec = sandbox.spec(&[], false);
        let fs = spec.fs.expect("confined");
        assert_eq!(
            fs.writable,
            [
                PathBuf::from("/data/tmp/m1"),
                "/work/repo".into(),
                "/cache".into()
            ]
        );
        assert_eq!(fs.deny_read, [PathBuf::from("/data"), "/secrets".into()]);
        assert!(spec.isolate_network);
        assert!(!sandbox.spec(&[], true).isolate_network, "needs network");
        sandbox.policy.mode = SandboxMode::ReadOnly;
        let fs = sandbox.spec(&[], false).fs.expect("confined");
        assert_eq!(fs.writable, [PathBuf::from("/data/tmp/m1")]);
        sandbox.policy.mode = SandboxMode::Off;
        assert!(sandbox.spec(&[], false).fs.is_none());
    }
}
