//! Approvals for `ask` missions in the daemon: a tool call waits for a person's yes or no,
//! given over the API (`POST /missions/{id}/approvals/{approval}`); whoever follows the
//! mission's stream sees the question. No answer within the timeout, or the mission
//! stopped: denied.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sortie_missions::{Approver, MissionId, Update};
use tokio::sync::oneshot;

/// The questions waiting for an answer, by approval id.
#[derive(Default)]
pub struct Approvals {
    pending: Mutex<HashMap<String, Pending>>,
}

struct Pending {
    mission: MissionId,
    summary: String,
    asked_at: chrono::DateTime<chrono::Utc>,
    answer: oneshot::Sender<bool>,
}

/// Why an answer was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum AnswerError {
    /// No such question for this mission (answered, timed out, or never asked).
    Unknown,
}

impl Approvals {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The questions of `mission`, oldest first.
    pub fn of(&self, mission: &MissionId) -> Vec<Value> {
        let map = self.map();
        let mut rows: Vec<(&String, &Pending)> =
            map.iter().filter(|(_, p)| &p.mission == mission).collect();
        rows.sort_by_key(|(_, p)| p.asked_at);
        rows.into_iter()
            .map(|(id, p)| json!({"approval": id, "summary": p.summary, "asked_at": p.asked_at}))
            .collect()
    }

    /// Answers a question of `mission`.
    pub fn answer(
        &self,
        mission: &MissionId,
        approval: &str,
        yes: bool,
    ) -> Result<(), AnswerError> {
        let mut map = self.map();
        match map.get(approval) {
            Some(p) if &p.mission == mission => {}
            _ => return Err(AnswerError::Unknown),
        }
        let pending = map.remove(approval).ok_or(AnswerError::Unknown)?;
        pending.answer.send(yes).map_err(|_| AnswerError::Unknown)
    }
}

/// The approver of one mission the daemon runs.
pub struct ApiApprover {
    pub mission: MissionId,
    pub approvals: Arc<Approvals>,
    pub publish: Arc<dyn Fn(Update) + Send + Sync>,
    pub timeout: Duration,
}

/// Forgets a question when its wait ends for any reason (answer, timeout, mission stopped).
struct Forget<'a>(&'a Approvals, String);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0.map().remove(&self.1);
    }
}

impl Approver for ApiApprover {
    fn approve<'a>(&'a self, summary: &'a str) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            let id = sortie_transports::auth::oauth::random_token(6);
            let (tx, rx) = oneshot::channel();
            self.approvals.map().insert(
                id.clone(),
                Pending {
                    mission: self.mission,
                    summary: summary.to_string(),
                    asked_at: chrono::Utc::now(),
                    answer: tx,
                },
            );
            let _forget = Forget(&self.approvals, id.clone());
            (self.publish)(Update::ApprovalRequested {
                mission: self.mission,
                approval: id,
                summary: summary.to_string(),
            });
            matches!(tokio::time::timeout(self.timeout, rx).await, Ok(Ok(true)))
        })
    }
}
