//! `sortie models`: a provider's chat models, here or through the daemon.

use std::process::ExitCode;

use super::render::Style;
use crate::api::Listing;
use crate::handle::Sortie;

pub(crate) async fn models(
    sortie: &Sortie,
    provider: Option<&str>,
    refresh: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let fetching = |name: &str, url: &str| {
        if !json {
            eprintln!("fetching the model list of `{name}` from {url} …");
        }
    };
    let listing = sortie.models(provider, refresh, fetching).await?;
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
