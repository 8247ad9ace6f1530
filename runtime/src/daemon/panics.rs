//! A mission task that panics must not take its slot with it: the slot is freed by a drop
//! guard, and the mission fails with the panic's message.

use std::any::Any;
use std::sync::Arc;

use sortie_missions::{Mission, MissionId};

use super::supervisor::Supervisor;

/// Frees a mission's slot when the task that holds it ends, however it ends (return,
/// panic, abort).
pub(super) struct SlotRelease {
    pub(super) supervisor: Arc<Supervisor>,
    pub(super) id: MissionId,
}

impl Drop for SlotRelease {
    fn drop(&mut self) {
        self.supervisor.release(&self.id);
    }
}

/// What a panic said, as text.
pub(super) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Fault injection for tests of the daemon (debug builds only): a mission whose prompt is
/// `SORTIE_FAULT_PANIC_PROMPT` panics where its run starts.
pub(super) fn injected_panic(mission: &Mission) {
    #[cfg(debug_assertions)]
    if std::env::var("SORTIE_FAULT_PANIC_PROMPT").is_ok_and(|p| p == mission.prompt) {
        panic!(
            "injected fault: SORTIE_FAULT_PANIC_PROMPT matched mission {}",
            mission.id
        );
    }
    #[cfg(not(debug_assertions))]
    let _ = mission;
}
