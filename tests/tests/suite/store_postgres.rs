//! What only the PostgreSQL store does, against the real test cluster: errors that name
//! the URL without its password, bounded connects, migrations when several daemons start
//! at once, leases, and event notices across connections. (What both stores do is in
//! `store_backends`.)

use std::collections::HashSet;
use std::time::{Duration, Instant};

use sortie_missions::postgres::{PgOptions, PgStore, PG_SCHEMA_VERSION};
use sortie_missions::{MissionEvent, MissionSpec, StoreError};
use sortie_tests::postgres::Cluster;

fn options(connect_timeout: Duration) -> PgOptions {
    PgOptions {
        connect_timeout,
        pool_size: 4,
        ..Default::default()
    }
}

fn spec(prompt: &str) -> MissionSpec {
    sortie_tests::postgres::store_spec(prompt)
}

#[tokio::test]
async fn a_wrong_password_is_refused_clearly_without_showing_it() {
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let db = url.rsplit('/').next().expect("db name").to_string();
    let secret = "Wr0ng-s3cret-pw";
    let wrong = url.replace(cluster.password(), secret);
    let err = PgStore::open_with(&wrong, options(Duration::from_secs(30)))
        .await
        .expect_err("a wrong password is refused");
    let text = err.to_string();
    assert!(matches!(err, StoreError::Database { .. }), "{text}");
    assert!(!text.contains(secret), "the password leaked: {text}");
    assert!(
        !format!("{err:?}").contains(secret),
        "the password leaked: {err:?}"
    );
    let shown = format!("postgres://sortie@127.0.0.1:{}/{db}", cluster.port());
    assert!(text.contains(&shown), "{text}");
    assert!(text.contains("password authentication failed"), "{text}");
}

#[tokio::test]
async fn an_unreachable_database_fails_at_once_naming_the_url_without_its_password() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("postgres://sortie:Unre4chable-pw@127.0.0.1:{port}/missions");
    let started = Instant::now();
    let err = PgStore::open_with(&url, options(Duration::from_secs(30)))
        .await
        .expect_err("nothing listens");
    let text = err.to_string();
    assert!(matches!(err, StoreError::Unreachable { .. }), "{text}");
    assert!(
        text.starts_with(&format!(
            "cannot reach the PostgreSQL store at postgres://sortie@127.0.0.1:{port}/missions: "
        )),
        "{text}"
    );
    assert!(!text.contains("Unre4chable-pw"), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a refusal is not waited out"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_is_given_up_after_the_connect_timeout() {
    // The kernel accepts the connection; nothing ever answers on it.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let url = format!("postgres://sortie:S1lent-pw@127.0.0.1:{port}/missions");
    let started = Instant::now();
    let err = PgStore::open_with(&url, options(Duration::from_secs(1)))
        .await
        .expect_err("no answer");
    let waited = started.elapsed();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Unreachable { .. }), "{text}");
    assert!(text.contains("no answer within 1s"), "{text}");
    assert!(!text.contains("S1lent-pw"), "{text}");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(20),
        "bounded by the connect timeout: {waited:?}"
    );
    drop(silent);
}

#[tokio::test]
async fn a_url_that_is_not_one_is_refused_without_its_password() {
    let err = PgStore::open("postgres://sortie:N0t-a-pw@localhost:notaport/db")
        .await
        .expect_err("bad port");
    let text = err.to_string();
    assert!(matches!(err, StoreError::BadUrl(_)), "{text}");
    assert!(!text.contains("N0t-a-pw"), "{text}");
    assert!(
        text.contains("postgres://sortie:***@localhost:notaport/db"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn daemons_starting_at_once_apply_each_migration_once() {
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let mut opens = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = url.clone();
        opens
            .spawn(async move { PgStore::open_with(&url, options(Duration::from_secs(30))).await });
    }
    let mut stores = Vec::new();
    while let Some(opened) = opens.join_next().await {
        stores.push(opened.expect("task").expect("every daemon opens the store"));
    }
    for store in &stores {
        assert_eq!(
            store.schema_version().await.expect("version"),
            PG_SCHEMA_VERSION
        );
        assert_eq!(
            store.migrate().await.expect("migrate"),
            0,
            "nothing left to apply"
        );
    }
    let db = url.rsplit('/').next().expect("db");
    let rows = cluster
        .connect(db)
        .await
        .query(
            "SELECT version FROM sortie_migrations ORDER BY version",
            &[],
        )
        .await
        .expect("query");
    let versions: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, (1..=PG_SCHEMA_VERSION).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_daemons_claiming_at_once_never_hold_the_same_mission() {
    let url = Cluster::shared().create_database().await;
    let a = PgStore::open_with(&url, options(Duration::from_secs(30)))
        .await
        .expect("a");
    let b = PgStore::open_with(&url, options(Duration::from_secs(30)))
        .await
        .expect("b");
    let mut queued = HashSet::new();
    for i in 0..30 {
        queued.insert(
            a.create_mission(spec(&format!("q{i}")))
                .await
                .expect("create")
                .id,
        );
    }
    let lease = Duration::from_secs(60);
    let claim_all = |store: PgStore, name: &'static str| async move {
        let mut mine = Vec::new();
        while let Some(held) = store.claim_queued(name, lease).await.expect("claim") {
            mine.push(held.mission.id);
        }
        mine
    };
    let (by_a, by_b) = tokio::join!(
        tokio::spawn(claim_all(a.clone(), "daemon-a")),
        tokio::spawn(claim_all(b.clone(), "daemon-b"))
    );
    let (by_a, by_b) = (by_a.expect("a"), by_b.expect("b"));
    let held_a: HashSet<_> = by_a.iter().copied().collect();
    let held_b: HashSet<_> = by_b.iter().copied().collect();
    assert_eq!(held_a.len() + held_b.len(), 30, "each mission claimed once");
    assert!(held_a.is_disjoint(&held_b), "a mission claimed by both");
    assert_eq!(&held_a | &held_b, queued);

    // The holder extends its lease; the other daemon cannot, nor release it.
    let (&one, held_by) = match by_a.first() {
        Some(id) => (id, ("daemon-a", "daemon-b")),
        None => (by_b.first().expect("one claimed"), ("daemon-b", "daemon-a")),
    };
    assert!(a
        .heartbeat(&one, held_by.0, lease)
        .await
        .expect("beat")
        .is_some());
    assert!(a
        .heartbeat(&one, held_by.1, lease)
        .await
        .expect("beat")
        .is_none());
    assert!(!b.release(&one, held_by.1).await.expect("release"));
    assert!(b.release(&one, held_by.0).await.expect("release"));
    let again = b
        .claim_queued("daemon-c", Duration::from_millis(300))
        .await
        .expect("claim");
    assert_eq!(
        again.map(|l| l.mission.id),
        Some(one),
        "a released mission is claimable"
    );

    // A lease that runs out (its daemon died) goes to the next daemon that claims.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let taken = a.claim_queued("daemon-d", lease).await.expect("claim");
    assert_eq!(
        taken.map(|l| l.mission.id),
        Some(one),
        "an expired lease is claimable"
    );
    assert!(
        a.heartbeat(&one, "daemon-c", lease)
            .await
            .expect("beat")
            .is_none(),
        "the daemon whose lease ran out learns it lost the mission"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_skips_a_mission_another_claim_holds_locked_rather_than_waiting() {
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let store = PgStore::open_with(&url, options(Duration::from_secs(30)))
        .await
        .expect("open");
    let first = store.create_mission(spec("first")).await.expect("create");
    let second = store.create_mission(spec("second")).await.expect("create");
    // Written (with the handle's next round) before another connection locks a row.
    store.flush_mission(&second.id).await.expect("flush");
    // Another daemon's claim, in the middle of its transaction, holds the oldest one.
    let mut other = cluster.connect(url.rsplit('/').next().expect("db")).await;
    let held = other.transaction().await.expect("begin");
    held.query(
        "SELECT id FROM missions WHERE id = $1 FOR UPDATE",
        &[&first.id.0],
    )
    .await
    .expect("lock");
    let lease = Duration::from_secs(60);
    let claimed = tokio::time::timeout(Duration::from_secs(10), store.claim_queued("d", lease))
        .await
        .expect("the claim does not wait for the other's lock")
        .expect("claim")
        .expect("a mission");
    assert_eq!(claimed.mission.id, second.id);
    held.rollback().await.expect("rollback");
    let next = store
        .claim_queued("d", lease)
        .await
        .expect("claim")
        .expect("a mission");
    assert_eq!(
        next.mission.id, first.id,
        "once let go, the locked one is claimable"
    );
    assert!(store
        .claim_queued("d", lease)
        .await
        .expect("claim")
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_that_waits_on_a_lock_too_long_fails_clearly() {
    let cluster = Cluster::shared();
    let url = cluster.create_database().await;
    let bounded = PgOptions {
        query_timeout: Duration::from_secs(1),
        ..options(Duration::from_secs(30))
    };
    let store = PgStore::open_with(&url, bounded).await.expect("open");
    let m = store.create_mission(spec("stuck")).await.expect("create");
    // Written (with the handle's next round) before another connection locks its row.
    store.flush_mission(&m.id).await.expect("flush");
    // Something holds the mission's row and does not let go.
    let mut other = cluster.connect(url.rsplit('/').next().expect("db")).await;
    let held = other.transaction().await.expect("begin");
    held.query(
        "SELECT id FROM missions WHERE id = $1 FOR UPDATE",
        &[&m.id.0],
    )
    .await
    .expect("lock");
    let started = Instant::now();
    let err = store
        .append(
            &m.id,
            MissionEvent::Warning {
                message: "w".into(),
            },
        )
        .await
        .expect_err("the append gives up");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let text = err.to_string();
    assert!(matches!(err, StoreError::Database { .. }), "{text}");
    assert!(text.contains("statement timeout"), "{text}");
    held.rollback().await.expect("rollback");
    let stored = store
        .append(
            &m.id,
            MissionEvent::Warning {
                message: "w".into(),
            },
        )
        .await
        .expect("once let go, the append goes through");
    assert_eq!(stored.seq, 2, "the append that gave up stored nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appended_events_are_noticed_by_a_listener_on_another_connection() {
    let url = Cluster::shared().create_database().await;
    let listening = PgStore::open_with(&url, options(Duration::from_secs(30)))
        .await
        .expect("open");
    let writing = PgStore::open_with(&url, options(Duration::from_secs(30)))
        .await
        .expect("open");
    let mut listener = listening.listen().await.expect("listen");
    let m = writing
        .create_mission(spec("watched"))
        .await
        .expect("create");
    writing
        .append(
            &m.id,
            MissionEvent::Warning {
                message: "w".into(),
            },
        )
        .await
        .expect("append");
    // One notice per write, naming its first event: the creation (events 0 and 1), then
    // the append (event 2).
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let notice = tokio::time::timeout(Duration::from_secs(30), listener.recv())
            .await
            .expect("a notice within 30s")
            .expect("the listener is connected");
        assert_eq!(notice.mission, m.id);
        seen.push(notice.seq);
    }
    assert_eq!(seen, [0, 2], "every write once, in order");
    // The notice names the event; the event itself is read from its table.
    let events = listening.events_from(&m.id, 2).await.expect("events");
    assert!(matches!(&events[0].event, MissionEvent::Warning { message } if message == "w"));
    // A failed append (no such mission) commits nothing, so tells no one.
    let missing = sortie_missions::MissionId::new();
    writing
        .append(
            &missing,
            MissionEvent::Warning {
                message: "x".into(),
            },
        )
        .await
        .expect_err("no such mission");
    let quiet = tokio::time::timeout(Duration::from_millis(500), listener.recv()).await;
    assert!(
        quiet.is_err(),
        "no notice for what was not stored: {quiet:?}"
    );
}

#[test]
fn a_cluster_stops_when_dropped_even_by_a_panicking_test() {
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let test = std::thread::spawn(move || {
        let cluster = Cluster::start();
        port_tx.send(cluster.port()).expect("send");
        std::net::TcpStream::connect(("127.0.0.1", cluster.port())).expect("it runs");
        panic!("a test that fails with its cluster running");
    });
    assert!(test.join().is_err(), "the thread panicked");
    let port = port_rx.recv().expect("the cluster started");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the cluster still answers on {port} after its test panicked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_mission_whose_daemon_died_is_claimed_once_its_lease_runs_out() {
    let url = Cluster::shared().create_database().await;
    let store = PgStore::open_with(&url, options(Duration::from_secs(30)))
        .await
        .expect("open");
    let daemon_a = PgStore::open_with(&url, options(Duration::from_secs(30)))
        .await
        .expect("open");
    let info = sortie_missions::postgres::DaemonInfo {
        name: "daemon-a".into(),
        instance: "i-1".into(),
        host: "here".into(),
        pid: 1,
        labels: Vec::new(),
        version: "test".into(),
    };
    daemon_a
        .register_daemon(&info, Duration::from_secs(30))
        .await
        .expect("register");
    let id = store.create_mission(spec("go")).await.expect("create").id;
    // Written with the store's next round: there for other daemons once flushed.
    store.flush_mission(&id).await.expect("flush");
    let held = daemon_a
        .claim_queued("daemon-a", Duration::from_millis(300))
        .await
        .expect("claim")
        .expect("the queued mission");
    assert_eq!(held.mission.id, id);
    let running = || MissionEvent::Status {
        status: sortie_missions::MissionStatus::Running,
        reason: None,
    };
    // Only the daemon holding the lease writes the mission's log.
    match store.append(&id, running()).await {
        Err(StoreError::LeasedElsewhere { daemon, .. }) => assert_eq!(daemon, "daemon-a"),
        other => panic!("another process wrote a leased mission's log: {other:?}"),
    }
    // The daemon runs it, then dies without a word.
    daemon_a.append(&id, running()).await.expect("running");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let taken = store
        .claim_queued("daemon-b", Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(
        taken.map(|l| l.mission.id),
        Some(id),
        "a running mission whose lease ran out goes to the next daemon"
    );
    // Its lease gone, the dead daemon's late write is refused.
    match daemon_a.append(&id, running()).await {
        Err(StoreError::LeasedElsewhere { daemon, .. }) => assert_eq!(daemon, "daemon-b"),
        other => panic!("a daemon that lost the lease wrote the log: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_daemon_whose_name_a_new_start_took_writes_nothing() {
    let url = Cluster::shared().create_database().await;
    let info = |instance: &str| sortie_missions::postgres::DaemonInfo {
        name: "box".into(),
        instance: instance.into(),
        host: "here".into(),
        pid: 1,
        labels: Vec::new(),
        version: "test".into(),
    };
    let rules = sortie_missions::postgres::ClaimRules {
        lease: Duration::from_millis(400),
        ..Default::default()
    };
    let first = PgStore::open_with(&url, options(Duration::from_secs(30)))
        .await
        .expect("open");
    first
        .register_daemon(&info("start-1"), rules.lease)
        .await
        .expect("register");
    let id = first.create_mission(spec("go")).await.expect("create").id;
    first.offer(&id).await.expect("offer");
    let claimed = first
        .claim("box", &rules, &|_| true)
        .await
        .expect("claim")
        .claim
        .expect("the queued mission");
    assert_eq!(claimed.mission.id, id);
    first.run_here(&id);
    let running = || MissionEvent::Status {
        status: sortie_missions::MissionStatus::Running,
        reason: None,
    };
    first.append(&id, running()).await.expect("running");
    // The first start stalls past its lease; a new start of "box" takes the name and the
    // mission.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let second = PgStore::open_with(&url, options(Duration::from_secs(30)))
        .await
        .expect("open");
    second
        .register_daemon(&info("start-2"), Duration::from_secs(30))
        .await
        .expect("the name is free again");
    let taken = second
        .claim("box", &rules, &|_| true)
        .await
        .expect("claim")
        .claim
        .expect("the stalled start's mission");
    assert_eq!(taken.taken_from.as_deref(), Some("box"));
    // The first start wakes: same name, but not its lease. Its appends are written
    // behind: the late one is refused when its round is written, and the start hears it
    // at its flush (before any tool would act) and at every append after.
    let stored = second.events_from(&id, 0).await.expect("events").len();
    let late = first.append(&id, running()).await;
    let flushed = first.flush_mission(&id).await;
    assert!(
        matches!(late, Err(StoreError::LeaseLost { .. }))
            || matches!(flushed, Err(StoreError::LeaseLost { .. })),
        "a stalled start was not told it lost the mission: {late:?}, {flushed:?}"
    );
    match first.append(&id, running()).await {
        Err(StoreError::LeaseLost { .. }) => {}
        other => panic!("a stalled start wrote the log of a mission it lost: {other:?}"),
    }
    // What the runner asks before its next tool acts says so too.
    let settled = sortie_missions::MissionStore::settle_mission(&first, &id).await;
    assert!(
        matches!(settled, Err(StoreError::LeaseLost { .. })),
        "{settled:?}"
    );
    assert_eq!(
        second.events_from(&id, 0).await.expect("events").len(),
        stored,
        "nothing the stalled start wrote was stored"
    );
}
