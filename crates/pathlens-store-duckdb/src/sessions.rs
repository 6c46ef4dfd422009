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

use std::borrow::Borrow;
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

/// Whether two events belong to one session. Batches come mostly as runs
/// of one session's events, so the work per session (a key to allocate, a
/// map to look up) is done once per run rather than per event.
pub(crate) fn same_session(a: &Event, b: &Event) -> bool {
    a.partner_id == b.partner_id && a.session_id == b.session_id && a.video_id == b.video_id
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
    /// The keys of each run of one session's events.
    keys: Vec<(SessionKey, Vec<u64>)>,
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
        let mut previous: Option<&Event> = None;
        for event in events {
            if previous.is_some_and(|p| same_session(p, event)) {
                continue;
            }
            previous = Some(event);
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
        let read = read_sessions(connection, &missing, chains)?;
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
        Ok(())
    }

    /// Remembers the keys of `events`, acknowledged but not in the database
    /// yet (their sessions are loaded, and stay until they are applied:
    /// sessions are only let go in [`Sessions::apply`]).
    pub fn note<E: Borrow<Event>>(&mut self, events: &[E]) {
        for run in events.chunk_by(|a, b| same_session(a.borrow(), b.borrow())) {
            if let Some(cached) = self.cached.get_mut(&key_of(run[0].borrow())) {
                cached
                    .keys
                    .extend(run.iter().map(|event| event.borrow().dedup_key));
            }
        }
    }

    /// The stored keys of an event's session (which must be loaded).
    pub fn keys_of(&self, event: &Event) -> Option<&HashSet<u64>> {
        self.cached.get(&key_of(event)).map(|cached| &cached.keys)
    }

    /// What storing `events` (all new) adds: their keys, and the days of
    /// their sessions not recorded yet.
    pub fn added(&self, events: &[&Event]) -> Added {
        let mut added = Added::default();
        let mut new_days: HashSet<(SessionKey, i64)> = HashSet::new();
        for run in events.chunk_by(|a, b| same_session(a, b)) {
            let key = key_of(run[0]);
            let cached = self.cached.get(&key);
            let mut days: Vec<i64> = run
                .iter()
                .map(|event| day_of(event.ts.timestamp_micros()))
                .filter(|day| !cached.is_some_and(|cached| cached.days.contains(day)))
                .collect();
            days.sort_unstable();
            days.dedup();
            for day in days {
                new_days.insert((key.clone(), day));
            }
            added
                .keys
                .push((key, run.iter().map(|event| event.dedup_key).collect()));
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

    /// The clock of the last [`Sessions::load`]: the sessions it loaded
    /// were used then.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// Once the batch is committed: keeps what it added, then lets the
    /// least recently used sessions go while there are too many (never one
    /// used since the clock was at `keep_from`).
    pub fn apply(&mut self, added: Added, chains: &mut Chains, keep_from: u64) {
        // Only sessions in memory take what was added: one that is not is
        // read whole from the database when a batch next reaches it (an
        // entry made here would hold this batch's keys alone).
        for (key, keys) in added.keys {
            if let Some(cached) = self.cached.get_mut(&key) {
                cached.keys.extend(keys);
            }
        }
        for (key, day) in added.days {
            if let Some(cached) = self.cached.get_mut(&key) {
                cached.days.insert(day);
            }
        }
        if self.cached.len() <= self.capacity {
            return;
        }
        // Down to three quarters at once, so that the chains are pruned
        // once per many batches rather than at each.
        let keep = self.capacity - self.capacity / 4;
        // The sessions of the batch at hand stay (they were loaded for it),
        // and so do those of events acknowledged and not applied yet.
        let keep_from = keep_from.min(self.clock);
        let mut by_use: Vec<(u64, SessionKey)> = self
            .cached
            .iter()
            .filter(|(_, cached)| cached.used < keep_from)
            .map(|(key, cached)| (cached.used, key.clone()))
            .collect();
        by_use.sort_unstable_by_key(|(used, _)| *used);
        let gone: HashSet<SessionKey> = by_use
            .into_iter()
            .take(self.cached.len().saturating_sub(keep))
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
}

/// Up to this many sessions are looked up one by one with a prepared
/// statement (a few new sessions per commit, as live beacons bring); more
/// are looked up together through a temporary table (an import's batch).
const ONE_BY_ONE: usize = 16;

const CONTEXT: &str = "reading the stored events of a batch's sessions";

fn failed(error: duckdb::Error) -> pathlens_store::StoreError {
    internal(CONTEXT, error)
}

/// The columns read of each stored event of a session.
const EVENT_COLUMNS: &str = "e.partner_id, e.video_id, e.session_id, e.dedup_key,
    e.kind = 4 AND e.play_time_sum IS NOT NULL, e.player_session, e.entry_id,
    e.event_index, e.ts_us, round(e.play_time_sum * 1000.0)::BIGINT";

/// Fills the temporary table `wanted_sessions` with `sessions`.
fn want<'s>(
    connection: &Connection,
    sessions: impl IntoIterator<Item = &'s SessionKey>,
) -> Result<()> {
    connection
        .execute_batch(
            "CREATE OR REPLACE TEMP TABLE wanted_sessions (partner_id UINTEGER,
                video_id VARCHAR, session_id VARCHAR)",
        )
        .map_err(failed)?;
    let mut appender = connection.appender("wanted_sessions").map_err(failed)?;
    for (partner, video, session) in sessions {
        appender
            .append_row(params![partner, video, session])
            .map_err(failed)?;
    }
    appender.flush().map_err(failed)
}

/// The days on which `sessions` have stored events.
fn days_of(
    connection: &Connection,
    sessions: &HashSet<SessionKey>,
) -> Result<Vec<(SessionKey, i64)>> {
    let mut days = Vec::new();
    if sessions.len() <= ONE_BY_ONE {
        let mut statement = connection
            .prepare_cached(
                "SELECT day FROM session_days
                WHERE partner_id = ? AND video_id = ? AND session_id = ?",
            )
            .map_err(failed)?;
        for key in sessions {
            let (partner, video, session) = key;
            let found = statement
                .query_map(params![partner, video, session], |row| row.get(0))
                .map_err(failed)?
                .collect::<duckdb::Result<Vec<i64>>>()
                .map_err(failed)?;
            days.extend(found.into_iter().map(|day| (key.clone(), day)));
        }
        return Ok(days);
    }
    want(connection, sessions)?;
    let mut statement = connection
        .prepare(
            "SELECT d.partner_id, d.video_id, d.session_id, d.day
            FROM session_days d SEMI JOIN wanted_sessions w
                ON d.partner_id = w.partner_id AND d.video_id = w.video_id
                AND d.session_id = w.session_id",
        )
        .map_err(failed)?;
    let rows = statement
        .query_map([], |row| {
            Ok(((row.get(0)?, row.get(1)?, row.get(2)?), row.get(3)?))
        })
        .map_err(failed)?;
    for row in rows {
        days.push(row.map_err(failed)?);
    }
    Ok(days)
}

/// The µs range that holds every event of sessions stored on days `first`
/// to `last`: a day more on each side, however a day was rounded.
fn span(first: i64, last: i64) -> (i64, i64) {
    ((first - 1) * DAY_US, (last + 2) * DAY_US)
}

/// Reads the days and the stored dedup keys of `sessions`, and their chain
/// tails into `chains`.
fn read_sessions(
    connection: &Connection,
    sessions: &HashSet<SessionKey>,
    chains: &mut Chains,
) -> Result<Read> {
    let mut read = Read {
        days: days_of(connection, sessions)?,
        keys: Vec::new(),
    };
    let mut found: HashMap<&SessionKey, (i64, i64)> = HashMap::new();
    for (key, day) in &read.days {
        let range = found.entry(key).or_insert((*day, *day));
        *range = (range.0.min(*day), range.1.max(*day));
    }
    let mut keys = Vec::new();
    if found.len() <= ONE_BY_ONE {
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events e
                WHERE e.partner_id = ? AND e.video_id = ? AND e.session_id = ?
                    AND e.ts_us >= ? AND e.ts_us < ?"
            ))
            .map_err(failed)?;
        for ((partner, video, session), (first, last)) in &found {
            let (lo, hi) = span(*first, *last);
            let mut rows = statement
                .query(params![partner, video, session, lo, hi])
                .map_err(failed)?;
            while let Some(row) = rows.next().map_err(failed)? {
                keep_event(row, &mut keys, chains).map_err(failed)?;
            }
        }
    } else {
        let (Some(first), Some(last)) = (
            found.values().map(|range| range.0).min(),
            found.values().map(|range| range.1).max(),
        ) else {
            return Ok(read);
        };
        want(connection, found.keys().copied())?;
        let (lo, hi) = span(first, last);
        let mut statement = connection
            .prepare(&format!(
                "SELECT {EVENT_COLUMNS} FROM events e SEMI JOIN wanted_sessions w
                    ON e.partner_id = w.partner_id AND e.video_id = w.video_id
                    AND e.session_id = w.session_id
                WHERE e.ts_us >= ? AND e.ts_us < ?"
            ))
            .map_err(failed)?;
        let mut rows = statement.query(params![lo, hi]).map_err(failed)?;
        while let Some(row) = rows.next().map_err(failed)? {
            keep_event(row, &mut keys, chains).map_err(failed)?;
        }
    }
    read.keys = keys;
    Ok(read)
}

/// Keeps the dedup key of a stored event (a row of [`EVENT_COLUMNS`]) and,
/// for a view, whether it is its player session's latest.
fn keep_event(
    row: &duckdb::Row<'_>,
    keys: &mut Vec<(SessionKey, u64)>,
    chains: &mut Chains,
) -> duckdb::Result<()> {
    let session: SessionKey = (row.get(0)?, row.get(1)?, row.get(2)?);
    if row.get::<_, bool>(4)? {
        let chain: ChainKey = (
            session.0,
            session.1.clone(),
            session.2.clone(),
            row.get(5)?,
            row.get(6)?,
        );
        let tail = Tail::new((row.get(7)?, row.get(8)?), row.get(9)?);
        chains.keep_latest(chain, tail);
    }
    keys.push((session, row.get(3)?));
    Ok(())
}
