//! `sortie models` and `GET /models`: a provider's chat models, cached a day.

use std::sync::Arc;

use sortie_missions::MissionStore;
use sortie_transports::auth::Pool;

use super::missions;
use crate::api::Listing;
use crate::config::ResolvedProvider;

/// How long a cached model list is used before it is fetched again.
const MODELS_TTL: chrono::Duration = chrono::Duration::hours(24);

/// The cached list while it is fresh (and no `refresh`), else a fetched one; when the fetch
/// fails, the older list with a warning, or the error when there is none.
pub async fn listing(
    store: &dyn MissionStore,
    pool: &Arc<Pool>,
    provider: &ResolvedProvider,
    refresh: bool,
) -> anyhow::Result<Listing> {
    let cached = store.cached_models(&provider.name).await?;
    let fresh = cached
        .as_ref()
        .is_some_and(|c| chrono::Utc::now() - c.fetched_at < MODELS_TTL);
    let mut warning = None;
    let listing = match cached {
        Some(c) if fresh && !refresh => c,
        cached => match missions::provider_transport(pool, provider)
            .await?
            .0
            .list_models()
            .await
        {
            Ok(models) => store.cache_models(&provider.name, models).await?,
            Err(e) => match cached {
                Some(old) => {
                    warning = Some(format!(
                        "cannot refresh the model list ({e}); showing the one fetched {}",
                        old.fetched_at.format("%Y-%m-%d %H:%M UTC")
                    ));
                    old
                }
                None => anyhow::bail!(
                    "cannot list the models of `{}`: [{}] {e}",
                    provider.name,
                    e.class
                ),
            },
        },
    };
    Ok(Listing {
        provider: provider.name.clone(),
        fetched_at: listing.fetched_at,
        models: listing.models,
        warning,
    })
}

/// Whether `listing` would call the provider (to say so before a slow fetch).
pub async fn will_fetch(store: &dyn MissionStore, provider: &str, refresh: bool) -> bool {
    refresh
        || store
            .cached_models(provider)
            .await
            .ok()
            .flatten()
            .is_none_or(|c| chrono::Utc::now() - c.fetched_at >= MODELS_TTL)
}
