//! A provider's chat models, here or in the daemon.

use anyhow::Context;

use super::Sortie;
use crate::api::Listing;
use crate::config::Config;
use crate::service::{accounts, models};

impl Sortie {
    /// The chat models of `provider` (default: the configured one), from the cache unless
    /// it is stale or `refresh`. `fetching` hears where the list is fetched from, when it
    /// is (here; the daemon does not say).
    pub async fn models(
        &self,
        provider: Option<&str>,
        refresh: bool,
        fetching: impl FnOnce(&str, &str),
    ) -> anyhow::Result<Listing> {
        match self {
            Self::Here(home) => {
                let config = Config::load(home)?;
                let provider = config.provider(provider)?;
                let crate::service::HereStores {
                    local,
                    missions: store,
                } = crate::service::open_here_with(home, &config).await?;
                if !provider.base_url.is_empty()
                    && models::will_fetch(&*store, &provider.name, refresh).await
                {
                    fetching(&provider.name, &provider.base_url);
                }
                let pool = accounts::pool_for(&local, &store, &config).await?;
                models::listing(&store, &pool, &provider, refresh).await
            }
            Self::Daemon(c) => {
                let mut query = Vec::new();
                if let Some(p) = provider {
                    query.push(("provider", p.to_string()));
                }
                if refresh {
                    query.push(("refresh", "true".to_string()));
                }
                serde_json::from_value(c.get_query("/models", &query).await?)
                    .context("the daemon's model list is not readable")
            }
        }
    }
}
