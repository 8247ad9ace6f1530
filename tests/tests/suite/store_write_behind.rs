//! PostgreSQL's write-behind for the missions a process runs, against the real test
//! cluster: many missions' appends grouped into rounds keep every log gap-free and in
//! order, reads through the same handle see what is queued, and a round the database
//! refuses fails its missions loudly (at the flush before any tool would act, and at
//! every append after) while storing nothing of them.

use std::time::Duration;

use sortie_missions::postgres::{PgOptions, PgStore};
use sortie_missions::{MissionEvent, MissionSpec, MissionStore, StoreError};
use sortie_tests::postgres::Cluster;

fn options() -> PgOptions {
    PgOptions {
        connect_timeout: Duration::from_secs(5),
        pool_size: 4,
        ..Default::default()
    }
}

fn spec(prompt: &str) -> MissionSpec {
    sortie_tests::postgres::store_spec(prompt)
}

fn note(n: usize) -> MissionEvent {
    MissionEvent::Warning {
        message: format!("note {n}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_missions_appending_at_once_keep_every_log_gap_free_and_in_order() {
    let url = Cluster::shared().create_database().await;
    let store = PgStore::open_with(&url, options()).await.expect("open");
    let (missions, appends) = (40, 250);
    let mut ids = Vec::new();
    for i in 0..missions {
        let m = store
            .create_mission(spec(&format!("m{i}")))
            .await
            .expect("create");
        store.write_here(&m.id);
        ids.push(m.id);
    }
    // 10,000 appends in all: more than one round, and more than the queue holds at once.
    let mut tasks = tokio::task::JoinSet::new();
    for id in ids.clone() {
        let store = store.clone();
        tasks.spawn(async move {
            for n in 0..appends {
                let stored = store.append(&id, note(n)).await.expect("append");
                assert_eq!(
                    stored.seq,
                    n as u64 + 2,
                    "numbered from the record kept here"
                );
            }
            store.flush_mission(&id).await.expect("flush");
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("appender");
    }
    // Read through another handle: what the database has.
    let other = PgStore::open_with(&url, options()).await.expect("open");
    for id in &ids {
        let events = other.events_from(id, 0).await.expect("events");
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (0..appends as u64 + 2).collect::<Vec<_>>(), "{id}");
        for (n, event) in events[2..].iter().enumerate() {
            assert!(
                matches!(&event.event, MissionEvent::Warning { message } if *message == format!("note {n}")),
                "{id}: event {} is {:?}",
                event.seq,
                event.event
            );
        }
        let record = other.mission(id).await.expect("record");
        assert_eq!(
            record.event_count,
            appends as u64 + 2,
            "the record is current"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_mission_is_written_with_the_next_round_and_found_at_once() {
    let url = Cluster::shared().create_database().await;
    let store = PgStore::open_with(&url, options()).await.expect("open");
    let other = PgStore::open_with(&url, options()).await.expect("open");
    let mut listener = other.listen().await.expect("listen");
    let m = store.create_mission(spec("new")).await.expect("create");
    // Found through the handle that made it, by id and by prefix, before any flush.
    assert_eq!(store.mission(&m.id).await.expect("record").event_count, 2);
    let prefix = &m.id.to_string()[..8];
    assert_eq!(store.resolve(prefix).await.expect("resolve"), m.id);
    store.flush_mission(&m.id).await.expect("flush");
    // In the database for everyone, with its events, and told once.
    let events = other.events_from(&m.id, 0).await.expect("events");
    assert!(matches!(events[0].event, MissionEvent::Created { .. }));
    assert!(matches!(&events[1].event, MissionEvent::UserMessage { text } if text == "new"));
    let notice = tokio::time::timeout(Duration::from_secs(30), listener.recv())
        .await
        .expect("a notice")
        .expect("listening");
    assert_eq!((notice.mission, notice.seq), (m.id, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_through_the_same_handle_see_what_is_queued() {
    let url = Cluster::shared().create_database().await;
    let store = PgStore::open_with(&url, options()).await.expect("open");
    let m = store.create_mission(spec("read")).await.expect("create");
    store.write_here(&m.id);
    for n in 0..20 {
        store.append(&m.id, note(n)).await.expect("append");
    }
    // No flush: the reads wait for the queue.
    assert_eq!(store.events_from(&m.id, 0).await.expect("events").len(), 22);
    assert_eq!(store.mission(&m.id).await.expect("record").event_count, 22);
    let (all, _) = MissionStore::missions(&store).await.expect("missions");
    assert_eq!(all[0].event_count, 22);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_the_database_refuses_fails_its_missions_and_stores_nothing_of_them() {
    let pg = Cluster::start();
    let url = pg.create_database().await;
    let store = PgStore::open_with(&url, options()).await.expect("open");
    let m = store.create_mission(spec("outage")).await.expect("create");
    store.write_here(&m.id);
    store.append(&m.id, note(0)).await.expect("append");
    store.flush_mission(&m.id).await.expect("flush");
    pg.stop();
    // Queued while the database is down: the round fails, and the mission hears it at
    // its flush, whichever came first.
    let queued = store.append(&m.id, note(1)).await;
    let flushed = store.flush_mission(&m.id).await;
    fn failed<T>(r: &Result<T, StoreError>) -> bool {
        matches!(
            r,
            Err(StoreError::Unreachable { .. } | StoreError::Database { .. })
        )
    }
    assert!(
        failed(&queued) || failed(&flushed),
        "an unstored event was not reported: {queued:?}, {flushed:?}"
    );
    // A mission created meanwhile is reported at its creator's flush, and never appears.
    let lost = store.create_mission(spec("lost")).await;
    let lost_flush = match &lost {
        Ok(m) => store.flush_mission(&m.id).await,
        Err(_) => Ok(()),
    };
    assert!(
        failed(&lost) || failed(&lost_flush),
        "an unstored creation was not reported: {lost:?}, {lost_flush:?}"
    );
    pg.restart();
    if let Ok(m) = &lost {
        assert!(
            matches!(
                store.mission(&m.id).await,
                Err(StoreError::UnknownMission(_))
            ),
            "a creation that failed is not there"
        );
    }
    // The mission still runs here: every append and flush says it failed, even with the
    // database back, so its runner stops before any tool acts on what was lost.
    let again = store.append(&m.id, note(2)).await;
    assert!(failed(&again), "{again:?}");
    assert!(failed(&store.flush_mission(&m.id).await));
    // Once it stops running here, its appends go straight to the database again, at the
    // log's real end.
    store.done_here(&m.id);
    let next = store.append(&m.id, note(3)).await.expect("append");
    assert_eq!(next.seq, 3, "numbered after what was stored");
    let events = store.events_from(&m.id, 0).await.expect("events");
    let notes: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.event {
            MissionEvent::Warning { message } => Some(message.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        notes,
        ["note 0", "note 3"],
        "nothing unstored was written later"
    );
}
