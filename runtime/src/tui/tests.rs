//! Snapshots of every screen at 80×24 (and one resized), from fixed data and a fixed clock,
//! and the key flows that drive the daemon.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use serde_json::{json, Value};
use sortie_missions::{Mission, MissionId, SandboxMode, StoredEvent, Update};

use super::app::{App, Cmd, InputPurpose, Msg, Overlay, Screen};
use super::ui;
use crate::api::CredentialRow;

fn now() -> DateTime<Utc> {
    "2026-11-23T12:00:00Z".parse().expect("time")
}

fn id(n: u8) -> MissionId {
    serde_json::from_value(json!(format!("0193a5c0-0000-7000-8000-0000000000{n:02}"))).expect("id")
}

fn mission(n: u8, status: &str, title: Option<&str>, prompt: &str, minutes_ago: i64) -> Mission {
    let at = now() - chrono::Duration::minutes(minutes_ago);
    serde_json::from_value(json!({
        "id": id(n), "title": title, "prompt": prompt, "status": status,
        "provider": if n.is_multiple_of(2) { "anthropic" } else { "xai" },
        "model": if n.is_multiple_of(2) { "claude-sonnet-4-5" } else { "grok-4" },
        "transport": match n { 3 => "claude-code", n if n % 2 == 0 => "anthropic", _ => "openai-compatible" },
        "cwd": "/work/repo", "policy": "auto", "max_turns": 50,
        "created_at": at, "updated_at": at + chrono::Duration::seconds(30),
        "turns": n as u32 + 1,
        "usage": {"input_tokens": 1200 * n as u64, "output_tokens": 340 * n as u64},
        "cost_usd": if n.is_multiple_of(2) { Some(0.0123 * n as f64) } else { None },
        "error": null, "event_count": 0
    }))
    .expect("mission")
}

fn missions() -> Vec<Mission> {
    vec![
        mission(
            1,
            "running",
            Some("Fix the flaky scheduler test"),
            "fix it",
            3,
        ),
        mission(
            2,
            "completed",
            Some("Summarise open TODOs"),
            "list the TODOs",
            50,
        ),
        mission(
            3,
            "failed",
            None,
            "Refactor the store module so appends never block",
            130,
        ),
        mission(
            4,
            "needs_reauth",
            Some("Nightly dependency audit"),
            "audit",
            60 * 26,
        ),
        mission(5, "queued", None, "write the release notes", 1),
    ]
}

fn event(seq: u64, e: Value) -> StoredEvent {
    let mut v = e;
    v["seq"] = json!(seq);
    v["at"] = json!(now());
    serde_json::from_value(v).expect("event")
}

fn conversation() -> Vec<StoredEvent> {
    vec![
        event(
            0,
            json!({"type": "created", "spec": {"prompt": "Fix the flaky scheduler test", "cwd": "/work/repo", "provider": "xai", "model": "grok-4", "transport": "direct", "policy": "auto", "max_turns": 50}}),
        ),
        event(
            1,
            json!({"type": "user_message", "text": "Fix the flaky scheduler test"}),
        ),
        event(
            2,
            json!({"type": "turn_started", "turn": 1, "model": "grok-4"}),
        ),
        event(
            3,
            json!({"type": "recovery", "scope": "turn", "class": "auth_expired", "strategy": "refresh", "credential": "xai#2", "outcome": "refreshed after 403 bad-credentials; retrying"}),
        ),
        event(
            4,
            json!({"type": "assistant_message", "turn": 1, "stop_reason": "tool_use", "content": [
                {"type": "thinking", "text": "The test sleeps on a real clock.\nIt should use the controllable one."},
                {"type": "text", "text": "## Plan\n\nThe test waits on the **real** clock; I will run it first:"},
                {"type": "tool_use", "id": "c1", "name": "shell", "arguments": "{\"command\":\"cargo test scheduler\"}"}
            ]}),
        ),
        event(
            5,
            json!({"type": "tool_result", "turn": 1, "call_id": "c1", "name": "shell", "outcome": "error", "output": "running 4 tests\ntest fires_on_time ... FAILED\ntest skips ... ok\ntest jitter ... ok\ntest one_shot ... ok\nfailures: fires_on_time", "duration_ms": 2140}),
        ),
        event(
            6,
            json!({"type": "recovery", "scope": "turn", "class": "stale_thinking", "strategy": "reset_session_fresh", "outcome": "session reset fresh after stale thinking"}),
        ),
    ]
}

fn app() -> App {
    let mut app = App::new(
        vec![
            "anthropic".into(),
            "openai".into(),
            "xai".into(),
            "local".into(),
        ],
        now(),
    );
    app.apply(Msg::Missions(missions()));
    app
}

fn draw(app: &App, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    terminal.draw(|f| ui::draw(f, app)).expect("draw");
    terminal.backend().to_string()
}

fn key(app: &mut App, code: KeyCode) -> Vec<Cmd> {
    app.key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn open_conversation(app: &mut App) {
    app.selected = app
        .visible()
        .iter()
        .position(|m| m.id == id(1))
        .expect("row");
    assert_eq!(key(app, KeyCode::Enter), vec![Cmd::Follow(id(1), 0)]);
    for e in conversation() {
        app.apply(Msg::Update(Update::Event {
            mission: id(1),
            event: e,
        }));
    }
    app.apply(Msg::Update(Update::TextDelta {
        mission: id(1),
        turn: 2,
        text: "The fix: inject the `Clock` into".into(),
    }));
}

#[test]
fn a_running_tool_shows_the_end_of_what_it_writes_until_it_ends() {
    let mut app = app();
    open_conversation(&mut app);
    let (mission, call_id) = (id(1), "call-9".to_string());
    app.apply(Msg::Update(Update::ToolStarted {
        mission,
        call_id: call_id.clone(),
        name: "shell".into(),
        arguments: r#"{"command":"cargo test"}"#.into(),
    }));
    for text in [
        "Compiling sortie\n",
        "running 12 tests\n",
        "test clock ... ok\n",
    ] {
        app.apply(Msg::Update(Update::ToolOutput {
            mission,
            call_id: call_id.clone(),
            stream: "stdout".into(),
            text: text.into(),
        }));
    }
    let screen = draw(&app, 80, 24);
    assert!(screen.contains("→ shell: cargo test …"), "{screen}");
    assert!(screen.contains("│ running 12 tests"), "{screen}");
    assert!(screen.contains("│ test clock ... ok"), "{screen}");
    app.apply(Msg::Ended(mission_with_status(1, "completed")));
    let screen = draw(&app, 80, 24);
    assert!(!screen.contains("│ running 12 tests"), "{screen}");
    assert!(app.view.tool_output.is_empty());
}

fn mission_with_status(n: u8, status: &str) -> Mission {
    mission(n, status, None, "Fix the flaky scheduler test", 5)
}

#[test]
fn missions_screen() {
    insta::assert_snapshot!(draw(&app(), 80, 24));
}

#[test]
fn missions_screen_resized_wide() {
    insta::assert_snapshot!(draw(&app(), 120, 30));
}

#[test]
fn missions_filtered_and_sorted() {
    let mut app = app();
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "xai");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('s'));
    let visible: Vec<MissionId> = app.visible().iter().map(|m| m.id).collect();
    assert_eq!(
        visible,
        [id(5), id(1), id(3)],
        "xai missions, newest first by creation"
    );
    insta::assert_snapshot!(draw(&app, 80, 24));
}

#[test]
fn mission_view_live() {
    let mut app = app();
    open_conversation(&mut app);
    assert_eq!(app.screen, Screen::Mission);
    insta::assert_snapshot!(draw(&app, 80, 24));
}

#[test]
fn mission_view_unfolded_with_an_approval_waiting() {
    let mut app = app();
    open_conversation(&mut app);
    key(&mut app, KeyCode::Char('t'));
    app.apply(Msg::Update(Update::ApprovalRequested {
        mission: id(1),
        approval: "q1".into(),
        summary: "write_file: src/clock.rs".into(),
    }));
    let screen = draw(&app, 80, 24);
    assert!(
        screen.contains("allow write_file: src/clock.rs"),
        "{screen}"
    );
    insta::assert_snapshot!(screen);
    assert_eq!(
        key(&mut app, KeyCode::Char('y')),
        vec![Cmd::Approve {
            id: id(1),
            approval: "q1".into(),
            yes: true
        }]
    );
}

#[test]
fn help_overlay() {
    let mut app = app();
    key(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!(draw(&app, 80, 24));
    // Any key closes it; q then quits.
    key(&mut app, KeyCode::Char('x'));
    assert!(app.overlay.is_none());
    key(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

#[test]
fn new_mission_input_is_multi_line_with_history() {
    let mut app = app();
    key(&mut app, KeyCode::Char('n'));
    typed(&mut app, "first line");
    app.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT));
    typed(&mut app, "second line");
    insta::assert_snapshot!(draw(&app, 80, 24));
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Cmd::NewMission(
            "first line\nsecond line".into(),
            SandboxMode::WorkspaceWrite
        )]
    );
    // The next box recalls it with Up.
    key(&mut app, KeyCode::Char('n'));
    key(&mut app, KeyCode::Up);
    match &app.overlay {
        Some(Overlay::Input(i)) => assert_eq!(i.text, "first line\nsecond line"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn model_picker_then_resume() {
    let mut app = app();
    // A finished mission: the picker opens on its provider.
    app.selected = app
        .visible()
        .iter()
        .position(|m| m.id == id(2))
        .expect("row");
    key(&mut app, KeyCode::Enter);
    assert!(app.overlay.is_none());
    key(&mut app, KeyCode::Char('m'));
    insta::assert_snapshot!("model_picker_providers", draw(&app, 80, 24));
    // Enter on anthropic asks the daemon for its models.
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Cmd::Models("anthropic".into())]
    );
    app.apply(Msg::Models(
        "anthropic".into(),
        Ok(vec![
            "claude-opus-4-1".into(),
            "claude-sonnet-4-5".into(),
            "claude-haiku-4-5".into(),
        ]),
    ));
    insta::assert_snapshot!("model_picker_models", draw(&app, 80, 24));
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Enter);
    match &app.overlay {
        Some(Overlay::Input(i)) => assert!(
            matches!(&i.purpose, InputPurpose::Message { model: Some(m), .. } if m == "claude-haiku-4-5")
        ),
        other => panic!("{other:?}"),
    }
    typed(&mut app, "go on");
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Cmd::Message {
            id: id(2),
            text: Some("go on".into()),
            provider: Some("anthropic".into()),
            model: Some("claude-haiku-4-5".into())
        }]
    );
}

fn accounts() -> Vec<CredentialRow> {
    serde_json::from_value(json!([
        {"id": "anthropic#1", "provider": "anthropic", "label": "work", "auth_mode": "oauth", "status": {"state": "active"},
         "expires_at": now() + chrono::Duration::seconds(42 * 60 + 10), "has_refresh_token": true, "account_id": null, "scopes": [],
         "last_used": null, "use_count": 3, "refresh_count": 1, "next_step": "nothing"},
        {"id": "xai#2", "provider": "xai", "label": "personal", "auth_mode": "oauth", "status": {"state": "needs_reauth", "reason": "refresh refused"},
         "expires_at": now() - chrono::Duration::minutes(5), "has_refresh_token": false, "account_id": null, "scopes": [],
         "last_used": null, "use_count": 9, "refresh_count": 2, "next_step": "sortie auth reconnect xai#2"},
        {"id": "openai#1", "provider": "openai", "label": "api key", "auth_mode": "api_key", "status": {"state": "cooling_down", "until": now() + chrono::Duration::seconds(30), "reason": "429"},
         "expires_at": null, "has_refresh_token": false, "account_id": null, "scopes": [],
         "last_used": null, "use_count": 40, "refresh_count": 0, "next_step": "wait until 12:00:30 UTC"}
    ]))
    .expect("rows")
}

#[test]
fn accounts_screen_with_countdowns() {
    let mut app = app();
    app.apply(Msg::Accounts(accounts()));
    key(&mut app, KeyCode::Char('2'));
    let screen = draw(&app, 80, 24);
    assert!(screen.contains("in 42m 10s"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn reconnect_shows_the_device_code_then_the_paste_box() {
    let mut app = app();
    app.apply(Msg::Accounts(accounts()));
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Down);
    assert_eq!(
        key(&mut app, KeyCode::Char('r')),
        vec![Cmd::Login {
            provider: None,
            credential: Some("xai#2".into())
        }]
    );
    app.apply(Msg::Login(json!({"id": "L1", "state": "pending", "prompt": {
        "provider": "xai", "flow": "device", "url": "https://accounts.x.ai/device", "user_code": "WDJB-MJHT",
        "needs_code": false, "expires_at": now() + chrono::Duration::minutes(15), "resumed": false}})));
    insta::assert_snapshot!("login_device", draw(&app, 80, 24));

    // A paste login: typed code, Enter hands it to the daemon.
    app.apply(Msg::Login(json!({"id": "L1", "state": "pending", "prompt": {
        "provider": "anthropic", "flow": "paste", "url": "https://claude.ai/oauth/authorize?code=true&client_id=x",
        "needs_code": true, "expires_at": now() + chrono::Duration::minutes(10), "resumed": false}})));
    typed(&mut app, "abc#state");
    insta::assert_snapshot!("login_paste", draw(&app, 80, 24));
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Cmd::PasteCode {
            login: "L1".into(),
            code: "abc#state".into()
        }]
    );
    app.apply(Msg::Login(
        json!({"id": "L1", "state": "completed", "credential": {"id": "xai#2"}}),
    ));
    assert!(app.overlay.is_none());
    assert_eq!(app.status, Some(("✓ xai#2 connected".into(), false)));
}

fn schedules() -> Vec<Value> {
    vec![
        json!({"id": "0193a5c1aaaa", "name": "nightly audit", "when": "cron 0 3 * * * (Europe/Paris)", "paused": false,
               "next_run": now() + chrono::Duration::minutes(95), "mission": {"prompt": "audit deps"},
               "runs": [{"at": now() - chrono::Duration::hours(21), "outcome": "started", "mission": "x"}]}),
        json!({"id": "0193a5c1bbbb", "name": null, "when": "every 30m", "paused": true, "next_run": null,
               "mission": {"prompt": "check the queue"}, "runs": []}),
    ]
}

#[test]
fn schedules_screen_and_keys() {
    let mut app = app();
    app.apply(Msg::Schedules(schedules()));
    key(&mut app, KeyCode::Char('3'));
    insta::assert_snapshot!(draw(&app, 80, 24));
    assert_eq!(
        key(&mut app, KeyCode::Char('r')),
        vec![Cmd::RunSchedule("0193a5c1aaaa".into())]
    );
    key(&mut app, KeyCode::Down);
    assert_eq!(
        key(&mut app, KeyCode::Char('p')),
        vec![Cmd::PauseSchedule("0193a5c1bbbb".into(), false)],
        "a paused schedule resumes"
    );
    key(&mut app, KeyCode::Char('a'));
    typed(&mut app, "cron 0 9 * * 1-5 Europe/Paris");
    key(&mut app, KeyCode::Enter);
    typed(&mut app, "standup notes");
    match key(&mut app, KeyCode::Enter).as_slice() {
        [Cmd::AddSchedule(body)] => {
            assert_eq!(body["cron"], "0 9 * * 1-5");
            assert_eq!(body["tz"], "Europe/Paris");
            assert_eq!(body["prompt"], "standup notes");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_mission_without_a_title_is_shown_by_its_first_prompt() {
    let screen = draw(&app(), 100, 24);
    assert!(screen.contains("Refactor the store module"), "{screen}");
}

#[test]
fn every_screen_fits_80_by_24_and_a_tiny_terminal_does_not_panic() {
    let mut app = app();
    app.apply(Msg::Accounts(accounts()));
    app.apply(Msg::Schedules(schedules()));
    // At 80×24 the tab bar is whole on the first row and the key hints end whole on the
    // last (the missions screen's hints take all 80 columns: one more would cut them).
    let fits = |app: &App| {
        let screen = draw(app, 80, 24);
        let rows: Vec<&str> = screen.lines().map(|l| l.trim_matches('"')).collect();
        assert_eq!(rows.len(), 24, "{screen}");
        assert!(
            rows[0].contains("1 Missions  2 Accounts  3 Schedules"),
            "{screen}"
        );
        let hints = rows[23].trim_end();
        assert!(
            hints.ends_with("? help") || hints.ends_with("q quit"),
            "{screen}"
        );
    };
    for screen in ['1', '2', '3'] {
        key(&mut app, KeyCode::Char(screen));
        fits(&app);
        for (w, h) in [(20, 5), (1, 1)] {
            draw(&app, w, h);
        }
    }
    key(&mut app, KeyCode::Char('1'));
    open_conversation(&mut app);
    fits(&app);
    key(&mut app, KeyCode::Char('?'));
    fits(&app);
    for (w, h) in [(20, 5), (1, 1)] {
        draw(&app, w, h);
    }
}

#[test]
fn scrolling_up_reaches_the_first_prompt_of_a_long_mission() {
    let mut app = app();
    key(&mut app, KeyCode::Char('1'));
    open_conversation(&mut app);
    for seq in 7..400 {
        app.apply(Msg::Update(Update::Event {
            mission: id(1),
            event: event(
                seq,
                json!({"type": "warning", "message": format!("note {seq}")}),
            ),
        }));
    }
    let bottom = draw(&app, 80, 24);
    assert!(bottom.contains("note 399"), "{bottom}");
    assert!(!bottom.contains("› Fix the flaky"), "{bottom}");
    for _ in 0..60 {
        key(&mut app, KeyCode::PageUp);
    }
    let top = draw(&app, 80, 24);
    assert!(top.contains("› Fix the flaky scheduler test"), "{top}");
    key(&mut app, KeyCode::Char('G'));
    assert_eq!(draw(&app, 80, 24), bottom, "G goes back to the end");
}

#[test]
fn the_login_url_can_be_opened_or_copied_and_long_errors_wrap_then_fade() {
    let mut app = app();
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('a'));
    typed(&mut app, "anthropic");
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Cmd::Login {
            provider: Some("anthropic".into()),
            credential: None
        }]
    );
    let url = format!(
        "https://claude.ai/oauth/authorize?code=true&client_id=9d1c250a&state={}",
        "s".repeat(120)
    );
    app.apply(Msg::Login(
        json!({"id": "L2", "state": "pending", "prompt": {
        "provider": "anthropic", "flow": "paste", "url": url, "needs_code": true,
        "expires_at": now() + chrono::Duration::minutes(10), "resumed": false}}),
    ));
    // In the paste box, o and y are text; Ctrl-O / Ctrl-Y act on the URL.
    typed(&mut app, "oy");
    assert_eq!(
        app.key(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::CONTROL)),
        vec![Cmd::CopyUrl(url.clone())]
    );
    let screen = draw(&app, 80, 24);
    // The URL wraps over whole lines, with no frame inside it, and the box shows it all.
    let joined: String = screen
        .lines()
        .map(|l| l.trim_matches('"').trim_end())
        .collect();
    assert!(joined.contains(&url), "{screen}");
    assert!(screen.contains("> oy"), "{screen}");
    insta::assert_snapshot!(screen);

    // A long error takes more than one line, and fades after a while.
    key(&mut app, KeyCode::Esc);
    app.apply(Msg::Error("provider `openai` needs an API key in $OPENAI_API_KEY, which is not set; or store a credential with `sortie auth login openai` / `sortie auth add-key openai`".into()));
    let screen = draw(&app, 80, 24);
    // All of it, over three lines.
    assert!(screen.contains(" provider `openai` needs"), "{screen}");
    assert!(screen.contains("\"openai`  "), "{screen}");
    app.now = now() + chrono::Duration::seconds(20);
    let screen = draw(&app, 80, 24);
    assert!(!screen.contains("OPENAI_API_KEY"), "{screen}");
}

#[test]
fn the_end_of_a_mission_on_its_stream_unlocks_its_keys_before_the_list_refreshes() {
    let mut app = app();
    key(&mut app, KeyCode::Char('1'));
    open_conversation(&mut app);
    // Running: no model switch.
    key(&mut app, KeyCode::Char('m'));
    assert!(app.overlay.is_none());
    app.apply(Msg::Update(Update::Event {
        mission: id(1),
        event: event(7, json!({"type": "status", "status": "completed"})),
    }));
    key(&mut app, KeyCode::Char('m'));
    assert!(matches!(app.overlay, Some(Overlay::Picker(_))));
}

#[test]
fn the_selection_follows_its_mission_when_the_list_reorders() {
    let mut app = app();
    app.selected = app
        .visible()
        .iter()
        .position(|m| m.id == id(3))
        .expect("row");
    // Mission 2 is updated: it moves to the top of the list.
    let mut missions = missions();
    missions[1].updated_at = now() + chrono::Duration::seconds(5);
    app.apply(Msg::Missions(missions));
    assert_eq!(app.visible()[0].id, id(2));
    assert_eq!(app.visible()[app.selected].id, id(3));
}

#[test]
fn folded_tool_output_shows_a_blank_line_as_one_empty_row() {
    let e = event(
        0,
        json!({"type": "tool_result", "turn": 1, "call_id": "c", "name": "read_file", "outcome": "ok",
               "output": "# Title\n\n- one\n- two\n- three", "duration_ms": 0}),
    );
    let lines: Vec<String> = ui::event_lines(&e, false, true)
        .iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect();
    assert_eq!(
        lines,
        [
            "  ✓ # Title  0 ms",
            "",
            "    - one",
            "    … 2 more lines (t unfolds)"
        ]
    );
    // Drawn, the four lines take four rows.
    let para = ratatui::widgets::Paragraph::new(ui::event_lines(&e, false, true))
        .wrap(ratatui::widgets::Wrap { trim: false });
    assert_eq!(para.line_count(40), 4);
}

#[test]
fn the_new_mission_box_starts_on_the_configs_sandbox_and_tab_picks_another() {
    let mut app = app();
    // `[sandbox] mode = "read-only"` in the config.
    app.sandbox = SandboxMode::ReadOnly;
    key(&mut app, KeyCode::Char('n'));
    let screen = draw(&app, 80, 24);
    assert!(
        screen.contains("sandbox: read-only · Tab changes"),
        "{screen}"
    );
    typed(&mut app, "tidy the logs");
    key(&mut app, KeyCode::Tab);
    let screen = draw(&app, 80, 24);
    assert!(screen.contains("sandbox: off — not confined"), "{screen}");
    insta::assert_snapshot!("new_mission_sandbox_off", screen);
    // Tab goes round; Shift-Tab goes back.
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::BackTab);
    assert!(draw(&app, 80, 24).contains("sandbox: workspace-write"));
    key(&mut app, KeyCode::BackTab);
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Cmd::NewMission("tidy the logs".into(), SandboxMode::Off)],
        "the command carries the sandbox chosen, not the config's"
    );
    // What the daemon is sent.
    let body = super::worker::new_mission_body(
        "tidy the logs",
        SandboxMode::Off,
        Some(std::path::Path::new("/work/repo")),
    );
    assert_eq!(
        body,
        json!({"prompt": "tidy the logs", "cwd": "/work/repo", "sandbox": "off"})
    );
    // The next box starts on the config's mode again.
    key(&mut app, KeyCode::Char('n'));
    typed(&mut app, "again");
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Cmd::NewMission("again".into(), SandboxMode::ReadOnly)]
    );
}

#[test]
fn tab_in_other_boxes_changes_nothing() {
    let mut app = app();
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "xai");
    key(&mut app, KeyCode::Tab);
    match &app.overlay {
        Some(Overlay::Input(i)) => {
            assert_eq!(i.purpose, InputPurpose::Filter);
            assert_eq!(i.text, "xai");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_mission_not_confined_is_marked_in_the_list_details_and_in_its_view() {
    let mut app = app();
    let mut list = missions();
    list[0].sandbox = Some(SandboxMode::Off);
    list[1].sandbox = Some(SandboxMode::ReadOnly);
    app.apply(Msg::Missions(list));
    app.selected = app
        .visible()
        .iter()
        .position(|m| m.id == id(1))
        .expect("row");
    let screen = draw(&app, 80, 24);
    assert!(screen.contains("⚠ sandbox off"), "{screen}");
    insta::assert_snapshot!("missions_selected_sandbox_off", screen);
    // Another row: its own mode, quietly.
    app.selected = app
        .visible()
        .iter()
        .position(|m| m.id == id(2))
        .expect("row");
    let screen = draw(&app, 80, 24);
    assert!(screen.contains("sandbox read-only"), "{screen}");
    assert!(!screen.contains("sandbox off"), "{screen}");
    // A mission recorded without one: the config's mode.
    app.sandbox = SandboxMode::Off;
    app.selected = app
        .visible()
        .iter()
        .position(|m| m.id == id(3))
        .expect("row");
    assert!(draw(&app, 80, 24).contains("⚠ sandbox off"));
    app.sandbox = SandboxMode::WorkspaceWrite;

    open_conversation(&mut app);
    let screen = draw(&app, 80, 24);
    assert!(
        screen
            .lines()
            .any(|l| l.contains("Fix the flaky scheduler test") && l.contains("⚠ sandbox off")),
        "{screen}"
    );
    insta::assert_snapshot!("mission_view_sandbox_off", screen);
}

#[test]
fn a_sandbox_changed_on_resume_shows_in_the_conversation() {
    let text = |mode: &str| -> String {
        let e = event(9, json!({"type": "sandbox_changed", "mode": mode}));
        ui::event_lines(&e, false, false)
            .iter()
            .map(|l| {
                l.spans
                    .iter()
                    .map(|s| s.content.as_ref())
                    .collect::<String>()
            })
            .collect()
    };
    assert_eq!(
        text("read-only"),
        "⇄ tools run in a new sandbox from here on  sandbox read-only"
    );
    assert_eq!(
        text("off"),
        " ⚠ sandbox off  ⇄ tools run in a new sandbox from here on"
    );
}

/// The controls of missions that run alone: budgets, worktrees, steering, forks.
mod alone;
mod cluster;
mod mcp_choice;
mod mcp_logins;
