//! Keys of the schedules screen: add, pause or resume, run now, delete.

use super::*;

impl App {
    pub(super) fn schedules_key(&mut self, key: KeyEvent) -> Vec<Cmd> {
        let n = self.schedules.len();
        let id = self
            .schedules
            .get(self.schedule_selected)
            .and_then(|s| s["id"].as_str())
            .map(String::from);
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => {
                self.schedule_selected = (self.schedule_selected + 1).min(n.saturating_sub(1))
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.schedule_selected = self.schedule_selected.saturating_sub(1)
            }
            KeyCode::Char('a') => {
                self.overlay = Some(Overlay::Input(Input::new(
                    InputPurpose::ScheduleTiming,
                    "When? `every 30m`, `cron 0 9 * * 1-5 [tz]`, or `at 2026-12-01T09:00:00Z`",
                )));
            }
            KeyCode::Char('p') => {
                if let Some(id) = id {
                    let paused = self.schedules[self.schedule_selected]["paused"]
                        .as_bool()
                        .unwrap_or(false);
                    return vec![Cmd::PauseSchedule(id, !paused)];
                }
            }
            KeyCode::Char('r') => {
                if let Some(id) = id {
                    return vec![Cmd::RunSchedule(id)];
                }
            }
            _ => {}
        }
        Vec::new()
    }
}
