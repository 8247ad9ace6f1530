//! `sortie missions` and `sortie show`: the list and one mission's log, as text or JSON.

use std::path::Path;
use std::process::ExitCode;

use super::render::{self, Style};
use crate::service::open_store;

pub(crate) fn missions(home: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_store(home)?;
    let (missions, problems) = store.missions()?;
    print_missions(&missions, &problems, json)
}

pub(crate) fn print_missions(
    missions: &[sortie_missions::Mission],
    problems: &[String],
    json: bool,
) -> anyhow::Result<ExitCode> {
    for p in problems {
        eprintln!("warning: {p}");
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&missions)?);
    } else if missions.is_empty() {
        println!("no missions yet; try `sortie demo` or `sortie run \"<prompt>\"`");
    } else {
        print!(
            "{}",
            render::missions_table(&Style::detect(), missions, chrono::Utc::now())
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn show(home: &Path, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_store(home)?;
    let id = store.resolve(id)?;
    let mission = store.mission(&id)?;
    let events = store.events(&id)?;
    print_show(&mission, &events, json)
}

pub(crate) fn print_show(
    mission: &sortie_missions::Mission,
    events: &[sortie_missions::StoredEvent],
    json: bool,
) -> anyhow::Result<ExitCode> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"mission": mission, "events": events})
            )?
        );
    } else {
        print!("{}", render::mission_log(&Style::detect(), mission, events));
    }
    Ok(ExitCode::SUCCESS)
}
