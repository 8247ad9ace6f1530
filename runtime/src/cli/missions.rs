//! `sortie missions` and `sortie show`: the list and one mission's log, as text or JSON.

use std::process::ExitCode;

use super::render::{self, Style};

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
