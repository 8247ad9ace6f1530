//! `[instructions]`: project instructions (`AGENTS.md`, `CLAUDE.md`) in the system prompt.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sortie_missions::instructions::InstructionSources;

/// `[instructions]` in config.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InstructionsConfig {
    /// `false`: no mission gets project instructions.
    pub enabled: bool,
    /// More files to add after `$SORTIE_HOME/AGENTS.md` (absolute, or relative to the
    /// mission's directory).
    pub files: Vec<PathBuf>,
}

impl Default for InstructionsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            files: Vec::new(),
        }
    }
}

impl InstructionsConfig {
    /// Where a runner looks for instructions; `None` when they are off.
    pub fn sources(&self, home: &Path) -> Option<InstructionSources> {
        self.enabled.then(|| InstructionSources {
            home: Some(home.to_path_buf()),
            extra: self.files.clone(),
        })
    }
}
