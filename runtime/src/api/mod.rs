//! The daemon's API as both sides see it: the request and answer bodies the daemon and the
//! client share, the live updates as JSON, `daemon.json` and the instance proof, and the
//! OpenAPI document. Types and their JSON only: no terminal, no HTTP server, no store.

mod accounts;
pub mod instance;
mod missions;
mod models;
pub mod openapi;
mod openapi_budget;
mod openapi_cluster;
mod openapi_instructions;
mod openapi_mcp;
mod openapi_notices;
mod openapi_sandbox;
mod openapi_steering;
mod schedules;
mod serve;
mod steering;
mod updates;
mod usage;

pub use accounts::{next_step, CredentialRow, LoginPrompt, Probe};
pub use missions::{NewMission, ResumeRequest};
pub use models::Listing;
pub use schedules::{schedule_json, NewSchedule};
pub use serve::ServeOptions;
pub use steering::{ForkRequest, SendMessage};
pub use updates::{update_from_json, update_json};
pub use usage::{DayUsage, ProviderUsage, ScheduleUsage, UsageReport, UsageSum};

/// `GET /missions`: the page size when none is asked for, and the largest one.
pub const DEFAULT_LIMIT: usize = 200;
pub const MAX_LIMIT: usize = 1000;
