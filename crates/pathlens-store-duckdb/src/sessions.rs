//! The writer's working set: the sessions that recent batches touched, with
//! the dedup keys of their stored events and their view chains' tails.
//!
//! An event is identified by its partner, video, session and dedup key:
//! every source derives the key from the event's session (the native key is
//! the video, session and event index; an xAPI statement carries its
//! registration; a KAVA beacon's stored key is unique per accepted beacon),
//! so a retry always lands in the session of the event it repeats. The
//! writer therefore needs, to decide whether an event is new and what a view
//! adds, only what is stored for the sessions of the batch at hand.
//!
//! It keeps at most [`DuckDbConfig::cached_sessions`](crate::DuckDbConfig)
//! sessions in memory, the least recently used going first. A batch whose
//! session is not in memory looks it up in `session_days` (one row per
//! session and UTC day on which it has events, kept in the batch's
//! transaction): a session found there has its stored keys and chain tails
//! read from the events of those days (DuckDB skips the other row groups by
//! their time bounds); a session not found there is new and costs nothing
//! more. So memory and start-up do not grow with the stored events, and a
//! retried event is still stored once, across restarts.

use std::collections::{HashMap, HashSet};

use duckdb::{Connection, params};
use pathlens_model::Event;
use pathlens_store::Result;

use crate::chains::{ChainKey, Chains, Tail};
use crate::internal;

/// One session: (partner, video, session).
pub(crate) type SessionKey = (u32, String, String);

/// A UTC day in µs.
const DAY_US: i64 = 86_400_000_000;

/// The table of the days each stored session has events on (migration 6).
pub(crate) const SCHEMA: &str = "
    CREATE TABLE session_days (
        partner_id UINTEGER NOT NULL,
        video_id VARCHAR NOT NULL,
        session_id VARCHAR NOT NULL,
        day BIGINT NOT NULL
    );
    INSERT INTO session_days
        SELECT DISTINCT partner_id, video_id, session_id, ts_us // 86400000000 FROM events;";

/// The UTC day of an instant in µs, as `session_days` records it (`//`
/// truncates in both; lookups read a day more on each side anyway).
fn day_of(ts_us: i64) -> i64 {
    ts_us / DAY_US
}

pub(crate) fn key_of(event: &Event) -> SessionKey {
    (
        event.partner_id,
        event.video_id.clone(),
        event.session_id.clone(),
    )
}

#[derive(Debug, Default)]
struct Cached {
    keys: HashSet<u64>,
    days: HashSet<i64>,
    /// When the session was last used, on the writer's batch clock.
    used: u64,
}

/// The sessions in memory.
#[derive(Debug)]
pub(crate) struct Sessions {
    cached: HashMap<SessionKey, Cached>,
    capacity: usize,
    clock: u64,
}

/// What a committed batch adds to its sessions.
#[derive(Debug, Default)]
pub(crate) struct Added {
    keys: Vec<(SessionKey, u64)>,
    days: Vec<(SessionKey, i64)>,
}

impl Sessions {
    pub fn new(capacity: usize) -> Sessions {
        Sessions {
            cached: HashMap::new(),
            capacity: capacity.max(1),
            clock: 0,
        }
    }

    /// Forgets every session (the database was reopened).
    pub fn clear(&mut self, chains: &mut Chains) {
        self.cached.clear();
        chains.clear();
    }

    /// Brings every session of `events` into memory, reading those not
    /// there yet from the database, with their chains' tails into `chains`.
    pub fn load<'e>(
        &mut self,
        connection: &Connection,
        chains: &mut Chains,
        events: impl IntoIterator<Item = &'e Event>,
    ) -> Result<()> {
        self.clock += 1;
        let mut missing: HashSet<SessionKey> = HashSet::new();
        for event in events {
            let key = key_of(event);
            match self.cached.get_mut(&key) {
                Some(cached) => cached.used = self.clock,
                None => {
                    missing.insert(key);
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let read = read_sessions(connection, &missing)?;
        for key in missing {
            self.cached.insert(
                key,
                Cached {
                    used: self.clock,
                    ..Cached::default()
                },
            );
        }
        for (key, day) in read.days {
            if let Some(cached) = self.cached.get_mut(&key) {
                cached.days.insert(day);
            }
        }
        for (key, dedup) in read.keys {
            if let Some(cached) = self.cached.get_mut(&key) {
                cached.keys.insert(dedup);
            }
        }
        for (key, tail) in read.tails {
            chains.keep_latest(key, tail);
        }
        Ok(())
    }

    /// Whether an event with this session and key is stored (its session
    /// must be loaded).
    pub fn stored(&self, session: &SessionKey, dedup_key: u64) -> bool {
        self.cached
            .get(session)
            .is_some_and(|cached| cached.keys.contains(&dedup_key))
    }

    /// What storing `events` (all new) adds: their keys, and the days of
    /// their sessions not recorded yet.
    pub fn added(&self, events: &[&Event]) -> Added {
        let mut added = Added::default();
        let mut new_days: HashSet<(SessionKey, i64)> = HashSet::new();
        for event in events {
            let key = key_of(event);
            let day = day_of(event.ts.timestamp_micros());
            let known = self
                .cached
                .get(&key)
                .is_some_and(|cached| cached.days.contains(&day));
            if !known && !new_days.contains(&(key.clone(), day)) {
                new_days.insert((key.clone(), day));
            }
            added.keys.push((key, event.dedup_key));
        }
        added.days = new_days.into_iter().collect();
        added
    }

    /// Inside the batch's transaction: records the new days.
    pub fn record(connection: &Connection, added: &Added) -> Result<()> {
        if added.days.is_empty() {
            return Ok(());
        }
        let mut appender = connection
            .appender("session_days")
            .map_err(|e| internal("recording the sessions' days", e))?;
        for ((partner, video, session), day) in &added.days {
            appender
                .append_row(params![partner, video, session, day])
                .map_err(|e| internal("recording the sessions' days", e))?;
        }
        appender
            .flush()
            .map_err(|e| internal("recording the sessions' days", e))
    }

    /// Once the batch is committed: keeps what it added, then lets the
    /// least recently used sessions go while there are too many.
    pub fn apply(&mut self, added: Added, chains: &mut Chains) {
        for (key, dedup) in added.keys {
            self.cached.entry(key).or_default().keys.insert(dedup);
        }
        for (key, day) in added.days {
            self.cached.entry(key).or_default().days.insert(day);
        }
        if self.cached.len() <= self.capacity {
            return;
        }
        // Down to three quarters at once, so that the chains are pruned
        // once per many batches rather than at each.
        let keep = self.capacity - self.capacity / 4;
        let mut by_use: Vec<(u64, SessionKey)> = self
            .cached
            .iter()
            .map(|(key, cached)| (cached.used, key.clone()))
            .collect();
        by_use.sort_unstable_by_key(|(used, _)| *used);
        let gone: HashSet<SessionKey> = by_use
            .into_iter()
            .take(self.cached.len() - keep)
            .map(|(_, key)| key)
            .collect();
        self.cached.retain(|key, _| !gone.contains(key));
        chains.forget(|chain| gone.contains(&(chain.0, chain.1.clone(), chain.2.clone())));
    }
}

/// What the database holds for some sessions.
struct Read {
    days: Vec<(SessionKey, i64)>,
    keys: Vec<(SessionKey, u64)>,
    tails: Vec<(ChainKey, Tail)>,
}

/// Reads the days, the stored dedup keys and the chain tails of `sessions`.
fn read_sessions(connection: &Connection, sessions: &HashSet<SessionKey>) -> Result<Read> {
    let context = "reading the stored events of a batch's sessions";
    connection
        .execute_batch(
            "CREATE OR REPLACE TEMP TABLE wanted_sessions (partner_id UINTEGER,
                video_id VARCHAR, session_id VARCHAR)",
        )
        .map_err(|e| internal(context, e))?;
    {
        let mut appender = connection
            .appender("wanted_sessions")
            .map_err(|e| internal(context, e))?;
        for (partner, video, session) in sessions {
            appender
                .append_row(params![partner, video, session])
                .map_err(|e| internal(context, e))?;
        }
        appender.flush().map_err(|e| internal(context, e))?;
    }
    let mut statement = connection
        .prepare(
            "SELECT d.partner_id, d.video_id, d.session_id, d.day
            FROM session_days d SEMI JOIN wanted_sessions w
                ON d.partner_id = w.partner_id AND d.video_id = w.video_id
                AND d.session_id = w.session_id",
        )
        .map_err(|e| internal(context, e))?;
    let days = statement
        .query_map([], |row| {
            Ok(((row.get(0)?, row.get(1)?, row.get(2)?), row.get(3)?))
        })
        .map_err(|e| internal(context, e))?
        .collect::<duckdb::Result<Vec<(SessionKey, i64)>>>()
        .map_err(|e| internal(context, e))?;
    let mut read = Read {
        days,
        keys: Vec::new(),
        tails: Vec::new(),
    };
    let (Some(first), Some(last)) = (
        read.days.iter().map(|(_, day)| *day).min(),
        read.days.iter().map(|(_, day)| *day).max(),
    ) else {
        return Ok(read);
    };
    // A day more on each side: however a day was rounded, every event of
    // these sessions is inside.
    let (lo, hi) = ((first - 1) * DAY_US, (last + 2) * DAY_US);
    let mut statement = connection
        .prepare(
            "SELECT e.partner_id, e.video_id, e.session_id, e.dedup_key,
                e.kind = 4 AND e.play_time_sum IS NOT NULL, e.player_session, e.entry_id,
                e.event_index, e.ts_us, round(e.play_time_sum * 1000.0)::BIGINT
            FROM events e SEMI JOIN wanted_sessions w
                ON e.partner_id = w.partner_id AND e.video_id = w.video_id
                AND e.session_id = w.session_id
            WHERE e.ts_us >= ? AND e.ts_us < ?",
        )
        .map_err(|e| internal(context, e))?;
    let mut rows = statement
        .query(params![lo, hi])
        .map_err(|e| internal(context, e))?;
    let mut tails: HashMap<ChainKey, Tail> = HashMap::new();
    while let Some(row) = rows.next().map_err(|e| internal(context, e))? {
        let session: SessionKey = (
            row.get(0).map_err(|e| internal(context, e))?,
            row.get(1).map_err(|e| internal(context, e))?,
            row.get(2).map_err(|e| internal(context, e))?,
        );
        let dedup: u64 = row.get(3).map_err(|e| internal(context, e))?;
        let view: bool = row.get(4).map_err(|e| internal(context, e))?;
        if view {
            let chain: ChainKey = (
                session.0,
                session.1.clone(),
                session.2.clone(),
                row.get(5).map_err(|e| internal(context, e))?,
                row.get(6).map_err(|e| internal(context, e))?,
            );
            let tail = Tail::new(
                (
                    row.get(7).map_err(|e| internal(context, e))?,
                    row.get(8).map_err(|e| internal(context, e))?,
                ),
                row.get(9).map_err(|e| internal(context, e))?,
            );
            let latest = tails.entry(chain).or_insert(tail);
            if tail.is_after(latest) {
                *latest = tail;
            }
        }
        read.keys.push((session, dedup));
    }
    read.tails = tails.into_iter().collect();
    Ok(read)
}
