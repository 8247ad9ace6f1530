//! The bodies of `POST /missions/{id}/messages` (a message for a mission, running or not)
//! and `POST /missions/{id}/fork`.

/// A message for a mission: queued for its next turn while it runs, else it resumes it.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    pub text: String,
    /// Cut the answer being streamed short and send the message at once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub now: bool,
}

/// A fork: the arguments of `sortie fork`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ForkRequest {
    /// The last event of the parent's log the fork keeps; default: its last event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The fork's next message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
}
