//! A schedule's run and its mission in one transaction: the due schedule's row is locked,
//! the decision taken on it, and when it fires its mission is stored and the run recorded
//! before anything commits. However many daemons tick, a run starts one mission; a daemon
//! that dies in between leaves neither.

use super::PgStore;
use crate::scheduler::Schedule;
use crate::{Mission, MissionEvent, MissionId, MissionSpec, StoreError};

/// A mission to store when the schedule fires: its spec and the events after its prompt.
pub struct Firing {
    pub spec: MissionSpec,
    pub setup: Vec<MissionEvent>,
}

impl PgStore {
    /// Locks schedule `id`, lets `decide` change it and say whether it fires, and, when it
    /// does and `mission` is given, stores that mission and lets `started` record the run
    /// under its id; the schedule is written back, all in one transaction. `None` when the
    /// schedule is gone or `decide` had nothing to do.
    pub async fn fire_schedule<T: Send>(
        &self,
        id: &str,
        decide: &mut (dyn FnMut(&mut Schedule) -> Option<(T, bool)> + Send),
        mission: Option<Firing>,
        started: &mut (dyn FnMut(&mut Schedule, MissionId) + Send),
    ) -> Result<Option<(Schedule, T, Option<Mission>)>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.failed(&e))?;
        let Some(mut schedule) = self.lock_schedule(&tx, id).await? else {
            return Ok(None);
        };
        let Some((decision, fires)) = decide(&mut schedule) else {
            return Ok(None);
        };
        let mut made = None;
        if let (true, Some(firing)) = (fires, mission) {
            let mission_id = MissionId::new();
            let mut log = vec![MissionEvent::UserMessage {
                text: firing.spec.prompt.clone(),
            }];
            log.extend(firing.setup);
            made = Some(self.create_in(&tx, mission_id, firing.spec, log).await?);
            started(&mut schedule, mission_id);
        }
        self.write_schedule(&tx, &schedule).await?;
        tx.commit().await.map_err(|e| self.failed(&e))?;
        if let Some(mission) = &made {
            self.remember(mission);
        }
        Ok(Some((schedule, decision, made)))
    }
}
