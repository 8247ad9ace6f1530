//! Accounts, here or in the daemon: the credentials and their state, API keys, logins,
//! logouts. What the person types (a key, a pasted code) is read by the front end.

use anyhow::{bail, Context};
use serde_json::{json, Value};
use sortie_transports::auth::{AuthMode, CredentialId, CredentialSummary};

use super::Sortie;
use crate::api::{CredentialRow, LoginPrompt};
use crate::client::{self, autostart_idle, segment, Client};
use crate::config::Config;
use crate::service::accounts::{self, AccountStore, FlowFlags};
use crate::service::credentials;

/// What a login is for: a new credential of a provider, or a reconnect of a stored one.
pub enum LoginFor {
    Provider { name: String, label: Option<String> },
    Reconnect(CredentialId),
}

/// A login started: the prompt to show, and the wait for its end.
pub struct Login {
    pub prompt: LoginPrompt,
    /// What the person should know (e.g. claude-code logs in with anthropic's account).
    pub note: Option<String>,
    wait: LoginWait,
}

enum LoginWait {
    Here {
        accounts: AccountStore,
        login: Box<accounts::Login>,
    },
    Daemon {
        client: Client,
        body: Value,
        id: String,
    },
}

/// What gives a started login up (Ctrl-C) while [`Login::finish`] waits.
pub struct LoginCancel(Option<(Client, String)>);

/// A stored credential as a command confirms it, and what the person should know.
pub struct Stored {
    pub summary: CredentialSummary,
    pub note: Option<String>,
}

impl Sortie {
    /// Every credential with its state (probed against the provider when `probe`), and the
    /// records that could not be read.
    pub async fn credentials(
        &self,
        probe: bool,
    ) -> anyhow::Result<(Vec<CredentialRow>, Vec<String>)> {
        match self {
            Self::Here(home) => {
                let config = Config::load(home)?;
                let accounts = AccountStore::here(home, &config).await?;
                credentials::credential_rows(&accounts, &config, None, probe).await
            }
            Self::Daemon(c) => {
                let v = match probe {
                    true => c.get("/credentials?probe=true").await?,
                    false => c.get("/credentials").await?,
                };
                let rows = serde_json::from_value(v["credentials"].clone())
                    .context("the daemon sent credentials this sortie cannot read")?;
                let problems = serde_json::from_value(v["problems"].clone()).unwrap_or_default();
                Ok((rows, problems))
            }
        }
    }

    /// How a stored credential logs in (an API key or OAuth), and its provider.
    pub async fn credential_mode(&self, id: &CredentialId) -> anyhow::Result<(AuthMode, String)> {
        match self {
            Self::Here(home) => {
                let config = Config::load(home)?;
                let c = accounts::get(&AccountStore::here(home, &config).await?, id).await?;
                Ok((c.auth_mode, c.provider))
            }
            Self::Daemon(_) => {
                let (rows, _) = self.credentials(false).await?;
                let Some(row) = rows.into_iter().find(|r| &r.summary.id == id) else {
                    bail!("unknown credential `{id}` (see `sortie auth list`)");
                };
                Ok((row.summary.auth_mode, row.summary.provider))
            }
        }
    }

    /// Stores an API key: a new credential of `provider`, or in place of credential
    /// `replacing`'s key.
    pub async fn store_key(
        &self,
        provider: &str,
        label: Option<String>,
        key: &str,
        replacing: Option<&CredentialId>,
    ) -> anyhow::Result<Stored> {
        match self {
            Self::Here(home) => {
                let config = Config::load(home)?;
                let store = AccountStore::here(home, &config).await?;
                if let Some(id) = replacing {
                    let c = accounts::replace_key(&store, id, key).await?;
                    return Ok(Stored::new(c.summary(), None));
                }
                let (provider, note) = accounts::credential_owner(&config, provider)?;
                let c = accounts::add_key(&store, &provider, label, key).await?;
                Ok(Stored::new(c.summary(), note))
            }
            Self::Daemon(c) => {
                let mut body = json!({"provider": provider, "key": key.trim(), "label": label});
                if let Some(id) = replacing {
                    body["credential"] = json!(id.0);
                }
                let v = c.post("/credentials", &body).await?;
                let row: CredentialRow = serde_json::from_value(v["credential"].clone())
                    .context("the daemon's answer holds no credential")?;
                Ok(Stored::new(
                    row.summary,
                    v["note"].as_str().map(str::to_string),
                ))
            }
        }
    }

    /// Revokes and forgets a credential's tokens; returns what happened at the provider.
    pub async fn logout(&self, id: &CredentialId) -> anyhow::Result<String> {
        match self {
            Self::Here(home) => {
                let config = Config::load(home)?;
                let store = AccountStore::here(home, &config).await?;
                accounts::logout(&store, &config, id).await
            }
            Self::Daemon(c) => {
                let path = format!("/credentials/{}/logout", segment(&id.0));
                let v = c.post(&path, &Value::Null).await?;
                Ok(v["note"].as_str().unwrap_or_default().to_string())
            }
        }
    }

    /// Deletes a credential.
    pub async fn remove_credential(&self, id: &CredentialId) -> anyhow::Result<()> {
        match self {
            Self::Here(home) => {
                let config = Config::load(home)?;
                accounts::remove(&AccountStore::here(home, &config).await?, id).await
            }
            Self::Daemon(c) => {
                c.delete(&format!("/credentials/{}", segment(&id.0)))
                    .await?;
                Ok(())
            }
        }
    }

    /// Starts an OAuth login; the front end shows its prompt, then [`Login::finish`]es it.
    pub async fn start_login(&self, what: LoginFor, flags: FlowFlags) -> anyhow::Result<Login> {
        match self {
            Self::Here(home) => {
                let config = Config::load(home)?;
                let store = AccountStore::here(home, &config).await?;
                let (provider, label, existing, note) = match what {
                    LoginFor::Provider { name, label } => {
                        let (provider, note) = accounts::credential_owner(&config, &name)?;
                        (provider, label, None, note)
                    }
                    LoginFor::Reconnect(id) => {
                        let existing = accounts::get(&store, &id).await?;
                        let provider = config.provider(Some(&existing.provider))?;
                        (provider, None, Some(id), None)
                    }
                };
                let login =
                    accounts::start_login(&store, &provider, flags, label, existing).await?;
                Ok(Login {
                    prompt: login.prompt.clone(),
                    note,
                    wait: LoginWait::Here {
                        accounts: store,
                        login: Box::new(login),
                    },
                })
            }
            Self::Daemon(c) => {
                let body = match what {
                    LoginFor::Provider { name, label } => {
                        json!({"provider": name, "flow": flags.requested(), "label": label})
                    }
                    LoginFor::Reconnect(id) => {
                        json!({"credential": id.0, "flow": flags.requested()})
                    }
                };
                let started = c.post("/auth/logins", &body).await?;
                let id = started["id"]
                    .as_str()
                    .context("the daemon's login has no id")?
                    .to_string();
                let prompt = serde_json::from_value(started["prompt"].clone())
                    .context("the daemon's login prompt is not readable")?;
                Ok(Login {
                    prompt,
                    note: started["note"].as_str().map(str::to_string),
                    wait: LoginWait::Daemon {
                        client: c.clone(),
                        body,
                        id,
                    },
                })
            }
        }
    }
}

impl Login {
    /// Waits for the login's end (the browser's return, the device's approval), or hands
    /// over the pasted `code` when its flow wants one, and stores the credential. `note`
    /// hears about slow-downs.
    pub async fn finish(
        self,
        code: Option<&str>,
        note: impl FnMut(String),
    ) -> anyhow::Result<CredentialSummary> {
        match self.wait {
            LoginWait::Here { accounts, login } => {
                Ok(login.finish(&accounts, code, note).await?.summary())
            }
            LoginWait::Daemon { client, body, id } => {
                let row = match code {
                    Some(code) => {
                        // The daemon may have restarted meanwhile: the handoff finds the
                        // new one.
                        let home = client.home.clone();
                        let autostart = autostart_idle(&home);
                        let (c, id) = client::hand_over_code(
                            &client,
                            &home,
                            &body,
                            &id,
                            code.trim(),
                            autostart,
                        )
                        .await?;
                        client::wait_login(&c, &id).await?
                    }
                    None => client::wait_login(&client, &id).await?,
                };
                Ok(row.summary)
            }
        }
    }

    /// What gives this login up, for use while [`Login::finish`] waits.
    pub fn canceller(&self) -> LoginCancel {
        match &self.wait {
            LoginWait::Daemon { client, id, .. } => LoginCancel(Some((client.clone(), id.clone()))),
            LoginWait::Here { .. } => LoginCancel(None),
        }
    }
}

impl LoginCancel {
    /// The daemon forgets the login; here, nothing was stored and nothing waits.
    pub async fn cancel(self) {
        if let Some((client, id)) = self.0 {
            let _ = client.delete(&format!("/auth/logins/{id}")).await;
        }
    }
}

impl Stored {
    fn new(summary: CredentialSummary, note: Option<String>) -> Self {
        Self { summary, note }
    }
}
