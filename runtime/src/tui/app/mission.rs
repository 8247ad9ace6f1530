//! One mission: its live updates, and the keys of its screen (message, model, cancel, pause, answers).

use super::*;

impl App {
    pub(super) fn update(&mut self, u: Update) {
        let v = &mut self.view;
        match u {
            Update::Event { mission, event } if Some(mission) == v.id => {
                if v.events.last().is_some_and(|e| e.seq >= event.seq) {
                    return;
                }
                match &event.event {
                    MissionEvent::AssistantMessage { .. } => {
                        v.live_text.clear();
                        v.live_thinking.clear();
                    }
                    // The record follows at once (the list's next refresh would be late
                    // for a key pressed now).
                    MissionEvent::Status { status, .. } => {
                        if let Some(m) = self.missions.iter_mut().find(|m| m.id == mission) {
                            m.status = *status;
                        }
                    }
                    MissionEvent::ToolResult { .. } => v.tool_ended(),
                    _ => {}
                }
                v.push(event);
            }
            Update::TextDelta { mission, text, .. } if Some(mission) == v.id => {
                v.live_text.push_str(&text)
            }
            Update::ThinkingDelta { mission, text, .. } if Some(mission) == v.id => {
                v.live_thinking.push_str(&text)
            }
            Update::ToolStarted {
                mission,
                name,
                arguments,
                ..
            } if Some(mission) == v.id => v.tool_started(&name, &arguments),
            Update::ToolOutput { mission, text, .. } if Some(mission) == v.id => {
                crate::tui::live::push_tool_output(&mut v.tool_output, &text)
            }
            Update::ApprovalRequested {
                mission,
                approval,
                summary,
            } if Some(mission) == v.id && !v.approvals.iter().any(|(a, _)| *a == approval) => {
                v.approvals.push((approval, summary));
            }
            _ => {}
        }
    }

    /// Opens a mission's view and follows it.
    pub(super) fn open(&mut self, id: MissionId) -> Vec<Cmd> {
        self.view = MissionView {
            id: Some(id),
            ..MissionView::default()
        };
        self.screen = Screen::Mission;
        vec![Cmd::Follow(id, 0)]
    }

    pub(super) fn mission_key(&mut self, key: KeyEvent) -> Vec<Cmd> {
        let Some(id) = self.view.id else {
            return self.switch(Screen::Missions);
        };
        let active = self
            .open_mission()
            .is_some_and(|m| matches!(m.status, MissionStatus::Running | MissionStatus::Queued));
        match key.code {
            KeyCode::Esc | KeyCode::Left | KeyCode::Char('h') => {
                self.screen = Screen::Missions;
                return vec![Cmd::Unfollow, Cmd::Refresh];
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.view.scroll = self.view.scroll.saturating_add(1)
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.view.scroll = self.view.scroll.saturating_sub(1)
            }
            KeyCode::PageUp => self.view.scroll = self.view.scroll.saturating_add(10),
            KeyCode::PageDown => self.view.scroll = self.view.scroll.saturating_sub(10),
            KeyCode::End | KeyCode::Char('G') => self.view.scroll = 0,
            KeyCode::Char('t') | KeyCode::Char('o') => self.view.toggle_expanded(),
            KeyCode::Char(c @ ('y' | 'Y' | 'N' | 'x')) if !self.view.approvals.is_empty() => {
                let (approval, _) = self.view.approvals.remove(0);
                let yes = matches!(c, 'y' | 'Y');
                return vec![Cmd::Approve { id, approval, yes }];
            }
            KeyCode::Char('c') if active => return vec![Cmd::Cancel(id)],
            KeyCode::Char('p') if active => return vec![Cmd::Pause(id)],
            KeyCode::Char('i') | KeyCode::Enter => {
                // A running mission takes the message at its next turn boundary.
                let title = if active {
                    "Message for its next turn (Enter queues it, Alt-Enter for a new line)"
                } else {
                    "Next message (Enter sends, Alt-Enter for a new line)"
                };
                self.overlay = Some(Overlay::Input(Input::new(
                    InputPurpose::Message {
                        id,
                        provider: None,
                        model: None,
                    },
                    title,
                )));
            }
            KeyCode::Char('b') if !active => {
                self.overlay = Some(Overlay::Input(Input::new(
                    InputPurpose::Budget { id },
                    "New cost budget in USD (e.g. 5); the mission resumes with it",
                )));
            }
            KeyCode::Char('r') if !active => {
                return vec![Cmd::Message {
                    id,
                    text: None,
                    provider: None,
                    model: None,
                }];
            }
            KeyCode::Char('m') => {
                if active {
                    self.error(
                        "the mission is running: pause (p) or wait before switching its model",
                    );
                } else {
                    let current = self.open_mission().map(|m| m.provider.clone());
                    let selected = current
                        .and_then(|c| self.providers.iter().position(|p| *p == c))
                        .unwrap_or(0);
                    self.overlay = Some(Overlay::Picker(Picker {
                        mission: id,
                        providers: self.providers.clone(),
                        provider: None,
                        models: None,
                        selected,
                        error: None,
                    }));
                }
            }
            _ => {}
        }
        Vec::new()
    }
}
