//! A store that keeps everything in memory: for tests of the layers above
//! the store, and as the simplest reading of the [`Store`] contract (it
//! passes the same conformance suite). Nothing survives the process.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use pathlens_model::{Event, Graph};

use crate::{
    ApiKey, AppendOutcome, ContextFilter, DimensionValue, EventRow, PartnerId, Result, ScanRequest,
    Store, StoreError, StoredVideo, ValuesRequest, ViewerKind,
};

#[derive(Default)]
struct State {
    videos: BTreeMap<(PartnerId, String), StoredVideo>,
    keys: Vec<ApiKey>,
    events: Vec<Event>,
    seen: HashSet<(PartnerId, u64)>,
}

/// An in-memory store. Clones share the same data, so a "reopened" store
/// sees what the previous one wrote.
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    /// Set by tests to play a store whose database is unreachable.
    unavailable: Arc<std::sync::atomic::AtomicBool>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Makes every operation fail as an unreachable database does (for
    /// tests of the layers above), or work again.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable
            .store(unavailable, std::sync::atomic::Ordering::SeqCst);
    }

    fn state(&self) -> Result<std::sync::MutexGuard<'_, State>> {
        if self.unavailable.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::new(
                crate::StoreErrorKind::Unavailable,
                "the memory store is set unavailable",
            ));
        }
        self.state
            .lock()
            .map_err(|_| StoreError::internal("memory store lock poisoned"))
    }
}

fn matches(values: &[String], value: Option<&str>) -> bool {
    values.is_empty()
        || values
            .iter()
            .any(|v| Some(v.as_str()) == value || (v == crate::query::UNKNOWN && value.is_none()))
}

/// Whether `event` passes the row filters of a scan.
pub fn passes(filter: &ContextFilter, event: &Event) -> bool {
    crate::Dimension::ALL
        .into_iter()
        .all(|d| matches(filter.values_of(d), d.value_of(&event.context)))
        && (filter.user_ids.is_empty()
            || event
                .user_id
                .as_ref()
                .is_some_and(|u| filter.user_ids.contains(u)))
        && match filter.viewer {
            Some(ViewerKind::Known) => event.user_id.is_some(),
            Some(ViewerKind::Anonymous) => event.user_id.is_none(),
            None => true,
        }
}

/// The row of `event` that scans return.
pub fn row_of(event: &Event) -> EventRow {
    EventRow {
        ts_us: event.ts.timestamp_micros(),
        kind: event.kind,
        session_id: event.session_id.clone(),
        entry_id: event.entry_id.clone(),
        node_id: event.node_id.clone(),
        event_index: event.event_index,
        user_id: event.user_id.clone(),
        position: event.position,
        play_time_sum: event.play_time_sum,
        from_node_id: event.from_node_id.clone(),
        to_node_id: event.to_node_id.clone(),
        hotspot_id: event.hotspot_id.clone(),
        quartile: event.quartile,
        player_session: event.player_session.clone(),
    }
}

impl Store for MemoryStore {
    fn put_video(&self, partner: PartnerId, graph: &Graph, now: DateTime<Utc>) -> Result<()> {
        let mut state = self.state()?;
        let key = (partner, graph.id.clone());
        let created_at = state.videos.get(&key).map_or(now, |v| v.created_at);
        state.videos.insert(
            key,
            StoredVideo {
                partner_id: partner,
                graph: graph.clone(),
                created_at,
                updated_at: now,
            },
        );
        Ok(())
    }

    fn video(&self, partner: PartnerId, id: &str) -> Result<Option<StoredVideo>> {
        Ok(self
            .state()?
            .videos
            .get(&(partner, id.to_string()))
            .cloned())
    }

    fn videos(&self, partner: PartnerId) -> Result<Vec<StoredVideo>> {
        Ok(self
            .state()?
            .videos
            .values()
            .filter(|v| v.partner_id == partner)
            .cloned()
            .collect())
    }

    fn put_key(&self, key: &ApiKey) -> Result<()> {
        self.state()?.keys.push(key.clone());
        Ok(())
    }

    fn keys(&self) -> Result<Vec<ApiKey>> {
        Ok(self.state()?.keys.clone())
    }

    fn revoke_key(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        let mut state = self.state()?;
        let mut found = false;
        for key in state.keys.iter_mut().filter(|k| k.id == id) {
            key.revoked_at.get_or_insert(now);
            found = true;
        }
        Ok(found)
    }

    fn append(&self, events: Vec<Event>) -> Result<AppendOutcome> {
        let mut state = self.state()?;
        let mut outcome = AppendOutcome::default();
        for event in events {
            if state.seen.insert((event.partner_id, event.dedup_key)) {
                outcome.accepted += 1;
                state.events.push(event);
            } else {
                outcome.duplicates += 1;
            }
        }
        Ok(outcome)
    }

    fn scan(&self, request: &ScanRequest) -> Result<Vec<EventRow>> {
        let (start, end) = (
            request.start.timestamp_micros(),
            request.end.timestamp_micros(),
        );
        Ok(self
            .state()?
            .events
            .iter()
            .filter(|e| e.partner_id == request.partner_id && e.video_id == request.video_id)
            .filter(|e| (start..end).contains(&e.ts.timestamp_micros()))
            .filter(|e| request.kinds.is_empty() || request.kinds.contains(&e.kind))
            .filter(|e| passes(&request.filter, e))
            .map(row_of)
            .collect())
    }

    fn values(&self, request: &ValuesRequest) -> Result<Vec<DimensionValue>> {
        let state = self.state()?;
        let (start, end) = (
            request.start.timestamp_micros(),
            request.end.timestamp_micros(),
        );
        let mut counts: BTreeMap<&str, DimensionValue> = BTreeMap::new();
        for event in state.events.iter().filter(|e| {
            e.partner_id == request.partner_id
                && e.video_id == request.video_id
                && (start..end).contains(&e.ts.timestamp_micros())
                && passes(&request.filter, e)
        }) {
            let value = request
                .dimension
                .value_of(&event.context)
                .unwrap_or(crate::query::UNKNOWN);
            let entry = counts.entry(value).or_insert_with(|| DimensionValue {
                value: value.to_string(),
                plays: 0,
                events: 0,
            });
            entry.events += 1;
            if event.kind == pathlens_model::EventKind::Play {
                entry.plays += 1;
            }
        }
        Ok(counts.into_values().collect())
    }

    fn export(&self, partner: Option<PartnerId>, offset: u64, limit: usize) -> Result<Vec<Event>> {
        Ok(self
            .state()?
            .events
            .iter()
            .filter(|e| partner.is_none_or(|p| e.partner_id == p))
            .skip(offset as usize)
            .take(limit)
            .cloned()
            .collect())
    }

    fn event_count(&self) -> Result<u64> {
        Ok(self.state()?.events.len() as u64)
    }

    fn write_queue_depth(&self) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{Harness, run_all};

    struct Shared(MemoryStore);

    impl Harness for Shared {
        fn open(&self) -> Box<dyn Store> {
            Box::new(self.0.clone())
        }
    }

    #[test]
    fn memory_store_conforms() {
        run_all(|| Shared(MemoryStore::new()));
    }
}
