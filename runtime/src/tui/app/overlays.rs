//! Keys in the boxes over a screen: text input (and what it submits), the model picker.

use super::*;

impl App {
    pub(super) fn overlay_key(&mut self, overlay: Overlay, key: KeyEvent) -> Vec<Cmd> {
        match overlay {
            Overlay::Help => {
                // Any key closes the help.
                Vec::new()
            }
            Overlay::Input(input) => self.input_key(input, key),
            Overlay::Picker(picker) => self.picker_key(picker, key),
            Overlay::Login(login) => self.login_key(login, key),
            Overlay::McpPicker(picker) => self.mcp_picker_key(picker, key),
        }
    }

    pub(super) fn input_key(&mut self, mut input: Input, key: KeyEvent) -> Vec<Cmd> {
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => {
                if input.purpose == InputPurpose::Filter {
                    self.filter.clear();
                }
                return Vec::new();
            }
            KeyCode::Enter if alt => input.text.push('\n'),
            KeyCode::Char('j') if ctrl => input.text.push('\n'),
            KeyCode::Enter => return self.submit(input),
            KeyCode::Backspace => {
                input.text.pop();
            }
            KeyCode::Char('u') if ctrl => input.text.clear(),
            KeyCode::Char('w') if ctrl => new_mission::toggle_worktree(&mut input),
            KeyCode::Char('t') if ctrl => {
                if let Some(picker) = new_mission::McpPicker::open(&input, &self.mcp_servers) {
                    self.overlay = Some(Overlay::McpPicker(picker));
                    return Vec::new();
                }
            }
            KeyCode::Tab | KeyCode::BackTab => new_mission::cycle_sandbox(&mut input, key.code),
            KeyCode::Up if !self.history.is_empty() && !input.text.contains('\n') => {
                let at = match input.browsing {
                    Some(i) => i.saturating_sub(1),
                    None => self.history.len() - 1,
                };
                input.browsing = Some(at);
                input.text = self.history[at].clone();
            }
            KeyCode::Down if input.browsing.is_some() => {
                let at = input.browsing.unwrap_or(0) + 1;
                if at < self.history.len() {
                    input.browsing = Some(at);
                    input.text = self.history[at].clone();
                } else {
                    input.browsing = None;
                    input.text.clear();
                }
            }
            KeyCode::Char(c) => input.text.push(c),
            _ => {}
        }
        if input.purpose == InputPurpose::Filter {
            self.filter = input.text.clone();
            self.selected = 0;
        }
        self.overlay = Some(Overlay::Input(input));
        Vec::new()
    }

    pub(super) fn submit(&mut self, input: Input) -> Vec<Cmd> {
        let text = input.text.trim().to_string();
        if input.purpose == InputPurpose::Filter {
            self.filter = text;
            return Vec::new();
        }
        let empty_ok = matches!(input.purpose, InputPurpose::Message { .. });
        if text.is_empty() && !empty_ok {
            return Vec::new();
        }
        if !text.is_empty() && !matches!(input.purpose, InputPurpose::PasteCode { .. }) {
            self.history.retain(|h| *h != text);
            self.history.push(text.clone());
        }
        match input.purpose {
            InputPurpose::NewMission {
                sandbox,
                worktree: false,
                mcp: None,
            } => vec![Cmd::NewMission(text, sandbox)],
            InputPurpose::NewMission {
                sandbox,
                worktree: true,
                mcp: None,
            } => vec![Cmd::NewWorktreeMission(text, sandbox)],
            InputPurpose::NewMission {
                sandbox,
                worktree,
                mcp: Some(mcp),
            } => vec![Cmd::NewMissionWithMcp {
                prompt: text,
                sandbox,
                worktree,
                mcp,
            }],
            InputPurpose::Message {
                id,
                provider,
                model,
            } => {
                let switching = provider.is_some() || model.is_some();
                self.info(match switching {
                    true => format!(
                        "resuming on {}",
                        model.clone().or(provider.clone()).unwrap_or_default()
                    ),
                    false => "sending…".into(),
                });
                vec![Cmd::Message {
                    id,
                    text: (!text.is_empty()).then_some(text),
                    provider,
                    model,
                }]
            }
            InputPurpose::LoginProvider => {
                self.overlay = Some(Overlay::Login(LoginView::starting()));
                vec![Cmd::Login {
                    provider: Some(text),
                    credential: None,
                }]
            }
            InputPurpose::PasteCode { login } => vec![Cmd::PasteCode { login, code: text }],
            InputPurpose::ScheduleTiming => {
                self.overlay = Some(Overlay::Input(Input::new(
                    InputPurpose::SchedulePrompt { timing: text },
                    "What should each run do?",
                )));
                Vec::new()
            }
            InputPurpose::SchedulePrompt { timing } => match schedule_body(&timing, &text) {
                Ok(body) => vec![Cmd::AddSchedule(body)],
                Err(e) => {
                    self.error(e);
                    Vec::new()
                }
            },
            InputPurpose::Budget { id } => match budget_usd(&text) {
                Ok(max_cost) => {
                    self.info(format!("resuming with a budget of ${max_cost:.2}"));
                    vec![Cmd::RaiseBudget { id, max_cost }]
                }
                Err(e) => {
                    self.error(e);
                    Vec::new()
                }
            },
            InputPurpose::Filter => Vec::new(),
        }
    }

    pub(super) fn picker_key(&mut self, mut p: Picker, key: KeyEvent) -> Vec<Cmd> {
        let len = match (&p.provider, &p.models) {
            (None, _) => p.providers.len(),
            (Some(_), Some(m)) => m.len(),
            (Some(_), None) => 0,
        };
        match key.code {
            KeyCode::Esc => {
                if p.provider.is_some() {
                    // Back to the providers.
                    p.selected = p
                        .provider
                        .take()
                        .and_then(|name| p.providers.iter().position(|x| *x == name))
                        .unwrap_or(0);
                    p.models = None;
                    p.error = None;
                } else {
                    return Vec::new();
                }
            }
            KeyCode::Down | KeyCode::Char('j') => {
                p.selected = (p.selected + 1).min(len.saturating_sub(1))
            }
            KeyCode::Up | KeyCode::Char('k') => p.selected = p.selected.saturating_sub(1),
            KeyCode::Enter => match &p.provider {
                None => {
                    let Some(name) = p.providers.get(p.selected).cloned() else {
                        return Vec::new();
                    };
                    p.provider = Some(name.clone());
                    p.selected = 0;
                    p.models = self.models.get(&name).cloned();
                    let mut cmds = Vec::new();
                    if p.models.is_none() {
                        cmds.push(Cmd::Models(name));
                    } else if let (Some(models), Some(current)) =
                        (&p.models, self.open_mission().map(|m| m.model.clone()))
                    {
                        p.selected = models.iter().position(|m| *m == current).unwrap_or(0);
                    }
                    self.overlay = Some(Overlay::Picker(p));
                    return cmds;
                }
                Some(provider) => {
                    let model = p.models.as_ref().and_then(|m| m.get(p.selected)).cloned();
                    let title =
                        format!(
                        "Resume on {provider}{} — next message (Enter alone resumes without one)",
                        model.as_deref().map(|m| format!(" / {m}")).unwrap_or_default()
                    );
                    self.overlay = Some(Overlay::Input(Input::new(
                        InputPurpose::Message {
                            id: p.mission,
                            provider: Some(provider.clone()),
                            model,
                        },
                        title,
                    )));
                    return Vec::new();
                }
            },
            _ => {}
        }
        self.overlay = Some(Overlay::Picker(p));
        Vec::new()
    }

    /// Text typed or pasted in one go (bracketed paste).
    pub fn paste(&mut self, text: &str) {
        match &mut self.overlay {
            Some(Overlay::Input(input)) => input.text.push_str(text),
            Some(Overlay::Login(login)) if login.prompt.as_ref().is_some_and(|p| p.needs_code) => {
                login.code.push_str(text.trim())
            }
            _ => {}
        }
    }
}

/// A cost budget typed in the box (`5`, `$2.50`), checked as `--max-cost` is.
fn budget_usd(text: &str) -> Result<f64, String> {
    let usd: f64 = text
        .trim()
        .trim_start_matches('$')
        .parse()
        .map_err(|_| format!("`{text}` is not an amount of US dollars (like 2.50)"))?;
    sortie_missions::budget::check_usd("the cost budget", usd)
}
