//! Choosing a new mission's MCP servers in the new-mission box (Ctrl-T).

use super::*;

fn ctrl_t(app: &mut App) {
    app.key(KeyEvent::new(KeyCode::Char('t'), KeyModifiers::CONTROL));
}

#[test]
fn ctrl_t_chooses_the_new_missions_mcp_servers_and_the_api_body_carries_them() {
    let mut app = app();
    app.sandbox = SandboxMode::WorkspaceWrite;
    app.mcp_servers = vec![
        ("docs".into(), true),
        ("tracker".into(), true),
        ("browser".into(), false),
    ];
    key(&mut app, KeyCode::Char('n'));
    typed(&mut app, "triage the new issues");
    let screen = draw(&app, 100, 24);
    assert!(
        screen.contains("MCP: every enabled (docs, tracker)"),
        "{screen}"
    );
    ctrl_t(&mut app);
    assert!(draw(&app, 100, 24).contains("MCP: none"));
    ctrl_t(&mut app);
    ctrl_t(&mut app);
    let screen = draw(&app, 100, 24);
    assert!(screen.contains("MCP: tracker"), "{screen}");
    insta::assert_snapshot!("new_mission_mcp_tracker_only", screen);
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Cmd::NewMissionWithMcp {
            prompt: "triage the new issues".into(),
            sandbox: SandboxMode::WorkspaceWrite,
            worktree: false,
            mcp: vec!["tracker".into()],
        }]
    );
    let body = super::super::worker::new_mission_with_mcp_body(
        "triage the new issues",
        SandboxMode::WorkspaceWrite,
        false,
        &["tracker".to_string()],
        Some(std::path::Path::new("/work/repo")),
    );
    assert_eq!(
        body,
        json!({"prompt": "triage the new issues", "cwd": "/work/repo", "sandbox": "workspace-write", "mcp": ["tracker"]})
    );
    // A server not enabled by default can be chosen too; then the cycle comes back round.
    key(&mut app, KeyCode::Char('n'));
    for _ in 0..4 {
        ctrl_t(&mut app);
    }
    assert!(draw(&app, 100, 24).contains("MCP: browser"));
    ctrl_t(&mut app);
    typed(&mut app, "x");
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Cmd::NewMission("x".into(), SandboxMode::WorkspaceWrite)],
        "back to every enabled server: the API's default, no `mcp` sent"
    );
}

#[test]
fn with_no_server_configured_the_box_has_no_mcp_line_and_ctrl_t_does_nothing() {
    let mut app = app();
    key(&mut app, KeyCode::Char('n'));
    typed(&mut app, "plain");
    ctrl_t(&mut app);
    assert!(!draw(&app, 100, 24).contains("MCP:"));
    assert!(matches!(
        key(&mut app, KeyCode::Enter).as_slice(),
        [Cmd::NewMission(..)]
    ));
}
