//! Project instructions in a run's system prompt, and the event that lists their files.

use super::{MissionRunner, RunError};
use crate::instructions::gather;
use crate::{Mission, MissionEvent, MissionId};

impl MissionRunner {
    /// Appends the project instructions to `system` when the runner has sources, the
    /// mission did not turn them off, and the transport does not read its own; records
    /// the files used and a warning for each file skipped.
    pub(super) async fn add_instructions(
        &self,
        id: &MissionId,
        mission: &Mission,
        system: &mut String,
    ) -> Result<(), RunError> {
        let Some(sources) = &self.instructions else {
            return Ok(());
        };
        if mission.no_instructions || self.transport.runs_tools() {
            return Ok(());
        }
        let found = gather(&mission.cwd, sources);
        for message in found.warnings {
            self.record(id, MissionEvent::Warning { message }).await?;
        }
        if found.files.is_empty() {
            return Ok(());
        }
        self.record(
            id,
            MissionEvent::Instructions {
                enabled: true,
                files: found
                    .files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect(),
                cut: found.cut,
            },
        )
        .await?;
        system.push_str("\n\n");
        system.push_str(&found.text);
        Ok(())
    }
}
