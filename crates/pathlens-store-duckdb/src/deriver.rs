//! Deriving the session facts of committed events, on a thread of its own.
//!
//! The writer commits events and acknowledges them; the facts those events
//! change (`facts.rs`) are derived afterwards in one transaction per round,
//! on another connection, so a derivation (tens of milliseconds for a
//! second of beacons, more for an import's batches) never holds up the
//! writer's next commit. A round starts once no event has been committed
//! for [`FACTS_IDLE`], once the oldest pending event has waited
//! [`FACTS_MAX_DELAY`], or once [`FACTS_MAX_EVENTS`] wait; and a report
//! that finds facts missing runs one itself ([`Deriver::derive`]) rather
//! than read the events.
//!
//! Consistency: the writer records what it committed (the sequence numbers
//! and their span of times) under the same lock that a round takes its
//! work from, so a round's "derived through" never passes an event it did
//! not see. The fact tables are written only by rounds and by the writer's
//! graph changes, which hold [`Deriver::tables`]; so does a checkpoint and
//! the writer reopening the database. Rounds are idempotent: a session's
//! facts are recomputed from all its stored events, so a round that sees
//! events committed after it took its work derives them once more later,
//! to the same rows.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use duckdb::params;
use pathlens_store::{Result, StoreErrorKind};

use crate::{REOPEN_INTERVAL, Shared, in_transaction, internal};

/// A round starts once no event has been committed for this long,
const FACTS_IDLE: Duration = Duration::from_millis(100);
/// or once the oldest pending event has waited this long,
const FACTS_MAX_DELAY: Duration = Duration::from_secs(1);
/// or once this many events wait (a report derives them at once).
const FACTS_MAX_EVENTS: usize = 200_000;

/// Events committed whose session facts are not derived yet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    /// The first sequence number without facts.
    pub first_seq: i64,
    /// Their times, µs.
    pub lo: i64,
    pub hi: i64,
    pub events: usize,
    /// When the oldest was committed,
    pub since: Instant,
    /// and the newest.
    pub last: Instant,
}

impl Pending {
    /// `events` events from `first_seq` on, over `[lo, hi]` µs, committed
    /// just now.
    pub fn new(first_seq: i64, lo: i64, hi: i64, events: usize) -> Pending {
        let now = Instant::now();
        Pending {
            first_seq,
            lo,
            hi,
            events,
            since: now,
            last: now,
        }
    }

    fn merge(&mut self, other: &Pending) {
        self.first_seq = self.first_seq.min(other.first_seq);
        self.lo = self.lo.min(other.lo);
        self.hi = self.hi.max(other.hi);
        self.events += other.events;
        self.since = self.since.min(other.since);
        self.last = self.last.max(other.last);
    }

    fn due(&self) -> bool {
        self.events >= FACTS_MAX_EVENTS
            || self.since.elapsed() >= FACTS_MAX_DELAY
            || self.last.elapsed() >= FACTS_IDLE
    }
}

#[derive(Default)]
struct State {
    pending: Option<Pending>,
    stop: bool,
}

impl State {
    /// `added` waits for facts too.
    fn add(&mut self, added: Pending) {
        match &mut self.pending {
            Some(pending) => pending.merge(&added),
            None => self.pending = Some(added),
        }
    }
}

/// What the writer, the deriving thread and readers share about the facts.
#[derive(Default)]
pub(crate) struct Deriver {
    state: Mutex<State>,
    wake: Condvar,
    /// Held while the fact tables are written or the database is swapped.
    pub tables: Mutex<()>,
}

impl Deriver {
    // A poisoned lock only says a thread panicked while holding it: what
    // the locks guard is plain data (or nothing), still good to use.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds the fact tables (see the module's docs).
    pub fn hold_tables(&self) -> MutexGuard<'_, ()> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes how far events and facts go, with `state` held.
    fn publish(shared: &Shared, state: &State, stored_through: i64) {
        let facts = state.pending.map_or(stored_through, |p| p.first_seq);
        shared
            .stored_through
            .store(stored_through, std::sync::atomic::Ordering::Release);
        shared
            .facts_through
            .store(facts, std::sync::atomic::Ordering::Release);
    }

    /// The writer committed the events `[first_seq, next_seq)`, whose times
    /// span `[lo, hi]` µs.
    pub fn committed(&self, shared: &Shared, first_seq: i64, next_seq: i64, lo: i64, hi: i64) {
        let added = Pending::new(
            first_seq,
            lo,
            hi,
            usize::try_from(next_seq - first_seq).unwrap_or(0),
        );
        let mut state = self.state();
        state.add(added);
        Self::publish(shared, &state, next_seq);
        drop(state);
        self.wake.notify_one();
    }

    /// The state read from a database just opened: events up to
    /// `next_seq`, of which `pending` lack facts.
    pub fn reset(&self, shared: &Shared, next_seq: i64, pending: Option<Pending>) {
        let mut state = self.state();
        state.pending = pending;
        Self::publish(shared, &state, next_seq);
    }

    /// Derives the facts of every event committed so far, in one
    /// transaction. On failure the events stay pending.
    pub fn derive(&self, shared: &Shared) -> Result<()> {
        let _tables = self.hold_tables();
        let (taken, through) = {
            let mut state = self.state();
            let Some(taken) = state.pending.take() else {
                return Ok(());
            };
            (
                taken,
                shared
                    .stored_through
                    .load(std::sync::atomic::Ordering::Acquire),
            )
        };
        let outcome = Self::derive_taken(shared, &taken, through);
        let mut state = self.state();
        if outcome.is_err() {
            state.add(taken);
        }
        let stored = shared
            .stored_through
            .load(std::sync::atomic::Ordering::Acquire);
        Self::publish(shared, &state, stored);
        outcome
    }

    fn derive_taken(shared: &Shared, taken: &Pending, through: i64) -> Result<()> {
        if let Some(fault) = shared.fault() {
            return Err(fault);
        }
        let connection = shared.connection()?;
        in_transaction(&connection, "session facts", || {
            crate::facts::derive_batch(&connection, taken.first_seq, (taken.lo, taken.hi))?;
            connection
                .execute("UPDATE facts_state SET through_seq = ?", params![through])
                .map_err(|e| internal("recording the derived facts", e))?;
            Ok(())
        })
        .map_err(|e| shared.observe(e))
    }

    /// Derives rounds as they fall due until [`Deriver::stop`], then once
    /// more for what is left.
    pub fn run(&self, shared: &Shared) {
        let mut retry_after: Option<Instant> = None;
        loop {
            {
                let mut state = self.state();
                loop {
                    if state.stop {
                        break;
                    }
                    let ready = retry_after.is_none_or(|at| Instant::now() >= at);
                    if ready && state.pending.is_some_and(|p| p.due()) {
                        break;
                    }
                    let wait = match retry_after {
                        Some(at) if !ready => at.saturating_duration_since(Instant::now()),
                        _ => FACTS_IDLE,
                    };
                    state = self
                        .wake
                        .wait_timeout(state, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                if state.stop {
                    break;
                }
            }
            match self.derive(shared) {
                Ok(()) => retry_after = None,
                Err(error) => {
                    if error.kind() != StoreErrorKind::Unavailable {
                        tracing::warn!(%error, "deriving session facts failed; they stay pending");
                    }
                    retry_after = Some(Instant::now() + REOPEN_INTERVAL);
                }
            }
        }
        // Closing: the facts of what is committed, so the next open has
        // nothing to catch up on (after a crash it derives them then).
        if let Err(error) = self.derive(shared) {
            tracing::warn!(%error, "deriving session facts at close failed; the next open derives them");
        }
    }

    /// Ends [`Deriver::run`] after its last round.
    pub fn stop(&self) {
        let mut state = self.state();
        state.stop = true;
        drop(state);
        self.wake.notify_all();
    }
}
