//! The store as a trait: what a mission store does, whatever keeps it. Two backends
//! implement it: sled ([`Store`], embedded, one process) and PostgreSQL
//! ([`super::postgres::PgStore`], behind the `postgres` feature, shared by several
//! daemons). The runtime and the mission runner hold a store as
//! `Arc<dyn MissionStore>`; the sled store's own (synchronous) methods are delegated to.
//!
//! Errors are the one [`StoreError`] of both backends, so a caller handles "no such
//! mission" or "schema too new" the same way whichever store it has.

use async_trait::async_trait;
use sortie_transports::ModelInfo;

use super::{CachedModels, MissionFilter, MissionPage, Store, StoreError};
use crate::scheduler::Schedule;
use crate::{Mission, MissionEvent, MissionId, MissionSpec, StoredEvent};

/// A mission store: missions with their event logs, schedules, and the models cache.
/// Object safe: hold it as `Arc<dyn MissionStore>`.
#[async_trait]
pub trait MissionStore: Send + Sync {
    /// Where the store is, for messages: a path, or a URL without its password.
    fn location(&self) -> String;

    /// Creates a mission with its `Created` and first `UserMessage` events.
    async fn create_mission(&self, spec: MissionSpec) -> Result<Mission, StoreError> {
        self.create_mission_with_id(MissionId::new(), spec).await
    }
    /// The same, under an id made beforehand (a worktree's branch is named after it).
    async fn create_mission_with_id(
        &self,
        id: MissionId,
        spec: MissionSpec,
    ) -> Result<Mission, StoreError>;
    /// Creates a mission with its `Created` and first `UserMessage` events, then `setup`
    /// (its budget, notices, ...), and returns its record after them. A store that can
    /// writes them together (PostgreSQL: one write), so none is stored without the others.
    async fn create_mission_with_setup(
        &self,
        spec: MissionSpec,
        setup: Vec<MissionEvent>,
    ) -> Result<Mission, StoreError> {
        let mission = self.create_mission(spec).await?;
        if setup.is_empty() {
            return Ok(mission);
        }
        for event in setup {
            self.append(&mission.id, event).await?;
        }
        self.mission(&mission.id).await
    }
    /// Creates a mission forked from `parent` at its event `at`: its `created`, the
    /// `forked` link, then `history` (the events [`crate::forks::fork_events`] chose).
    async fn create_fork(
        &self,
        spec: MissionSpec,
        parent: MissionId,
        at: u64,
        history: Vec<MissionEvent>,
    ) -> Result<Mission, StoreError>;
    /// One mission's record ([`StoreError::UnknownMission`] when there is none,
    /// [`StoreError::Corrupt`] when it cannot be read).
    async fn mission(&self, id: &MissionId) -> Result<Mission, StoreError>;
    /// Finds a mission by its full id or a unique prefix of it (4+ characters).
    async fn resolve(&self, text: &str) -> Result<MissionId, StoreError>;
    /// Every mission, oldest first, and a description of each unreadable record.
    async fn missions(&self) -> Result<(Vec<Mission>, Vec<String>), StoreError>;
    /// Up to `limit` missions matching `filter`, in id (creation) order.
    async fn missions_page(
        &self,
        filter: &MissionFilter,
        limit: usize,
    ) -> Result<MissionPage, StoreError>;
    /// Deletes a mission and its whole event log.
    async fn delete_mission(&self, id: &MissionId) -> Result<(), StoreError>;

    /// Appends one event (held secrets masked, long texts capped) and brings the
    /// mission's record up to date. Sequence numbers are unique and gap-free per mission,
    /// however many tasks append at once.
    async fn append(&self, id: &MissionId, event: MissionEvent) -> Result<StoredEvent, StoreError>;
    /// The event log from sequence number `from` on; an entry that cannot be decoded
    /// comes back in place as [`MissionEvent::Unreadable`].
    async fn events_from(&self, id: &MissionId, from: u64) -> Result<Vec<StoredEvent>, StoreError>;
    /// The whole event log.
    async fn events(&self, id: &MissionId) -> Result<Vec<StoredEvent>, StoreError> {
        self.events_from(id, 0).await
    }
    /// The event log from `from` on as stored JSON objects, for replays that send the
    /// events on without decoding them.
    async fn events_json_from(
        &self,
        id: &MissionId,
        from: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;
    /// Makes everything written so far durable.
    async fn flush(&self) -> Result<(), StoreError>;
    /// Makes mission `id`'s events appended so far durable, or says why they could not be
    /// (a store that writes behind, as PostgreSQL does for the missions its process
    /// runs, reports a failed write of them here).
    async fn flush_mission(&self, id: &MissionId) -> Result<(), StoreError> {
        let _ = id;
        self.flush().await
    }
    /// Waits until the store took mission `id`'s events appended so far as this
    /// process's to write, and says why not if it refused them (a lease lost): asked
    /// before a tool acts on an earlier tool's stored result. It asks for no durability;
    /// a store that writes as it appends (sled) has nothing to wait for.
    async fn settle_mission(&self, id: &MissionId) -> Result<(), StoreError> {
        let _ = id;
        Ok(())
    }
    /// Makes everything durable, the records of running missions included (at a stop).
    async fn flush_all(&self) -> Result<(), StoreError> {
        self.flush().await
    }
    /// Refuses a write that would not fit ([`StoreError::DiskFull`] on a local disk near
    /// full); a server-side store reports its own failures as they happen.
    fn check_space(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// True after a write failed for want of space (cleared by [`Self::check_space`]).
    fn write_failed(&self) -> bool {
        false
    }
    /// The sled store behind this one, if that is what it is (credentials and pending
    /// logins still live there).
    fn as_sled(&self) -> Option<&Store> {
        None
    }
    /// The PostgreSQL store behind this one, if that is what it is (daemons sharing it
    /// claim missions and beat through it; its event notices, its credential tables).
    #[cfg(feature = "postgres")]
    fn as_postgres(&self) -> Option<&super::postgres::PgStore> {
        None
    }

    /// Stores a schedule (new or changed).
    async fn put_schedule(&self, schedule: &Schedule) -> Result<(), StoreError>;
    /// Every schedule in id order, and a description of each unreadable one.
    async fn schedules(&self) -> Result<(Vec<Schedule>, Vec<String>), StoreError>;
    /// The schedule with this id, or the only one whose id starts with it (4+ characters).
    async fn schedule(&self, text: &str) -> Result<Schedule, StoreError>;
    /// Deletes a schedule (the missions it started stay); deleting none is no error.
    async fn delete_schedule(&self, id: &str) -> Result<(), StoreError>;
    /// Reads schedule `id`, lets `change` modify it, and writes it back unless a change
    /// made meanwhile would be undone (the change may then run again on the newer one).
    /// `change` returns false to write nothing. The schedule as written, or `None` when
    /// it is gone or `change` declined.
    async fn update_schedule(
        &self,
        id: &str,
        change: &mut (dyn for<'s> FnMut(&'s mut Schedule) -> bool + Send),
    ) -> Result<Option<Schedule>, StoreError>;
    /// A number that moves at every schedule write: a timer that saw the same one last
    /// time knows nothing changed.
    async fn schedules_generation(&self) -> Result<u64, StoreError>;

    /// A provider's cached model list, if any (an unreadable entry counts as none).
    async fn cached_models(&self, provider: &str) -> Result<Option<CachedModels>, StoreError>;
    /// Caches a provider's model list, stamped now.
    async fn cache_models(
        &self,
        provider: &str,
        models: Vec<ModelInfo>,
    ) -> Result<CachedModels, StoreError>;
}

/// The sled store, by its own (synchronous, fast) methods.
#[async_trait]
impl MissionStore for Store {
    fn location(&self) -> String {
        self.path().display().to_string()
    }

    async fn create_mission(&self, spec: MissionSpec) -> Result<Mission, StoreError> {
        Store::create_mission(self, spec)
    }

    async fn create_mission_with_id(
        &self,
        id: MissionId,
        spec: MissionSpec,
    ) -> Result<Mission, StoreError> {
        Store::create_mission_with_id(self, id, spec)
    }

    async fn create_fork(
        &self,
        spec: MissionSpec,
        parent: MissionId,
        at: u64,
        history: Vec<MissionEvent>,
    ) -> Result<Mission, StoreError> {
        Store::create_fork(self, spec, parent, at, history)
    }

    async fn mission(&self, id: &MissionId) -> Result<Mission, StoreError> {
        Store::mission(self, id)
    }

    async fn resolve(&self, text: &str) -> Result<MissionId, StoreError> {
        Store::resolve(self, text)
    }

    async fn missions(&self) -> Result<(Vec<Mission>, Vec<String>), StoreError> {
        Store::missions(self)
    }

    async fn missions_page(
        &self,
        filter: &MissionFilter,
        limit: usize,
    ) -> Result<MissionPage, StoreError> {
        Store::missions_page(self, filter, limit)
    }

    async fn delete_mission(&self, id: &MissionId) -> Result<(), StoreError> {
        Store::delete_mission(self, id)
    }

    async fn append(&self, id: &MissionId, event: MissionEvent) -> Result<StoredEvent, StoreError> {
        Store::append(self, id, event)
    }

    async fn events_from(&self, id: &MissionId, from: u64) -> Result<Vec<StoredEvent>, StoreError> {
        Store::events_from(self, id, from)
    }

    async fn events(&self, id: &MissionId) -> Result<Vec<StoredEvent>, StoreError> {
        Store::events(self, id)
    }

    async fn events_json_from(
        &self,
        id: &MissionId,
        from: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        Store::events_json_from(self, id, from)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        Store::flush(self).await
    }

    async fn flush_all(&self) -> Result<(), StoreError> {
        Store::flush_all(self).await
    }

    fn check_space(&self) -> Result<(), StoreError> {
        Store::check_space(self)
    }

    fn write_failed(&self) -> bool {
        Store::write_failed(self)
    }

    fn as_sled(&self) -> Option<&Store> {
        Some(self)
    }

    async fn put_schedule(&self, schedule: &Schedule) -> Result<(), StoreError> {
        Store::put_schedule(self, schedule)
    }

    async fn schedules(&self) -> Result<(Vec<Schedule>, Vec<String>), StoreError> {
        Store::schedules(self)
    }

    async fn schedule(&self, text: &str) -> Result<Schedule, StoreError> {
        Store::schedule(self, text)
    }

    async fn delete_schedule(&self, id: &str) -> Result<(), StoreError> {
        Store::delete_schedule(self, id)
    }

    async fn update_schedule(
        &self,
        id: &str,
        change: &mut (dyn for<'s> FnMut(&'s mut Schedule) -> bool + Send),
    ) -> Result<Option<Schedule>, StoreError> {
        Ok(Store::update_schedule(self, id, |s| change(s).then_some(()))?.map(|(s, ())| s))
    }

    async fn schedules_generation(&self) -> Result<u64, StoreError> {
        Ok(Store::schedules_generation(self))
    }

    async fn cached_models(&self, provider: &str) -> Result<Option<CachedModels>, StoreError> {
        Store::cached_models(self, provider)
    }

    async fn cache_models(
        &self,
        provider: &str,
        models: Vec<ModelInfo>,
    ) -> Result<CachedModels, StoreError> {
        Store::cache_models(self, provider, models)
    }
}

/// A shared store is a store: `&Arc<dyn MissionStore>` goes where `&dyn MissionStore` does.
#[async_trait]
impl<S: MissionStore + ?Sized> MissionStore for std::sync::Arc<S> {
    async fn create_mission_with_id(
        &self,
        id: MissionId,
        spec: MissionSpec,
    ) -> Result<Mission, StoreError> {
        (**self).create_mission_with_id(id, spec).await
    }

    async fn create_mission_with_setup(
        &self,
        spec: MissionSpec,
        setup: Vec<MissionEvent>,
    ) -> Result<Mission, StoreError> {
        (**self).create_mission_with_setup(spec, setup).await
    }

    async fn create_fork(
        &self,
        spec: MissionSpec,
        parent: MissionId,
        at: u64,
        history: Vec<MissionEvent>,
    ) -> Result<Mission, StoreError> {
        (**self).create_fork(spec, parent, at, history).await
    }

    async fn missions_page(
        &self,
        filter: &MissionFilter,
        limit: usize,
    ) -> Result<MissionPage, StoreError> {
        (**self).missions_page(filter, limit).await
    }

    async fn events_json_from(
        &self,
        id: &MissionId,
        from: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        (**self).events_json_from(id, from).await
    }

    async fn update_schedule(
        &self,
        id: &str,
        change: &mut (dyn for<'s> FnMut(&'s mut Schedule) -> bool + Send),
    ) -> Result<Option<Schedule>, StoreError> {
        (**self).update_schedule(id, change).await
    }

    async fn cache_models(
        &self,
        provider: &str,
        models: Vec<ModelInfo>,
    ) -> Result<CachedModels, StoreError> {
        (**self).cache_models(provider, models).await
    }

    fn location(&self) -> String {
        (**self).location()
    }

    async fn create_mission(&self, spec: MissionSpec) -> Result<Mission, StoreError> {
        (**self).create_mission(spec).await
    }

    async fn mission(&self, id: &MissionId) -> Result<Mission, StoreError> {
        (**self).mission(id).await
    }

    async fn resolve(&self, text: &str) -> Result<MissionId, StoreError> {
        (**self).resolve(text).await
    }

    async fn missions(&self) -> Result<(Vec<Mission>, Vec<String>), StoreError> {
        (**self).missions().await
    }

    async fn delete_mission(&self, id: &MissionId) -> Result<(), StoreError> {
        (**self).delete_mission(id).await
    }

    async fn append(&self, id: &MissionId, event: MissionEvent) -> Result<StoredEvent, StoreError> {
        (**self).append(id, event).await
    }

    async fn events_from(&self, id: &MissionId, from: u64) -> Result<Vec<StoredEvent>, StoreError> {
        (**self).events_from(id, from).await
    }

    async fn events(&self, id: &MissionId) -> Result<Vec<StoredEvent>, StoreError> {
        (**self).events(id).await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        (**self).flush().await
    }

    async fn flush_mission(&self, id: &MissionId) -> Result<(), StoreError> {
        (**self).flush_mission(id).await
    }

    async fn settle_mission(&self, id: &MissionId) -> Result<(), StoreError> {
        (**self).settle_mission(id).await
    }

    async fn flush_all(&self) -> Result<(), StoreError> {
        (**self).flush_all().await
    }

    fn check_space(&self) -> Result<(), StoreError> {
        (**self).check_space()
    }

    fn write_failed(&self) -> bool {
        (**self).write_failed()
    }

    fn as_sled(&self) -> Option<&Store> {
        (**self).as_sled()
    }

    #[cfg(feature = "postgres")]
    fn as_postgres(&self) -> Option<&super::postgres::PgStore> {
        (**self).as_postgres()
    }

    async fn put_schedule(&self, schedule: &Schedule) -> Result<(), StoreError> {
        (**self).put_schedule(schedule).await
    }

    async fn schedules(&self) -> Result<(Vec<Schedule>, Vec<String>), StoreError> {
        (**self).schedules().await
    }

    async fn schedule(&self, text: &str) -> Result<Schedule, StoreError> {
        (**self).schedule(text).await
    }

    async fn delete_schedule(&self, id: &str) -> Result<(), StoreError> {
        (**self).delete_schedule(id).await
    }

    async fn schedules_generation(&self) -> Result<u64, StoreError> {
        (**self).schedules_generation().await
    }

    async fn cached_models(&self, provider: &str) -> Result<Option<CachedModels>, StoreError> {
        (**self).cached_models(provider).await
    }
}

/// A sled store given where a shared store is taken.
impl From<Store> for std::sync::Arc<dyn MissionStore> {
    fn from(store: Store) -> Self {
        std::sync::Arc::new(store)
    }
}

/// [`MissionStore::update_schedule`] with a change that also says something: `change`
/// returns `None` to write nothing, or `Some(t)`; the schedule as written and that `t`.
pub async fn update_schedule<T: Send>(
    store: &dyn MissionStore,
    id: &str,
    mut change: impl FnMut(&mut Schedule) -> Option<T> + Send,
) -> Result<Option<(Schedule, T)>, StoreError> {
    let mut said = None;
    let written = store
        .update_schedule(id, &mut |s| {
            said = change(s);
            said.is_some()
        })
        .await?;
    Ok(written.and_then(|s| said.take().map(|t| (s, t))))
}
