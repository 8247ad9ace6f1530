//! The `models` tree: each provider's model list as last fetched, a cache.

use chrono::Utc;

use super::{Store, StoreError};

/// A provider's model list as last fetched.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CachedModels {
    pub fetched_at: chrono::DateTime<Utc>,
    pub models: Vec<sortie_transports::ModelInfo>,
}

impl Store {
    /// The cached model list of a provider, if any (an unreadable entry counts as none).
    pub fn cached_models(&self, provider: &str) -> Result<Option<CachedModels>, StoreError> {
        Ok(self
            .models
            .get(provider.as_bytes())?
            .and_then(|raw| serde_json::from_slice(&raw).ok()))
    }

    /// Caches a provider's model list, stamped now.
    pub fn cache_models(
        &self,
        provider: &str,
        models: Vec<sortie_transports::ModelInfo>,
    ) -> Result<CachedModels, StoreError> {
        let cached = CachedModels {
            fetched_at: Utc::now(),
            models,
        };
        let encoded = serde_json::to_vec(&cached).map_err(|e| StoreError::Corrupt {
            id: format!("models of {provider}"),
            error: e.to_string(),
        })?;
        self.models.insert(provider.as_bytes(), encoded)?;
        // A cache: the next flush writes it; a crash before only means fetching again.
        self.wrote();
        Ok(cached)
    }
}
