//! The Claude Code transport through whole missions: the real `claude` CLI 2.1.328 against
//! a mock Anthropic Messages API on loopback (every request it makes is one the mock
//! scripts), and a scripted fake `claude` for crashes, hangs and garbage.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use sortie_missions::recovery::Recovery;
use sortie_missions::{
    MissionEvent, MissionRunner, MissionSpec, MissionStatus, PermissionPolicy, StoredEvent,
    ToolOutcome,
};
use sortie_tests::anthropic_wire::{error_body, turn, Block};
use sortie_tests::claude::{
    claude_bin, claude_env, fake_calls, fake_claude, fake_pid, process_exists,
};
use sortie_tests::Reply;
use sortie_transports::auth::{AuthMode, Credentials, PoolSource};
use sortie_transports::claude_code::{ClaudeCode, ClaudeCodeConfig, HomeDir};
use sortie_transports::{ContentBlock, Transport};
use tokio_util::sync::CancellationToken;

use super::support::{credential, fast_policy, recoveries, step, token_reply, Rig};

const MESSAGES: &str = "/v1/messages";

pub(crate) fn cli_spec(
    cwd: &Path,
    prompt: &str,
    model: &str,
    policy: PermissionPolicy,
) -> MissionSpec {
    MissionSpec {
        prompt: prompt.into(),
        provider: "p".into(),
        model: model.into(),
        transport: "claude-code".into(),
        cwd: cwd.canonicalize().expect("cwd"),
        policy,
        max_turns: 8,
        sandbox: None,
        labels: Vec::new(),
    }
}

/// The real CLI on the rig's mock, leasing the rig's credentials of provider `p`.
fn real_cli(rig: &Rig, home: &Path) -> Arc<dyn Transport> {
    let mut c = ClaudeCodeConfig::new(claude_bin());
    c.base_url = Some(rig.mock.root_url());
    c.credentials = Some(Credentials::new(PoolSource {
        pool: rig.pool.clone(),
        provider: "p".into(),
    }));
    c.home = HomeDir::PerConversation(home.to_path_buf());
    c.env = claude_env();
    c.idle_timeout = Duration::from_secs(60);
    Arc::new(ClaudeCode::new(c))
}

/// The fake CLI in `dir`, with a 1 s idle timeout and short grace periods.
pub(crate) fn fake_cli(dir: &Path, cases: &[&str]) -> Arc<dyn Transport> {
    let mut c = ClaudeCodeConfig::new(fake_claude(dir, cases));
    c.home = HomeDir::Inherit;
    c.idle_timeout = Duration::from_secs(1);
    c.grace = Duration::from_millis(300);
    Arc::new(ClaudeCode::new(c))
}

/// Runs a new mission on the real CLI to its end.
async fn run_real(
    rig: &Rig,
    home: &Path,
    prompt: &str,
    model: &str,
    policy: PermissionPolicy,
) -> (sortie_missions::Mission, Vec<StoredEvent>) {
    rig.run_spec(
        runner(rig, real_cli(rig, home)),
        cli_spec(rig.world.cwd.path(), prompt, model, policy),
    )
    .await
}

pub(crate) fn runner(rig: &Rig, transport: Arc<dyn Transport>) -> MissionRunner {
    MissionRunner::new(rig.world.store.clone(), transport)
        .with_recovery(Recovery::new(fast_policy(), Some(rig.pool.clone())))
}

fn sessions(events: &[StoredEvent]) -> Vec<(String, bool)> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            MissionEvent::Session { id, started } => Some((id.clone(), *started)),
            _ => None,
        })
        .collect()
}

fn tool_results(events: &[StoredEvent]) -> Vec<(String, ToolOutcome, String)> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            MissionEvent::ToolResult {
                name,
                outcome,
                output,
                ..
            } => Some((name.clone(), *outcome, output.clone())),
            _ => None,
        })
        .collect()
}

fn last_text(events: &[StoredEvent]) -> String {
    events
        .iter()
        .rev()
        .find_map(|e| match &e.event {
            MissionEvent::AssistantMessage { content, .. } => {
                Some(sortie_transports::text_of(content))
            }
            _ => None,
        })
        .unwrap_or_default()
}

/// The text of every block of every message of a request, with thinking marked.
fn request_dump(request: &Value) -> String {
    request["messages"].to_string()
}

fn header(rig: &Rig, n: usize, name: &str) -> String {
    rig.mock.request_headers()[n]
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_text_turn_then_a_resumed_turn_in_the_same_session() {
    let rig = Rig::new(&[credential(1, AuthMode::ApiKey)]).await;
    let home = tempfile::tempdir().expect("home");
    rig.mock
        .push(turn(&[Block::Text("PAPAYA noted")], "end_turn"));
    let (done, events) = run_real(
        &rig,
        home.path(),
        "remember the word PAPAYA",
        "claude-mock",
        PermissionPolicy::Auto,
    )
    .await;
    assert_eq!(done.status, MissionStatus::Completed, "{:?}", done.error);
    assert_eq!(last_text(&events), "PAPAYA noted");
    assert_eq!(header(&rig, 0, "x-api-key"), "key-1");
    let first = &rig.mock.requests()[0];
    assert_eq!(first["model"], "claude-mock");
    assert!(request_dump(first).contains("remember the word PAPAYA"));
    // Our mission prompt is appended to Claude Code's own system prompt.
    assert!(
        first["system"].to_string().contains("Sortie mission"),
        "{}",
        first["system"]
    );
    let s = sessions(&events);
    assert_eq!(s.len(), 2, "{s:?}");
    assert_eq!(
        (s[0].0.clone(), s[0].1, s[1].1),
        (s[1].0.clone(), false, true)
    );
    assert!(done.usage.input_tokens > 0 && done.cost_usd.is_some_and(|c| c > 0.0));
    // The CLI's home is the mission's own, owner-only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = home.path().join(done.id.to_string());
        let mode = std::fs::metadata(&dir)
            .expect("mission home")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    // The next message resumes the session: the CLI sends the whole conversation.
    rig.world
        .store
        .append(
            &done.id,
            MissionEvent::UserMessage {
                text: "which word?".into(),
            },
        )
        .expect("append");
    rig.mock.push(turn(&[Block::Text("PAPAYA")], "end_turn"));
    let again = runner(&rig, real_cli(&rig, home.path()))
        .run(done.id, CancellationToken::new())
        .await
        .expect("run");
    assert_eq!(again.status, MissionStatus::Completed, "{:?}", again.error);
    let second = request_dump(&rig.mock.requests()[1]);
    assert!(
        second.contains("remember the word PAPAYA")
            && second.contains("PAPAYA noted")
            && second.contains("which word?"),
        "{second}"
    );
    let events = rig.world.store.events(&done.id).expect("events");
    assert_eq!(
        sessions(&events).len(),
        2,
        "no new session for a resumed turn"
    );
    assert_eq!(last_text(&events), "PAPAYA");
}

#[tokio::test]
async fn a_tool_round_trip_runs_in_the_cli_and_is_recorded_once() {
    let rig = Rig::new(&[credential(1, AuthMode::ApiKey)]).await;
    let home = tempfile::tempdir().expect("home");
    rig.mock.push(turn(
        &[Block::ToolUse {
            id: "toolu_1",
            name: "Bash",
            input: json!({"command": "echo made > made.txt && echo made", "description": "make a file"}),
        }],
        "tool_use",
    ));
    rig.mock
        .push(turn(&[Block::Text("the file is made")], "end_turn"));
    let (done, events) = run_real(
        &rig,
        home.path(),
        "make a file",
        "claude-mock",
        PermissionPolicy::Auto,
    )
    .await;
    assert_eq!(done.status, MissionStatus::Completed, "{:?}", done.error);
    assert!(rig.world.cwd.path().join("made.txt").exists());
    assert_eq!(
        tool_results(&events),
        vec![("Bash".to_string(), ToolOutcome::Ok, "made".to_string())]
    );
    // The CLI sent the result back to the model itself.
    assert!(request_dump(&rig.mock.requests()[1]).contains(r#""content":"made""#));
    // The log holds the conversation the way a direct transport's does.
    let history = sortie_missions::agent::history_from_events(&events);
    let roles: Vec<String> = history.iter().map(|m| format!("{:?}", m.role)).collect();
    assert_eq!(roles, ["User", "Assistant", "User", "Assistant"]);
    assert!(matches!(&history[1].content[0], ContentBlock::ToolUse { name, .. } if name == "Bash"));
    assert_eq!(done.turns, 1);
}

#[tokio::test]
async fn a_call_the_permission_mode_refuses_is_recorded_as_denied() {
    let rig = Rig::new(&[credential(1, AuthMode::ApiKey)]).await;
    let home = tempfile::tempdir().expect("home");
    rig.mock.push(turn(
        &[Block::ToolUse {
            id: "toolu_2",
            name: "Bash",
            input: json!({"command": "touch created.txt", "description": "create"}),
        }],
        "tool_use",
    ));
    rig.mock
        .push(turn(&[Block::Text("I was not allowed")], "end_turn"));
    let (done, events) = run_real(
        &rig,
        home.path(),
        "create a file",
        "claude-mock",
        PermissionPolicy::Ask,
    )
    .await;
    assert_eq!(done.status, MissionStatus::Completed, "{:?}", done.error);
    let results = tool_results(&events);
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0].1, ToolOutcome::Denied, "{results:?}");
    assert!(!rig.world.cwd.path().join("created.txt").exists());
}

#[tokio::test]
async fn an_expired_oauth_token_is_refreshed_once_and_the_run_repeated() {
    let rig = Rig::new(&[credential(1, AuthMode::OAuth)]).await;
    let home = tempfile::tempdir().expect("home");
    // The expired token is refused however often the CLI tries it (with an OAuth token it
    // retries a 401 by itself, CLAUDE_CODE_MAX_RETRIES=0 or not).
    rig.mock.refuse_credential(
        "access-1",
        Reply::error(
            401,
            &error_body("authentication_error", "OAuth token has expired"),
        ),
    );
    rig.mock.push_for("/token", token_reply(1));
    rig.mock
        .push(turn(&[Block::Text("after refresh")], "end_turn"));
    let (done, events) = run_real(
        &rig,
        home.path(),
        "go",
        "claude-mock",
        PermissionPolicy::Auto,
    )
    .await;
    assert_eq!(done.status, MissionStatus::Completed, "{:?}", done.error);
    let paths = rig.mock.paths();
    let refresh_at = paths
        .iter()
        .position(|p| p == "/token")
        .expect("one refresh");
    assert!(
        refresh_at >= 1 && paths[..refresh_at].iter().all(|p| p == MESSAGES),
        "{paths:?}"
    );
    assert_eq!(
        &paths[refresh_at + 1..],
        [MESSAGES],
        "one run after the refresh: {paths:?}"
    );
    assert_eq!(header(&rig, 0, "authorization"), "Bearer access-1");
    assert_eq!(
        header(&rig, paths.len() - 1, "authorization"),
        "Bearer fresh-1"
    );
    assert_eq!(
        recoveries(&events),
        [step("turn", "auth_expired", "refresh", Some("p#1"))]
    );
    let log = serde_json::to_string(&events).expect("json");
    assert!(
        !log.contains("access-1") && !log.contains("fresh-1"),
        "a token reached the log"
    );
}

#[tokio::test]
async fn an_entitlement_403_never_refreshes_and_moves_to_the_next_credential() {
    let rig = Rig::new(&[
        credential(1, AuthMode::OAuth),
        credential(2, AuthMode::ApiKey),
    ])
    .await;
    let home = tempfile::tempdir().expect("home");
    rig.mock.push(Reply::error(
        403,
        &error_body("permission_error", "Your account does not have access to Claude Code. Please upgrade to a Pro or Max subscription."),
    ));
    rig.mock
        .push(turn(&[Block::Text("served by key 2")], "end_turn"));
    let (done, events) = run_real(
        &rig,
        home.path(),
        "go",
        "claude-mock",
        PermissionPolicy::Auto,
    )
    .await;
    assert_eq!(done.status, MissionStatus::Completed, "{:?}", done.error);
    assert_eq!(
        rig.mock.paths(),
        [MESSAGES, MESSAGES],
        "no refresh for an entitlement"
    );
    assert_eq!(header(&rig, 1, "x-api-key"), "key-2");
    assert_eq!(
        recoveries(&events),
        [step("turn", "entitlement", "rotate", Some("p#1"))]
    );
}

#[tokio::test]
async fn a_rate_limit_cools_the_credential_down_and_an_overload_backs_off() {
    let rig = Rig::new(&[
        credential(1, AuthMode::ApiKey),
        credential(2, AuthMode::ApiKey),
    ])
    .await;
    let home = tempfile::tempdir().expect("home");
    rig.mock.push(Reply::error_with_headers(
        429,
        &[("retry-after", "30")],
        &error_body(
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
        ),
    ));
    rig.mock.push(Reply::error(
        529,
        &error_body("overloaded_error", "Overloaded"),
    ));
    rig.mock.push(turn(&[Block::Text("finally")], "end_turn"));
    let (done, events) = run_real(
        &rig,
        home.path(),
        "go",
        "claude-mock",
        PermissionPolicy::Auto,
    )
    .await;
    assert_eq!(done.status, MissionStatus::Completed, "{:?}", done.error);
    assert_eq!(rig.mock.paths(), [MESSAGES, MESSAGES, MESSAGES]);
    assert_eq!(
        (header(&rig, 0, "x-api-key"), header(&rig, 1, "x-api-key")),
        ("key-1".to_string(), "key-2".to_string())
    );
    let r = recoveries(&events);
    assert_eq!(r[0], step("turn", "rate_limited", "cool_down", Some("p#1")));
    assert_eq!(
        (r[1].1.as_str(), r[1].2.as_str()),
        ("overloaded", "backoff")
    );
    assert_eq!(r.len(), 2, "{r:?}");
}

#[tokio::test]
async fn stale_thinking_after_a_model_switch_resets_the_session_fresh() {
    let rig = Rig::new(&[credential(1, AuthMode::ApiKey)]).await;
    let home = tempfile::tempdir().expect("home");
    rig.mock.push(turn(
        &[
            Block::Thinking {
                text: "the user likes fruit",
                signature: "sig-of-model-a",
            },
            Block::Text("PAPAYA noted"),
        ],
        "end_turn",
    ));
    let (done, _) = run_real(
        &rig,
        home.path(),
        "remember PAPAYA",
        "claude-a",
        PermissionPolicy::Auto,
    )
    .await;
    assert_eq!(done.status, MissionStatus::Completed, "{:?}", done.error);

    // `sortie resume --model claude-b "which word?"`
    let store = &rig.world.store;
    store
        .append(
            &done.id,
            MissionEvent::Switched {
                provider: "p".into(),
                model: "claude-b".into(),
                transport: "claude-code".into(),
                max_turns: None,
                reason: "resumed on another model".into(),
            },
        )
        .expect("switch");
    store
        .append(
            &done.id,
            MissionEvent::UserMessage {
                text: "which word?".into(),
            },
        )
        .expect("message");
    rig.mock.push(Reply::error(
        400,
        &error_body("invalid_request_error", "messages.1.content.0: `thinking` or `redacted_thinking` blocks in the latest assistant message cannot be modified. These blocks must remain as they were in the original response."),
    ));
    rig.mock.push(turn(
        &[Block::Text("PAPAYA, from the transcript")],
        "end_turn",
    ));
    let again = runner(&rig, real_cli(&rig, home.path()))
        .run(done.id, CancellationToken::new())
        .await
        .expect("run");
    assert_eq!(again.status, MissionStatus::Completed, "{:?}", again.error);
    let requests = rig.mock.requests();
    assert_eq!(requests.len(), 3);
    // The resumed session replayed the signed thinking to the new model, which refused it;
    // the fresh session carries the conversation as text, with no thinking at all.
    // Claude Code 2.1.328 resumed the session (its earlier turn is in the request) and the
    // API refused it the way the real one does after a model switch (fixture 16b).
    assert!(request_dump(&requests[1]).contains("PAPAYA noted"));
    let fresh = request_dump(&requests[2]);
    assert_eq!(requests[2]["model"], "claude-b");
    assert!(
        !fresh.contains("sig-of-model-a") && !fresh.contains("the user likes fruit"),
        "{fresh}"
    );
    assert!(
        fresh.contains("[User]")
            && fresh.contains("remember PAPAYA")
            && fresh.contains("PAPAYA noted")
            && fresh.contains("which word?"),
        "{fresh}"
    );
    let events = store.events(&done.id).expect("events");
    assert!(
        recoveries(&events).contains(&step(
            "turn",
            "stale_thinking",
            "reset_session_fresh",
            Some("p#1")
        )),
        "{:?}",
        recoveries(&events)
    );
    let s = sessions(&events);
    assert_eq!(s.len(), 4, "{s:?}");
    assert_ne!(s[1].0, s[3].0, "the fresh session has a new id");
    assert_eq!(last_text(&events), "PAPAYA, from the transcript");
}

// ---- the scripted fake, for what the real CLI does not do on demand ----

#[tokio::test]
async fn a_crash_is_resumed_once_and_the_run_completes() {
    let rig = Rig::new(&[]).await;
    let dir = tempfile::tempdir().expect("fake dir");
    let transport = fake_cli(
        dir.path(),
        &[
            "init; echo 'fatal: the CLI fell over' >&2; exit 3",
            "init; say 'recovered'; ok",
        ],
    );
    let (done, events) = rig
        .run_spec(
            runner(&rig, transport),
            cli_spec(rig.world.cwd.path(), "go", "m", PermissionPolicy::Auto),
        )
        .await;
    assert_eq!(done.status, MissionStatus::Completed, "{:?}", done.error);
    let calls = fake_calls(dir.path());
    let sid = &sessions(&events)[0].0;
    assert!(
        calls[0].contains(&format!("--session-id {sid}")),
        "{calls:?}"
    );
    assert!(calls[1].contains(&format!("--resume {sid}")), "{calls:?}");
    let r = recoveries(&events);
    assert_eq!(
        (r[0].1.as_str(), r[0].2.as_str()),
        ("process_failed", "resume_session")
    );
    assert_eq!(last_text(&events), "recovered");
}

#[tokio::test]
async fn a_cli_that_keeps_crashing_is_resumed_then_reset_then_the_mission_fails_with_its_stderr() {
    let rig = Rig::new(&[]).await;
    let dir = tempfile::tempdir().expect("fake dir");
    let transport = fake_cli(
        dir.path(),
        &["init; echo 'Error: out of memory sk-ant-secret1234567' >&2; exit 1"],
    );
    let (done, events) = rig
        .run_spec(
            runner(&rig, transport),
            cli_spec(rig.world.cwd.path(), "go", "m", PermissionPolicy::Auto),
        )
        .await;
    assert_eq!(done.status, MissionStatus::Failed);
    let strategies: Vec<String> = recoveries(&events).into_iter().map(|r| r.2).collect();
    assert_eq!(
        strategies,
        ["resume_session", "reset_session_fresh", "fail"]
    );
    assert_eq!(fake_calls(dir.path()).len(), 3);
    let error = done.error.expect("error");
    assert!(
        error.contains("exited with status 1 without a result line"),
        "{error}"
    );
    assert!(error.contains("Error: out of memory"), "{error}");
    assert!(
        !error.contains("secret1234567"),
        "a secret reached the error: {error}"
    );
}

#[tokio::test]
async fn a_silent_cli_is_stopped_at_the_idle_timeout_and_reaped() {
    let rig = Rig::new(&[]).await;
    let dir = tempfile::tempdir().expect("fake dir");
    let transport = fake_cli(dir.path(), &["init; sleep 30", "init; say 'back'; ok"]);
    let (done, events) = rig
        .run_spec(
            runner(&rig, transport),
            cli_spec(rig.world.cwd.path(), "go", "m", PermissionPolicy::Auto),
        )
        .await;
    assert_eq!(done.status, MissionStatus::Completed, "{:?}", done.error);
    let pid = fake_pid(dir.path(), 1).expect("pid of run 1");
    assert!(!process_exists(pid), "the silent run {pid} is still there");
    let r = recoveries(&events);
    assert_eq!(
        (r[0].1.as_str(), r[0].2.as_str()),
        ("process_failed", "resume_session")
    );
}

#[tokio::test]
async fn garbage_lines_are_recorded_as_warnings_and_the_run_goes_on() {
    let rig = Rig::new(&[]).await;
    let dir = tempfile::tempdir().expect("fake dir");
    let transport = fake_cli(
        dir.path(),
        &[
            r#"init; echo 'not json at all'; echo '{"type":"mystery","shape":"unknown"}'; echo '{"type":"assistant","message":{"content":[{"type":"text","text":"fine"}]}'; say 'fine'; ok"#,
        ],
    );
    let (done, events) = rig
        .run_spec(
            runner(&rig, transport),
            cli_spec(rig.world.cwd.path(), "go", "m", PermissionPolicy::Auto),
        )
        .await;
    assert_eq!(done.status, MissionStatus::Completed, "{:?}", done.error);
    let warnings: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.event {
            MissionEvent::Warning { message } => Some(message.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("not json at all"), "{warnings:?}");
    assert_eq!(last_text(&events), "fine");
}

#[tokio::test]
async fn a_session_the_cli_no_longer_has_is_replaced_by_a_fresh_one_with_the_transcript() {
    let rig = Rig::new(&[]).await;
    let dir = tempfile::tempdir().expect("fake dir");
    let unknown = r#"echo "{\"type\":\"result\",\"subtype\":\"error_during_execution\",\"is_error\":true,\"errors\":[\"No conversation found with session ID: $SID\"]}"; exit 1"#;
    let transport = fake_cli(
        dir.path(),
        &[
            "init; say 'first answer'; ok",
            unknown,
            "init; say 'second answer'; ok",
        ],
    );
    let (done, _) = rig
        .run_spec(
            runner(&rig, transport.clone()),
            cli_spec(
                rig.world.cwd.path(),
                "first question",
                "m",
                PermissionPolicy::Auto,
            ),
        )
        .await;
    assert_eq!(done.status, MissionStatus::Completed, "{:?}", done.error);
    rig.world
        .store
        .append(
            &done.id,
            MissionEvent::UserMessage {
                text: "second question".into(),
            },
        )
        .expect("append");
    let again = runner(&rig, transport)
        .run(done.id, CancellationToken::new())
        .await
        .expect("run");
    assert_eq!(again.status, MissionStatus::Completed, "{:?}", again.error);
    let calls = fake_calls(dir.path());
    assert!(calls[1].contains("--resume"), "{calls:?}");
    assert!(
        calls[2].contains("--session-id") && !calls[2].contains("--resume"),
        "{calls:?}"
    );
    let stdin = std::fs::read_to_string(dir.path().join("stdin-3.txt")).expect("stdin");
    assert!(
        stdin.contains("first question")
            && stdin.contains("first answer")
            && stdin.ends_with("second question"),
        "{stdin}"
    );
    let events = rig.world.store.events(&done.id).expect("events");
    let r = recoveries(&events);
    assert_eq!(
        (r[0].1.as_str(), r[0].2.as_str()),
        ("session_not_found", "reset_session_fresh")
    );
}

#[tokio::test]
async fn two_missions_never_share_a_session() {
    let rig = Rig::new(&[]).await;
    let dir = tempfile::tempdir().expect("fake dir");
    let transport = fake_cli(dir.path(), &["init; say 'ok'; ok"]);
    let mut ids = Vec::new();
    for prompt in ["one", "two"] {
        let (done, events) = rig
            .run_spec(
                runner(&rig, transport.clone()),
                cli_spec(rig.world.cwd.path(), prompt, "m", PermissionPolicy::Auto),
            )
            .await;
        assert_eq!(done.status, MissionStatus::Completed);
        ids.push(sessions(&events)[0].0.clone());
    }
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn cancelling_interrupts_then_terminates_a_cli_that_ignores_sigint() {
    let dir = tempfile::tempdir().expect("fake dir");
    // Ignores SIGINT (as a busy CLI might); SIGTERM ends it.
    let transport = fake_cli(dir.path(), &["trap '' INT; init; sleep 30 & wait"]);
    let request = sortie_transports::TurnRequest {
        model: "m".into(),
        messages: vec![sortie_transports::Message::user("go")],
        session: Some(sortie_transports::SessionRef {
            id: "11111111-2222-4333-8444-555555555555".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut stream = transport.stream_turn(request).await.expect("started");
    let first = futures::StreamExt::next(&mut stream).await;
    assert!(
        matches!(
            first,
            Some(Ok(sortie_transports::TransportEvent::Session { .. }))
        ),
        "{first:?}"
    );
    let pid = fake_pid(dir.path(), 1).expect("pid");
    let started = std::time::Instant::now();
    drop(stream);
    let mut gone = false;
    while started.elapsed() < Duration::from_secs(5) {
        if !process_exists(pid) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the CLI {pid} outlived its cancelled turn");
    // SIGINT was ignored, so it took the SIGTERM after one grace period (300 ms).
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_sortie_binary_runs_and_resumes_a_claude_code_mission() {
    let mock = sortie_tests::MockProvider::start().await;
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    sortie_tests::claude::write_claude_code_config(home.path(), &mock.root_url());
    let (h, c) = (home.path().to_path_buf(), cwd.path().to_path_buf());
    mock.push(turn(&[Block::Text("hello from the CLI")], "end_turn"));
    let out = tokio::task::spawn_blocking(move || run_sortie(&h, &c, &["run", "say hello"]))
        .await
        .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("hello from the CLI"), "{stdout}");
    assert_eq!(
        mock.request_headers()[0]
            .get("x-api-key")
            .and_then(|v| v.to_str().ok()),
        Some("sk-ant-api03-testkey")
    );

    mock.push(turn(&[Block::Text("and again")], "end_turn"));
    let (h, c) = (home.path().to_path_buf(), cwd.path().to_path_buf());
    let out = tokio::task::spawn_blocking(move || {
        let missions = run_sortie(&h, &c, &["missions", "--json"]);
        let missions: Value = serde_json::from_slice(&missions.stdout).expect("json");
        let id = missions[0]["id"].as_str().expect("id").to_string();
        run_sortie(&h, &c, &["resume", &id, "once more", "--json"])
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let sessions: Vec<&Value> = lines.iter().filter(|l| l["type"] == "session").collect();
    assert_eq!(sessions.len(), 2, "one session, started once: {sessions:?}");
    let summary = lines.last().expect("summary");
    assert_eq!(summary["mission"]["status"], "completed");
    assert_eq!(summary["mission"]["transport"], "claude-code");
    assert!(request_dump(&mock.requests()[1]).contains("hello from the CLI"));
    assert!(
        !stdout.contains("sk-ant-api03-testkey"),
        "the key reached the output"
    );
}

/// Runs the `sortie` binary in `cwd` with an Anthropic key in its environment.
fn run_sortie(home: &Path, cwd: &Path, args: &[&str]) -> std::process::Output {
    sortie_tests::sortie(home)
        .args(args)
        .current_dir(cwd)
        .env("ANTHROPIC_API_KEY", "sk-ant-api03-testkey")
        .output()
        .expect("run sortie")
}
