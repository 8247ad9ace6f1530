//! One suite, two backends: the same store scenarios run on the sled store (in a temporary
//! directory) and on the PostgreSQL store (a database of its own on the test cluster, see
//! `sortie_tests::postgres`), both through the `MissionStore` trait. The few things a
//! scenario does behind the store's back (a corrupt row, a schema from a newer sortie)
//! are done per backend by `Backend`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sortie_missions::postgres::{PgOptions, PgStore, PG_SCHEMA_VERSION};
use sortie_missions::scheduler::{MissionTemplate, Schedule, Timing};
use sortie_missions::{
    MissionEvent, MissionFilter, MissionId, MissionSpec, MissionStatus, MissionStore, Store,
    StoreError, SCHEMA_VERSION,
};
use sortie_tests::postgres::Cluster;

enum Kind {
    Sled {
        dir: tempfile::TempDir,
        store: Store,
    },
    Postgres {
        url: String,
    },
}

/// A store of one backend, and what a test needs to reach behind it.
struct Backend {
    store: Arc<dyn MissionStore>,
    kind: Kind,
}

fn pg_options() -> PgOptions {
    PgOptions {
        connect_timeout: Duration::from_secs(30),
        pool_size: 8,
        ..Default::default()
    }
}

impl Backend {
    async fn sled() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open sled");
        Self {
            store: Arc::new(store.clone()),
            kind: Kind::Sled { dir, store },
        }
    }

    async fn postgres() -> Self {
        let url = Cluster::shared().create_database().await;
        let store = PgStore::open_with(&url, pg_options())
            .await
            .expect("open postgres");
        Self {
            store: Arc::new(store),
            kind: Kind::Postgres { url },
        }
    }

    /// Overwrites a mission's stored record with JSON that is no mission.
    async fn corrupt_mission(&self, id: &MissionId) {
        match &self.kind {
            Kind::Sled { store, .. } => {
                // Written first, so that no later write of the record undoes the damage.
                store.flush_all().await.expect("flush");
                let tree = store.db().open_tree("missions").expect("tree");
                tree.insert(id.0.as_bytes(), br#"{"nope":1}"#.to_vec())
                    .expect("insert");
            }
            Kind::Postgres { url } => {
                // Written first (new missions go with the handle's next round).
                self.store.flush_all().await.expect("flush");
                sql(
                    url,
                    &format!("UPDATE missions SET record = '{{\"nope\":1}}' WHERE id = '{id}'"),
                )
                .await;
            }
        }
    }

    /// Overwrites one stored event with JSON that is no event.
    async fn corrupt_event(&self, id: &MissionId, seq: u64) {
        match &self.kind {
            Kind::Sled { store, .. } => {
                let mut key = id.0.as_bytes().to_vec();
                key.extend_from_slice(&seq.to_be_bytes());
                let tree = store.db().open_tree("events").expect("tree");
                tree.insert(key, br#"{"seq":"x"}"#.to_vec())
                    .expect("insert");
            }
            Kind::Postgres { url } => {
                self.store.flush_all().await.expect("flush");
                sql(
                    url,
                    &format!(
                        "UPDATE events SET event = '{{\"seq\":\"x\"}}' WHERE mission_id = '{id}' AND seq = {seq}"
                    ),
                )
                .await;
            }
        }
    }

    /// Records a schema version one past this build's, as a newer sortie would.
    async fn mark_newer_schema(&self) {
        match &self.kind {
            Kind::Sled { store, .. } => {
                let meta = store.db().open_tree("meta").expect("meta");
                meta.insert("schema_version", &(SCHEMA_VERSION + 1).to_be_bytes())
                    .expect("insert");
                store.db().flush().expect("flush");
            }
            Kind::Postgres { url } => {
                sql(
                    url,
                    &format!(
                        "INSERT INTO sortie_migrations (version, name) VALUES ({}, 'from the future')",
                        PG_SCHEMA_VERSION + 1
                    ),
                )
                .await;
            }
        }
    }

    /// Closes the store and opens it again.
    async fn reopen(self) -> Result<Arc<dyn MissionStore>, StoreError> {
        let Backend { store, kind } = self;
        drop(store);
        match kind {
            Kind::Sled { dir, store } => {
                drop(store);
                // sled lets go of its lock a moment after the last handle drops.
                let deadline = std::time::Instant::now() + Duration::from_secs(20);
                let reopened = loop {
                    match Store::open(dir.path()) {
                        Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        other => break other,
                    }
                };
                // The directory must outlive the test's use of the store.
                std::mem::forget(dir);
                Ok(Arc::new(reopened?) as Arc<dyn MissionStore>)
            }
            Kind::Postgres { url } => Ok(Arc::new(PgStore::open_with(&url, pg_options()).await?)),
        }
    }
}

async fn sql(url: &str, statement: &str) {
    let client = sortie_tests::postgres::connect(url).await;
    client
        .batch_execute(statement)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e:?}"));
}

fn spec(prompt: &str) -> MissionSpec {
    sortie_tests::postgres::store_spec(prompt)
}

fn status(status: MissionStatus) -> MissionEvent {
    MissionEvent::Status {
        status,
        reason: None,
    }
}

fn warning(message: String) -> MissionEvent {
    MissionEvent::Warning { message }
}

fn schedule() -> Schedule {
    Schedule::new(
        None,
        Timing::Every { secs: 60 },
        MissionTemplate {
            prompt: "p".into(),
            provider: None,
            model: None,
            cwd: "/".into(),
            permission: None,
            max_turns: None,
            sandbox: None,
            no_instructions: false,
            mcp: None,
            budget: Default::default(),
            notify: None,
            worktree: false,
            labels: Vec::new(),
        },
        Utc::now(),
    )
}

/// Runs each scenario on both backends: `store_backends::sled::NAME` and
/// `store_backends::postgres::NAME`.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sled {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    super::$scenario(super::Backend::sled().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    super::$scenario(super::Backend::postgres().await).await;
                }
            )*
        }
    };
}

on_both_backends!(
    missions_are_created_shown_resolved_listed_and_deleted,
    events_append_in_order_and_read_from_any_point,
    pages_follow_the_cursor_and_filters_apply,
    concurrent_appends_keep_every_log_unique_and_gap_free,
    schedules_are_stored_found_updated_and_deleted_and_move_the_generation,
    concurrent_schedule_updates_lose_no_change,
    the_models_cache_round_trips,
    a_corrupt_record_or_event_is_reported_clearly,
    a_schema_from_a_newer_sortie_is_refused,
);

async fn missions_are_created_shown_resolved_listed_and_deleted(b: Backend) {
    let store = &b.store;
    let a = store.create_mission(spec("first")).await.expect("create");
    assert_eq!((a.event_count, a.status), (2, MissionStatus::Queued));
    assert_eq!(a.prompt, "first");
    let other = store.create_mission(spec("second")).await.expect("create");
    assert_eq!(store.mission(&a.id).await.expect("show"), a);

    let text = a.id.to_string();
    assert_eq!(store.resolve(&text).await.expect("full id"), a.id);
    assert_eq!(
        store
            .resolve(&text.to_uppercase()[..])
            .await
            .expect("any case"),
        a.id
    );
    assert_eq!(
        store
            .resolve(&text[..text.len() - 2])
            .await
            .expect("prefix"),
        a.id
    );
    // Two UUID v7 ids made together share their first characters.
    match store.resolve(&text[..4]).await {
        Err(StoreError::AmbiguousMission { count: 2, .. }) => {}
        other => panic!("expected an ambiguous prefix: {other:?}"),
    }
    for unknown in ["ffffffff", "zz", "ab"] {
        assert!(
            matches!(
                store.resolve(unknown).await,
                Err(StoreError::UnknownMission(_))
            ),
            "{unknown}"
        );
    }

    let (all, problems) = store.missions().await.expect("list");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        all.iter().map(|m| m.id).collect::<Vec<_>>(),
        [a.id, other.id]
    );

    store.delete_mission(&a.id).await.expect("delete");
    assert!(matches!(
        store.mission(&a.id).await,
        Err(StoreError::UnknownMission(_))
    ));
    assert!(store
        .events_from(&a.id, 0)
        .await
        .expect("events")
        .is_empty());
    assert!(matches!(
        store.delete_mission(&a.id).await,
        Err(StoreError::UnknownMission(_))
    ));
    assert!(matches!(
        store.append(&a.id, warning("late".into())).await,
        Err(StoreError::UnknownMission(_))
    ));
    let (all, _) = store.missions().await.expect("list");
    assert_eq!(all.iter().map(|m| m.id).collect::<Vec<_>>(), [other.id]);
}

async fn events_append_in_order_and_read_from_any_point(b: Backend) {
    let store = &b.store;
    let m = store.create_mission(spec("hello")).await.expect("create");
    let running = store
        .append(&m.id, status(MissionStatus::Running))
        .await
        .expect("append");
    assert_eq!(running.seq, 2);
    // A NUL in a tool's output is kept (PostgreSQL's jsonb would refuse it).
    let odd = "a\u{0}b \u{1F680} \"quoted\"".to_string();
    store
        .append(&m.id, warning(odd.clone()))
        .await
        .expect("append");
    store
        .append(&m.id, status(MissionStatus::Completed))
        .await
        .expect("append");
    store.flush().await.expect("flush");

    let events = store.events_from(&m.id, 0).await.expect("events");
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    assert!(matches!(events[0].event, MissionEvent::Created { .. }));
    assert!(matches!(&events[1].event, MissionEvent::UserMessage { text } if text == "hello"));
    assert!(matches!(&events[3].event, MissionEvent::Warning { message } if *message == odd));
    assert_eq!(events[2], running);

    let later = store.events_from(&m.id, 3).await.expect("events");
    assert_eq!(later.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
    assert!(store
        .events_from(&m.id, 5)
        .await
        .expect("events")
        .is_empty());
    let json = store.events_json_from(&m.id, 3).await.expect("json");
    assert_eq!(json.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [3, 4]);
    let decoded: sortie_missions::StoredEvent =
        serde_json::from_slice(&json[0].1).expect("stored JSON decodes");
    assert_eq!(decoded, later[0]);

    let record = store.mission(&m.id).await.expect("mission");
    assert_eq!(
        (record.event_count, record.status),
        (5, MissionStatus::Completed)
    );
}

async fn pages_follow_the_cursor_and_filters_apply(b: Backend) {
    let store = &b.store;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            store
                .create_mission(spec(&format!("p{i}")))
                .await
                .expect("create")
                .id,
        );
    }
    let first = store
        .missions_page(&MissionFilter::default(), 2)
        .await
        .expect("page");
    assert_eq!(
        first.missions.iter().map(|m| m.id).collect::<Vec<_>>(),
        ids[..2]
    );
    assert_eq!(first.next_cursor, Some(ids[1]));
    let after = MissionFilter {
        after: first.next_cursor,
        ..Default::default()
    };
    let rest = store.missions_page(&after, 10).await.expect("page");
    assert_eq!(
        rest.missions.iter().map(|m| m.id).collect::<Vec<_>>(),
        ids[2..]
    );
    assert_eq!(rest.next_cursor, None);

    let since = Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    store
        .append(&ids[3], status(MissionStatus::Completed))
        .await
        .expect("append");
    let changed = MissionFilter {
        updated_since: Some(since),
        ..Default::default()
    };
    let page = store.missions_page(&changed, 10).await.expect("page");
    assert_eq!(
        page.missions.iter().map(|m| m.id).collect::<Vec<_>>(),
        [ids[3]]
    );
    let done = MissionFilter {
        statuses: vec![MissionStatus::Completed, MissionStatus::Failed],
        ..Default::default()
    };
    let page = store.missions_page(&done, 10).await.expect("page");
    assert_eq!(
        page.missions.iter().map(|m| m.id).collect::<Vec<_>>(),
        [ids[3]]
    );
    assert_eq!(page.missions[0].status, MissionStatus::Completed);
}

async fn concurrent_appends_keep_every_log_unique_and_gap_free(b: Backend) {
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            b.store
                .create_mission(spec(&format!("c{i}")))
                .await
                .expect("create")
                .id,
        );
    }
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..12 {
        let (store, ids) = (b.store.clone(), ids.clone());
        tasks.spawn(async move {
            for i in 0..20 {
                let id = ids[(t + i) % ids.len()];
                store
                    .append(&id, warning(format!("{t}/{i}")))
                    .await
                    .expect("append");
            }
        });
    }
    let all = async {
        while let Some(done) = tasks.join_next().await {
            done.expect("task");
        }
    };
    tokio::time::timeout(Duration::from_secs(120), all)
        .await
        .expect("240 appends finish");
    let mut total = 0;
    for id in &ids {
        let events = b.store.events_from(id, 0).await.expect("events");
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            (0..events.len() as u64).collect::<Vec<_>>(),
            "gap-free"
        );
        let record = b.store.mission(id).await.expect("mission");
        assert_eq!(record.event_count, events.len() as u64);
        total += events.len() - 2;
    }
    assert_eq!(total, 240, "no append lost");
}

async fn schedules_are_stored_found_updated_and_deleted_and_move_the_generation(b: Backend) {
    let store = &b.store;
    let g0 = store.schedules_generation().await.expect("generation");
    let (a, c) = (schedule(), schedule());
    store.put_schedule(&a).await.expect("put");
    store.put_schedule(&c).await.expect("put");
    let g1 = store.schedules_generation().await.expect("generation");
    assert!(g1 > g0, "{g1} > {g0}");

    assert_eq!(store.schedule(&a.id).await.expect("by id"), a);
    assert_eq!(
        store
            .schedule(&c.id[..c.id.len() - 1])
            .await
            .expect("prefix")
            .id,
        c.id
    );
    let ambiguous = store.schedule(&a.id[..4]).await.expect_err("two match");
    assert_eq!(
        ambiguous.to_string(),
        format!(
            "`{}` matches 2 schedules; give more of the id (see `sortie schedule ls`)",
            &a.id[..4]
        )
    );
    assert!(matches!(
        store.schedule("ffffffff").await,
        Err(StoreError::UnknownSchedule(_))
    ));
    let (all, problems) = store.schedules().await.expect("list");
    assert!(problems.is_empty());
    assert_eq!(all, [a.clone(), c.clone()]);

    let updated = store
        .update_schedule(&a.id, &mut |s| {
            s.paused = true;
            true
        })
        .await
        .expect("update")
        .expect("there");
    assert!(updated.paused);
    assert!(store.schedule(&a.id).await.expect("read").paused);
    let g2 = store.schedules_generation().await.expect("generation");
    assert!(g2 > g1);
    let declined = store
        .update_schedule(&a.id, &mut |_| false)
        .await
        .expect("update");
    assert!(declined.is_none());

    store.delete_schedule(&a.id).await.expect("delete");
    assert!(store.schedules_generation().await.expect("generation") > g2);
    let gone = store
        .update_schedule(&a.id, &mut |_| true)
        .await
        .expect("update");
    assert!(gone.is_none(), "a deleted schedule does not come back");
    assert!(matches!(
        store.schedule(&a.id).await,
        Err(StoreError::UnknownSchedule(_))
    ));
    store
        .delete_schedule(&a.id)
        .await
        .expect("deleting none is no error");
    let (all, _) = store.schedules().await.expect("list");
    assert_eq!(all, [c]);
}

async fn concurrent_schedule_updates_lose_no_change(b: Backend) {
    let s = schedule();
    b.store.put_schedule(&s).await.expect("put");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let (store, id) = (b.store.clone(), s.id.clone());
        tasks.spawn(async move {
            for _ in 0..10 {
                store
                    .update_schedule(&id, &mut |s| {
                        s.jitter_secs += 1;
                        true
                    })
                    .await
                    .expect("update")
                    .expect("there");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
    assert_eq!(b.store.schedule(&s.id).await.expect("read").jitter_secs, 30);
}

async fn the_models_cache_round_trips(b: Backend) {
    let store = &b.store;
    assert!(store.cached_models("acme").await.expect("read").is_none());
    let models = vec![sortie_transports::ModelInfo {
        id: "acme-1".into(),
        display_name: Some("Acme One".into()),
        owned_by: None,
    }];
    let cached = store
        .cache_models("acme", models.clone())
        .await
        .expect("cache");
    assert_eq!(
        store.cached_models("acme").await.expect("read"),
        Some(cached.clone())
    );
    let newer = store
        .cache_models("acme", Vec::new())
        .await
        .expect("cache again");
    assert_eq!(
        store.cached_models("acme").await.expect("read"),
        Some(newer)
    );
    assert!(store.cached_models("other").await.expect("read").is_none());
}

async fn a_corrupt_record_or_event_is_reported_clearly(b: Backend) {
    let good = b.store.create_mission(spec("good")).await.expect("create");
    let bad = b.store.create_mission(spec("bad")).await.expect("create");
    b.corrupt_event(&good.id, 1).await;
    let events = b.store.events_from(&good.id, 0).await.expect("events");
    assert_eq!(events.len(), 2, "the events around it are kept");
    assert!(matches!(events[0].event, MissionEvent::Created { .. }));
    assert!(
        matches!(&events[1].event, MissionEvent::Unreadable { error } if error.contains("event 1")),
        "{:?}",
        events[1]
    );

    b.corrupt_mission(&bad.id).await;
    let (all, problems) = b.store.missions().await.expect("list");
    assert_eq!(all.iter().map(|m| m.id).collect::<Vec<_>>(), [good.id]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains(&bad.id.to_string()) && problems[0].contains("unreadable record"));
    let store = b.reopen().await.expect("reopen");
    let err = store.mission(&bad.id).await.expect_err("corrupt");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("the record of mission {} is corrupt", bad.id)),
        "{err}"
    );
}

async fn a_schema_from_a_newer_sortie_is_refused(b: Backend) {
    b.store.create_mission(spec("old")).await.expect("create");
    b.mark_newer_schema().await;
    let err = b.reopen().await.err().expect("refused");
    assert!(
        matches!(
            err,
            StoreError::TooNew { .. } | StoreError::DatabaseTooNew { .. }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("written by a newer sortie"),
        "{err}"
    );
}
