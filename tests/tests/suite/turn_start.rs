//! A turn's start and its request: with a direct provider the request goes out while the
//! turn start is written (the answer acts only once taken, after another flush), and a
//! write that fails stops the mission before any tool of that answer runs; the Claude Code
//! CLI, which runs tools as it answers, starts only once the turn start is written.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sortie_missions::{
    Mission, MissionRunner, MissionStatus, PermissionPolicy, RunError, SharedStore, StoreError,
};
use sortie_tests::claude::fake_calls;
use sortie_tests::gated_store::{GatedStore, Outcome};
use sortie_tests::{MockProvider, Reply};
use sortie_transports::direct::OpenAiChat;
use tokio_util::sync::CancellationToken;

use super::claude_code::{cli_spec, fake_cli};
use super::support::{spec, transport, World};

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How a spawned run ended (bounded).
async fn ended(
    run: tokio::task::JoinHandle<Result<Mission, RunError>>,
) -> Result<Mission, RunError> {
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the mission ended")
        .expect("joined")
}

/// A mission whose first answer writes `made.txt` (then says "done"), run on a store
/// whose first mission flush is held until the test releases it, then ends as `outcome`.
struct Held {
    mock: MockProvider,
    world: World,
    gated: Arc<GatedStore>,
    run: tokio::task::JoinHandle<Result<Mission, RunError>>,
}

async fn held_run(outcome: Outcome) -> Held {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "c1",
        "write_file",
        json!({"path": "made.txt", "content": "after the flush"}),
    ));
    mock.push(Reply::text("done"));
    let world = World::new();
    let gated = Arc::new(GatedStore::new(world.store.clone(), 1, outcome));
    let m = world
        .store
        .create_mission(spec(world.cwd.path(), "write a file"))
        .expect("create");
    let runner = MissionRunner::new(
        gated.clone() as SharedStore,
        Arc::new(OpenAiChat::new(transport(&mock.base_url())).expect("transport")),
    );
    let run = tokio::spawn(async move { runner.run(m.id, CancellationToken::new()).await });
    // The turn start's flush is held: the request is out all the same.
    until("the request waited for the turn start's write", || {
        mock.hits() == 1
    })
    .await;
    Held {
        mock,
        world,
        gated,
        run,
    }
}

#[tokio::test]
async fn a_direct_providers_request_goes_out_while_the_turn_start_is_written() {
    let Held {
        mock,
        world: w,
        gated,
        run,
    } = held_run(Outcome::Flush).await;
    assert_eq!(gated.flushes(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !w.cwd.path().join("made.txt").exists(),
        "a tool ran before the turn start was written"
    );
    assert_eq!(
        mock.hits(),
        1,
        "no second turn while the first is not written"
    );

    gated.release();
    let done = ended(run).await.expect("the runner works");
    assert_eq!(done.status, MissionStatus::Completed);
    assert_eq!(
        std::fs::read_to_string(w.cwd.path().join("made.txt")).expect("the tool ran"),
        "after the flush"
    );
}

#[tokio::test]
async fn a_turn_start_that_cannot_be_written_stops_the_mission_before_its_tools() {
    let Held {
        mock,
        world: w,
        gated,
        run,
    } = held_run(Outcome::Fail).await;
    // The write fails, most likely once the answer with its tool call is in (the worst
    // moment: nothing outside the runner shows it, the answer is recorded only after the
    // write; on loopback the reply takes milliseconds). Earlier, the failure drops the
    // stream instead: the tool must not run either way.
    tokio::time::sleep(Duration::from_millis(500)).await;
    gated.release();

    match ended(run).await {
        Err(RunError::Store(StoreError::DiskFull { .. })) => {}
        other => panic!("expected the write's error, got {other:?}"),
    }
    assert!(
        !w.cwd.path().join("made.txt").exists(),
        "the answer's tool ran though its turn start was never written"
    );
    assert_eq!(mock.hits(), 1, "no further turn");
}

#[tokio::test]
async fn the_claude_code_cli_starts_only_once_the_turn_start_is_written() {
    let world = World::new();
    let dir = tempfile::tempdir().expect("fake dir");
    let transport = fake_cli(dir.path(), &["init; say 'done'; ok"]);
    // Both flushes before the CLI are held: the turn start's, and the one the CLI waits for.
    let gated = Arc::new(GatedStore::new(world.store.clone(), 2, Outcome::Flush));
    let m = world
        .store
        .create_mission(cli_spec(
            world.cwd.path(),
            "go",
            "m",
            PermissionPolicy::Auto,
        ))
        .expect("create");
    let runner = MissionRunner::new(gated.clone() as SharedStore, transport);
    let run = tokio::spawn(async move { runner.run(m.id, CancellationToken::new()).await });
    until("the turn start's flush was asked for", || {
        gated.flushes() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        fake_calls(dir.path()).is_empty(),
        "the CLI started before the turn start was written"
    );
    gated.release();
    gated.release();
    let done = ended(run).await.expect("the runner works");
    assert_eq!(done.status, MissionStatus::Completed, "{:?}", done.error);
    assert_eq!(fake_calls(dir.path()).len(), 1);
}
