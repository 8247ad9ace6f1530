//! The store's own tests: records in memory and on disk, records caught up as they are
//! read, flushes, the event log, prefixes, the data dir.

use std::path::Path;

use chrono::Utc;

use super::events::event_key;
use super::records::RECORDS_EVERY;
use super::*;
use crate::{Mission, MissionEvent, MissionId, MissionSpec, MissionStatus, StoredEvent};

fn spec() -> MissionSpec {
    MissionSpec::for_tests("hello")
}

/// A store as a crash between the two writes of an append leaves it: mission `id`'s
/// third event (`running`) stored, its record still at two events.
fn lagging_store(dir: &Path) -> (Store, MissionId) {
    let id = {
        let store = Store::open(dir).expect("open");
        let m = store.create_mission(spec()).expect("create");
        let stored = StoredEvent {
            seq: m.event_count,
            at: Utc::now(),
            event: MissionEvent::Status {
                status: MissionStatus::Running,
                reason: None,
            },
        };
        store
            .events
            .insert(
                event_key(&m.id, m.event_count).as_slice(),
                serde_json::to_vec(&stored).expect("json"),
            )
            .expect("insert");
        store.db.flush().expect("flush");
        m.id
    };
    (reopen(dir).expect("reopen"), id)
}

/// The event count of mission `id`'s record as written.
fn written_count(store: &Store, id: &MissionId) -> u64 {
    let raw = store.missions.get(id.as_bytes()).expect("get");
    serde_json::from_slice::<Mission>(&raw.expect("record"))
        .expect("decode")
        .event_count
}

/// One way to read a mission's record: the records it returns for mission `id`.
type ReadPath = dyn Fn(&Store, &MissionId) -> Vec<Mission>;

#[test]
fn an_event_stored_without_its_summary_is_replayed_into_the_record_when_it_is_read() {
    let running = |store: &Store, id: &MissionId| -> Vec<Mission> {
        let filter = MissionFilter {
            statuses: vec![MissionStatus::Running],
            ..Default::default()
        };
        let page = store.missions_page(&filter, 10).expect("page");
        page.missions.into_iter().filter(|m| m.id == *id).collect()
    };
    let listed = |store: &Store, id: &MissionId| -> Vec<Mission> {
        let (all, problems) = store.missions().expect("missions");
        assert!(problems.is_empty(), "{problems:?}");
        all.into_iter().filter(|m| m.id == *id).collect()
    };
    let one = |store: &Store, id: &MissionId| vec![store.mission(id).expect("mission")];
    let reads: [(&str, &ReadPath); 3] = [
        ("mission", &one),
        ("missions", &listed),
        ("a page of running missions", &running),
    ];
    for (what, read) in reads {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, id) = lagging_store(dir.path());
        assert_eq!(written_count(&store, &id), 2, "{what}: the open left it");
        let seen = read(&store, &id);
        assert_eq!(seen.len(), 1, "{what}: found by its caught-up status");
        assert_eq!(
            (seen[0].event_count, seen[0].status),
            (3, MissionStatus::Running),
            "{what}"
        );
        assert_eq!(written_count(&store, &id), 3, "{what}: written back");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, id) = lagging_store(dir.path());
    let next = store
        .append(
            &id,
            MissionEvent::UserMessage {
                text: "more".into(),
            },
        )
        .expect("append");
    assert_eq!(next.seq, 3, "the repaired event must not be overwritten");
}

/// Opens the store again after a handle on it dropped. sled lets go of its file lock
/// a moment after the last handle drops (its flusher thread ends on its own), so a
/// reopen at once can meet `Locked` on a loaded machine: wait that out, bounded.
pub(crate) fn reopen(dir: &Path) -> Result<Store, StoreError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Store::open(dir) {
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// A record as written in the `missions` tree, opened without the store.
fn written_record(store_dir: &Path, id: &MissionId) -> Mission {
    // As in `reopen`: the store's own handle may still hold the lock for a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let db = loop {
        match sled::Config::new().path(store_dir).open() {
            Ok(db) => break db,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("sled: {e}"),
        }
    };
    let raw = db.open_tree("missions").expect("tree").get(id.as_bytes());
    serde_json::from_slice(&raw.expect("get").expect("record")).expect("decode")
}

#[tokio::test]
async fn records_are_read_from_memory_and_written_at_flush_and_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let m = store.create_mission(spec()).expect("create");
    let running = MissionEvent::Status {
        status: MissionStatus::Running,
        reason: None,
    };
    store.append(&m.id, running).expect("append");
    let written = |store: &Store| -> u64 {
        let raw = store.missions.get(m.id.as_bytes()).expect("get");
        serde_json::from_slice::<Mission>(&raw.expect("record"))
            .expect("decode")
            .event_count
    };
    assert_eq!(
        written(&store),
        0,
        "written when created, then only at a flush"
    );
    let seen = store.mission(&m.id).expect("mission");
    assert_eq!((seen.event_count, seen.status), (3, MissionStatus::Running));
    let (listed, problems) = store.missions().expect("missions");
    assert!(problems.is_empty());
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].event_count, 3);
    store.flush().await.expect("flush");
    assert_eq!(
        written(&store),
        0,
        "a running mission's record is not written at every flush"
    );
    let warning = || MissionEvent::Warning {
        message: "w".into(),
    };
    age_records(&store).await;
    store.append(&m.id, warning()).expect("append");
    store.flush().await.expect("flush");
    assert_eq!(written(&store), 4, "written once RECORDS_EVERY has passed");
    store.append(&m.id, warning()).expect("append");
    store.flush().await.expect("flush");
    assert_eq!(written(&store), 4);
    store.flush_all().await.expect("flush all");
    assert_eq!(written(&store), 5, "flush_all writes every record");
    store.append(&m.id, warning()).expect("append");
    drop(store);
    let on_disk = written_record(&dir.path().join("store"), &m.id);
    assert_eq!(
        (on_disk.event_count, on_disk.status),
        (6, MissionStatus::Running),
        "the last handle writes what is dirty"
    );
}

/// Makes the next flush write every dirty record, as if RECORDS_EVERY had passed.
async fn age_records(store: &Store) {
    let mut last = store.shared.flushing.lock().await;
    *last = std::time::Instant::now()
        .checked_sub(RECORDS_EVERY)
        .expect("an instant a second ago");
}

#[tokio::test]
async fn an_unfinished_missions_record_stays_in_memory_past_a_flush_and_a_final_one_leaves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let m = store.create_mission(spec()).expect("create");
    let in_memory = |store: &Store| store.stripe(&m.id).get(&m.id).map(|r| r.dirty);
    assert_eq!(
        in_memory(&store),
        Some(true),
        "its first events are not written yet"
    );
    let status = |status| MissionEvent::Status {
        status,
        reason: None,
    };
    store
        .append(&m.id, status(MissionStatus::Running))
        .expect("append");
    assert_eq!(in_memory(&store), Some(true));
    store.flush().await.expect("flush");
    assert_eq!(in_memory(&store), Some(true), "not written at every flush");
    age_records(&store).await;
    let warning = MissionEvent::Warning {
        message: "w".into(),
    };
    store.append(&m.id, warning).expect("append");
    store.flush().await.expect("flush");
    assert_eq!(in_memory(&store), Some(false), "written, and still held");
    // The next append works from memory: the copy on disk is not read again.
    store
        .missions
        .insert(m.id.as_bytes(), b"not a record".to_vec())
        .expect("overwrite");
    store
        .append(&m.id, status(MissionStatus::Completed))
        .expect("append without reading the record back");
    store.flush().await.expect("flush");
    assert_eq!(
        in_memory(&store),
        None,
        "a final mission's record leaves memory"
    );
    let raw = store.missions.get(m.id.as_bytes()).expect("get");
    let on_disk: Mission = serde_json::from_slice(&raw.expect("record")).expect("decode");
    assert_eq!(
        (on_disk.event_count, on_disk.status),
        (5, MissionStatus::Completed)
    );
    let read = store.mission(&m.id).expect("read from disk");
    assert_eq!(
        (read.event_count, read.status),
        (5, MissionStatus::Completed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_flushes_all_return_with_their_records_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let ids: Vec<MissionId> = (0..50)
        .map(|_| store.create_mission(spec()).expect("create").id)
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, id) in ids.iter().enumerate() {
        let (store, id) = (store.clone(), *id);
        tasks.spawn(async move {
            for round in 0..5 {
                let message = format!("{i}/{round}");
                store
                    .append(&id, MissionEvent::Warning { message })
                    .expect("append");
                store.flush().await.expect("flush");
            }
            let done = MissionEvent::Status {
                status: MissionStatus::Completed,
                reason: None,
            };
            store.append(&id, done).expect("append");
            store.flush().await.expect("flush");
        });
    }
    let all = async {
        while let Some(done) = tasks.join_next().await {
            done.expect("task");
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), all)
        .await
        .expect("every flush returns (no waiter is left without a wake-up)");
    for id in &ids {
        let raw = store.missions.get(id.as_bytes()).expect("get");
        let written: Mission = serde_json::from_slice(&raw.expect("record")).expect("decode");
        assert_eq!(
            (written.event_count, written.status),
            (8, MissionStatus::Completed),
            "a final record is written by the flush after it"
        );
    }
}

#[test]
fn concurrent_appends_keep_every_log_contiguous() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let ids: Vec<MissionId> = (0..4)
        .map(|_| store.create_mission(spec()).expect("create").id)
        .collect();
    std::thread::scope(|scope| {
        for t in 0..8 {
            let (store, ids) = (&store, &ids);
            scope.spawn(move || {
                for i in 0..100 {
                    store
                        .append(
                            &ids[(t + i) % ids.len()],
                            MissionEvent::Warning {
                                message: format!("{t}/{i}"),
                            },
                        )
                        .expect("append");
                }
            });
        }
    });
    let mut total = 0;
    for id in &ids {
        let events = store.events(id).expect("events");
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (0..events.len() as u64).collect::<Vec<_>>());
        assert_eq!(
            store.mission(id).expect("m").event_count,
            events.len() as u64
        );
        total += events.len() - 2;
    }
    assert_eq!(total, 800);
}

#[test]
fn events_are_ordered_and_update_the_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let m = store.create_mission(spec()).expect("create");
    for status in [MissionStatus::Running, MissionStatus::Completed] {
        store
            .append(
                &m.id,
                MissionEvent::Status {
                    status,
                    reason: None,
                },
            )
            .expect("append");
    }
    let events = store.events(&m.id).expect("events");
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [0, 1, 2, 3]);
    let m = store.mission(&m.id).expect("mission");
    assert_eq!(m.status, MissionStatus::Completed);
    assert_eq!(m.event_count, 4);
}

#[test]
fn a_newer_schema_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path()).expect("open");
        let meta = store.db().open_tree("meta").expect("meta");
        meta.insert("schema_version", &(SCHEMA_VERSION + 1).to_be_bytes())
            .expect("insert");
        store.db().flush().expect("flush");
    }
    let err = reopen(dir.path()).err().expect("must refuse");
    assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
    assert!(err.to_string().contains("newer sortie"), "{err}");
}

#[test]
fn a_corrupt_event_is_reported_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let m = store.create_mission(spec()).expect("create");
    store
        .events
        .insert(event_key(&m.id, 1), b"{not json".to_vec())
        .expect("insert");
    let events = store.events(&m.id).expect("events");
    assert_eq!(events.len(), 2);
    assert!(matches!(events[0].event, MissionEvent::Created { .. }));
    assert!(
        matches!(&events[1].event, MissionEvent::Unreadable { error } if error.contains("event 1"))
    );
}

#[test]
fn prefixes_resolve_when_unique() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let m = store.create_mission(spec()).expect("create");
    let text = m.id.to_string();
    assert_eq!(store.resolve(&text[..13]).expect("prefix"), m.id);
    assert!(matches!(
        store.resolve("ffffffff"),
        Err(StoreError::UnknownMission(_))
    ));
    assert!(matches!(
        store.resolve("zz"),
        Err(StoreError::UnknownMission(_))
    ));
}

#[cfg(unix)]
#[test]
fn the_data_dir_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    Store::open(&home).expect("open");
    let mode = std::fs::metadata(&home).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}
