//! A provider's model list, as `GET /models` and `sortie models --json` give it.

use serde::{Deserialize, Serialize};
use sortie_transports::ModelInfo;

/// A provider's models as `sortie models --json` prints them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listing {
    pub provider: String,
    pub fetched_at: chrono::DateTime<chrono::Utc>,
    pub models: Vec<ModelInfo>,
    /// Why an older list is shown (the refresh failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}
