//! Which daemon a client talks to. `daemon.json` (owner-only) holds a random instance id,
//! new at every start. Before a client sends the bearer token (or anything else) it asks
//! `/health` to prove it knows that id: it sends a fresh challenge and the daemon answers
//! SHA-256 of the id and the challenge. Whatever holds the port after a daemon died (kill
//! -9 leaves `daemon.json` behind) cannot answer, so it never sees the token or a prompt.
//! The id itself never goes over the wire, and only loopback addresses are trusted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What `daemon.json` says about a running daemon.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub pid: u32,
    pub addr: SocketAddr,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub version: String,
    /// New at every start; `/health` proves it knows it before a client sends the token
    /// (see this module). Empty in a file of an older daemon, which is then not trusted.
    #[serde(default)]
    pub instance: String,
}

pub fn info_path(home: &Path) -> PathBuf {
    home.join("daemon.json")
}

pub fn token_path(home: &Path) -> PathBuf {
    home.join("daemon.token")
}

pub fn log_path(home: &Path) -> PathBuf {
    home.join("daemon.log")
}

/// 32 random bytes, hex.
pub fn random_hex() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The answer to `challenge` that only the holder of `instance` can give.
pub fn proof(instance: &str, challenge: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"sortie-daemon-instance\0")
        .chain_update(instance.as_bytes())
        .chain_update(b"\0")
        .chain_update(challenge.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a client may reach the daemon `daemon.json` names: its address when it is a
/// loopback one (an unspecified bind, 0.0.0.0 or ::, is reached on loopback); none for any
/// other address, which is not ours to trust with the token.
pub fn loopback_addr(addr: SocketAddr) -> Option<SocketAddr> {
    match addr.ip() {
        ip if ip.is_loopback() => Some(addr),
        IpAddr::V4(ip) if ip.is_unspecified() => {
            Some(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            Some(SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port()))
        }
        _ => None,
    }
}

/// Asks the server at `base` to prove it is the daemon with `instance`; true only when
/// it does. No token and no data are sent.
pub async fn verify(http: &reqwest::Client, base: &str, instance: &str) -> bool {
    if instance.is_empty() {
        return false;
    }
    let challenge = random_hex();
    let answer = http
        .get(format!("{base}/health"))
        .query(&[("challenge", challenge.as_str())])
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    let Ok(answer) = answer else {
        return false;
    };
    let Ok(body) = answer.json::<serde_json::Value>().await else {
        return false;
    };
    let expected = proof(instance, &challenge);
    body["proof"]
        .as_str()
        .is_some_and(|p| constant_time_eq(p.as_bytes(), expected.as_bytes()))
}

/// Whether `a` and `b` are equal, in a time that depends on their lengths only (it never
/// stops at the first difference): for the bearer token and the instance proof.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `challenge` of `GET /health?challenge=...`: 16 to 128 hex digits.
fn challenge_of(query: Option<&str>) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Q {
        challenge: String,
    }
    let q: Q = parse_query(query?)?;
    let ok = (16..=128).contains(&q.challenge.len())
        && q.challenge.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then_some(q.challenge)
}

fn parse_query<T: serde::de::DeserializeOwned>(query: &str) -> Option<T> {
    axum::extract::Query::<T>::try_from_uri(&format!("/?{query}").parse().ok()?)
        .ok()
        .map(|q| q.0)
}

/// The daemon's answer to `GET /health?challenge=...` sent without a token: `{ok,
/// proof}` and nothing else. `None` for any other request.
pub fn answer(
    no_token: bool,
    uri: &axum::http::Uri,
    instance: &str,
) -> Option<axum::response::Response> {
    use axum::response::IntoResponse;
    if !no_token || uri.path() != "/health" {
        return None;
    }
    let challenge = challenge_of(uri.query())?;
    Some(
        axum::Json(serde_json::json!({"ok": true, "proof": proof(instance, &challenge)}))
            .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_trusted() {
        let at = |s: &str| s.parse::<SocketAddr>().expect("addr");
        assert_eq!(loopback_addr(at("127.0.0.1:9")), Some(at("127.0.0.1:9")));
        assert_eq!(loopback_addr(at("[::1]:9")), Some(at("[::1]:9")));
        assert_eq!(loopback_addr(at("0.0.0.0:9")), Some(at("127.0.0.1:9")));
        assert_eq!(loopback_addr(at("192.0.2.7:9")), None);
        assert_eq!(loopback_addr(at("[2001:db8::1]:9")), None);
    }

    #[test]
    fn a_proof_depends_on_the_instance_and_the_challenge() {
        let p = proof("instance", "challenge");
        assert_eq!(p, proof("instance", "challenge"));
        assert_ne!(p, proof("other", "challenge"));
        assert_ne!(p, proof("instance", "other"));
        assert_eq!(p.len(), 64);
    }
}
