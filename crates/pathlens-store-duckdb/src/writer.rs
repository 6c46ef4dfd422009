//! The single writer thread.
//!
//! Every change goes through one thread that owns the write connection.
//! Appends waiting in the channel are committed together (group commit): one
//! transaction, one write-ahead-log sync, then every waiting caller gets its
//! answer. What deciding whether an event is new and what a view adds
//! needs — the stored keys and view chains of a batch's sessions — is read
//! from the database for the sessions a batch touches and kept for the most
//! recently used ones (`sessions.rs`), so nothing of the whole history is
//! loaded when the store opens. The session facts of what it commits are
//! derived on another thread (`deriver.rs`).
//!
//! Events acknowledged through the intake log are applied to the database
//! on a thread of their own, with a connection of their own, while the
//! writer goes on acknowledging: an apply of a few thousand events takes
//! tens of milliseconds, which beacons would otherwise wait for. The
//! writer works out everything an apply needs from its memory first (the
//! events' sequence numbers, view playback and new session days), keeps at
//! most one apply running, and takes its outcome into memory when it ends;
//! any other write first waits for it.
//!
//! When a write makes the database unusable (see the crate's docs on
//! faults), the writer answers every job with the fault and, between jobs
//! and while idle, tries to reopen the database every
//! [`REOPEN_INTERVAL`](crate::REOPEN_INTERVAL), reloading its state from it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use duckdb::{Connection, params};
use pathlens_model::{Event, Graph};
use pathlens_store::{ApiKey, AppendOutcome, PartnerId, Result};

use crate::chains::{Chains, Planned};
use crate::deriver::Pending;
use crate::intake::{Intake, Position};
use crate::sessions::{self, Added, Sessions};
use crate::{
    REOPEN_INTERVAL, Shared, codec, in_transaction, internal, open_database, set_memory_limit,
};

/// DuckDB's memory limit while a graph change re-derives its video's facts,
/// unless a limit is configured: on 33M events of one video the change
/// took 24 s and failed at 512 MB, and passed at 1 GB.
const GRAPH_CHANGE_MEMORY_LIMIT: &str = "2GB";

/// Appends committed in one transaction at most.
const MAX_JOBS_PER_COMMIT: usize = 64;

/// Groups of appends with at most this many events go through the intake
/// log (`intake.rs`); larger ones (imports) are committed to the database
/// directly, their commit's sync shared by many events.
const INTAKE_MAX_EVENTS: usize = 2_000;
/// Events acknowledged through the intake log are applied to the database
/// once the writer has had no job for this long,
const APPLY_IDLE: Duration = Duration::from_millis(5);
/// or once they have waited this long (an apply costs about the same
/// whatever its size, so a steady stream of beacons is applied once a
/// second rather than ten times),
const APPLY_MAX_DELAY: Duration = Duration::from_millis(1000);
/// or once this many wait (a read applies them at once).
const APPLY_MAX_EVENTS: usize = 20_000;
/// How often the writer looks whether a running apply has ended, while it
/// has no job.
const APPLY_POLL: Duration = Duration::from_millis(1);

/// Where an append's outcome goes: a caller waiting on a channel, or a
/// callback ([`Store::append_later`](pathlens_store::Store::append_later)).
pub(crate) enum AppendReply {
    Wait(SyncSender<Result<AppendOutcome>>),
    Call(pathlens_store::AppendDone),
}

impl AppendReply {
    /// Gives `outcome` to whoever waits for it (a caller gone is ignored).
    pub(crate) fn send(self, outcome: Result<AppendOutcome>) {
        match self {
            AppendReply::Wait(sender) => drop(sender.send(outcome)),
            AppendReply::Call(done) => done(outcome),
        }
    }
}

/// A change and the channel its answer goes to.
pub(crate) enum Write {
    Append {
        events: Vec<Event>,
        reply: AppendReply,
    },
    Video {
        partner: PartnerId,
        graph: Graph,
        now: DateTime<Utc>,
        reply: SyncSender<Result<()>>,
    },
    Key {
        key: ApiKey,
        reply: SyncSender<Result<()>>,
    },
    Revoke {
        id: String,
        now: DateTime<Utc>,
        reply: SyncSender<Result<bool>>,
    },
    Checkpoint {
        reply: SyncSender<Result<()>>,
    },
    /// Apply every event acknowledged through the intake log now.
    Apply {
        reply: SyncSender<Result<()>>,
    },
}

pub(crate) struct Job {
    pub write: Write,
}

pub(crate) struct WriterState {
    connection: Connection,
    sessions: Sessions,
    chains: Chains,
    next_seq: i64,
    /// The intake log, unless small appends are committed directly.
    intake: Option<Intake>,
    /// Events acknowledged through the intake log, not in the database yet
    /// (nor being applied), since when the oldest has waited, and the
    /// working set's clock when the first was recorded: their sessions
    /// have been used since, and stay in memory until they are applied.
    unapplied: Vec<Event>,
    unapplied_since: Option<Instant>,
    unapplied_clock: Option<u64>,
    /// The apply running on its own thread, if any.
    applying: Option<Applying>,
    /// The connection applies run on (the writer's database), while none
    /// runs.
    apply_connection: Option<Connection>,
    depth: Arc<AtomicUsize>,
    shared: Arc<Shared>,
    /// When the writer last tried to reopen an unusable database.
    last_reopen: Option<Instant>,
}

/// An apply of the intake's events running on its own thread.
struct Applying {
    /// Every record of the intake log before this is in the apply.
    upto: Position,
    /// When the oldest of its events was acknowledged, and the working
    /// set's clock then (see `unapplied_clock`).
    since: Option<Instant>,
    clock: Option<u64>,
    thread: JoinHandle<Option<Applied>>,
}

/// An apply's work, which its thread gives back with its outcome.
struct Applied {
    connection: Connection,
    events: Vec<Event>,
    first_seq: i64,
    planned: Planned,
    added: Added,
    result: Result<()>,
}

/// What the writer keeps in memory, loaded from the database.
struct Loaded {
    next_seq: i64,
    pending: Option<Pending>,
}

impl WriterState {
    /// Reads the next storage sequence number and how far the session
    /// facts are derived.
    pub fn load(
        connection: Connection,
        depth: Arc<AtomicUsize>,
        shared: Arc<Shared>,
    ) -> Result<WriterState> {
        let Loaded { next_seq, pending } = Self::read_state(&connection)?;
        let apply_connection = connection.try_clone().ok();
        let mut state = WriterState {
            connection,
            sessions: Sessions::new(shared.config.cached_sessions),
            chains: Chains::default(),
            next_seq,
            intake: None,
            unapplied: Vec::new(),
            unapplied_since: None,
            unapplied_clock: None,
            applying: None,
            apply_connection,
            depth,
            shared,
            last_reopen: None,
        };
        state.shared.deriver.reset(&state.shared, next_seq, pending);
        if state.shared.config.intake {
            state.open_intake()?;
        }
        Ok(state)
    }

    /// Opens the intake log beside the database, first storing what it
    /// holds from before (a crash, or a stop before it was applied): what
    /// was applied already is recognised as stored.
    fn open_intake(&mut self) -> Result<()> {
        let dir = self
            .shared
            .path
            .parent()
            .unwrap_or_else(|| std::path::Path::new("."))
            .join("intake");
        let (mut intake, batches) = Intake::open(&dir)
            .map_err(|e| internal(&format!("opening the intake log in {}", dir.display()), e))?;
        let mut stored = AppendOutcome::default();
        for events in &batches {
            let outcome = self.store_now(events)?;
            stored.accepted += outcome.accepted;
            stored.duplicates += outcome.duplicates;
        }
        if !batches.is_empty() {
            tracing::info!(
                stored = stored.accepted,
                already = stored.duplicates,
                "intake log: events acknowledged before the last stop are stored"
            );
        }
        intake
            .applied_all()
            .map_err(|e| internal("clearing the intake log", e))?;
        self.intake = Some(intake);
        Ok(())
    }

    /// Stores `events` in the database now, skipping those stored already.
    fn store_now(&mut self, events: &[Event]) -> Result<AppendOutcome> {
        self.sessions
            .load(&self.connection, &mut self.chains, events)?;
        let (outcomes, accepted) = self.fresh(std::iter::once(events));
        self.write_events(&accepted)?;
        Ok(outcomes.into_iter().next().unwrap_or_default())
    }

    /// Which events of each group are new (their sessions are loaded): the
    /// outcome of each group and the new events, in order.
    fn fresh<'e>(
        &self,
        groups: impl Iterator<Item = &'e [Event]>,
    ) -> (Vec<AppendOutcome>, Vec<&'e Event>) {
        // Each session of the call by number, so that repeats within the
        // call are told by (number, key).
        let mut numbers: HashMap<(u32, &str, &str), usize> = HashMap::new();
        let mut seen: HashSet<(usize, u64)> = HashSet::new();
        let mut outcomes = Vec::new();
        let mut accepted = Vec::new();
        for events in groups {
            let mut outcome = AppendOutcome::default();
            for run in events.chunk_by(sessions::same_session) {
                let first = &run[0];
                let next = numbers.len();
                let number = *numbers
                    .entry((
                        first.partner_id,
                        first.video_id.as_str(),
                        first.session_id.as_str(),
                    ))
                    .or_insert(next);
                let stored = self.sessions.keys_of(first);
                for event in run {
                    if stored.is_some_and(|keys| keys.contains(&event.dedup_key))
                        || !seen.insert((number, event.dedup_key))
                    {
                        outcome.duplicates += 1;
                    } else {
                        outcome.accepted += 1;
                        accepted.push(event);
                    }
                }
            }
            outcomes.push(outcome);
        }
        (outcomes, accepted)
    }

    /// Records that `events` were committed: their sequence numbers and
    /// the facts they wait for.
    fn stored(&mut self, events: &[&Event]) {
        let first_seq = self.next_seq;
        self.next_seq += events.len() as i64;
        let times = events.iter().map(|e| e.ts.timestamp_micros());
        let (lo, hi) = (times.clone().min().unwrap_or(0), times.max().unwrap_or(0));
        self.shared
            .deriver
            .committed(&self.shared, first_seq, self.next_seq, lo, hi);
    }

    /// Applies every event acknowledged through the intake log to the
    /// database: waits for the apply running, then applies the rest.
    fn apply_intake(&mut self) -> Result<()> {
        self.finish_apply(true)?;
        if self.unapplied.is_empty() {
            return Ok(());
        }
        self.start_apply()?;
        self.finish_apply(true)
    }

    /// Starts applying every event acknowledged through the intake log on
    /// a thread of its own, with the apply connection (a new one when a
    /// reopen dropped it).
    fn start_apply(&mut self) -> Result<()> {
        if self.unapplied.is_empty() || self.applying.is_some() {
            return Ok(());
        }
        if let Some(fault) = self.refuse() {
            return Err(fault);
        }
        let connection = match self.apply_connection.take() {
            Some(connection) => connection,
            None => self
                .connection
                .try_clone()
                .map_err(|error| self.shared.observe(internal("opening a connection", error)))?,
        };
        // The thread gets its work once it runs: should it not start, the
        // events stay where they were.
        let (send, receive) = std::sync::mpsc::sync_channel::<Applied>(1);
        let thread = std::thread::Builder::new()
            .name("pathlens-apply".into())
            .spawn(move || {
                let mut work = receive.recv().ok()?;
                let refs: Vec<&Event> = work.events.iter().collect();
                work.result = transaction(
                    &work.connection,
                    work.first_seq,
                    &refs,
                    &mut work.planned,
                    &work.added,
                );
                drop(refs);
                Some(work)
            });
        let thread = match thread {
            Ok(thread) => thread,
            Err(error) => {
                self.apply_connection = Some(connection);
                return Err(internal("starting an apply", error));
            }
        };
        let upto = self.intake.as_ref().map_or((0, 0), |intake| intake.end());
        let events = std::mem::take(&mut self.unapplied);
        let (since, clock) = (self.unapplied_since.take(), self.unapplied_clock.take());
        let refs: Vec<&Event> = events.iter().collect();
        let planned = self.chains.plan(&refs);
        let added = self.sessions.added(&refs);
        drop(refs);
        let work = Applied {
            connection,
            events,
            first_seq: self.next_seq,
            planned,
            added,
            result: Ok(()),
        };
        // The thread waits for it; should it have gone, nothing is lost.
        if let Err(std::sync::mpsc::SendError(work)) = send.send(work) {
            self.apply_connection = Some(work.connection);
            self.requeue(work.events, since, clock);
            return Err(internal(
                "starting an apply",
                std::io::Error::other("the apply's thread ended before its work"),
            ));
        }
        self.applying = Some(Applying {
            upto,
            since,
            clock,
            thread,
        });
        Ok(())
    }

    /// Puts back `events`, taken for an apply that did not store them,
    /// before those acknowledged since, with when the oldest was
    /// acknowledged and the working set's clock then.
    fn requeue(&mut self, mut events: Vec<Event>, since: Option<Instant>, clock: Option<u64>) {
        events.append(&mut self.unapplied);
        self.unapplied = events;
        self.unapplied_since = since.or(self.unapplied_since);
        self.unapplied_clock = clock.into_iter().chain(self.unapplied_clock).min();
    }

    /// Takes in the outcome of the apply running, once it has ended (or,
    /// with `wait`, waiting for it). On failure its events wait to be
    /// applied again, before those recorded since.
    fn finish_apply(&mut self, wait: bool) -> Result<()> {
        let Some(applying) = self.applying.take_if(|a| wait || a.thread.is_finished()) else {
            return Ok(());
        };
        let Ok(Some(applied)) = applying.thread.join() else {
            return Err(internal(
                "applying the intake log",
                std::io::Error::other("the apply's thread panicked"),
            ));
        };
        self.apply_connection = Some(applied.connection);
        // Nothing else is committed while an apply runs.
        debug_assert_eq!(applied.first_seq, self.next_seq);
        let events = applied.events;
        let refs: Vec<&Event> = events.iter().collect();
        if let Err(error) = self.committed(&refs, applied.result, applied.planned, applied.added) {
            drop(refs);
            self.requeue(events, applying.since, applying.clock);
            return Err(error);
        }
        self.shared
            .unapplied
            .store(self.unapplied.len(), Ordering::Release);
        if let Some(intake) = &mut self.intake
            && let Err(error) = intake.applied_to(applying.upto)
        {
            tracing::warn!(%error, "intake log: deleting applied segments failed; they are read again at the next open");
        }
        Ok(())
    }

    /// Takes in an apply that has ended, and starts one when the intake's
    /// events have waited long enough or grown many (a failure is logged;
    /// they stay acknowledged in the log and are tried again).
    fn apply_due(&mut self, idle: bool) {
        if let Err(error) = self.finish_apply(false) {
            tracing::warn!(%error, "applying the intake log failed; its events stay in the log");
        }
        let due = self.unapplied_since.is_some_and(|since| {
            idle || self.unapplied.len() >= APPLY_MAX_EVENTS || since.elapsed() >= APPLY_MAX_DELAY
        });
        if due && let Err(error) = self.start_apply() {
            tracing::warn!(%error, "applying the intake log failed; its events stay in the log");
        }
    }

    fn read_state(connection: &Connection) -> Result<Loaded> {
        let next_seq = connection
            .query_row("SELECT coalesce(max(seq) + 1, 0) FROM events", [], |row| {
                row.get(0)
            })
            .map_err(|e| internal("reading the last sequence number", e))?;
        // Events committed before a crash whose facts were not derived yet.
        let (first_seq, lo, hi, events): (i64, Option<i64>, Option<i64>, i64) = connection
            .query_row(
                "SELECT s.through_seq, min(e.ts_us), max(e.ts_us), count(e.seq)
                FROM facts_state s LEFT JOIN events e ON e.seq >= s.through_seq
                GROUP BY s.through_seq",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .map_err(|e| internal("reading how far the facts are derived", e))?;
        let pending = match (lo, hi) {
            (Some(lo), Some(hi)) => Some(Pending::new(
                first_seq,
                lo,
                hi,
                usize::try_from(events).unwrap_or(0),
            )),
            _ => None,
        };
        Ok(Loaded { next_seq, pending })
    }

    /// Reopens the database when it is unusable, at most once per
    /// [`REOPEN_INTERVAL`]; on success the store is usable again.
    fn heal(&mut self) {
        let Some(fault) = self.shared.fault() else {
            return;
        };
        if self
            .last_reopen
            .is_some_and(|last| last.elapsed() < REOPEN_INTERVAL)
        {
            return;
        }
        self.last_reopen = Some(Instant::now());
        // The apply running ends first (its events wait to be applied
        // again when it failed); its connection is of the old database.
        if let Err(error) = self.finish_apply(true) {
            tracing::debug!(%error, "the apply running when the database failed");
        }
        self.apply_connection = None;
        // No derivation may hold the old database open meanwhile.
        let shared = self.shared.clone();
        let _tables = shared.deriver.hold_tables();
        // Readers of the unusable database go first, so only the new one is
        // open once it has replayed its log.
        if let Ok(mut readers) = self.shared.readers.lock() {
            readers.take();
        }
        let reopened = open_database(&self.shared.path, &self.shared.config).and_then(|c| {
            let loaded = Self::read_state(&c)?;
            let readers = c.try_clone().map_err(|e| internal("opening a reader", e))?;
            Ok((c, loaded, readers))
        });
        match reopened {
            Ok((connection, loaded, readers)) => {
                self.apply_connection = connection.try_clone().ok();
                self.connection = connection;
                self.sessions.clear(&mut self.chains);
                // The keys of acknowledged events not applied yet are only
                // in memory (and in the intake log).
                let unapplied = std::mem::take(&mut self.unapplied);
                if let Err(error) =
                    self.sessions
                        .load(&self.connection, &mut self.chains, &unapplied)
                {
                    tracing::warn!(%error, "reading the sessions of the intake's events failed");
                }
                self.sessions.note(&unapplied);
                if !unapplied.is_empty() {
                    self.unapplied_clock = Some(self.sessions.clock());
                }
                self.unapplied = unapplied;
                self.next_seq = loaded.next_seq;
                self.shared
                    .deriver
                    .reset(&self.shared, loaded.next_seq, loaded.pending);
                if let Ok(mut source) = self.shared.readers.lock() {
                    *source = Some(crate::Readers::new(readers));
                }
                if let Ok(mut slot) = self.shared.fault.lock() {
                    slot.take();
                }
                self.last_reopen = None;
                tracing::info!(previous = %fault, "the database is usable again: reopened");
            }
            Err(error) => {
                tracing::warn!(%error, "the database cannot be reopened yet; retrying");
                if let Ok(mut slot) = self.shared.fault.lock() {
                    // A full disk stays the reason while it lasts.
                    *slot = Some(if error.kind() == pathlens_store::StoreErrorKind::Full {
                        error
                    } else {
                        fault
                    });
                }
            }
        }
    }

    /// The fault to answer with instead of writing, while there is one.
    fn refuse(&self) -> Option<pathlens_store::StoreError> {
        self.shared.fault()
    }

    /// Serves jobs until every sender is gone.
    pub fn run(mut self, jobs: Receiver<Job>) {
        let mut last_job = Instant::now();
        loop {
            let wait = if self.applying.is_some() {
                APPLY_POLL
            } else if self.unapplied.is_empty() {
                REOPEN_INTERVAL
            } else {
                APPLY_IDLE
            };
            let first = match jobs.recv_timeout(wait) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    self.heal();
                    self.apply_due(last_job.elapsed() >= APPLY_IDLE);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            last_job = Instant::now();
            self.heal();
            let mut appends = Vec::new();
            let mut next = Some(first);
            while let Some(job) = next.take() {
                self.depth.fetch_sub(1, Ordering::Relaxed);
                match job.write {
                    Write::Append { events, reply } => appends.push((events, reply)),
                    other => {
                        self.commit_appends(std::mem::take(&mut appends));
                        self.apply(other);
                    }
                }
                if appends.len() < MAX_JOBS_PER_COMMIT {
                    next = jobs.try_recv().ok();
                }
            }
            self.commit_appends(appends);
            self.apply_due(false);
        }
        // Closing: what the intake log acknowledged goes to the database, so
        // the next open has nothing to replay (the deriving thread then
        // derives its facts).
        match self.apply_intake() {
            // Nothing is left to replay: the log's segments go, so a data
            // directory at rest holds none.
            Ok(()) => {
                if let Some(intake) = self.intake.take()
                    && let Err(error) = intake.close_applied()
                {
                    tracing::warn!(%error, "intake log: deleting its segments at close failed; the next open reads them (everything in them is stored)");
                }
            }
            Err(error) => {
                tracing::warn!(%error, "applying the intake log at close failed; the next open replays it");
            }
        }
    }

    fn apply(&mut self, write: Write) {
        // Other writes wait for the apply running (a failure is logged; its
        // events stay acknowledged in the log and are tried again).
        if !matches!(write, Write::Append { .. })
            && let Err(error) = self.finish_apply(true)
        {
            tracing::warn!(%error, "applying the intake log failed; its events stay in the log");
        }
        if let Some(fault) = self.refuse() {
            match write {
                Write::Append { reply, .. } => reply.send(Err(fault)),
                Write::Video { reply, .. }
                | Write::Key { reply, .. }
                | Write::Checkpoint { reply }
                | Write::Apply { reply } => drop(reply.send(Err(fault))),
                Write::Revoke { reply, .. } => drop(reply.send(Err(fault))),
            }
            return;
        }
        match write {
            Write::Append { events, reply } => self.commit_appends(vec![(events, reply)]),
            Write::Video {
                partner,
                graph,
                now,
                reply,
            } => {
                let result = self.put_video(partner, &graph, now);
                let _ = reply.send(result.map_err(|e| self.shared.observe(e)));
            }
            Write::Key { key, reply } => {
                let result = self.put_key(&key);
                let _ = reply.send(result.map_err(|e| self.shared.observe(e)));
            }
            Write::Apply { reply } => {
                let _ = reply.send(self.apply_intake());
            }
            Write::Checkpoint { reply } => {
                let result = self.apply_intake().and_then(|()| {
                    // DuckDB checkpoints only with no other transaction open.
                    let _tables = self.shared.deriver.hold_tables();
                    self.connection
                        .execute_batch("CHECKPOINT")
                        .map_err(|e| internal("checkpointing", e))
                });
                let _ = reply.send(result.map_err(|e| self.shared.observe(e)));
            }
            Write::Revoke { id, now, reply } => {
                let result = self
                    .connection
                    .execute(
                        "UPDATE api_keys SET revoked_us = coalesce(revoked_us, ?) WHERE id = ?",
                        params![now.timestamp_micros(), id],
                    )
                    .map(|changed| changed > 0)
                    .map_err(|e| self.shared.observe(internal("revoking a key", e)));
                let _ = reply.send(result);
            }
        }
    }

    fn put_video(&self, partner: PartnerId, graph: &Graph, now: DateTime<Utc>) -> Result<()> {
        let json = serde_json::to_string(graph).map_err(|e| internal("encoding a graph", e))?;
        let connection = &self.connection;
        // Storing a graph recomputes its video's watched masks.
        let _tables = self.shared.deriver.hold_tables();
        // New node durations re-derive the video's whole history in this
        // transaction, which needs more memory than the default limit
        // (`DEFAULT_MEMORY_LIMIT`; a configured one is kept).
        if self.shared.config.memory_limit.is_none() {
            set_memory_limit(connection, GRAPH_CHANGE_MEMORY_LIMIT)?;
        }
        let stored = in_transaction(connection, "a video", || {
            connection
                .execute(
                    "INSERT INTO videos (partner_id, video_id, graph, created_us, updated_us) VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT (partner_id, video_id) DO UPDATE SET graph = excluded.graph, updated_us = excluded.updated_us",
                    params![partner, graph.id, json, now.timestamp_micros(), now.timestamp_micros()],
                )
                .map_err(|e| internal("storing a video", e))?;
            crate::facts::graph_stored(connection, partner, graph)
        });
        if let Err(error) = set_memory_limit(connection, self.shared.config.memory_limit()) {
            tracing::warn!(%error, "restoring the memory limit after a graph change failed");
        }
        stored
    }

    fn put_key(&self, key: &ApiKey) -> Result<()> {
        self.connection
            .execute(
                "INSERT INTO api_keys (id, partner_id, kind, name, token_hash, created_us, revoked_us) VALUES (?, ?, ?, ?, ?, ?, ?)",
                params![
                    key.id,
                    key.partner_id,
                    key.kind.name(),
                    key.name,
                    key.token_hash,
                    key.created_at.timestamp_micros(),
                    key.revoked_at.map(|t| t.timestamp_micros())
                ],
            )
            .map(|_| ())
            .map_err(|e| internal("storing a key", e))
    }

    /// Answers every job with `result` (its own outcome on success).
    fn answer(
        jobs: Vec<(Vec<Event>, AppendReply)>,
        outcomes: Vec<AppendOutcome>,
        result: &Result<()>,
    ) {
        let mut outcomes = outcomes.into_iter();
        for (_, reply) in jobs {
            let answer = match result {
                Ok(()) => Ok(outcomes.next().unwrap_or_default()),
                Err(error) => Err(error.same()),
            };
            reply.send(answer);
        }
    }

    /// Stores the new events of every job — in the intake log when they
    /// are few, else in the database in one transaction — then answers each
    /// job. On failure nothing is stored and every job gets the error.
    fn commit_appends(&mut self, jobs: Vec<(Vec<Event>, AppendReply)>) {
        if jobs.is_empty() {
            return;
        }
        let total: usize = jobs.iter().map(|(events, _)| events.len()).sum();
        let through_intake = self.intake.is_some() && total <= INTAKE_MAX_EVENTS;
        // A direct commit comes after what the intake acknowledged before.
        let ready = match self.refuse() {
            Some(fault) => Err(fault),
            None if through_intake => Ok(()),
            None => self.apply_intake(),
        }
        .and_then(|()| {
            self.sessions.load(
                &self.connection,
                &mut self.chains,
                jobs.iter().flat_map(|(events, _)| events),
            )
        });
        if let Err(error) = ready {
            let error = self.shared.observe(error);
            Self::answer(jobs, Vec::new(), &Err(error));
            return;
        }
        let (outcomes, accepted) = self.fresh(jobs.iter().map(|(events, _)| events.as_slice()));
        let result = if through_intake {
            self.record_intake(&accepted)
        } else {
            self.write_events(&accepted)
        };
        Self::answer(jobs, outcomes, &result);
    }

    /// Acknowledges `events` through the intake log: durable once their
    /// record is synced, applied to the database shortly after. When the
    /// log cannot be written, they are committed to the database instead.
    fn record_intake(&mut self, events: &[&Event]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let Some(intake) = &mut self.intake else {
            return Err(internal(
                "recording events",
                std::io::Error::other("no intake log"),
            ));
        };
        if let Err(error) = intake.append(events) {
            tracing::warn!(%error, "intake log: writing failed; committing to the database directly");
            self.apply_intake()?;
            return self.write_events(events);
        }
        self.sessions.note(events);
        self.unapplied
            .extend(events.iter().map(|&event| event.clone()));
        self.unapplied_since.get_or_insert_with(Instant::now);
        self.unapplied_clock.get_or_insert(self.sessions.clock());
        // Those of the apply running are not applied yet either.
        self.shared
            .unapplied
            .fetch_add(events.len(), Ordering::AcqRel);
        Ok(())
    }

    /// Commits `events` (all new) to the database in one transaction, with
    /// their view playback and sessions' days, and records them as stored.
    fn write_events(&mut self, events: &[&Event]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut planned = self.chains.plan(events);
        let added = self.sessions.added(events);
        let result = transaction(
            &self.connection,
            self.next_seq,
            events,
            &mut planned,
            &added,
        );
        self.committed(events, result, planned, added)
    }

    /// Keeps what a transaction of `events` did, once it is committed.
    fn committed(
        &mut self,
        events: &[&Event],
        result: Result<()>,
        planned: Planned,
        added: Added,
    ) -> Result<()> {
        match result {
            Ok(()) => {
                self.chains.apply(planned);
                // The sessions of events waiting to be applied stay.
                let keep_from = self.unapplied_clock.unwrap_or(u64::MAX);
                self.sessions.apply(added, &mut self.chains, keep_from);
                self.stored(events);
                Ok(())
            }
            Err(error) => {
                tracing::error!(%error, "append failed; rolled back");
                Err(self.shared.observe(error))
            }
        }
    }
}

/// Appends `events` (all new), numbered from `first_seq`, with their view
/// playback and sessions' days, in one transaction of `connection`.
fn transaction(
    connection: &Connection,
    first_seq: i64,
    events: &[&Event],
    planned: &mut Planned,
    added: &Added,
) -> Result<()> {
    in_transaction(connection, "events", || {
        let mut appender = connection
            .appender("events")
            .map_err(|e| internal("opening the appender", e))?;
        for (offset, event) in events.iter().enumerate() {
            let seq = first_seq + offset as i64;
            codec::append_event(&mut appender, seq, event, planned.view_ms[offset])?;
        }
        appender
            .flush()
            .map_err(|e| internal("flushing the appender", e))?;
        drop(appender);
        Sessions::record(connection, added)?;
        Chains::recompute(connection, planned)
    })
}
