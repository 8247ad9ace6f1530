//! Accounts: the keys of their screen, and a login as it goes.

use super::*;

impl App {
    /// The rows of the accounts screen: the credentials, then the MCP servers to log in to.
    pub fn account_rows(&self) -> usize {
        self.accounts.len() + self.mcp_logins.len()
    }

    pub(super) fn login_update(&mut self, v: Value) {
        let Some(Overlay::Login(view)) = &mut self.overlay else {
            return;
        };
        if let Some(e) = v["error"]["message"].as_str() {
            view.state = "failed".into();
            view.error = Some(e.to_string());
            return;
        }
        view.id = v["id"].as_str().map(String::from).or(view.id.take());
        if let Ok(p) = serde_json::from_value::<LoginPrompt>(v["prompt"].clone()) {
            view.prompt = Some(p);
        }
        view.state = v["state"].as_str().unwrap_or("pending").to_string();
        view.error = v["error"].as_str().map(String::from);
        if view.state == "completed" {
            let id = v["credential"]["id"].as_str().unwrap_or("?").to_string();
            self.overlay = None;
            self.info(format!("✓ {id} connected"));
        }
    }

    pub(super) fn accounts_key(&mut self, key: KeyEvent) -> Vec<Cmd> {
        let n = self.account_rows();
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => {
                self.account_selected = (self.account_selected + 1).min(n.saturating_sub(1))
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.account_selected = self.account_selected.saturating_sub(1)
            }
            KeyCode::Char('r') | KeyCode::Enter => {
                if let Some(row) = self.accounts.get(self.account_selected) {
                    let credential = row.summary.id.to_string();
                    self.overlay = Some(Overlay::Login(LoginView::starting()));
                    return vec![Cmd::Login {
                        provider: None,
                        credential: Some(credential),
                    }];
                }
                // An MCP server without a login: the same key logs in to it.
                let mcp = self.account_selected.checked_sub(self.accounts.len());
                if let Some(need) = mcp.and_then(|i| self.mcp_logins.get(i)) {
                    let provider = need.provider.clone();
                    self.overlay = Some(Overlay::Login(LoginView::starting()));
                    return vec![Cmd::Login {
                        provider: Some(provider),
                        credential: None,
                    }];
                }
            }
            KeyCode::Char('a') | KeyCode::Char('l') => {
                self.overlay = Some(Overlay::Input(Input::new(
                    InputPurpose::LoginProvider,
                    "Log in to which provider? (anthropic, openai-codex, xai, …)",
                )));
            }
            _ => {}
        }
        Vec::new()
    }

    pub(super) fn login_key(&mut self, mut login: LoginView, key: KeyEvent) -> Vec<Cmd> {
        let pending = login.state == "pending" || login.state == "starting";
        let pasting = login.prompt.as_ref().is_some_and(|p| p.needs_code);
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => {
                if let (true, Some(id)) = (pending, login.id.clone()) {
                    self.info("login cancelled");
                    return vec![Cmd::CancelLogin(id)];
                }
                return Vec::new();
            }
            KeyCode::Enter if pasting && !login.code.trim().is_empty() => {
                if let Some(id) = login.id.clone() {
                    let code = std::mem::take(&mut login.code);
                    login.state = "exchanging".into();
                    self.overlay = Some(Overlay::Login(login));
                    return vec![Cmd::PasteCode { login: id, code }];
                }
            }
            KeyCode::Backspace => {
                login.code.pop();
            }
            // Ctrl-O / Ctrl-Y act on the URL (o and y too where there is no paste box).
            KeyCode::Char('o') if ctrl || !pasting => {
                if let Some(p) = &login.prompt {
                    let url = p.url_complete.clone().unwrap_or_else(|| p.url.clone());
                    self.overlay = Some(Overlay::Login(login));
                    return vec![Cmd::OpenUrl(url)];
                }
            }
            KeyCode::Char('y') if ctrl || !pasting => {
                if let Some(p) = &login.prompt {
                    let url = p.url_complete.clone().unwrap_or_else(|| p.url.clone());
                    self.overlay = Some(Overlay::Login(login));
                    return vec![Cmd::CopyUrl(url)];
                }
            }
            KeyCode::Char(c) if pasting && !ctrl => login.code.push(c),
            _ => {}
        }
        self.overlay = Some(Overlay::Login(login));
        Vec::new()
    }
}
