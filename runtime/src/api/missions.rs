//! The bodies of `POST /missions` and `POST /missions/{id}/resume`.

/// What a new mission asks for: the arguments of `sortie run`, and the body of
/// `POST /missions`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewMission {
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The working directory (absolute); `sortie run` sends its current directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<std::path::PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<sortie_missions::PermissionPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    /// The sandbox its tools run in; default: `[sandbox] mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<sortie_missions::SandboxMode>,
    /// No project instructions (`AGENTS.md` ...) in the system prompt.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_instructions: bool,
    /// The MCP servers it uses (names of `[mcp_servers]`; `[]`: none); default: every
    /// enabled one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<Vec<String>>,
    /// Most US dollars the mission may spend, at `[prices]`; default: `[budget] max_cost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost: Option<f64>,
    /// Most tokens it may use (prompts and answers); default: `[budget] max_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Longest it may run (`90s`, `30m`, `2h`); default: `[budget] max_duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<String>,
    /// Notices for this mission on (`true`) or off (`false`); default: `[notify] missions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<bool>,
    /// Work in a new git worktree of the repository holding `cwd`, on branch
    /// `sortie/<short id>`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub worktree: bool,
    /// Run only on a daemon that has all these labels (`--on LABEL`; `[daemon] labels`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// How to continue a mission: the arguments of `sortie resume`, and the body of
/// `POST /missions/{id}/resume`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default)]
    pub default_model: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    /// Another sandbox from here on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<sortie_missions::SandboxMode>,
    /// No project instructions (`AGENTS.md` ...) in the system prompt.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_instructions: bool,
    /// Other MCP servers from here on (`[]`: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<Vec<String>>,
    /// Most US dollars the mission may spend, at `[prices]`; default: `[budget] max_cost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost: Option<f64>,
    /// Most tokens it may use (prompts and answers); default: `[budget] max_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Longest it may run (`90s`, `30m`, `2h`); default: `[budget] max_duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<String>,
    /// Notices on (`true`) or off (`false`) from here on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<bool>,
}
