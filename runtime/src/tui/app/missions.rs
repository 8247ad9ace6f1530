//! Keys of the missions screen: move, filter, sort, open, new.

use super::*;

impl App {
    pub(super) fn missions_key(&mut self, key: KeyEvent) -> Vec<Cmd> {
        let n = self.visible().len();
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(n.saturating_sub(1))
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
            KeyCode::End | KeyCode::Char('G') => self.selected = n.saturating_sub(1),
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                self.info(format!("sorted by {}", self.sort.name()));
            }
            KeyCode::Char('/') => {
                let mut input = Input::new(
                    InputPurpose::Filter,
                    "Filter (title, prompt, provider, model, status)",
                );
                input.text = self.filter.clone();
                self.overlay = Some(Overlay::Input(input));
            }
            KeyCode::Esc if !self.filter.is_empty() => {
                self.filter.clear();
                self.selected = 0;
            }
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => {
                if let Some(id) = self.visible().get(self.selected).map(|m| m.id) {
                    return self.open(id);
                }
            }
            _ => {}
        }
        Vec::new()
    }
}
