//! A sled store whose mission flushes a test can hold or fail, to see what the runner does
//! while a write is slow or after it failed. Everything else goes to the store unchanged.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use sortie_missions::scheduler::Schedule;
use sortie_missions::{
    CachedModels, Mission, MissionEvent, MissionFilter, MissionId, MissionPage, MissionSpec,
    MissionStore, Store, StoreError, StoredEvent,
};
use sortie_transports::ModelInfo;
use tokio::sync::Semaphore;

/// What the gated flush does once let through.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Flush,
    /// Fails as a full disk does.
    Fail,
}

/// The first `gated` calls of `flush_mission` wait for [`GatedStore::release`], then end
/// as `outcome` says; later ones flush at once.
pub struct GatedStore {
    inner: Store,
    gate: Arc<Semaphore>,
    gated: usize,
    outcome: Outcome,
    calls: AtomicUsize,
}

impl GatedStore {
    pub fn new(inner: Store, gated: usize, outcome: Outcome) -> Self {
        Self {
            inner,
            gate: Arc::new(Semaphore::new(0)),
            gated,
            outcome,
            calls: AtomicUsize::new(0),
        }
    }

    /// Lets one held flush through.
    pub fn release(&self) {
        self.gate.add_permits(1);
    }

    /// How many mission flushes were asked for so far.
    pub fn flushes(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl MissionStore for GatedStore {
    fn location(&self) -> String {
        self.inner.location()
    }
    async fn create_mission_with_id(
        &self,
        id: MissionId,
        spec: MissionSpec,
    ) -> Result<Mission, StoreError> {
        MissionStore::create_mission_with_id(&self.inner, id, spec).await
    }
    async fn create_fork(
        &self,
        spec: MissionSpec,
        parent: MissionId,
        at: u64,
        history: Vec<MissionEvent>,
    ) -> Result<Mission, StoreError> {
        MissionStore::create_fork(&self.inner, spec, parent, at, history).await
    }
    async fn mission(&self, id: &MissionId) -> Result<Mission, StoreError> {
        MissionStore::mission(&self.inner, id).await
    }
    async fn resolve(&self, text: &str) -> Result<MissionId, StoreError> {
        MissionStore::resolve(&self.inner, text).await
    }
    async fn missions(&self) -> Result<(Vec<Mission>, Vec<String>), StoreError> {
        MissionStore::missions(&self.inner).await
    }
    async fn missions_page(
        &self,
        filter: &MissionFilter,
        limit: usize,
    ) -> Result<MissionPage, StoreError> {
        MissionStore::missions_page(&self.inner, filter, limit).await
    }
    async fn delete_mission(&self, id: &MissionId) -> Result<(), StoreError> {
        MissionStore::delete_mission(&self.inner, id).await
    }
    async fn append(&self, id: &MissionId, event: MissionEvent) -> Result<StoredEvent, StoreError> {
        MissionStore::append(&self.inner, id, event).await
    }
    async fn events_from(&self, id: &MissionId, from: u64) -> Result<Vec<StoredEvent>, StoreError> {
        MissionStore::events_from(&self.inner, id, from).await
    }
    async fn events_json_from(
        &self,
        id: &MissionId,
        from: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        MissionStore::events_json_from(&self.inner, id, from).await
    }
    async fn flush(&self) -> Result<(), StoreError> {
        MissionStore::flush(&self.inner).await
    }
    async fn flush_mission(&self, id: &MissionId) -> Result<(), StoreError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n < self.gated {
            self.gate
                .acquire()
                .await
                .expect("the gate stays open")
                .forget();
            if self.outcome == Outcome::Fail {
                return Err(StoreError::DiskFull {
                    detail: "held, then failed by the test".into(),
                });
            }
        }
        MissionStore::flush_mission(&self.inner, id).await
    }
    async fn flush_all(&self) -> Result<(), StoreError> {
        MissionStore::flush_all(&self.inner).await
    }
    fn check_space(&self) -> Result<(), StoreError> {
        MissionStore::check_space(&self.inner)
    }
    fn write_failed(&self) -> bool {
        MissionStore::write_failed(&self.inner)
    }
    fn as_sled(&self) -> Option<&Store> {
        Some(&self.inner)
    }
    async fn put_schedule(&self, schedule: &Schedule) -> Result<(), StoreError> {
        MissionStore::put_schedule(&self.inner, schedule).await
    }
    async fn schedules(&self) -> Result<(Vec<Schedule>, Vec<String>), StoreError> {
        MissionStore::schedules(&self.inner).await
    }
    async fn schedule(&self, text: &str) -> Result<Schedule, StoreError> {
        MissionStore::schedule(&self.inner, text).await
    }
    async fn delete_schedule(&self, id: &str) -> Result<(), StoreError> {
        MissionStore::delete_schedule(&self.inner, id).await
    }
    async fn update_schedule(
        &self,
        id: &str,
        change: &mut (dyn for<'s> FnMut(&'s mut Schedule) -> bool + Send),
    ) -> Result<Option<Schedule>, StoreError> {
        MissionStore::update_schedule(&self.inner, id, change).await
    }
    async fn schedules_generation(&self) -> Result<u64, StoreError> {
        MissionStore::schedules_generation(&self.inner).await
    }
    async fn cached_models(&self, provider: &str) -> Result<Option<CachedModels>, StoreError> {
        MissionStore::cached_models(&self.inner, provider).await
    }
    async fn cache_models(
        &self,
        provider: &str,
        models: Vec<ModelInfo>,
    ) -> Result<CachedModels, StoreError> {
        MissionStore::cache_models(&self.inner, provider, models).await
    }
}
