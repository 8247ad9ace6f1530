//! Start-up work begun early, so that it overlaps what a command must do first (issue 21:
//! first request at most 10 ms after start).

use std::path::Path;

use super::{Command, RunArgs};
use crate::config::Config;
use crate::config::ProviderKind;
use crate::service::sandboxing;

/// `sortie run` in this process: the sandbox probe (a launcher started once, about 3 ms,
/// whose answer the first request's system prompt needs) starts now, while the store
/// opens and the mission is made durable; the mission's own probe then waits for this
/// one instead of starting another. Nothing when the config does not load (the command
/// reports that).
pub(super) fn probe_sandbox(home: &Path, command: &Command) {
    let Command::Run(args) = command else {
        return;
    };
    let Ok(config) = Config::load(home) else {
        return;
    };
    let RunArgs {
        provider, sandbox, ..
    } = args;
    let needs_network = config
        .provider(provider.as_deref())
        .is_ok_and(|p| p.kind == ProviderKind::ClaudeCode);
    let mut template = sandboxing::template(home, &config);
    if let Some(mode) = sandbox {
        template.policy.mode = *mode;
    }
    template.probe_early(needs_network);
}
