//! A bounded memory of recent keys: the state beacon decoding keeps between
//! requests (the retry window, player sessions, node plays to join).
//!
//! Entries expire `ttl` after they were last written, and the map never
//! holds more than `capacity` of them: when full, the entry written longest
//! ago goes first. Both limits together bound the memory a flood of beacons
//! can take. Time is passed in by the caller, never read from the system, so
//! tests replay any timeline. Nothing is persisted: a restart forgets it all.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

/// A map from 64-bit keys (hashes of what the caller remembers) to values,
/// bounded in size and age.
#[derive(Debug)]
pub struct RecentMap<V> {
    entries: HashMap<u64, Entry<V>>,
    /// Keys in the order they were written, with the write's sequence number;
    /// a key written again leaves a stale item here, skipped when reached.
    order: VecDeque<(u64, u64)>,
    capacity: usize,
    ttl: Duration,
    next_seq: u64,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    written: DateTime<Utc>,
    seq: u64,
}

impl<V> RecentMap<V> {
    /// An empty map keeping at most `capacity` entries (at least one), each
    /// for `ttl` after its last write.
    pub fn new(capacity: usize, ttl: Duration) -> RecentMap<V> {
        RecentMap {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            ttl,
            next_seq: 0,
        }
    }

    /// The live value of `key` at `now`.
    pub fn get(&self, key: u64, now: DateTime<Utc>) -> Option<&V> {
        self.entries
            .get(&key)
            .filter(|entry| !self.expired(entry, now))
            .map(|entry| &entry.value)
    }

    /// Whether `key` holds a live value at `now`.
    pub fn contains(&self, key: u64, now: DateTime<Utc>) -> bool {
        self.get(key, now).is_some()
    }

    /// Writes `value` under `key` at `now`, making it the newest entry.
    pub fn insert(&mut self, key: u64, value: V, now: DateTime<Utc>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.insert(
            key,
            Entry {
                value,
                written: now,
                seq,
            },
        );
        self.order.push_back((key, seq));
        self.evict(now);
    }

    /// Inserts `value` unless `key` is live; returns whether it was inserted.
    /// One call, so that two identical requests racing each other cannot
    /// both see the key absent.
    pub fn insert_if_absent(&mut self, key: u64, value: V, now: DateTime<Utc>) -> bool {
        if self.contains(key, now) {
            return false;
        }
        self.insert(key, value, now);
        true
    }

    /// Rewrites `key` with what `update` makes of its live value (or of
    /// `None`), and returns a reference to the new value.
    pub fn upsert(
        &mut self,
        key: u64,
        now: DateTime<Utc>,
        update: impl FnOnce(Option<V>) -> V,
    ) -> &V {
        let live = match self.entries.remove(&key) {
            Some(entry) if !self.expired(&entry, now) => Some(entry.value),
            _ => None,
        };
        self.insert(key, update(live), now);
        // The entry just written is the newest, so eviction kept it.
        &self.entries[&key].value
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: u64) {
        self.entries.remove(&key);
    }

    /// How many entries are held (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn expired(&self, entry: &Entry<V>, now: DateTime<Utc>) -> bool {
        now - entry.written >= self.ttl
    }

    /// Drops entries from the oldest write on while the map is over capacity
    /// or the oldest has expired; compacts the order queue when stale items
    /// (keys written again since) make up most of it.
    fn evict(&mut self, now: DateTime<Utc>) {
        while let Some(&(key, seq)) = self.order.front() {
            let current = self.entries.get(&key).filter(|entry| entry.seq == seq);
            match current {
                None => {
                    self.order.pop_front();
                }
                Some(entry) if self.entries.len() > self.capacity || self.expired(entry, now) => {
                    self.entries.remove(&key);
                    self.order.pop_front();
                }
                Some(_) => break,
            }
        }
        if self.order.len() > 2 * self.capacity {
            let entries = &self.entries;
            self.order
                .retain(|(key, seq)| entries.get(key).is_some_and(|entry| entry.seq == *seq));
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let mut map = RecentMap::new(10, Duration::seconds(60));
        map.insert(1, "a", at(0));
        assert_eq!(map.get(1, at(59)), Some(&"a"));
        assert_eq!(map.get(1, at(60)), None);
        assert!(map.insert_if_absent(1, "b", at(61)));
        assert_eq!(map.get(1, at(62)), Some(&"b"));
    }

    #[test]
    fn the_oldest_write_goes_first_when_full() {
        let mut map = RecentMap::new(2, Duration::hours(1));
        map.insert(1, 1, at(0));
        map.insert(2, 2, at(1));
        // Writing 1 again makes it the newest; 2 is now the oldest.
        map.insert(1, 10, at(2));
        map.insert(3, 3, at(3));
        assert_eq!(map.len(), 2);
        assert_eq!(map.get(2, at(3)), None);
        assert_eq!(map.get(1, at(3)), Some(&10));
        assert_eq!(map.get(3, at(3)), Some(&3));
    }

    #[test]
    fn insert_if_absent_refuses_live_keys() {
        let mut map = RecentMap::new(4, Duration::minutes(10));
        assert!(map.insert_if_absent(7, (), at(0)));
        assert!(!map.insert_if_absent(7, (), at(10)));
        map.remove(7);
        assert!(map.insert_if_absent(7, (), at(11)));
    }

    #[test]
    fn upsert_sees_the_live_value_only() {
        let mut map = RecentMap::new(4, Duration::seconds(10));
        assert_eq!(*map.upsert(5, at(0), |old| old.unwrap_or(0) + 1), 1);
        assert_eq!(*map.upsert(5, at(5), |old| old.unwrap_or(0) + 1), 2);
        assert_eq!(*map.upsert(5, at(30), |old| old.unwrap_or(0) + 1), 1);
    }

    #[test]
    fn rewriting_one_key_keeps_the_order_queue_bounded() {
        let mut map = RecentMap::new(3, Duration::hours(1));
        for second in 0..1000 {
            map.insert(42, second, at(second));
        }
        assert_eq!(map.len(), 1);
        assert!(map.order.len() <= 7, "{}", map.order.len());
        assert_eq!(map.get(42, at(1000)), Some(&999));
    }
}
