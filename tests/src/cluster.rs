//! Several daemons on one PostgreSQL store, as people run them: a data dir each (its own
//! `SORTIE_HOME`), the same database in `SORTIE_STORE_URL`, and the same credential key in
//! the variable `[store] key_env` names.

use std::path::Path;
use std::process::Command;

use crate::daemon::DaemonProc;

/// The variable the nodes' `[store] key_env` names.
pub const KEY_ENV: &str = "SORTIE_CLUSTER_KEY";

/// One member of the cluster: a data dir and the environment its commands run with.
pub struct Node {
    pub home: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

/// `config.toml` of a node: provider `corp` (OpenAI-compatible at `base_url`; with
/// `issuer`, logging in and refreshing at that authorization server) and `[store]` with
/// `key_env` (unless `key_env` is false). Titles off, so scripted replies meet the
/// missions' own turns.
pub fn config(base_url: &str, issuer: Option<&str>, key_env: bool) -> String {
    let mut text = format!(
        "default_provider = \"corp\"\n\n[providers.corp]\nkind = \"openai-compatible\"\nbase_url = \"{base_url}\"\nmodel = \"mock-model\"\n"
    );
    if let Some(issuer) = issuer {
        text.push_str(&format!(
            "\n[providers.corp.oauth]\nissuer = \"{issuer}\"\nclient_id = \"{}\"\nscopes = [\"openid\", \"offline_access\", \"api\"]\n",
            crate::oauth_server::CLIENT_ID
        ));
    }
    if key_env {
        text.push_str(&format!("\n[store]\nkey_env = \"{KEY_ENV}\"\n"));
    }
    text.push_str("\n[auxiliary]\ntitles = false\n");
    text
}

impl Node {
    /// A data dir with `config` on the store at `url`, with `key` in [`KEY_ENV`] (none:
    /// the variable is not set).
    /// Each node gets a daemon name of its own (`[daemon] name`): on one machine the
    /// default, the host name, would be taken by the first.
    pub fn new(url: &str, key: Option<&str>, config: &str) -> Node {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let home = tempfile::tempdir().expect("home");
        let name = format!(
            "node-{}",
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let config = format!("{config}\n[daemon]\nname = \"{name}\"\n");
        std::fs::write(home.path().join("config.toml"), config).expect("config");
        let mut env = vec![("SORTIE_STORE_URL".to_string(), url.to_string())];
        if let Some(key) = key {
            env.push((KEY_ENV.to_string(), key.to_string()));
        }
        Node { home, env }
    }

    pub fn path(&self) -> &Path {
        self.home.path()
    }

    /// `sortie ARGS...` on this node.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = crate::sortie(self.path());
        cmd.args(args).env_remove(KEY_ENV);
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    /// This node's daemon (`sortie serve`), answering.
    pub async fn daemon(&self) -> DaemonProc {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        DaemonProc::start_with_env(self.path(), &env).await
    }
}
