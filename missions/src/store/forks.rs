//! A fork's record and the start of its log (see [`crate::forks`]).

use chrono::Utc;

use super::{Store, StoreError};
use crate::{Mission, MissionEvent, MissionId, MissionSpec};

impl Store {
    /// Creates a mission forked from `parent` at its event `at`: its `created`, the
    /// `forked` link, then `history` (the events [`crate::forks::fork_events`] chose).
    pub fn create_fork(
        &self,
        spec: MissionSpec,
        parent: MissionId,
        at: u64,
        history: Vec<MissionEvent>,
    ) -> Result<Mission, StoreError> {
        let id = MissionId::new();
        self.put_mission(&Mission::new(id, spec.clone(), Utc::now()))?;
        self.append(&id, MissionEvent::Created { spec })?;
        self.append(
            &id,
            MissionEvent::Forked {
                parent,
                parent_seq: at,
            },
        )?;
        for event in history {
            self.append(&id, event)?;
        }
        self.mission(&id)
    }
}
