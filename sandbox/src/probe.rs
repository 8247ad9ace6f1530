//! What the machine enforces of a sandbox, found by running the launcher once in probe
//! mode (it applies the rules to itself and reports), and said as warnings.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::policy::{Sandbox, SandboxMode};
use crate::LAUNCHER_ARG;

/// A confinement the launcher uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Feature {
    /// Landlock, for the file system.
    Landlock,
    /// A network namespace, for `network = false`.
    Netns,
}

impl FromStr for Feature {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "landlock" => Ok(Self::Landlock),
            "netns" => Ok(Self::Netns),
            other => Err(format!(
                "unknown sandbox feature `{other}` (expected landlock or netns)"
            )),
        }
    }
}

/// How one confinement came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    Enforced,
    Partial { reason: String },
    Missing { reason: String },
}

/// What a launcher enforced; `None` for what was not asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub filesystem: Option<Outcome>,
    pub network: Option<Outcome>,
}

impl Report {
    /// One line per confinement asked for and not (fully) in force.
    pub fn warnings(&self, mode: SandboxMode) -> Vec<String> {
        let mut out = Vec::new();
        match &self.filesystem {
            Some(Outcome::Missing { reason }) => out.push(format!(
                "sandbox: file-system confinement is not available ({reason}); in `{mode}` mode tools run with this user's full file access"
            )),
            Some(Outcome::Partial { reason }) => out.push(format!(
                "sandbox: file-system confinement is only partly enforced ({reason})"
            )),
            _ => {}
        }
        if let Some(Outcome::Missing { reason } | Outcome::Partial { reason }) = &self.network {
            out.push(format!(
                "sandbox: `network = false` is not enforced ({reason}); tools can reach the network"
            ));
        }
        out
    }
}

type ProbeKey = (bool, bool, Vec<crate::Feature>);
/// A shape's probe, shared: a caller that comes while it runs waits for the same answer
/// (a probe started early, at the process's start, is not run twice).
type Probed = Arc<tokio::sync::OnceCell<Report>>;

fn cache() -> &'static Mutex<HashMap<ProbeKey, Probed>> {
    static CACHE: std::sync::OnceLock<Mutex<HashMap<ProbeKey, Probed>>> =
        std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

impl Sandbox {
    /// What this machine enforces of this sandbox for a process that may (`needs_network`)
    /// or may not need the network. Probed once per process for each shape of sandbox.
    pub async fn probe(&self, needs_network: bool) -> Report {
        let spec = self.spec(&[], needs_network);
        let Some(launcher) = &self.launcher else {
            let missing = || Outcome::Missing {
                reason: "started without the sortie launcher".into(),
            };
            return Report {
                filesystem: spec.fs.is_some().then(missing),
                network: spec.isolate_network.then(missing),
            };
        };
        let key = (
            spec.fs.is_some(),
            spec.isolate_network,
            spec.disable.clone(),
        );
        let probed = cache()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default()
            .clone();
        probed
            .get_or_init(|| run_probe(launcher, spec))
            .await
            .clone()
    }

    /// Starts this shape's probe in the background (a runtime must be running), so that a
    /// mission's own call finds it done or under way. For start-up paths.
    pub fn probe_early(self, needs_network: bool) {
        tokio::spawn(async move {
            self.probe(needs_network).await;
        });
    }
}

/// Runs the launcher in probe mode for `spec` and reads its report.
async fn run_probe(launcher: &std::path::Path, mut spec: crate::launcher::Spec) -> Report {
    spec.probe = true;
    spec.require.clear();
    // Probe in a directory that exists whatever the mission's state. Without the paths
    // denied: what the kernel enforces depends on the rights asked for, not on the paths
    // (the answer is cached for every deny list alike), and a denied path is enforced by
    // granting each of its siblings along the way, which for a data dir in a busy `/tmp`
    // is hundreds of rules to build while the first request waits for this answer. A real
    // run that cannot build them fails closed (see `launcher::unmet`).
    if let Some(fs) = &mut spec.fs {
        fs.writable.retain(|p| p.exists());
        fs.deny_read.clear();
    }
    let run = tokio::process::Command::new(launcher)
        .arg(LAUNCHER_ARG)
        .arg(serde_json::to_string(&spec).unwrap_or_default())
        .arg("--")
        .arg("true")
        .env_clear()
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(10), run).await {
        Ok(Ok(out)) if out.status.success() => serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| failed(&spec, &format!("unreadable probe report: {e}"))),
        Ok(Ok(out)) => failed(
            &spec,
            &format!(
                "the launcher failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ),
        Ok(Err(e)) => failed(&spec, &format!("cannot run the launcher: {e}")),
        Err(_) => failed(&spec, "the launcher did not answer within 10 s"),
    }
}

fn failed(spec: &crate::launcher::Spec, reason: &str) -> Report {
    let missing = || Outcome::Missing {
        reason: reason.to_string(),
    };
    Report {
        filesystem: spec.fs.is_some().then(missing),
        network: spec.isolate_network.then(missing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_name_what_is_missing_and_stay_quiet_when_enforced() {
        let report = Report {
            filesystem: Some(Outcome::Missing {
                reason: "forced off".into(),
            }),
            network: Some(Outcome::Enforced),
        };
        let w = report.warnings(SandboxMode::WorkspaceWrite);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("forced off") && w[0].contains("workspace-write"));
        let fine = Report {
            filesystem: Some(Outcome::Enforced),
            network: None,
        };
        assert!(fine.warnings(SandboxMode::ReadOnly).is_empty());
    }

    /// A probe started early and the calls that come while it runs share one launcher run
    /// (a stand-in launcher that counts its runs and answers slowly).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_probe_under_way_is_waited_for_not_started_again() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let runs = dir.path().join("runs");
        let launcher = dir.path().join("launcher");
        std::fs::write(
            &launcher,
            format!(
                "#!/bin/sh\necho run >> '{}'\nsleep 0.3\necho '{{\"filesystem\":{{\"status\":\"enforced\"}}}}'\n",
                runs.display()
            ),
        )
        .expect("launcher");
        std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755)).expect("mode");
        let mut sandbox = Sandbox::unconfined(dir.path());
        sandbox.policy.mode = SandboxMode::ReadOnly;
        sandbox.launcher = Some(launcher);
        sandbox.clone().probe_early(false);
        let (a, b) = tokio::join!(sandbox.probe(false), sandbox.probe(false));
        let again = sandbox.probe(false).await;
        assert_eq!(a.filesystem, Some(Outcome::Enforced));
        assert!(a == b && b == again);
        let count = std::fs::read_to_string(&runs).expect("the launcher ran");
        assert_eq!(count.lines().count(), 1, "launcher runs: {count:?}");
    }

    #[test]
    fn features_parse_by_name() {
        assert_eq!("landlock".parse::<Feature>(), Ok(Feature::Landlock));
        assert_eq!(" netns".parse::<Feature>(), Ok(Feature::Netns));
        assert!("seccomp".parse::<Feature>().is_err());
    }
}
