//! What a Claude Code session already holds is not sent to it again, and what the CLI
//! streams is stored as it streams: the scripted fake `claude` records what each run was
//! given on stdin.

use sortie_missions::{MissionEvent, MissionStatus, PermissionPolicy};
use sortie_tests::claude::fake_calls;
use sortie_transports::ContentBlock;

use super::claude_code::{cli_spec, fake_cli, runner};
use super::support::Rig;

fn stdin_of(dir: &std::path::Path, run: usize) -> String {
    std::fs::read_to_string(dir.join(format!("stdin-{run}.txt"))).unwrap_or_default()
}

#[tokio::test]
async fn retries_after_overloads_do_not_send_the_prompt_again() {
    let rig = Rig::new(&[]).await;
    let dir = tempfile::tempdir().expect("fake dir");
    let overloaded = "init; api_error 529 Overloaded";
    let transport = fake_cli(
        dir.path(),
        &[overloaded, overloaded, "init; say 'done at last'; ok"],
    );
    let (done, _events) = rig
        .run_spec(
            runner(&rig, transport),
            cli_spec(
                rig.world.cwd.path(),
                "the one and only prompt",
                "m",
                PermissionPolicy::Auto,
            ),
        )
        .await;
    assert_eq!(done.status, MissionStatus::Completed, "{:?}", done.error);
    let runs = fake_calls(dir.path()).len();
    assert_eq!(runs, 3);
    assert!(stdin_of(dir.path(), 1).contains("the one and only prompt"));
    for run in 2..=runs {
        let stdin = stdin_of(dir.path(), run);
        assert!(
            !stdin.contains("the one and only prompt"),
            "run {run} sent the prompt again: {stdin}"
        );
        assert!(stdin.contains("Continue"), "run {run}: {stdin}");
    }
}

#[tokio::test]
async fn a_cli_tool_call_is_stored_when_it_streams_not_when_its_result_comes() {
    let rig = Rig::new(&[]).await;
    let dir = tempfile::tempdir().expect("fake dir");
    // The CLI announces a tool call, then goes silent (killed at the idle timeout): its
    // result never comes.
    let tool_use = r#"init; printf '{"type":"assistant","message":{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"ls"}}]},"session_id":"%s"}\n' "$SID"; sleep 5"#;
    let transport = fake_cli(dir.path(), &[tool_use, "init; say 'after the crash'; ok"]);
    let (done, events) = rig
        .run_spec(
            runner(&rig, transport),
            cli_spec(rig.world.cwd.path(), "list", "m", PermissionPolicy::Auto),
        )
        .await;
    assert_eq!(done.status, MissionStatus::Completed, "{:?}", done.error);
    let call_at = events.iter().position(|e| {
        matches!(&e.event, MissionEvent::AssistantMessage { content, .. }
            if content.iter().any(|b| matches!(b, ContentBlock::ToolUse { id, .. } if id == "toolu_1")))
    });
    let recovery_at = events
        .iter()
        .position(|e| matches!(e.event, MissionEvent::Recovery { .. }));
    assert!(
        call_at.is_some(),
        "the tool call left no trace: {events:#?}"
    );
    assert!(call_at < recovery_at, "{events:#?}");
}
