//! Builders shared by the suite.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use sortie_missions::auxiliary::Auxiliary;
use sortie_missions::recovery::{Policy, Recovery};
use sortie_missions::{
    Mission, MissionEvent, MissionRunner, MissionSpec, PermissionPolicy, Store, StoredEvent,
};
use sortie_tests::{MockProvider, Reply};
use sortie_transports::auth::oauth::{OAuthClient, OAuthConfig};
use sortie_transports::auth::{
    AuthMode, Credential, CredentialId, CredentialStatus, CredentialStore, Credentials,
    OAuthTokens, Pool, PoolSource, Strategy,
};
use sortie_transports::direct::{OpenAiChat, OpenAiChatConfig};
use sortie_transports::{Secret, Transport};
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
        sandbox: None,
        labels: Vec::new(),
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

pub fn credential(n: u32, mode: AuthMode) -> Credential {
    Credential {
        id: CredentialId(format!("p#{n}")),
        provider: "p".into(),
        label: format!("c{n}"),
        auth_mode: mode,
        api_key: (mode == AuthMode::ApiKey).then(|| Secret::new(format!("key-{n}"))),
        oauth: (mode == AuthMode::OAuth).then(|| OAuthTokens {
            access_token: Some(Secret::new(format!("access-{n}"))),
            refresh_token: Some(Secret::new(format!("refresh-{n}"))),
            expires_at: Some(Utc::now() + chrono::Duration::hours(1)),
            token_type: "Bearer".into(),
            scopes: vec![],
            account_id: None,
            issued_at: None,
        }),
        status: CredentialStatus::Active,
        created_at: Utc::now() + chrono::Duration::milliseconds(n as i64),
        last_used: None,
        use_count: 0,
        refresh_count: 0,
        last_error: None,
        pending_revocations: Vec::new(),
    }
}

/// A store with credentials of provider `p`, a pool whose OAuth token endpoint is the mock's
/// `/token`, and the mock: API and token endpoint in one request sequence.
pub struct Rig {
    pub mock: MockProvider,
    pub world: World,
    pub store: CredentialStore,
    pub pool: Arc<Pool>,
}

impl Rig {
    pub async fn new(creds: &[Credential]) -> Self {
        let mock = MockProvider::start().await;
        let world = World::new();
        let store = CredentialStore::new(world.store.db().open_tree("credentials").expect("tree"));
        for c in creds {
            store.put(c).expect("put");
        }
        let oauth = OAuthClient::new(OAuthConfig::new(
            "sortie-test",
            format!("{}/token", mock.root_url()),
        ));
        let pool = Arc::new(Pool::new(store.clone(), Strategy::FillFirst).with_oauth("p", oauth));
        Self {
            mock,
            world,
            store,
            pool,
        }
    }

    pub fn credentials(&self) -> Credentials {
        Credentials::new(PoolSource {
            pool: self.pool.clone(),
            provider: "p".into(),
        })
    }

    pub fn chat(&self) -> Arc<dyn Transport> {
        let mut c = OpenAiChatConfig::new(self.mock.base_url());
        c.credentials = Some(self.credentials());
        Arc::new(OpenAiChat::new(c).expect("chat"))
    }

    /// The auxiliary client (titles, compression) on `transport` with `model`, recovering
    /// over this rig's pool like the missions do.
    pub fn auxiliary(&self, transport: Arc<dyn Transport>, model: &str) -> Auxiliary {
        Auxiliary::new(
            transport,
            model,
            Recovery::new(fast_policy(), Some(self.pool.clone())),
            None,
        )
    }

    pub fn runner(&self, transport: Arc<dyn Transport>) -> MissionRunner {
        MissionRunner::new(self.world.store.clone(), transport)
            .with_recovery(Recovery::new(fast_policy(), Some(self.pool.clone())))
    }

    pub async fn run(&self, runner: MissionRunner) -> (sortie_missions::Mission, Vec<StoredEvent>) {
        self.run_spec(runner, spec(self.world.cwd.path(), "fix the login bug"))
            .await
    }

    /// Creates a mission from `spec` and runs it to its end.
    pub async fn run_spec(
        &self,
        runner: MissionRunner,
        spec: MissionSpec,
    ) -> (sortie_missions::Mission, Vec<StoredEvent>) {
        let m = self.world.store.create_mission(spec).expect("create");
        let done = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            runner.run(m.id, CancellationToken::new()),
        )
        .await
        .expect("in time")
        .expect("run");
        let events = self.world.store.events(&m.id).expect("events");
        (done, events)
    }

    pub fn status(&self, n: u32) -> CredentialStatus {
        self.store
            .get(&CredentialId(format!("p#{n}")))
            .expect("get")
            .expect("exists")
            .status
    }
}

pub fn token_reply(n: u32) -> Reply {
    Reply::json(
        json!({"access_token": format!("fresh-{n}"), "refresh_token": format!("rotated-{n}"), "expires_in": 3600, "token_type": "Bearer"}),
    )
}

pub fn step(
    scope: &str,
    class: &str,
    strategy: &str,
    credential: Option<&str>,
) -> (String, String, String, Option<String>) {
    (
        scope.into(),
        class.into(),
        strategy.into(),
        credential.map(String::from),
    )
}
