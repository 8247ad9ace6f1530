//! A mission's sandbox: made from the runner's template and the mission's mode, with a
//! temp dir of its own, probed once per run so that what the machine lacks is said (a
//! `warning` event) and the system prompt describes what is really enforced.

use std::path::PathBuf;

use sortie_sandbox::Sandbox;

use super::{MissionRunner, RunError};
use crate::{Mission, MissionEvent, MissionId};

/// The mission's temp dir; removed when the run that made it ends.
pub(super) struct TempDir(Option<PathBuf>);

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl MissionRunner {
    /// The mission's sandbox (without its temp dir made, or any probe).
    pub(super) fn sandbox_for(&self, mission: &Mission) -> Sandbox {
        let Some(template) = &self.sandbox else {
            return Sandbox::unconfined(&mission.cwd);
        };
        let mut sandbox = template.clone();
        sandbox.cwd = mission.cwd.clone();
        // The template's temp dir is the root of the missions' own.
        sandbox.tmpdir = template.tmpdir.join(mission.id.to_string());
        if let Some(mode) = mission.sandbox {
            sandbox.policy.mode = mode;
        }
        sandbox
    }

    /// Makes the mission's sandbox ready for a run: its temp dir, the warnings for what the
    /// machine does not enforce, and the text that describes it to the model.
    pub(super) async fn prepare_sandbox(
        &self,
        id: &MissionId,
        mission: &Mission,
    ) -> Result<(Sandbox, TempDir, String), RunError> {
        let mut sandbox = self.sandbox_for(mission);
        let temp = if self.sandbox.is_some() {
            if let Err(e) = sortie_sandbox::create_private_dir(&sandbox.tmpdir) {
                self.record(
                    id,
                    MissionEvent::Warning {
                        message: format!(
                            "sandbox: cannot create the mission's temp dir {}: {e}",
                            sandbox.tmpdir.display()
                        ),
                    },
                )
                .await?;
            }
            TempDir(Some(sandbox.tmpdir.clone()))
        } else {
            TempDir(None)
        };
        // A transport that runs tools itself needs the network for its own API.
        let needs_network = self.transport.runs_tools();
        let report = sandbox.probe(needs_network).await;
        // What the probe found in force must stay in force for every process of the run.
        use sortie_sandbox::{Feature, Outcome};
        let enforced = |o: &Option<Outcome>| matches!(o, Some(Outcome::Enforced));
        sandbox.required = [
            (Feature::Landlock, enforced(&report.filesystem)),
            (Feature::Netns, enforced(&report.network)),
        ]
        .into_iter()
        .filter_map(|(f, on)| on.then_some(f))
        .collect();
        let mut warnings = report.warnings(sandbox.mode());
        if needs_network && !sandbox.policy.network {
            warnings.push(format!(
                "sandbox: `network = false` does not apply to `{}`: the CLI needs the network to reach its API",
                mission.transport
            ));
        }
        if self.sandbox.is_some() {
            for message in warnings {
                self.record(id, MissionEvent::Warning { message }).await?;
            }
        }
        let text = sandbox.describe(&report);
        Ok((sandbox, temp, text))
    }
}
