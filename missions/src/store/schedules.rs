//! Schedules in the store. A schedule changes from several places at once (the daemon's
//! tick, pause, resume, delete, run-now), so every read-modify-write is a compare-and-swap
//! on the stored bytes: a change made in between is never undone, and a deleted schedule
//! never comes back.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::scheduler::Schedule;

use super::{Store, StoreError};

/// Bumped at every schedule write (any store of this process): a timer that saw the same
/// value last time knows nothing changed, and needs no scan until the earliest next run.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// How many times an update is tried again when the schedule changed under it.
const CAS_TRIES: usize = 16;

fn encode(s: &Schedule) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(s).map_err(|e| StoreError::Corrupt {
        id: s.id.clone(),
        error: e.to_string(),
    })
}

impl Store {
    /// Changes with every schedule write (see [`GENERATION`]).
    pub fn schedules_generation(&self) -> u64 {
        GENERATION.load(Ordering::SeqCst)
    }

    fn schedules_changed(&self) {
        GENERATION.fetch_add(1, Ordering::SeqCst);
        self.wrote();
    }

    /// Stores a schedule (new or changed).
    pub fn put_schedule(&self, s: &Schedule) -> Result<(), StoreError> {
        let raw = serde_json::to_vec(s).map_err(|e| StoreError::Corrupt {
            id: s.id.clone(),
            error: e.to_string(),
        })?;
        self.schedules.insert(s.id.as_bytes(), raw)?;
        self.schedules_changed();
        Ok(())
    }

    /// Every schedule, oldest first, and a description of each that could not be read.
    pub fn schedules(&self) -> Result<(Vec<Schedule>, Vec<String>), StoreError> {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for entry in self.schedules.iter() {
            let (key, raw) = entry?;
            match serde_json::from_slice(&raw) {
                Ok(s) => out.push(s),
                Err(e) => problems.push(format!(
                    "schedule {}: unreadable record ({e}); skipped",
                    String::from_utf8_lossy(&key)
                )),
            }
        }
        Ok((out, problems))
    }

    /// The schedule with this id, or the only one whose id starts with it (4+ characters).
    pub fn schedule(&self, text: &str) -> Result<Schedule, StoreError> {
        let text = text.trim().to_lowercase();
        let decode = |raw: &[u8]| {
            serde_json::from_slice::<Schedule>(raw).map_err(|e| StoreError::Corrupt {
                id: text.clone(),
                error: e.to_string(),
            })
        };
        // The id itself, then a prefix: a lookup and a short range, not a scan of all.
        if let Some(raw) = self.schedules.get(text.as_bytes())? {
            return decode(&raw);
        }
        if text.len() < 4 {
            return Err(StoreError::UnknownSchedule(text));
        }
        let found: Vec<_> = self
            .schedules
            .scan_prefix(text.as_bytes())
            .take(2)
            .collect::<Result<_, _>>()?;
        match found.as_slice() {
            [(_, raw)] => decode(raw),
            [] => Err(StoreError::UnknownSchedule(text)),
            _ => Err(StoreError::AmbiguousSchedule {
                count: self.schedules.scan_prefix(text.as_bytes()).count(),
                prefix: text,
            }),
        }
    }

    /// Deletes a schedule (the missions it started stay).
    pub fn delete_schedule(&self, id: &str) -> Result<(), StoreError> {
        self.schedules.remove(id.as_bytes())?;
        self.schedules_changed();
        Ok(())
    }

    /// Reads the schedule `id`, lets `change` modify it, and writes it back only if the
    /// stored schedule is still the one read; otherwise reads it again and repeats (a few
    /// times at most). `None` when the schedule is gone (deleted) or `change` decided not
    /// to write (by returning `None`); the schedule as written and what `change` returned
    /// otherwise. `change` may run more than once and must decide from what it is given.
    pub fn update_schedule<T>(
        &self,
        id: &str,
        mut change: impl FnMut(&mut Schedule) -> Option<T>,
    ) -> Result<Option<(Schedule, T)>, StoreError> {
        for _ in 0..CAS_TRIES {
            let Some(raw) = self.schedules.get(id.as_bytes())? else {
                return Ok(None);
            };
            let mut s: Schedule =
                serde_json::from_slice(&raw).map_err(|e| StoreError::Corrupt {
                    id: id.to_string(),
                    error: e.to_string(),
                })?;
            let Some(out) = change(&mut s) else {
                return Ok(None);
            };
            let swapped =
                self.schedules
                    .compare_and_swap(id.as_bytes(), Some(raw), Some(encode(&s)?))?;
            if swapped.is_ok() {
                self.schedules_changed();
                return Ok(Some((s, out)));
            }
        }
        Err(StoreError::Contended(format!("schedule {id}")))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use chrono::Utc;

    use crate::scheduler::{MissionTemplate, Timing};

    use super::*;

    fn schedule(store: &Store) -> Schedule {
        let s = Schedule::new(
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
        );
        store.put_schedule(&s).expect("put");
        s
    }

    #[test]
    fn an_update_never_brings_back_a_schedule_deleted_meanwhile() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path()).expect("open");
        let s = schedule(&store);
        let updated = store
            .update_schedule(&s.id, |read| {
                // Someone deletes it between this read and the write.
                store.delete_schedule(&read.id).expect("delete");
                read.runs.clear();
                Some(())
            })
            .expect("update");
        assert!(updated.is_none());
        let (all, _) = store.schedules().expect("list");
        assert!(all.is_empty(), "the deleted schedule came back: {all:?}");
    }

    #[test]
    fn a_schedule_is_found_by_id_or_unique_prefix_without_reading_them_all() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path()).expect("open");
        let (a, b) = (schedule(&store), schedule(&store));
        assert_eq!(store.schedule(&a.id).expect("by id").id, a.id);
        assert_eq!(store.schedule(&b.id[..]).expect("by id").id, b.id);
        // UUID v7 ids made together share their first characters.
        let ambiguous = store.schedule(&a.id[..4]).expect_err("two schedules match");
        assert_eq!(
            ambiguous.to_string(),
            format!(
                "`{}` matches 2 schedules; give more of the id (see `sortie schedule ls`)",
                &a.id[..4]
            )
        );
        let unique = &b.id[..b.id.len() - 1];
        assert_eq!(store.schedule(unique).expect("prefix").id, b.id);
        assert!(matches!(
            store.schedule("ffffffff"),
            Err(StoreError::UnknownSchedule(_))
        ));
    }

    #[test]
    fn every_schedule_write_moves_the_generation_the_timer_compares() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path()).expect("open");
        let before = store.schedules_generation();
        let s = schedule(&store);
        let put = store.schedules_generation();
        assert!(put > before);
        store
            .update_schedule(&s.id, |s| {
                s.paused = true;
                Some(())
            })
            .expect("update");
        let updated = store.schedules_generation();
        assert!(updated > put);
        store.delete_schedule(&s.id).expect("delete");
        assert!(store.schedules_generation() > updated);
    }

    #[test]
    fn an_update_keeps_a_pause_made_meanwhile() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path()).expect("open");
        let s = schedule(&store);
        let calls = Cell::new(0);
        let (written, ()) = store
            .update_schedule(&s.id, |read| {
                calls.set(calls.get() + 1);
                if calls.get() == 1 {
                    let mut paused = read.clone();
                    paused.paused = true;
                    store.put_schedule(&paused).expect("pause");
                }
                read.jitter_secs = 5;
                Some(())
            })
            .expect("update")
            .expect("still there");
        assert_eq!(calls.get(), 2, "the update read the schedule again");
        assert!(written.paused && written.jitter_secs == 5);
        let stored = store.schedule(&s.id).expect("stored");
        assert!(stored.paused, "the pause was undone");
    }
}
