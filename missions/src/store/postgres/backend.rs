//! [`MissionStore`] for the PostgreSQL store.

use async_trait::async_trait;
use sortie_transports::ModelInfo;

use super::PgStore;
use crate::scheduler::Schedule;
use crate::store::{CachedModels, MissionFilter, MissionPage, MissionStore};
use crate::{Mission, MissionEvent, MissionId, MissionSpec, StoreError, StoredEvent};

/// The PostgreSQL store, by its own methods.
#[async_trait]
impl MissionStore for PgStore {
    fn location(&self) -> String {
        self.url().to_string()
    }

    fn as_postgres(&self) -> Option<&PgStore> {
        Some(self)
    }

    async fn create_mission(&self, spec: MissionSpec) -> Result<Mission, StoreError> {
        PgStore::create_mission(self, spec).await
    }

    async fn create_mission_with_id(
        &self,
        id: MissionId,
        spec: MissionSpec,
    ) -> Result<Mission, StoreError> {
        PgStore::create_mission_with_id(self, id, spec).await
    }

    async fn create_mission_with_setup(
        &self,
        spec: MissionSpec,
        setup: Vec<MissionEvent>,
    ) -> Result<Mission, StoreError> {
        PgStore::create_mission_with_setup(self, spec, setup).await
    }

    async fn create_fork(
        &self,
        spec: MissionSpec,
        parent: MissionId,
        at: u64,
        history: Vec<MissionEvent>,
    ) -> Result<Mission, StoreError> {
        PgStore::create_fork(self, spec, parent, at, history).await
    }

    async fn mission(&self, id: &MissionId) -> Result<Mission, StoreError> {
        PgStore::mission(self, id).await
    }

    async fn resolve(&self, text: &str) -> Result<MissionId, StoreError> {
        PgStore::resolve(self, text).await
    }

    async fn missions(&self) -> Result<(Vec<Mission>, Vec<String>), StoreError> {
        PgStore::missions(self).await
    }

    async fn missions_page(
        &self,
        filter: &MissionFilter,
        limit: usize,
    ) -> Result<MissionPage, StoreError> {
        PgStore::missions_page(self, filter, limit).await
    }

    async fn delete_mission(&self, id: &MissionId) -> Result<(), StoreError> {
        PgStore::delete_mission(self, id).await
    }

    async fn append(&self, id: &MissionId, event: MissionEvent) -> Result<StoredEvent, StoreError> {
        PgStore::append(self, id, event).await
    }

    async fn events_from(&self, id: &MissionId, from: u64) -> Result<Vec<StoredEvent>, StoreError> {
        PgStore::events_from(self, id, from).await
    }

    async fn events_json_from(
        &self,
        id: &MissionId,
        from: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        PgStore::events_json_from(self, id, from).await
    }

    /// Every write is committed when it returns, but the queued appends of the missions
    /// this process runs (see `behind`): waits for those.
    async fn flush(&self) -> Result<(), StoreError> {
        self.settle().await
    }

    async fn flush_mission(&self, id: &MissionId) -> Result<(), StoreError> {
        PgStore::flush_mission(self, id).await
    }

    /// The mission's queued events written, or why not (a round is as durable as a
    /// flush: nothing less to wait for).
    async fn settle_mission(&self, id: &MissionId) -> Result<(), StoreError> {
        PgStore::flush_mission(self, id).await
    }

    async fn put_schedule(&self, schedule: &Schedule) -> Result<(), StoreError> {
        PgStore::put_schedule(self, schedule).await
    }

    async fn schedules(&self) -> Result<(Vec<Schedule>, Vec<String>), StoreError> {
        PgStore::schedules(self).await
    }

    async fn schedule(&self, text: &str) -> Result<Schedule, StoreError> {
        PgStore::schedule(self, text).await
    }

    async fn delete_schedule(&self, id: &str) -> Result<(), StoreError> {
        PgStore::delete_schedule(self, id).await
    }

    async fn update_schedule(
        &self,
        id: &str,
        change: &mut (dyn for<'s> FnMut(&'s mut Schedule) -> bool + Send),
    ) -> Result<Option<Schedule>, StoreError> {
        PgStore::update_schedule(self, id, change).await
    }

    async fn schedules_generation(&self) -> Result<u64, StoreError> {
        PgStore::schedules_generation(self).await
    }

    async fn cached_models(&self, provider: &str) -> Result<Option<CachedModels>, StoreError> {
        PgStore::cached_models(self, provider).await
    }

    async fn cache_models(
        &self,
        provider: &str,
        models: Vec<ModelInfo>,
    ) -> Result<CachedModels, StoreError> {
        PgStore::cache_models(self, provider, models).await
    }
}
