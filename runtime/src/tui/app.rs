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

mod accounts;
mod mission;
mod missions;
mod new_mission;
mod new_schedule;
mod overlays;
mod schedules;
pub use new_mission::McpPicker;
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
        /// In a git worktree of its own (Ctrl-W toggles it).
        worktree: bool,
        /// Its MCP servers: `None` every enabled one, else these (Ctrl-T cycles them).
        mcp: Option<Vec<String>>,
    },
    /// The next message of a mission; with a provider/model when it follows the picker.
    Message {
        id: MissionId,
        provider: Option<String>,
        model: Option<String>,
    },
    /// A new cost budget (USD) for a stopped mission, which then resumes.
    Budget {
        id: MissionId,
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
    /// The MCP servers of the new mission being written (Ctrl-T in its box).
    McpPicker(McpPicker),
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
    /// A new mission in a git worktree of its own (`--worktree`).
    NewWorktreeMission(String, SandboxMode),
    /// A new mission with the MCP servers chosen in the box (`"mcp"` of the API body).
    NewMissionWithMcp {
        prompt: String,
        sandbox: SandboxMode,
        worktree: bool,
        mcp: Vec<String>,
    },
    Message {
        id: MissionId,
        text: Option<String>,
        provider: Option<String>,
        model: Option<String>,
    },
    /// Resume a mission with this cost budget (USD).
    RaiseBudget {
        id: MissionId,
        max_cost: f64,
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
    /// The MCP servers that want a login and have none stored.
    McpLogins(Vec<crate::service::mcp_login::LoginNeeded>),
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
    /// Listed after the accounts: MCP servers to log in to.
    pub mcp_logins: Vec<crate::service::mcp_login::LoginNeeded>,
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
    /// The config's MCP servers and whether each is enabled, for the new-mission box.
    pub mcp_servers: Vec<(String, bool)>,
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
            mcp_logins: Vec::new(),
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
            mcp_servers: Vec::new(),
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
                    .min(self.account_rows().saturating_sub(1));
            }
            Msg::McpLogins(m) => {
                self.mcp_logins = m;
                self.account_selected = self
                    .account_selected
                    .min(self.account_rows().saturating_sub(1));
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
}

fn status_rank(s: MissionStatus) -> u8 {
    match s {
        MissionStatus::Running => 0,
        MissionStatus::Queued => 1,
        MissionStatus::NeedsReauth => 2,
        MissionStatus::Failed => 3,
        MissionStatus::Paused | MissionStatus::Interrupted => 4,
        MissionStatus::BudgetReached => 4,
        MissionStatus::Cancelled => 5,
        MissionStatus::Completed => 6,
    }
}

/// The first 8 characters of an id.
pub fn short(id: &MissionId) -> String {
    id.to_string().chars().take(8).collect()
}
