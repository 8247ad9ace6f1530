//! `sortie models`: a provider's chat models, here or through the daemon.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::render::Style;
use crate::api::Listing;
use crate::client::Client;
use crate::config::Config;
use crate::service::{accounts, models, open_store};

pub(crate) async fn models(
    home: &Path,
    daemon: Option<&Client>,
    provider: Option<&str>,
    refresh: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let listing = match daemon {
        Some(c) => {
            let mut query = Vec::new();
            if let Some(p) = provider {
                query.push(("provider", p.to_string()));
            }
            if refresh {
                query.push(("refresh", "true".to_string()));
            }
            serde_json::from_value::<Listing>(c.get_query("/models", &query).await?)
                .context("the daemon's model list is not readable")?
        }
        None => {
            let config = Config::load(home)?;
            let provider = config.provider(provider)?;
            let store = open_store(home)?;
            if !json
                && !provider.base_url.is_empty()
                && models::will_fetch(&store, &provider.name, refresh)
            {
                eprintln!(
                    "fetching the model list of `{}` from {} …",
                    provider.name, provider.base_url
                );
            }
            let pool = accounts::shared_pool(&store, &config)?;
            models::listing(&store, &pool, &provider, refresh).await?
        }
    };
    print(&listing, json)?;
    Ok(ExitCode::SUCCESS)
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
            crate::text::age(listing.fetched_at, chrono::Utc::now())
        ))
    );
    Ok(())
}
