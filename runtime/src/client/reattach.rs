//! `sortie run` (and `resume`) keep following a mission when the daemon goes away and comes
//! back (a crash and a restart, a restart after a full disk): the client waits, bounded,
//! for a daemon to serve the data dir again, and follows on from the last event it saw.

use std::time::{Duration, Instant};

use sortie_missions::{Mission, MissionId, Update};

use crate::client::Client;

/// How long to wait for a daemon to serve the data dir again.
const REATTACH_BOUND: Duration = Duration::from_secs(60);

/// Follows `id` from `from` until the daemon ends the stream, reattaching to a restarted
/// daemon as often as the stream breaks (each wait bounded).
pub async fn follow(
    client: &Client,
    id: &MissionId,
    from: u64,
    mut on_update: impl FnMut(Update),
) -> anyhow::Result<Mission> {
    let mut current = client.clone();
    let mut next = from;
    loop {
        let followed = current
            .follow(id, next, |u| {
                if let Update::Event { event, .. } = &u {
                    next = next.max(event.seq + 1);
                }
                on_update(u)
            })
            .await;
        let lost = match followed {
            Ok(mission) => return Ok(mission),
            Err(e) => e,
        };
        eprintln!("\nthe daemon went away ({lost:#}); waiting for it to come back…");
        current = wait_for_daemon(&current)
            .await
            .ok_or_else(|| {
                lost.context(format!(
                    "no daemon served the data dir again within {}s; `sortie show {id}` says how the mission stands once one does",
                    REATTACH_BOUND.as_secs()
                ))
            })?;
        eprintln!(
            "reattached to the daemon (pid {}); following mission {id} from event {next}",
            current.info.pid
        );
    }
}

/// A daemon serving the same data dir again (a new one: its token and port may differ).
async fn wait_for_daemon(old: &Client) -> Option<Client> {
    let started = Instant::now();
    while started.elapsed() < REATTACH_BOUND {
        if let Some(c) = Client::connect(&old.home).await {
            return Some(c);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    None
}
