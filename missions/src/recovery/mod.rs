//! Recovery: one table from [`ErrorClass`] to a [`Strategy`], each bounded per turn.
//!
//! [`Recovery::apply`] does what needs only the credential pool and the clock (refresh,
//! rotate, cool down, wait, back off) and tells the caller what needs the conversation
//! (strip stale thinking, compress, fall back to another model). The caller records every
//! step as a mission event.

use std::sync::Arc;
use std::time::Duration;

use backoff::backoff::Backoff;
use sortie_transports::auth::Pool;
use sortie_transports::{ErrorClass, TransportError};

mod credentials;

/// What to do about one failure.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    /// Refresh the credential the request used, then retry.
    Refresh,
    /// Mark the credential unusable (entitlement, or still rejected after a refresh) and
    /// retry with another.
    Rotate {
        mark: Mark,
    },
    /// Rest the credential until `until` and retry with another.
    CoolDown {
        wait: Duration,
    },
    /// Every credential rests: wait, then retry.
    Wait {
        wait: Duration,
    },
    /// Wait with exponential backoff and jitter, then retry.
    Backoff {
        delay: Duration,
    },
    StripThinking,
    Compress,
    /// Run the CLI session again where it stopped (a run that crashed or went silent).
    ResumeSession,
    /// Start a new CLI session whose first prompt carries the conversation as text.
    ResetSessionFresh,
    /// Switch to the next model of the fallback chain.
    Fallback,
    /// Stop: the mission fails with the provider's message.
    Fail,
    /// Stop: a person must log in again (`sortie auth reconnect <id>`).
    NeedsReauth,
}

/// Why a credential is set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Entitlement,
    RejectedAfterRefresh,
}

impl Strategy {
    /// The stable name used in events.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Refresh => "refresh",
            Strategy::Rotate { .. } => "rotate",
            Strategy::CoolDown { .. } => "cool_down",
            Strategy::Wait { .. } => "wait",
            Strategy::Backoff { .. } => "backoff",
            Strategy::StripThinking => "strip_thinking",
            Strategy::Compress => "compress",
            Strategy::ResumeSession => "resume_session",
            Strategy::ResetSessionFresh => "reset_session_fresh",
            Strategy::Fallback => "fallback",
            Strategy::Fail => "fail",
            Strategy::NeedsReauth => "needs_reauth",
        }
    }
}

/// The bounds of every strategy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub max_backoffs: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest total wait for cooling credentials in one turn.
    pub max_wait: Duration,
    /// Cooldown when a rate limit does not say how long.
    pub default_cooldown: Duration,
    pub max_rotations: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_backoffs: 4,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_wait: Duration::from_secs(300),
            default_cooldown: Duration::from_secs(60),
            max_rotations: 8,
        }
    }
}

/// What one turn has tried so far; every strategy checks its bound here.
#[derive(Debug)]
pub struct Attempts {
    pub refreshed: Vec<sortie_transports::auth::CredentialId>,
    pub rotations: u32,
    pub backoffs: u32,
    pub waits: u32,
    pub waited: Duration,
    pub stripped: bool,
    pub compressed: bool,
    pub resumed: bool,
    pub reset: bool,
    /// The last entitlement refusal: with no credential left, the mission fails with it.
    pub entitlement: Option<TransportError>,
    backoff: backoff::ExponentialBackoff,
}

impl Attempts {
    pub fn new(policy: &Policy) -> Self {
        Self {
            refreshed: Vec::new(),
            rotations: 0,
            backoffs: 0,
            waits: 0,
            waited: Duration::ZERO,
            stripped: false,
            compressed: false,
            resumed: false,
            reset: false,
            entitlement: None,
            backoff: backoff::ExponentialBackoff {
                // `next_backoff` starts from `current_interval`, not `initial_interval`.
                current_interval: policy.initial_backoff,
                initial_interval: policy.initial_backoff,
                max_interval: policy.max_backoff,
                randomization_factor: 0.3,
                multiplier: 2.0,
                max_elapsed_time: None,
                ..Default::default()
            },
        }
    }
}

/// What the caller can do besides retrying.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Abilities {
    pub pool: bool,
    pub compress: bool,
    pub fallback: bool,
    /// The transport keeps a CLI session (Claude Code): stale thinking and lost or broken
    /// runs are recovered by resuming or resetting the session.
    pub session: bool,
}

/// Picks the strategy for a failure. Pure: no I/O, no clock (benchmarked).
pub fn decide(
    error: &TransportError,
    attempts: &mut Attempts,
    policy: &Policy,
    can: Abilities,
) -> Strategy {
    let rotate_left = attempts.rotations < policy.max_rotations;
    match error.class {
        ErrorClass::AuthExpired => match (&error.credential, can.pool) {
            (Some(tag), true) if !attempts.refreshed.contains(&tag.id) => Strategy::Refresh,
            (Some(_), true) if rotate_left => Strategy::Rotate {
                mark: Mark::RejectedAfterRefresh,
            },
            // The pool had nothing to lease: an entitlement refusal explains it best.
            (None, true) if attempts.entitlement.is_some() => Strategy::Fail,
            (None, true) => Strategy::NeedsReauth,
            _ => Strategy::Fail,
        },
        ErrorClass::Entitlement => match (&error.credential, can.pool) {
            (Some(_), true) if rotate_left => Strategy::Rotate {
                mark: Mark::Entitlement,
            },
            _ => Strategy::Fail,
        },
        ErrorClass::RateLimited { .. } | ErrorClass::QuotaExhausted => {
            let asked = error.retry_after;
            match (&error.credential, can.pool) {
                (Some(_), true) if rotate_left => Strategy::CoolDown {
                    wait: asked.unwrap_or(policy.default_cooldown),
                },
                _ => {
                    // A quota with no known reset will not come back within a turn.
                    let wait = match error.class {
                        ErrorClass::QuotaExhausted => asked,
                        _ => asked.or_else(|| attempts.backoff.next_backoff()),
                    };
                    match wait {
                        Some(wait)
                            if attempts.waits < policy.max_rotations
                                && attempts.waited + wait <= policy.max_wait =>
                        {
                            Strategy::Wait { wait }
                        }
                        _ if can.fallback => Strategy::Fallback,
                        _ => Strategy::Fail,
                    }
                }
            }
        }
        ErrorClass::Overloaded
        | ErrorClass::ServerError
        | ErrorClass::Network
        | ErrorClass::Timeout
        | ErrorClass::MalformedResponse => {
            if attempts.backoffs < policy.max_backoffs {
                let delay = attempts
                    .backoff
                    .next_backoff()
                    .unwrap_or(policy.max_backoff);
                Strategy::Backoff {
                    delay: error.retry_after.unwrap_or(delay).min(policy.max_backoff),
                }
            } else if can.fallback {
                Strategy::Fallback
            } else {
                Strategy::Fail
            }
        }
        ErrorClass::StaleThinking | ErrorClass::SessionNotFound if can.session => {
            if attempts.reset {
                Strategy::Fail
            } else {
                Strategy::ResetSessionFresh
            }
        }
        ErrorClass::ProcessFailed if can.session && !attempts.resumed => Strategy::ResumeSession,
        ErrorClass::ProcessFailed if can.session && !attempts.reset => Strategy::ResetSessionFresh,
        ErrorClass::StaleThinking if !attempts.stripped => Strategy::StripThinking,
        ErrorClass::ContextOverflow if !attempts.compressed && can.compress => Strategy::Compress,
        _ => Strategy::Fail,
    }
}

/// What the caller should do after [`Recovery::apply`].
#[derive(Debug, Clone)]
pub enum Next {
    Retry,
    StripThinking,
    Compress,
    /// Retry in a new CLI session, the conversation rebuilt as its first prompt.
    ResetSession,
    Fallback,
    Fail(TransportError),
    NeedsReauth(TransportError),
}

/// The engine: a policy and, when there is one, the credential pool.
#[derive(Clone)]
pub struct Recovery {
    pub policy: Policy,
    pub pool: Option<Arc<Pool>>,
}

/// One step taken, for the mission event.
#[derive(Debug, Clone)]
pub struct Step {
    pub strategy: Strategy,
    pub outcome: String,
    pub next: Next,
}

impl Recovery {
    pub fn new(policy: Policy, pool: Option<Arc<Pool>>) -> Self {
        Self { policy, pool }
    }

    /// Decides and carries out the credential and timing part of a strategy. `on_wait` is
    /// called with the time left while waiting (every 10 s), for countdown events. Whether
    /// there is a pool comes from the engine, whatever `can.pool` says.
    pub async fn apply<W: std::future::Future<Output = ()>>(
        &self,
        error: &TransportError,
        attempts: &mut Attempts,
        can: Abilities,
        mut on_wait: impl FnMut(Duration) -> W,
    ) -> Step {
        let can = Abilities {
            pool: self.pool.is_some(),
            ..can
        };
        let strategy = decide(error, attempts, &self.policy, can);
        let (outcome, next) = match &strategy {
            Strategy::Refresh => self.refresh(error, attempts).await,
            Strategy::Rotate { mark } => self.rotate(*mark, error, attempts).await,
            Strategy::CoolDown { wait } => self.cool_down(*wait, error, attempts).await,
            Strategy::Wait { wait } => {
                attempts.waits += 1;
                attempts.waited += *wait;
                countdown(*wait, &mut on_wait).await;
                (format!("waited {}", seconds(*wait)), Next::Retry)
            }
            Strategy::Backoff { delay } => {
                attempts.backoffs += 1;
                tokio::time::sleep(*delay).await;
                (
                    format!(
                        "backed off {:.1}s (attempt {})",
                        delay.as_secs_f32(),
                        attempts.backoffs
                    ),
                    Next::Retry,
                )
            }
            Strategy::StripThinking => {
                attempts.stripped = true;
                (
                    "retrying without earlier thinking".to_string(),
                    Next::StripThinking,
                )
            }
            Strategy::Compress => {
                attempts.compressed = true;
                (
                    "compressing the history, then retrying".to_string(),
                    Next::Compress,
                )
            }
            Strategy::ResumeSession => {
                attempts.resumed = true;
                ("running the session again".to_string(), Next::Retry)
            }
            Strategy::ResetSessionFresh => {
                attempts.reset = true;
                (
                    "starting a fresh session with the conversation rebuilt as text".to_string(),
                    Next::ResetSession,
                )
            }
            Strategy::Fallback => (
                "switching to the next model of the fallback chain".to_string(),
                Next::Fallback,
            ),
            Strategy::Fail => {
                let e = attempts
                    .entitlement
                    .clone()
                    .filter(|_| error.credential.is_none())
                    .unwrap_or_else(|| error.clone());
                ("giving up".to_string(), Next::Fail(e))
            }
            Strategy::NeedsReauth => (
                "no usable credential left".to_string(),
                Next::NeedsReauth(error.clone()),
            ),
        };
        Step {
            strategy,
            outcome,
            next,
        }
    }
}

/// A wait for people: tenths under 10 s (`0.8s`, not `0s`), whole seconds above.
pub fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}s", d.as_secs_f64().round())
    }
}

async fn countdown<W: std::future::Future<Output = ()>>(
    total: Duration,
    on_wait: &mut impl FnMut(Duration) -> W,
) {
    let mut left = total;
    while !left.is_zero() {
        on_wait(left).await;
        let step = left.min(Duration::from_secs(10));
        tokio::time::sleep(step).await;
        left -= step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sortie_transports::auth::CredentialId;
    use sortie_transports::CredentialTag;

    fn err(class: ErrorClass, credential: bool) -> TransportError {
        let mut e = TransportError::new(class, "x");
        if credential {
            e.credential = Some(CredentialTag {
                id: CredentialId("p#1".into()),
                generation: 0,
            });
        }
        e
    }

    const ALL: Abilities = Abilities {
        pool: true,
        compress: true,
        fallback: false,
        session: false,
    };

    #[test]
    fn the_table() {
        let p = Policy::default();
        let mut a = Attempts::new(&p);
        assert_eq!(
            decide(&err(ErrorClass::AuthExpired, true), &mut a, &p, ALL),
            Strategy::Refresh
        );
        a.refreshed.push(CredentialId("p#1".into()));
        assert_eq!(
            decide(&err(ErrorClass::AuthExpired, true), &mut a, &p, ALL),
            Strategy::Rotate {
                mark: Mark::RejectedAfterRefresh
            }
        );
        assert_eq!(
            decide(&err(ErrorClass::AuthExpired, false), &mut a, &p, ALL),
            Strategy::NeedsReauth
        );
        assert_eq!(
            decide(&err(ErrorClass::Entitlement, true), &mut a, &p, ALL),
            Strategy::Rotate {
                mark: Mark::Entitlement
            }
        );
        assert_eq!(
            decide(
                &err(ErrorClass::Entitlement, true),
                &mut a,
                &p,
                Abilities { pool: false, ..ALL }
            ),
            Strategy::Fail
        );
        assert!(matches!(
            decide(
                &err(ErrorClass::RateLimited { retry_after: None }, true),
                &mut a,
                &p,
                ALL
            ),
            Strategy::CoolDown { .. }
        ));
        assert!(matches!(
            decide(&err(ErrorClass::Overloaded, false), &mut a, &p, ALL),
            Strategy::Backoff { .. }
        ));
        assert_eq!(
            decide(&err(ErrorClass::StaleThinking, false), &mut a, &p, ALL),
            Strategy::StripThinking
        );
        assert_eq!(
            decide(&err(ErrorClass::ContextOverflow, false), &mut a, &p, ALL),
            Strategy::Compress
        );
        assert_eq!(
            decide(&err(ErrorClass::InvalidRequest, false), &mut a, &p, ALL),
            Strategy::Fail
        );
        assert_eq!(
            decide(&err(ErrorClass::NotFound, false), &mut a, &p, ALL),
            Strategy::Fail
        );
        a.stripped = true;
        a.compressed = true;
        assert_eq!(
            decide(&err(ErrorClass::StaleThinking, false), &mut a, &p, ALL),
            Strategy::Fail
        );
        assert_eq!(
            decide(&err(ErrorClass::ContextOverflow, false), &mut a, &p, ALL),
            Strategy::Fail
        );
        a.backoffs = p.max_backoffs;
        assert_eq!(
            decide(&err(ErrorClass::ServerError, false), &mut a, &p, ALL),
            Strategy::Fail
        );
        assert_eq!(
            decide(
                &err(ErrorClass::ServerError, false),
                &mut a,
                &p,
                Abilities {
                    fallback: true,
                    ..ALL
                }
            ),
            Strategy::Fallback
        );
    }

    #[test]
    fn a_cli_session_resumes_once_resets_once_then_fails() {
        let p = Policy::default();
        let cli = Abilities {
            session: true,
            ..ALL
        };
        let mut a = Attempts::new(&p);
        let crash = err(ErrorClass::ProcessFailed, false);
        let decided: Vec<Strategy> = (0..3)
            .map(|_| {
                let s = decide(&crash, &mut a, &p, cli);
                match s {
                    Strategy::ResumeSession => a.resumed = true,
                    Strategy::ResetSessionFresh => a.reset = true,
                    _ => {}
                }
                s
            })
            .collect();
        assert_eq!(
            decided,
            vec![
                Strategy::ResumeSession,
                Strategy::ResetSessionFresh,
                Strategy::Fail
            ]
        );
        for class in [ErrorClass::StaleThinking, ErrorClass::SessionNotFound] {
            let mut a = Attempts::new(&p);
            assert_eq!(
                decide(&err(class, false), &mut a, &p, cli),
                Strategy::ResetSessionFresh
            );
            a.reset = true;
            assert_eq!(decide(&err(class, false), &mut a, &p, cli), Strategy::Fail);
        }
        // Without a session, a lost session or a crash is not retried by resetting.
        let mut a = Attempts::new(&p);
        assert_eq!(
            decide(&err(ErrorClass::SessionNotFound, false), &mut a, &p, ALL),
            Strategy::Fail
        );
        assert_eq!(
            decide(&err(ErrorClass::TurnLimit, false), &mut a, &p, cli),
            Strategy::Fail
        );
    }

    #[test]
    fn backoff_starts_at_the_policy_interval_and_grows_within_jitter() {
        let p = Policy::default();
        let mut a = Attempts::new(&p);
        let e = err(ErrorClass::Overloaded, false);
        let delays: Vec<f64> = (0..4)
            .map(|_| match decide(&e, &mut a, &p, ALL) {
                Strategy::Backoff { delay } => delay.as_secs_f64(),
                other => panic!("{other:?}"),
            })
            .collect();
        // 1 s, 2 s, 4 s, 8 s, each within ±30 % jitter.
        for (d, base) in delays.iter().zip([1.0, 2.0, 4.0, 8.0]) {
            assert!(
                *d >= base * 0.7 - 1e-9 && *d <= base * 1.3 + 1e-9,
                "{delays:?}"
            );
        }
    }

    #[test]
    fn waits_are_bounded() {
        let p = Policy {
            max_wait: Duration::from_secs(30),
            ..Policy::default()
        };
        let mut a = Attempts::new(&p);
        let mut e = err(ErrorClass::RateLimited { retry_after: None }, false);
        e.retry_after = Some(Duration::from_secs(20));
        assert_eq!(
            decide(&e, &mut a, &p, ALL),
            Strategy::Wait {
                wait: Duration::from_secs(20)
            }
        );
        a.waited = Duration::from_secs(20);
        assert_eq!(decide(&e, &mut a, &p, ALL), Strategy::Fail);
        // Zero-second waits are bounded by count: nothing loops.
        let mut a = Attempts::new(&p);
        e.retry_after = Some(Duration::ZERO);
        a.waits = p.max_rotations;
        assert_eq!(decide(&e, &mut a, &p, ALL), Strategy::Fail);
        // A quota with no known reset fails (or falls back) at once.
        let q = err(ErrorClass::QuotaExhausted, false);
        assert_eq!(decide(&q, &mut Attempts::new(&p), &p, ALL), Strategy::Fail);
    }
}
