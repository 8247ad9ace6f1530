//! `sortie models` and `GET /models`: a provider's chat models, cached a day.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sortie_missions::Store;
use sortie_transports::auth::Pool;
use sortie_transports::ModelInfo;

use crate::config::ResolvedProvider;
use crate::render::{self, Style};
use crate::run_cmd;

/// How long a cached model list is used before it is fetched again.
const MODELS_TTL: chrono::Duration = chrono::Duration::hours(24);

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

/// The cached list while it is fresh (and no `refresh`), else a fetched one; when the fetch
/// fails, the older list with a warning, or the error when there is none.
pub async fn listing(
    store: &Store,
    pool: &Arc<Pool>,
    provider: &ResolvedProvider,
    refresh: bool,
) -> anyhow::Result<Listing> {
    let cached = store.cached_models(&provider.name)?;
    let fresh = cached
        .as_ref()
        .is_some_and(|c| chrono::Utc::now() - c.fetched_at < MODELS_TTL);
    let mut warning = None;
    let listing = match cached {
        Some(c) if fresh && !refresh => c,
        cached => match run_cmd::provider_transport(pool, provider)?
            .0
            .list_models()
            .await
        {
            Ok(models) => store.cache_models(&provider.name, models)?,
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
pub fn will_fetch(store: &Store, provider: &str, refresh: bool) -> bool {
    refresh
        || store
            .cached_models(provider)
            .ok()
            .flatten()
            .is_none_or(|c| chrono::Utc::now() - c.fetched_at >= MODELS_TTL)
}

/// Prints a listing: JSON, or one model per line and a footer.
pub fn print(listing: &Listing, json: bool) -> anyhow::Result<()> {
    if let Some(w) = &listing.warning {
        eprintln!("warning: {w}");
    }
    if json {
        let mut doc = serde_json::to_value(listing)?;
        if let Some(o) = doc.as_object_mut() {
            o.remove("warning");
        }
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let style = Style::detect();
    for m in &listing.models {
        let detail = m
            .display_name
            .clone()
            .or_else(|| m.owned_by.clone())
            .unwrap_or_default();
        println!("{:<40}  {}", m.id, style.dim(&detail));
    }
    println!(
        "{}",
        style.dim(&format!(
            "{} chat models from `{}`, fetched {} ago (--refresh to fetch again)",
            listing.models.len(),
            listing.provider,
            render::age(listing.fetched_at, chrono::Utc::now())
        ))
    );
    Ok(())
}
