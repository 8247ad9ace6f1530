//! The budgets inside a run: before every model call (a turn, a retry, a compression, a
//! title) the runner asks [`crate::budget::decide`] with what the mission spent, how long
//! it ran, today's spend over every mission, and an estimate of the call; a call that
//! would pass a budget is not made.

use std::time::{Duration, Instant};

use chrono::Utc;
use sortie_transports::{Message, ToolSpec};

use super::run::{Flow, RunState};
use super::{MissionRunner, RunError};
use crate::auxiliary::{estimate_tokens, Auxiliary};
use crate::budget::{decide, DailyFacts, Facts, Reached};
use crate::{Mission, MissionEvent, MissionId, MissionStatus, StoredEvent};

/// How long the mission ran before this run, and when this run started.
pub(super) struct Clock {
    before: Duration,
    started: Instant,
}

impl Clock {
    /// From the log: each stretch from a `running` status to the next status; for a run a
    /// crash cut short (`interrupted` is recorded when the daemon starts again, or the next
    /// run just starts), to its last event before that.
    pub(super) fn from_log(events: &[StoredEvent]) -> Self {
        let mut before = chrono::Duration::zero();
        let mut since = None;
        let mut previous = None;
        for e in events {
            if let MissionEvent::Status { status, .. } = &e.event {
                if let Some(start) = since.take() {
                    // A run ends itself with its status; a crashed one is found over by
                    // a later `interrupted`, `queued` or `running`, long after its end.
                    let end = match status {
                        MissionStatus::Interrupted
                        | MissionStatus::Queued
                        | MissionStatus::Running => previous.unwrap_or(start),
                        _ => e.at,
                    };
                    before += end - start;
                }
                if *status == MissionStatus::Running {
                    since = Some(e.at);
                }
            }
            previous = Some(e.at);
        }
        if let (Some(start), Some(last)) = (since, events.last()) {
            before += last.at - start;
        }
        Self {
            before: before.to_std().unwrap_or_default(),
            started: Instant::now(),
        }
    }

    pub(super) fn elapsed(&self) -> Duration {
        self.before + self.started.elapsed()
    }
}

/// The tokens of a request's prompt, estimated from its characters: the system prompt,
/// the tools and the history.
pub(super) fn estimate_request(system: &str, tools: &[ToolSpec], history: &[Message]) -> u64 {
    let tools = serde_json::to_string(tools).map(|t| t.len()).unwrap_or(0);
    estimate_tokens(history) + ((system.len() + tools) / 4) as u64
}

/// The next call, as a budget sees it.
pub(super) struct NextCall<'a> {
    pub(super) provider: &'a str,
    pub(super) model: &'a str,
    pub(super) tokens: u64,
}

impl MissionRunner {
    /// Today's (UTC) spend over every mission, in total and on `provider`; `None` when no
    /// daily cap is set. Reads the missions' records (and a record's log only past its
    /// end, where a crash left it behind).
    async fn daily_facts(&self, provider: &str) -> Result<Option<DailyFacts>, RunError> {
        if self.daily_caps.is_empty() {
            return Ok(None);
        }
        let today = Utc::now().date_naive();
        let (missions, _) = self.store.missions().await?;
        let mut facts = DailyFacts {
            caps: self.daily_caps.clone(),
            provider: provider.to_string(),
            ..Default::default()
        };
        for s in missions
            .iter()
            .filter(|m| m.updated_at.date_naive() >= today)
            .flat_map(|m| m.spend.iter().filter(|s| s.day == today))
        {
            facts.spent_usd += s.cost_usd;
            if s.provider == provider {
                facts.spent_provider_usd += s.cost_usd;
            }
        }
        Ok(Some(facts))
    }

    /// The budget the next call would pass, if any.
    pub(super) async fn budget_check(
        &self,
        id: &MissionId,
        clock: &Clock,
        next: &NextCall<'_>,
    ) -> Result<Option<Reached>, RunError> {
        let mission = self.store.mission(id).await?;
        if mission.budget.is_empty() && self.daily_caps.is_empty() {
            return Ok(None);
        }
        let price = self.prices.get(next.model);
        let facts = Facts {
            budget: mission.budget,
            cost_usd: mission.cost_usd,
            tokens: mission.usage.prompt_tokens() + mission.usage.output_tokens,
            elapsed: clock.elapsed(),
            next_tokens: next.tokens,
            next_cost_usd: price
                .map(|p| next.tokens as f64 * p.input / 1_000_000.0)
                .unwrap_or(0.0),
            daily: self.daily_facts(next.provider).await?,
        };
        Ok(decide(&facts))
    }

    /// Stops the mission before a call that would pass `reached`: the `budget_reached`
    /// event, then the status, durably.
    pub(super) async fn budget_stop(
        &self,
        id: &MissionId,
        reached: Reached,
    ) -> Result<Mission, RunError> {
        let message = reached.message(&id.to_string());
        self.record(
            id,
            MissionEvent::BudgetReached {
                budget: reached.budget,
                provider: reached.provider,
                limit: reached.limit,
                spent: reached.spent,
                next: reached.next,
                over_by: reached.over_by,
                message: message.clone(),
            },
        )
        .await?;
        self.finish(id, MissionStatus::BudgetReached, Some(message))
            .await
    }

    /// Goes on when a call to `model` with a prompt of `tokens` stays within every budget;
    /// else stops the mission before it.
    pub(super) async fn within_budget(
        &self,
        run: &RunState<'_>,
        model: &str,
        tokens: u64,
    ) -> Result<Flow<()>, RunError> {
        let next = NextCall {
            provider: &run.current.provider,
            model,
            tokens,
        };
        match self.budget_check(&run.id, &run.clock, &next).await? {
            Some(reached) => Ok(Flow::end(self.budget_stop(&run.id, reached).await?)),
            None => Ok(Flow::Go(())),
        }
    }

    /// [`Self::within_budget`] for a compression of the run's history.
    pub(super) async fn compression_within_budget(
        &self,
        run: &RunState<'_>,
        aux: &Auxiliary,
    ) -> Result<Flow<()>, RunError> {
        let tokens = aux
            .compression_input(&run.history)
            .map(|m| estimate_tokens(&m))
            .unwrap_or(0);
        self.within_budget(run, &aux.model, tokens).await
    }

    /// True when a title may be asked for; one that would pass a budget is not, and a
    /// warning says so (the mission's next call decides whether it stops). No title is
    /// asked for when titles are off or the mission has one: nothing to check or warn of.
    pub(super) async fn title_within_budget(&self, run: &RunState<'_>) -> Result<bool, RunError> {
        let Some(aux) = self
            .auxiliary
            .as_ref()
            .filter(|a| a.titles && run.mission.title.is_none())
        else {
            return Ok(true);
        };
        let next = NextCall {
            provider: &run.current.provider,
            model: &aux.model,
            tokens: estimate_tokens(&aux.title_input(&run.mission.prompt)),
        };
        let Some(reached) = self.budget_check(&run.id, &run.clock, &next).await? else {
            return Ok(true);
        };
        self.record(
            &run.id,
            MissionEvent::Warning {
                message: format!(
                    "no title: asking for one would pass {}",
                    reached.budget.key()
                ),
            },
        )
        .await?;
        Ok(false)
    }

    /// Records what an auxiliary call used, at its model's price (or the cost it reported).
    pub(super) async fn record_auxiliary_usage(
        &self,
        id: &MissionId,
        scope: &str,
        model: &str,
        usage: Option<sortie_transports::Usage>,
        reported: Option<f64>,
    ) -> Result<(), RunError> {
        let Some(usage) = usage else {
            return Ok(());
        };
        let cost_usd = reported.or_else(|| self.prices.get(model).map(|p| usage.cost(p)));
        self.record(
            id,
            MissionEvent::AuxiliaryUsage {
                scope: scope.to_string(),
                model: model.to_string(),
                usage,
                cost_usd,
            },
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, status: MissionStatus) -> StoredEvent {
        StoredEvent {
            seq: 0,
            at: chrono::DateTime::from_timestamp(1_700_000_000 + secs, 0).expect("time"),
            event: MissionEvent::Status {
                status,
                reason: None,
            },
        }
    }

    #[test]
    fn only_the_time_running_counts() {
        let events = [
            at(0, MissionStatus::Running),
            at(30, MissionStatus::BudgetReached),
            at(3_600, MissionStatus::Running),
            at(3_610, MissionStatus::Cancelled),
            // A crash 5 s into a run; the daemon said so an hour later.
            at(7_200, MissionStatus::Running),
            at(7_205, MissionStatus::Paused),
        ];
        let mut events = events.to_vec();
        events[5].event = MissionEvent::Warning {
            message: "last sign of life".into(),
        };
        events.push(at(10_800, MissionStatus::Interrupted));
        let clock = Clock::from_log(&events);
        assert_eq!(clock.before, Duration::from_secs(45));
    }

    #[test]
    fn a_crash_nobody_recorded_counts_to_the_last_event_before_the_next_run() {
        // A `sortie run` killed 5 s in (no daemon to say `interrupted`), resumed an hour on.
        let mut events = vec![
            at(0, MissionStatus::Running),
            at(5, MissionStatus::Running),
            at(3_600, MissionStatus::Running),
            at(3_610, MissionStatus::Completed),
        ];
        events[1].event = MissionEvent::Warning {
            message: "last sign of life".into(),
        };
        let clock = Clock::from_log(&events);
        assert_eq!(clock.before, Duration::from_secs(15));
    }
}
