//! What the daemon refuses while a mission is active: deleting it. The refusal says what to
//! do, and keeps the mission and its event log; once the mission ended, the delete is done.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sortie_tests::daemon::{ended, statuses, DaemonProc};
use sortie_tests::Reply;

use super::daemon::{error_message, local_setup, new_mission};

#[tokio::test]
async fn deleting_a_running_mission_is_refused_and_keeps_it_until_it_ended() {
    let (mock, home, cwd) = local_setup("").await;
    mock.push(Reply::stall_after("still working"));
    let d = DaemonProc::start(home.path()).await;
    let id = new_mission(&d, cwd.path(), "work for a while").await;
    let before = d
        .wait_events(&id, |e| statuses(e).iter().any(|s| s == "running"))
        .await;

    let (status, body) = d.delete(&format!("/missions/{id}")).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "active", "{body}");
    assert!(
        error_message(&body).contains(&format!("POST /missions/{id}/cancel")),
        "{body}"
    );
    let (status, mission) = d.get(&format!("/missions/{id}")).await;
    assert_eq!(status, 200, "{mission}");
    assert_eq!(mission["status"], "running", "{mission}");
    let (_, kept) = d.get(&format!("/missions/{id}/events")).await;
    assert!(
        kept.as_array().map_or(0, Vec::len) >= before.len(),
        "events lost: {kept}"
    );

    let (status, body) = d.post(&format!("/missions/{id}/cancel"), Value::Null).await;
    assert_eq!(status, 200, "{body}");
    d.wait_events(&id, ended).await;
    // The supervisor lets go of the mission a moment after its final event is stored:
    // until then the refusal stands (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = d.delete(&format!("/missions/{id}")).await;
        if status == 200 {
            break;
        }
        assert_eq!((status, &body["error"]["code"]), (409, &json!("active")));
        assert!(
            Instant::now() < deadline,
            "still refused after it ended: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(d.get(&format!("/missions/{id}")).await.0, 404);
}
