//! The credential pool under load: lease throughput with many tasks contending, and 1,000
//! concurrent callers hitting an expired token through one refresh. Prints a table.
//!
//! `cargo bench -p sortie-tests --bench pool`

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use serde_json::json;
use sortie_tests::{MockProvider, Reply};
use sortie_transports::auth::oauth::{OAuthClient, OAuthConfig};
use sortie_transports::auth::{
    AuthMode, Credential, CredentialId, CredentialStatus, CredentialStore, OAuthTokens, Pool,
    Strategy,
};
use sortie_transports::Secret;

fn credential(n: usize, mode: AuthMode, expired: bool) -> Credential {
    Credential {
        id: CredentialId(format!("bench#{n}")),
        provider: "bench".into(),
        label: format!("c{n}"),
        auth_mode: mode,
        api_key: (mode == AuthMode::ApiKey).then(|| Secret::new(format!("key-{n}"))),
        oauth: (mode == AuthMode::OAuth).then(|| OAuthTokens {
            access_token: Some(Secret::new("stale-access")),
            refresh_token: Some(Secret::new("refresh")),
            expires_at: Some(if expired {
                Utc::now() - chrono::Duration::seconds(1)
            } else {
                Utc::now() + chrono::Duration::hours(1)
            }),
            token_type: "Bearer".into(),
            scopes: vec![],
            account_id: None,
            issued_at: None,
        }),
        status: CredentialStatus::Active,
        created_at: Utc::now(),
        last_used: None,
        use_count: 0,
        refresh_count: 0,
        last_error: None,
        pending_revocations: Vec::new(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("dir");
    let db = sled::open(dir.path().join("db")).expect("sled");
    println!("\nCredential pool (2 worker threads)\n");
    println!("| measure                                         |        value |");
    println!("|-------------------------------------------------|-------------:|");

    for (strategy, name) in [
        (Strategy::FillFirst, "fill-first"),
        (Strategy::RoundRobin, "round-robin"),
        (Strategy::LeastUsed, "least-used"),
    ] {
        let store = CredentialStore::new(db.open_tree(format!("creds-{name}")).expect("tree"));
        for n in 0..4 {
            store
                .put(&credential(n, AuthMode::ApiKey, false))
                .expect("put");
        }
        let pool = Arc::new(Pool::new(store, strategy));
        let tasks = 64;
        let per_task = 500;
        let started = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..tasks {
            let pool = pool.clone();
            handles.push(tokio::spawn(async move {
                for _ in 0..per_task {
                    pool.lease("bench").await.expect("lease");
                }
            }));
        }
        for h in handles {
            h.await.expect("join");
        }
        let rate = (tasks * per_task) as f64 / started.elapsed().as_secs_f64();
        let label = format!("leases/s, {tasks} tasks, 4 keys, {name}");
        println!("| {label:<47} | {rate:>12.0} |");
    }

    // 1,000 callers, one expired OAuth token: exactly one refresh request.
    let mock = MockProvider::start().await;
    mock.repeat(Reply::json(json!({"access_token": "fresh-access", "refresh_token": "rotated", "expires_in": 3600, "token_type": "Bearer"})));
    let store = CredentialStore::new(db.open_tree("creds-oauth").expect("tree"));
    store
        .put(&credential(1, AuthMode::OAuth, true))
        .expect("put");
    let config = OAuthConfig::new("bench", format!("{}/token", mock.root_url()));
    let pool = Arc::new(
        Pool::new(store, Strategy::FillFirst).with_oauth("bench", OAuthClient::new(config)),
    );
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..1000 {
        let pool = pool.clone();
        handles.push(tokio::spawn(async move {
            pool.lease("bench").await.expect("lease").secret
        }));
    }
    let mut fresh = 0;
    for h in handles {
        if h.await.expect("join").expose() == "fresh-access" {
            fresh += 1;
        }
    }
    let took = started.elapsed();
    assert_eq!(
        mock.hits(),
        1,
        "single-flight broke: {} refresh requests",
        mock.hits()
    );
    println!(
        "| 1,000 concurrent callers on an expired token    | {:>9} req |",
        mock.hits()
    );
    println!("|   callers that got the new token                | {fresh:>12} |");
    println!(
        "|   time for all 1,000 leases                     | {:>9.1} ms |",
        took.as_secs_f64() * 1e3
    );
}
