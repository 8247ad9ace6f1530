//! Builders shared by the suite.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sortie_missions::recovery::{Policy, Recovery};
use sortie_missions::{
    Mission, MissionEvent, MissionRunner, MissionSpec, PermissionPolicy, Store, StoredEvent,
};
use sortie_transports::direct::{OpenAiChat, OpenAiChatConfig};
use tokio_util::sync::CancellationToken;

/// The production policy with test-sized waits: same bounds, milliseconds instead of seconds.
pub fn fast_policy() -> Policy {
    Policy {
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_wait: Duration::from_secs(3),
        ..Policy::default()
    }
}

/// The recovery events of a log: (scope, class, strategy, credential).
pub fn recoveries(events: &[StoredEvent]) -> Vec<(String, String, String, Option<String>)> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            MissionEvent::Recovery {
                scope,
                class,
                strategy,
                credential,
                ..
            } => Some((
                scope.clone(),
                class.to_string(),
                strategy.clone(),
                credential.clone(),
            )),
            _ => None,
        })
        .collect()
}

pub fn spec(cwd: &Path, prompt: &str) -> MissionSpec {
    MissionSpec {
        prompt: prompt.into(),
        provider: "local".into(),
        model: "mock-model".into(),
        transport: "openai-compatible".into(),
        cwd: cwd.canonicalize().expect("cwd"),
        policy: PermissionPolicy::Auto,
        max_turns: 8,
    }
}

pub fn transport(base_url: &str) -> OpenAiChatConfig {
    let mut c = OpenAiChatConfig::new(base_url);
    c.idle_timeout = Duration::from_secs(10);
    c
}

/// A store in a temp dir, plus a working directory for tools.
pub struct World {
    #[allow(dead_code)] // keeps the store's directory alive
    pub home: tempfile::TempDir,
    pub cwd: tempfile::TempDir,
    pub store: Store,
}

impl World {
    pub fn new() -> Self {
        let home = tempfile::tempdir().expect("home");
        let cwd = tempfile::tempdir().expect("cwd");
        let store = Store::open(home.path()).expect("store");
        Self { home, cwd, store }
    }

    pub fn runner(&self, config: OpenAiChatConfig) -> MissionRunner {
        MissionRunner::new(
            self.store.clone(),
            Arc::new(OpenAiChat::new(config).expect("transport")),
        )
        .with_recovery(Recovery::new(fast_policy(), None))
    }

    /// Creates a mission from `spec` and runs it to its end.
    pub async fn run(
        &self,
        config: OpenAiChatConfig,
        spec: MissionSpec,
    ) -> (Mission, Vec<StoredEvent>) {
        let mission = self.store.create_mission(spec).expect("create");
        let done = tokio::time::timeout(
            Duration::from_secs(60),
            self.runner(config)
                .run(mission.id, CancellationToken::new()),
        )
        .await
        .expect("the mission ended")
        .expect("the runner works");
        let events = self.store.events(&done.id).expect("events");
        (done, events)
    }
}

pub fn errors(events: &[StoredEvent]) -> Vec<(Option<String>, String)> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            MissionEvent::Error { class, message, .. } => {
                Some((class.map(|c| c.to_string()), message.clone()))
            }
            _ => None,
        })
        .collect()
}

pub fn kinds(events: &[StoredEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            serde_json::to_value(&e.event).expect("json")["type"]
                .as_str()
                .expect("type")
                .to_string()
        })
        .collect()
}
