//! Missions a page at a time, in id order (ids are UUID v7: creation order), from a cursor,
//! filtered by status and by when they last changed. A list request then costs what one
//! page holds, however many missions there are.

use chrono::{DateTime, Utc};

use super::{Store, StoreError};
use crate::{Mission, MissionId, MissionStatus};

/// Which missions a page holds.
#[derive(Debug, Clone, Default)]
pub struct MissionFilter {
    /// Only missions with an id after this one.
    pub after: Option<MissionId>,
    /// Only missions in one of these states (all when empty).
    pub statuses: Vec<MissionStatus>,
    /// Only missions that changed after this time.
    pub updated_since: Option<DateTime<Utc>>,
}

/// One page: the missions, the cursor of the next page (none on the last), and the
/// records that could not be read.
#[derive(Debug, Default)]
pub struct MissionPage {
    pub missions: Vec<Mission>,
    pub next_cursor: Option<MissionId>,
    pub problems: Vec<String>,
}

impl Store {
    /// Up to `limit` missions matching `filter`, in id order.
    pub fn missions_page(
        &self,
        filter: &MissionFilter,
        limit: usize,
    ) -> Result<MissionPage, StoreError> {
        let limit = limit.max(1);
        let start = filter
            .after
            .map(|id| {
                let mut key = id.as_bytes().to_vec();
                key.push(0);
                key
            })
            .unwrap_or_default();
        let mut page = MissionPage::default();
        for entry in self.missions.range(start..) {
            let (key, raw) = entry?;
            let stored = match serde_json::from_slice::<Mission>(&raw) {
                Ok(m) => m,
                Err(e) => {
                    let id = uuid::Uuid::from_slice(&key)
                        .map(|u| u.to_string())
                        .unwrap_or_else(|_| format!("{key:?}"));
                    page.problems
                        .push(format!("mission {id}: unreadable record ({e}); skipped"));
                    continue;
                }
            };
            // The record in memory is current, if there is one.
            let m = match self.in_memory(&stored.id) {
                Some(live) if live.event_count >= stored.event_count => live,
                _ => self.caught_up(stored, &raw)?,
            };
            let wanted = (filter.statuses.is_empty() || filter.statuses.contains(&m.status))
                && filter.updated_since.is_none_or(|t| m.updated_at > t);
            if !wanted {
                continue;
            }
            if page.missions.len() == limit {
                page.next_cursor = page.missions.last().map(|m| m.id);
                break;
            }
            page.missions.push(m);
        }
        Ok(page)
    }

    fn in_memory(&self, id: &MissionId) -> Option<Mission> {
        self.stripe(id).get(id).map(|r| r.mission.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MissionEvent, MissionSpec};

    #[tokio::test]
    async fn pages_follow_the_cursor_and_filters_apply() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path()).expect("open");
        let mut ids = Vec::new();
        for i in 0..5 {
            let m = store
                .create_mission(MissionSpec::for_tests(&format!("p{i}")))
                .expect("create");
            ids.push(m.id);
        }
        store.flush_all().await.expect("flush");
        let first = store
            .missions_page(&MissionFilter::default(), 2)
            .expect("page");
        assert_eq!(
            first.missions.iter().map(|m| m.id).collect::<Vec<_>>(),
            ids[..2]
        );
        assert_eq!(first.next_cursor, Some(ids[1]));
        let rest = store
            .missions_page(
                &MissionFilter {
                    after: first.next_cursor,
                    ..Default::default()
                },
                10,
            )
            .expect("page");
        assert_eq!(rest.missions.len(), 3);
        assert_eq!(rest.next_cursor, None);

        let since = Utc::now();
        store
            .append(
                &ids[3],
                MissionEvent::Status {
                    status: MissionStatus::Completed,
                    reason: None,
                },
            )
            .expect("append");
        let changed = store
            .missions_page(
                &MissionFilter {
                    updated_since: Some(since),
                    ..Default::default()
                },
                10,
            )
            .expect("page");
        assert_eq!(
            changed.missions.iter().map(|m| m.id).collect::<Vec<_>>(),
            [ids[3]]
        );
        let done = store
            .missions_page(
                &MissionFilter {
                    statuses: vec![MissionStatus::Completed],
                    ..Default::default()
                },
                10,
            )
            .expect("page");
        assert_eq!(done.missions.len(), 1);
    }
}
