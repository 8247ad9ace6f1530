//! Sortie's missions: a mission's record and event log in sled, the tools a model may
//! call, and the agent loop that runs turns over a transport.

pub mod agent;
pub mod auxiliary;
pub mod budget;
mod event;
pub mod forks;
pub mod instructions;
mod mission;
pub mod owner_only;
pub mod prompts;
pub mod recovery;
pub mod scheduler;
pub mod steering;
mod store;
pub mod tools;

pub use agent::{MissionRunner, Observer, RunError, StopStatus, Update};
pub use event::{MissionEvent, StoredEvent, ToolOutcome};
pub use mission::{
    CliSession, Mission, MissionId, MissionSpec, MissionStatus, MissionWorktree, SandboxMode,
};
/// The MCP client the missions use (its config type, and `sortie mcp`'s set of servers).
pub use sortie_mcp as mcp;
/// The PostgreSQL store (see README "Store backends").
#[cfg(feature = "postgres")]
pub use store::postgres;
pub use store::{
    check_data_dir, prepare_data_dir, CachedModels, MissionFilter, MissionPage, MissionStore,
    Store, StoreError, SCHEMA_VERSION,
};
pub use store::{set_max_event_bytes, update_schedule, SharedStore};
pub use tools::{Approver, PermissionPolicy};
