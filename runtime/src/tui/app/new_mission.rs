//! The new-mission box: its prompt, the sandbox the mission will run in (the config's
//! mode unless Tab picks another), and its MCP servers (every enabled one unless Ctrl-T
//! picks: none, then each server alone).

use crossterm::event::KeyCode;
use sortie_missions::SandboxMode;

use super::{App, Input, InputPurpose};

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

/// Ctrl-T in a new-mission box: its MCP servers go from every enabled one to none, then to
/// each configured server alone, then back; with no server configured nothing changes.
pub(super) fn cycle_mcp(input: &mut Input, servers: &[(String, bool)]) {
    let InputPurpose::NewMission { mcp, .. } = &mut input.purpose else {
        return;
    };
    if servers.is_empty() {
        return;
    }
    *mcp = match mcp.as_deref() {
        None => Some(Vec::new()),
        Some([]) => Some(vec![servers[0].0.clone()]),
        Some([one]) => servers
            .iter()
            .position(|(n, _)| n == one)
            .and_then(|at| servers.get(at + 1))
            .map(|(n, _)| vec![n.clone()]),
        Some(_) => None,
    };
}
