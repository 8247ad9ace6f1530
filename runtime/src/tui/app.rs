//! The TUI's state and what each key does. Pure: keys and daemon messages go in, commands
//! for the daemon come out; drawing reads the state (see `ui`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::Value;
use sortie_missions::{
    Mission, MissionEvent, MissionId, MissionStatus, SandboxMode, StoredEvent, Update,
};

use crate::api::{CredentialRow, LoginPrompt};

mod new_mission;
mod new_schedule;
pub use new_schedule::schedule_body;

/// The main screens, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Missions,
    Mission,
    Accounts,
    Schedules,
}

/// How the mission list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Updated,
    Created,
    Status,
    Cost,
}

impl Sort {
    fn next(self) -> Self {
        match self {
            Sort::Updated => Sort::Created,
            Sort::Created => Sort::Status,
            Sort::Status => Sort::Cost,
            Sort::Cost => Sort::Updated,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Sort::Updated => "updated",
            Sort::Created => "created",
            Sort::Status => "status",
            Sort::Cost => "cost",
        }
    }
}

/// What an input box is for.
#[derive(Debug, Clone, PartialEq)]
pub enum InputPurpose {
    /// A new mission, in the sandbox chosen in the box (Tab cycles it).
    NewMission {
        sandbox: SandboxMode,
    },
    /// The next message of a mission; with a provider/model when it follows the picker.
    Message {
        id: MissionId,
        provider: Option<String>,
        model: Option<String>,
    },
    /// The provider of a new login.
    LoginProvider,
    /// The code a paste login needs.
    PasteCode {
        login: String,
    },
    /// A new schedule: its timing first, then its prompt.
    ScheduleTiming,
    SchedulePrompt {
        timing: String,
    },
    Filter,
}

/// A multi-line text box.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub purpose: InputPurpose,
    pub title: String,
    pub text: String,
    /// Where in `history` Up/Down are (None: editing new text).
    browsing: Option<usize>,
}

impl Input {
    pub fn new(purpose: InputPurpose, title: impl Into<String>) -> Self {
        Self {
            purpose,
            title: title.into(),
            text: String::new(),
            browsing: None,
        }
    }
}

/// Choosing a provider, then one of its models, for a resume.
#[derive(Debug, Clone, PartialEq)]
pub struct Picker {
    pub mission: MissionId,
    pub providers: Vec<String>,
    /// The provider chosen; None while choosing it.
    pub provider: Option<String>,
    /// Its models, once listed (None: loading).
    pub models: Option<Vec<String>>,
    pub selected: usize,
    pub error: Option<String>,
}

/// A login the daemon runs for this screen.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginView {
    pub id: Option<String>,
    pub prompt: Option<LoginPrompt>,
    pub state: String,
    pub error: Option<String>,
    pub code: String,
}

impl LoginView {
    /// Before the daemon answered with the login's prompt.
    fn starting() -> Self {
        Self {
            id: None,
            prompt: None,
            state: "starting".into(),
            error: None,
            code: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    Help,
    Input(Input),
    Picker(Picker),
    Login(LoginView),
}

/// The open mission.
#[derive(Debug, Clone, Default)]
pub struct MissionView {
    pub id: Option<MissionId>,
    pub events: Vec<StoredEvent>,
    /// Text and thinking streaming in the current turn (cleared by its stored message).
    pub live_text: String,
    pub live_thinking: String,
    pub running_tool: Option<String>,
    /// The end of what the running tool wrote (see `live::push_tool_output`).
    pub tool_output: String,
    /// Lines scrolled up from the bottom; 0 follows the end.
    pub scroll: u16,
    /// Tool output and thinking unfolded.
    pub expanded: bool,
    /// Questions of an `ask` mission: (approval id, summary).
    pub approvals: Vec<(String, String)>,
    /// The lines of `events`, rendered once as they arrive (again when `expanded` flips).
    pub rendered: Vec<ratatui::text::Line<'static>>,
}

/// Something for the daemon to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Cmd {
    Follow(MissionId, u64),
    Unfollow,
    /// A new mission: its prompt and its sandbox.
    NewMission(String, SandboxMode),
    Message {
        id: MissionId,
        text: Option<String>,
        provider: Option<String>,
        model: Option<String>,
    },
    Cancel(MissionId),
    Pause(MissionId),
    Models(String),
    Login {
        provider: Option<String>,
        credential: Option<String>,
    },
    PasteCode {
        login: String,
        code: String,
    },
    CancelLogin(String),
    PauseSchedule(String, bool),
    RunSchedule(String),
    AddSchedule(Value),
    Approve {
        id: MissionId,
        approval: String,
        yes: bool,
    },
    Refresh,
    /// Open a URL in a browser (where there is a display).
    OpenUrl(String),
    /// Put a URL on the clipboard through the terminal (OSC 52).
    CopyUrl(String),
}

/// What the daemon sent back.
#[derive(Debug, Clone)]
pub enum Msg {
    Missions(Vec<Mission>),
    Accounts(Vec<CredentialRow>),
    Schedules(Vec<Value>),
    Update(Update),
    /// The followed mission's stream ended; the mission as it then is.
    Ended(Mission),
    Models(String, Result<Vec<String>, String>),
    Login(Value),
    /// A mission as the daemon now has it (after a message or resume).
    Mission(Mission),
    Created(Mission),
    Info(String),
    Error(String),
}

pub struct App {
    pub screen: Screen,
    pub overlay: Option<Overlay>,
    pub now: DateTime<Utc>,
    pub missions: Vec<Mission>,
    pub selected: usize,
    pub filter: String,
    pub sort: Sort,
    pub view: MissionView,
    pub accounts: Vec<CredentialRow>,
    pub account_selected: usize,
    pub schedules: Vec<Value>,
    pub schedule_selected: usize,
    /// The status line: a message and whether it is an error.
    pub status: Option<(String, bool)>,
    status_at: DateTime<Utc>,
    pub providers: Vec<String>,
    pub history: Vec<String>,
    pub quit: bool,
    /// Known models per provider (from the daemon), for the picker.
    pub models: BTreeMap<String, Vec<String>>,
    /// The config's `[sandbox] mode`: a new mission's, and one's recorded without any.
    pub sandbox: SandboxMode,
}

impl App {
    pub fn new(providers: Vec<String>, now: DateTime<Utc>) -> Self {
        Self {
            screen: Screen::Missions,
            overlay: None,
            now,
            missions: Vec::new(),
            selected: 0,
            filter: String::new(),
            sort: Sort::Updated,
            view: MissionView::default(),
            accounts: Vec::new(),
            account_selected: 0,
            schedules: Vec::new(),
            schedule_selected: 0,
            status: None,
            status_at: now,
            providers,
            history: Vec::new(),
            quit: false,
            models: BTreeMap::new(),
            sandbox: SandboxMode::default(),
        }
    }

    /// The missions the list shows: filtered, sorted.
    pub fn visible(&self) -> Vec<&Mission> {
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<&Mission> = self
            .missions
            .iter()
            .filter(|m| {
                needle.is_empty()
                    || [
                        m.title.as_deref().unwrap_or(""),
                        m.prompt.as_str(),
                        m.provider.as_str(),
                        m.model.as_str(),
                        m.status.as_str(),
                    ]
                    .iter()
                    .any(|f| f.to_lowercase().contains(&needle))
            })
            .collect();
        match self.sort {
            Sort::Updated => rows.sort_by_key(|m| std::cmp::Reverse(m.updated_at)),
            Sort::Created => rows.sort_by_key(|m| std::cmp::Reverse(m.created_at)),
            Sort::Status => {
                rows.sort_by_key(|m| (status_rank(m.status), std::cmp::Reverse(m.updated_at)))
            }
            Sort::Cost => rows.sort_by(|a, b| {
                b.cost_usd
                    .unwrap_or(0.0)
                    .total_cmp(&a.cost_usd.unwrap_or(0.0))
            }),
        }
        rows
    }

    /// The open mission's record, when the list has it.
    pub fn open_mission(&self) -> Option<&Mission> {
        let id = self.view.id?;
        self.missions.iter().find(|m| m.id == id)
    }

    fn info(&mut self, text: impl Into<String>) {
        self.status = Some((text.into(), false));
        self.status_at = self.now;
    }

    fn error(&mut self, text: impl Into<String>) {
        self.status = Some((text.into(), true));
        self.status_at = self.now;
    }

    /// The status message while it is fresh: 5 s for news, 15 s for errors.
    pub fn shown_status(&self) -> Option<(&str, bool)> {
        let (text, error) = self.status.as_ref()?;
        let keep = if *error { 15 } else { 5 };
        ((self.now - self.status_at).num_seconds() < keep).then_some((text.as_str(), *error))
    }

    /// Takes a message from the daemon.
    pub fn apply(&mut self, msg: Msg) -> Vec<Cmd> {
        match msg {
            Msg::Missions(m) => {
                // The selection stays on the same mission while the order changes.
                let was = self.visible().get(self.selected).map(|m| m.id);
                self.missions = m;
                let visible = self.visible();
                self.selected = was
                    .and_then(|id| visible.iter().position(|m| m.id == id))
                    .unwrap_or(self.selected)
                    .min(visible.len().saturating_sub(1));
            }
            Msg::Accounts(a) => {
                self.accounts = a;
                self.account_selected = self
                    .account_selected
                    .min(self.accounts.len().saturating_sub(1));
            }
            Msg::Schedules(s) => {
                self.schedules = s;
                self.schedule_selected = self
                    .schedule_selected
                    .min(self.schedules.len().saturating_sub(1));
            }
            Msg::Update(u) => self.update(u),
            Msg::Ended(m) => {
                if self.view.id == Some(m.id) {
                    self.view.live_text.clear();
                    self.view.live_thinking.clear();
                    self.view.tool_ended();
                }
                self.upsert(m);
            }
            Msg::Models(provider, result) => {
                if let Ok(models) = &result {
                    self.models.insert(provider.clone(), models.clone());
                }
                let current = self.open_mission().map(|m| m.model.clone());
                if let Some(Overlay::Picker(p)) = &mut self.overlay {
                    if p.provider.as_deref() == Some(provider.as_str()) {
                        match result {
                            Ok(models) => {
                                p.selected = current
                                    .and_then(|c| models.iter().position(|m| *m == c))
                                    .unwrap_or(0);
                                p.models = Some(models);
                            }
                            Err(e) => {
                                p.models = Some(Vec::new());
                                p.error = Some(e);
                            }
                        }
                    }
                }
            }
            Msg::Login(v) => self.login_update(v),
            Msg::Mission(m) => self.upsert(m),
            Msg::Created(m) => {
                let id = m.id;
                self.upsert(m);
                self.info(format!("mission {} started", short(&id)));
                return self.open(id);
            }
            Msg::Info(t) => self.info(t),
            Msg::Error(t) => self.error(t),
        }
        Vec::new()
    }

    fn upsert(&mut self, m: Mission) {
        match self.missions.iter_mut().find(|x| x.id == m.id) {
            Some(x) => *x = m,
            None => self.missions.push(m),
        }
    }

    fn update(&mut self, u: Update) {
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
                super::live::push_tool_output(&mut v.tool_output, &text)
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

    fn login_update(&mut self, v: Value) {
        let Some(Overlay::Login(view)) = &mut self.overlay else {
            return;
        };
        if let Some(e) = v["error"]["message"].as_str() {
            view.state = "failed".into();
            view.error = Some(e.to_string());
            return;
        }
        view.id = v["id"].as_str().map(String::from).or(view.id.take());
        if let Ok(p) = serde_json::from_value::<LoginPrompt>(v["prompt"].clone()) {
            view.prompt = Some(p);
        }
        view.state = v["state"].as_str().unwrap_or("pending").to_string();
        view.error = v["error"].as_str().map(String::from);
        if view.state == "completed" {
            let id = v["credential"]["id"].as_str().unwrap_or("?").to_string();
            self.overlay = None;
            self.info(format!("✓ {id} connected"));
        }
    }

    /// Opens a mission's view and follows it.
    fn open(&mut self, id: MissionId) -> Vec<Cmd> {
        self.view = MissionView {
            id: Some(id),
            ..MissionView::default()
        };
        self.screen = Screen::Mission;
        vec![Cmd::Follow(id, 0)]
    }

    /// Handles a key; returns what the daemon should do.
    pub fn key(&mut self, key: KeyEvent) -> Vec<Cmd> {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return Vec::new();
        }
        if let Some(overlay) = self.overlay.take() {
            return self.overlay_key(overlay, key);
        }
        // Keys every main screen shares.
        match key.code {
            KeyCode::Char('q') => {
                self.quit = true;
                return Vec::new();
            }
            KeyCode::Char('?') => {
                self.overlay = Some(Overlay::Help);
                return Vec::new();
            }
            KeyCode::Char('1') => return self.switch(Screen::Missions),
            KeyCode::Char('2') => return self.switch(Screen::Accounts),
            KeyCode::Char('3') => return self.switch(Screen::Schedules),
            KeyCode::Tab => {
                let next = match self.screen {
                    Screen::Missions | Screen::Mission => Screen::Accounts,
                    Screen::Accounts => Screen::Schedules,
                    Screen::Schedules => Screen::Missions,
                };
                return self.switch(next);
            }
            KeyCode::Char('n') if self.screen != Screen::Accounts => {
                self.overlay = Some(Overlay::Input(self.new_mission_input()));
                return Vec::new();
            }
            _ => {}
        }
        match self.screen {
            Screen::Missions => self.missions_key(key),
            Screen::Mission => self.mission_key(key),
            Screen::Accounts => self.accounts_key(key),
            Screen::Schedules => self.schedules_key(key),
        }
    }

    fn switch(&mut self, screen: Screen) -> Vec<Cmd> {
        let mut cmds = Vec::new();
        if self.screen == Screen::Mission && screen != Screen::Mission {
            cmds.push(Cmd::Unfollow);
        }
        self.screen = screen;
        cmds.push(Cmd::Refresh);
        cmds
    }

    fn missions_key(&mut self, key: KeyEvent) -> Vec<Cmd> {
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

    fn mission_key(&mut self, key: KeyEvent) -> Vec<Cmd> {
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
                if active {
                    self.error(
                        "the mission is still running: wait for it, or c to cancel / p to pause",
                    );
                } else {
                    self.overlay = Some(Overlay::Input(Input::new(
                        InputPurpose::Message {
                            id,
                            provider: None,
                            model: None,
                        },
                        "Next message (Enter sends, Alt-Enter for a new line)",
                    )));
                }
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

    fn accounts_key(&mut self, key: KeyEvent) -> Vec<Cmd> {
        let n = self.accounts.len();
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => {
                self.account_selected = (self.account_selected + 1).min(n.saturating_sub(1))
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.account_selected = self.account_selected.saturating_sub(1)
            }
            KeyCode::Char('r') | KeyCode::Enter => {
                if let Some(row) = self.accounts.get(self.account_selected) {
                    let credential = row.summary.id.to_string();
                    self.overlay = Some(Overlay::Login(LoginView::starting()));
                    return vec![Cmd::Login {
                        provider: None,
                        credential: Some(credential),
                    }];
                }
            }
            KeyCode::Char('a') | KeyCode::Char('l') => {
                self.overlay = Some(Overlay::Input(Input::new(
                    InputPurpose::LoginProvider,
                    "Log in to which provider? (anthropic, openai-codex, xai, …)",
                )));
            }
            _ => {}
        }
        Vec::new()
    }

    fn schedules_key(&mut self, key: KeyEvent) -> Vec<Cmd> {
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

    fn overlay_key(&mut self, overlay: Overlay, key: KeyEvent) -> Vec<Cmd> {
        match overlay {
            Overlay::Help => {
                // Any key closes the help.
                Vec::new()
            }
            Overlay::Input(input) => self.input_key(input, key),
            Overlay::Picker(picker) => self.picker_key(picker, key),
            Overlay::Login(login) => self.login_key(login, key),
        }
    }

    fn input_key(&mut self, mut input: Input, key: KeyEvent) -> Vec<Cmd> {
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

    fn submit(&mut self, input: Input) -> Vec<Cmd> {
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
            InputPurpose::NewMission { sandbox } => vec![Cmd::NewMission(text, sandbox)],
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
            InputPurpose::Filter => Vec::new(),
        }
    }

    fn picker_key(&mut self, mut p: Picker, key: KeyEvent) -> Vec<Cmd> {
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

    fn login_key(&mut self, mut login: LoginView, key: KeyEvent) -> Vec<Cmd> {
        let pending = login.state == "pending" || login.state == "starting";
        let pasting = login.prompt.as_ref().is_some_and(|p| p.needs_code);
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => {
                if let (true, Some(id)) = (pending, login.id.clone()) {
                    self.info("login cancelled");
                    return vec![Cmd::CancelLogin(id)];
                }
                return Vec::new();
            }
            KeyCode::Enter if pasting && !login.code.trim().is_empty() => {
                if let Some(id) = login.id.clone() {
                    let code = std::mem::take(&mut login.code);
                    login.state = "exchanging".into();
                    self.overlay = Some(Overlay::Login(login));
                    return vec![Cmd::PasteCode { login: id, code }];
                }
            }
            KeyCode::Backspace => {
                login.code.pop();
            }
            // Ctrl-O / Ctrl-Y act on the URL (o and y too where there is no paste box).
            KeyCode::Char('o') if ctrl || !pasting => {
                if let Some(p) = &login.prompt {
                    let url = p.url_complete.clone().unwrap_or_else(|| p.url.clone());
                    self.overlay = Some(Overlay::Login(login));
                    return vec![Cmd::OpenUrl(url)];
                }
            }
            KeyCode::Char('y') if ctrl || !pasting => {
                if let Some(p) = &login.prompt {
                    let url = p.url_complete.clone().unwrap_or_else(|| p.url.clone());
                    self.overlay = Some(Overlay::Login(login));
                    return vec![Cmd::CopyUrl(url)];
                }
            }
            KeyCode::Char(c) if pasting && !ctrl => login.code.push(c),
            _ => {}
        }
        self.overlay = Some(Overlay::Login(login));
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

fn status_rank(s: MissionStatus) -> u8 {
    match s {
        MissionStatus::Running => 0,
        MissionStatus::Queued => 1,
        MissionStatus::NeedsReauth => 2,
        MissionStatus::Failed => 3,
        MissionStatus::Paused | MissionStatus::Interrupted => 4,
        MissionStatus::Cancelled => 5,
        MissionStatus::Completed => 6,
    }
}

/// The first 8 characters of an id.
pub fn short(id: &MissionId) -> String {
    id.to_string().chars().take(8).collect()
}
