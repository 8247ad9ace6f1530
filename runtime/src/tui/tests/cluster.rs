//! Missions of a shared store: the selected one says which daemon runs it.

use super::*;

#[test]
fn the_selected_mission_says_which_daemon_runs_it() {
    let mut app = app();
    let mut list = missions();
    for m in &mut list {
        m.daemon = Some("gpu-box".into());
    }
    app.apply(Msg::Missions(list));
    let screen = draw(&app, 160, 24);
    assert!(screen.contains("on daemon gpu-box"), "{screen}");
    // A mission no daemon holds says nothing of the kind.
    let mut app = super::app();
    app.apply(Msg::Missions(missions()));
    let screen = draw(&app, 160, 24);
    assert!(!screen.contains("on daemon"), "{screen}");
}
