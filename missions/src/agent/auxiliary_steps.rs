//! The auxiliary client's two jobs inside a run: compressing the history, titling the
//! mission. Their failures are warnings, never the mission's.

use sortie_transports::{Message, TransportError};

use super::{MissionRunner, RunError};
use crate::auxiliary::Auxiliary;
use crate::recovery::Step;
use crate::{Mission, MissionEvent, MissionId};

impl MissionRunner {
    /// Compresses the history with the auxiliary client; false when it could not.
    pub(super) async fn compress(
        &self,
        id: &MissionId,
        aux: &Auxiliary,
        history: &mut Vec<Message>,
        reason: String,
    ) -> Result<bool, RunError> {
        let mut steps = Vec::new();
        let result = {
            let mut on_step = |e: &TransportError, s: &Step| steps.push((e.clone(), s.clone()));
            aux.compress_counted(history, &mut on_step).await
        };
        for (e, s) in &steps {
            self.record_step(id, "compression", e, s).await?;
        }
        match result {
            Ok(answered) => {
                self.record_auxiliary_usage(
                    id,
                    "compression",
                    &aux.model,
                    answered.usage,
                    answered.cost_usd,
                )
                .await?;
                let messages = answered.value;
                let before = crate::auxiliary::estimate_tokens(history);
                let after = crate::auxiliary::estimate_tokens(&messages);
                self.record(
                    id,
                    MissionEvent::HistoryReplaced {
                        messages: messages.clone(),
                        reason: format!("{reason}; compressed from ~{before} to ~{after} tokens"),
                    },
                )
                .await?;
                *history = messages;
                Ok(true)
            }
            Err(e) => {
                self.record(
                    id,
                    MissionEvent::Warning {
                        message: format!("compression failed: {}", e.message),
                    },
                )
                .await?;
                Ok(false)
            }
        }
    }

    /// Titles the mission after its first turn; a failure is only a warning.
    pub(super) async fn give_title(
        &self,
        id: &MissionId,
        mission: &Mission,
    ) -> Result<(), RunError> {
        let Some(aux) = self
            .auxiliary
            .as_ref()
            .filter(|a| a.titles && mission.title.is_none())
        else {
            return Ok(());
        };
        let mut steps = Vec::new();
        let result = {
            let mut on_step = |e: &TransportError, s: &Step| steps.push((e.clone(), s.clone()));
            aux.title_counted(&mission.prompt, &mut on_step).await
        };
        for (e, s) in &steps {
            self.record_step(id, "title", e, s).await?;
        }
        match result {
            Ok(answered) => {
                self.record_auxiliary_usage(
                    id,
                    "title",
                    &aux.model,
                    answered.usage,
                    answered.cost_usd,
                )
                .await?;
                self.record(
                    id,
                    MissionEvent::Title {
                        title: answered.value,
                    },
                )
                .await?
            }
            Err(e) => {
                self.record(
                    id,
                    MissionEvent::Warning {
                        message: format!("no title: {}", e.message),
                    },
                )
                .await?
            }
        };
        Ok(())
    }
}
