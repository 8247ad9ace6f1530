//! The accounts screen lists the MCP servers that want a login, after the credentials, and
//! the key that reconnects a credential logs in to the selected server.

use super::*;
use crate::service::mcp_login::LoginNeeded;

#[test]
fn mcp_servers_that_need_a_login_are_listed_and_r_logs_in_to_one() {
    let mut app = app();
    app.apply(Msg::Accounts(accounts()));
    app.apply(Msg::McpLogins(vec![LoginNeeded {
        server: "docs".into(),
        provider: "mcp:docs".into(),
        why: "it is an OAuth-protected server: not logged in".into(),
    }]));
    key(&mut app, KeyCode::Char('2'));
    for _ in 0..3 {
        key(&mut app, KeyCode::Down);
    }
    let screen = draw(&app, 100, 24);
    assert!(screen.contains("mcp:docs"), "{screen}");
    assert!(screen.contains("needs login"), "{screen}");
    assert!(screen.contains("sortie auth login mcp:docs"), "{screen}");
    insta::assert_snapshot!("accounts_mcp_needs_login", screen);
    // Past the last row the selection stays on it.
    key(&mut app, KeyCode::Down);
    assert_eq!(
        key(&mut app, KeyCode::Char('r')),
        vec![Cmd::Login {
            provider: Some("mcp:docs".into()),
            credential: None
        }]
    );
    // Once logged in, the server is no longer listed and the selection stays in range.
    app.overlay = None;
    app.apply(Msg::McpLogins(Vec::new()));
    assert_eq!(app.account_selected, 2);
    assert!(!draw(&app, 100, 24).contains("needs login"));
}
