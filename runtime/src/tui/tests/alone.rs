//! The TUI's part in missions that run alone: a budget's spend, raising it, a worktree for a
//! new mission, queued messages and forks in the mission view.

use super::*;

#[test]
fn a_mission_with_a_budget_shows_its_spend_against_it() {
    let mut m = mission(2, "budget_reached", Some("Summarise open TODOs"), "p", 5);
    m.budget.max_cost_usd = Some(2.0);
    m.cost_usd = Some(0.5);
    let mut app = App::new(vec!["anthropic".into()], now());
    app.apply(Msg::Missions(vec![m]));
    let screen = draw(&app, 180, 24);
    assert!(screen.contains("budget_reach"), "{screen}");
    assert!(screen.contains("budget $0.50/$2.00"), "{screen}");
}

#[test]
fn b_on_a_stopped_mission_resumes_it_with_a_new_cost_budget() {
    let mut app = app();
    app.selected = app
        .visible()
        .iter()
        .position(|m| m.id == id(2))
        .expect("row");
    assert_eq!(key(&mut app, KeyCode::Enter), vec![Cmd::Follow(id(2), 0)]);
    key(&mut app, KeyCode::Char('b'));
    typed(&mut app, "-2");
    assert!(key(&mut app, KeyCode::Enter).is_empty(), "refused");
    key(&mut app, KeyCode::Char('b'));
    typed(&mut app, "$5");
    let sent = key(&mut app, KeyCode::Enter);
    assert_eq!(
        sent,
        vec![Cmd::RaiseBudget {
            id: id(2),
            max_cost: 5.0
        }]
    );
}

#[test]
fn ctrl_w_starts_a_new_mission_in_a_worktree_of_its_own() {
    let mut app = app();
    app.sandbox = SandboxMode::WorkspaceWrite;
    key(&mut app, KeyCode::Char('n'));
    typed(&mut app, "fix it aside");
    assert!(!draw(&app, 100, 24).contains("own worktree"));
    app.key(KeyEvent::new(KeyCode::Char('w'), KeyModifiers::CONTROL));
    let screen = draw(&app, 100, 24);
    assert!(screen.contains("own worktree ^W"), "{screen}");
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Cmd::NewWorktreeMission(
            "fix it aside".into(),
            SandboxMode::WorkspaceWrite
        )]
    );
}

#[test]
fn a_queued_message_and_a_fork_show_in_the_mission_view() {
    let text_of = |v: Value| -> Vec<String> {
        ui::event_lines(&event(0, v), false, false)
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    };
    let queued = text_of(json!({"type": "message_queued", "text": "also the docs"}));
    assert_eq!(queued, ["⧗ queued for the next turn: also the docs"]);
    let forked = text_of(json!({"type": "forked", "parent": id(1), "parent_seq": 7}));
    assert!(forked[0].contains("forked from mission") && forked[0].ends_with("at event 7"));
}
