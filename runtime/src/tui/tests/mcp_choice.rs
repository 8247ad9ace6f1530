//! Choosing a new mission's MCP servers from its box (Ctrl-T opens the list).

use super::*;

fn ctrl_t(app: &mut App) {
    app.key(KeyEvent::new(KeyCode::Char('t'), KeyModifiers::CONTROL));
}

fn servers_app() -> App {
    let mut app = app();
    app.sandbox = SandboxMode::WorkspaceWrite;
    app.mcp_servers = vec![
        ("docs".into(), true),
        ("tracker".into(), true),
        ("browser".into(), false),
    ];
    app
}

#[test]
fn ctrl_t_chooses_the_new_missions_mcp_servers_and_the_api_body_carries_them() {
    let mut app = servers_app();
    key(&mut app, KeyCode::Char('n'));
    typed(&mut app, "triage the new issues");
    let screen = draw(&app, 100, 24);
    assert!(
        screen.contains("MCP: every enabled (docs, tracker)"),
        "{screen}"
    );
    ctrl_t(&mut app);
    // docs off, browser on (not enabled by default, but a mission may name it).
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Char(' '));
    let screen = draw(&app, 100, 24);
    assert!(screen.contains("[ ] docs"), "{screen}");
    assert!(screen.contains("[x] tracker"), "{screen}");
    assert!(
        screen.contains("[x] browser  (not enabled by default)"),
        "{screen}"
    );
    insta::assert_snapshot!("new_mission_mcp_picker", screen);
    key(&mut app, KeyCode::Enter);
    let screen = draw(&app, 100, 24);
    assert!(screen.contains("MCP: tracker, browser"), "{screen}");
    assert!(
        screen.contains("triage the new issues"),
        "the text is kept: {screen}"
    );
    insta::assert_snapshot!("new_mission_mcp_chosen", screen);
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Cmd::NewMissionWithMcp {
            prompt: "triage the new issues".into(),
            sandbox: SandboxMode::WorkspaceWrite,
            worktree: false,
            mcp: vec!["tracker".into(), "browser".into()],
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
}

#[test]
fn none_chosen_is_sent_as_an_empty_list_and_the_defaults_send_nothing() {
    let mut app = servers_app();
    key(&mut app, KeyCode::Char('n'));
    typed(&mut app, "x");
    ctrl_t(&mut app);
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Enter);
    assert!(draw(&app, 100, 24).contains("MCP: none"));
    // Esc leaves the list without changing the choice.
    ctrl_t(&mut app);
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Esc);
    assert!(draw(&app, 100, 24).contains("MCP: none"));
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Cmd::NewMissionWithMcp {
            prompt: "x".into(),
            sandbox: SandboxMode::WorkspaceWrite,
            worktree: false,
            mcp: vec![],
        }]
    );
    // Back to exactly the enabled servers: the API's default, no `mcp` sent.
    key(&mut app, KeyCode::Char('n'));
    typed(&mut app, "y");
    ctrl_t(&mut app);
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Enter);
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Cmd::NewMission("y".into(), SandboxMode::WorkspaceWrite)]
    );
}

#[test]
fn with_no_server_configured_the_box_has_no_mcp_line_and_ctrl_t_does_nothing() {
    let mut app = app();
    key(&mut app, KeyCode::Char('n'));
    typed(&mut app, "plain");
    ctrl_t(&mut app);
    assert!(!draw(&app, 100, 24).contains("MCP"));
    assert!(matches!(
        key(&mut app, KeyCode::Enter).as_slice(),
        [Cmd::NewMission(..)]
    ));
}
