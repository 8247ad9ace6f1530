//! The new-mission box: its prompt, the sandbox the mission will run in (the config's
//! mode unless Tab picks another), and its MCP servers (every enabled one unless
//! Ctrl-T opens the list to choose them).

use crossterm::event::{KeyCode, KeyEvent};
use sortie_missions::SandboxMode;

use super::{App, Cmd, Input, InputPurpose, Overlay};

/// The modes in the order Tab goes through them.
const CYCLE: [SandboxMode; 3] = [
    SandboxMode::WorkspaceWrite,
    SandboxMode::ReadOnly,
    SandboxMode::Off,
];

impl App {
    /// The box `n` opens, on the config's sandbox.
    pub(super) fn new_mission_input(&self) -> Input {
        Input::new(
            InputPurpose::NewMission {
                sandbox: self.sandbox,
                worktree: false,
                mcp: None,
            },
            "New mission — what should it do? (runs in the current directory)",
        )
    }
}

/// Ctrl-W in a new-mission box: in a git worktree of its own, or not.
pub(super) fn toggle_worktree(input: &mut Input) {
    if let InputPurpose::NewMission { worktree, .. } = &mut input.purpose {
        *worktree = !*worktree;
    }
}

/// Tab: the next sandbox mode of a new-mission box (Shift-Tab: the one before); other
/// boxes have none.
pub(super) fn cycle_sandbox(input: &mut Input, key: KeyCode) {
    let InputPurpose::NewMission { sandbox, .. } = &mut input.purpose else {
        return;
    };
    let at = CYCLE.iter().position(|m| m == sandbox).unwrap_or(0);
    let step = if key == KeyCode::BackTab {
        CYCLE.len() - 1
    } else {
        1
    };
    *sandbox = CYCLE[(at + step) % CYCLE.len()];
}

/// The MCP servers of a new mission, chosen over its box: ↑↓ move, Space toggles, Enter
/// takes the choice back to the box, Esc goes back without it.
#[derive(Debug, Clone, PartialEq)]
pub struct McpPicker {
    /// The box it was opened from, given back when it closes.
    pub input: Input,
    pub cursor: usize,
    /// Whether each configured server (in `App::mcp_servers` order) is chosen.
    pub on: Vec<bool>,
}

impl McpPicker {
    /// Ctrl-T in a new-mission box, on its current choice; `None` in another box or when
    /// the config has no server.
    pub(super) fn open(input: &Input, servers: &[(String, bool)]) -> Option<Self> {
        let InputPurpose::NewMission { mcp, .. } = &input.purpose else {
            return None;
        };
        if servers.is_empty() {
            return None;
        }
        let on = servers
            .iter()
            .map(|(name, enabled)| match mcp {
                None => *enabled,
                Some(names) => names.contains(name),
            })
            .collect();
        Some(Self {
            input: input.clone(),
            cursor: 0,
            on,
        })
    }

    /// The box back, with this choice: `None` (the API's default) when it is every enabled
    /// server, else the names chosen.
    fn close(mut self, servers: &[(String, bool)]) -> Input {
        let defaults: Vec<bool> = servers.iter().map(|(_, e)| *e).collect();
        let chosen = (self.on != defaults).then(|| {
            servers
                .iter()
                .zip(&self.on)
                .filter(|(_, on)| **on)
                .map(|((n, _), _)| n.clone())
                .collect()
        });
        if let InputPurpose::NewMission { mcp, .. } = &mut self.input.purpose {
            *mcp = chosen;
        }
        self.input
    }
}

impl App {
    pub(super) fn mcp_picker_key(&mut self, mut p: McpPicker, key: KeyEvent) -> Vec<Cmd> {
        let last = p.on.len().saturating_sub(1);
        match key.code {
            KeyCode::Esc => {
                self.overlay = Some(Overlay::Input(p.input));
                return Vec::new();
            }
            KeyCode::Enter => {
                self.overlay = Some(Overlay::Input(p.close(&self.mcp_servers)));
                return Vec::new();
            }
            KeyCode::Up | KeyCode::Char('k') => p.cursor = p.cursor.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => p.cursor = (p.cursor + 1).min(last),
            KeyCode::Char(' ') => {
                if let Some(on) = p.on.get_mut(p.cursor) {
                    *on = !*on;
                }
            }
            _ => {}
        }
        self.overlay = Some(Overlay::McpPicker(p));
        Vec::new()
    }
}
