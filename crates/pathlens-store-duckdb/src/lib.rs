//! The embedded store: one DuckDB database file in a data directory.
//!
//! - [`schema`]: versioned migrations, applied when the store opens;
//! - [`writer`]: the single writer thread, fed by a bounded channel, which
//!   group-commits appends and acknowledges them only once committed;
//! - `deriver`: a thread deriving the committed events' session facts in
//!   batches (`facts`), beside the writer;
//! - [`read`]: scans and lookups, each on its own connection so reads run
//!   beside the writer;
//! - [`aggregate`]: report figures aggregated in SQL, never raw rows;
//! - `chains`: each view's playback, worked out when it is stored;
//! - `sessions`: the stored keys and view chains of the sessions the writer
//!   works on, read from the database as batches reach them;
//! - [`codec`]: how rows map to model types;
//! - `compact`: rewriting the database packed, its facts sorted by video.
//!
//! DuckDB's commit writes and syncs its write-ahead log, so an acknowledged
//! append survives `kill -9`.
//!
//! # Faults
//!
//! A failed write caused by a full disk is [`StoreErrorKind::Full`]: nothing
//! of it is stored and the next write tries again. A fatal DuckDB error (a
//! checkpoint that could not be written, an I/O error) invalidates the
//! database until it is reopened: from then on the store answers
//! [`StoreErrorKind::Unavailable`] (or `Full` when the cause was a full
//! disk), [`Store::health`] fails, and the writer tries to reopen the
//! database every [`REOPEN_INTERVAL`] until it succeeds. Reopening replays
//! DuckDB's write-ahead log, so every acknowledged event is there again, and
//! forgets the sessions the writer held, to read them again.

mod aggregate;
mod chains;
mod codec;
mod compact;
mod deriver;
mod facts;
mod intake;
mod read;
mod rollup;
pub mod schema;
mod sessions;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};
use duckdb::Connection;
use pathlens_model::{Event, Graph};
use pathlens_store::{
    AggregateRequest, Aggregates, ApiKey, AppendDone, AppendOutcome, Dimension, DimensionValue,
    EventRow, PartnerId, Result, ScanRequest, Store, StoreError, StoreErrorKind, StoredVideo,
    Totals, ValuesRequest,
};

pub use crate::compact::{Compaction, compact, worth_compacting};
use crate::writer::{AppendReply, Job, Write};

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "pathlens.duckdb";

/// DuckDB's memory limit unless configured. DuckDB's own default (80 % of
/// RAM) let a 100M-event import grow its buffer pool to 4 GiB; reports over
/// the session facts need a few tens of MB, and operators that need more
/// spill to `pathlens.duckdb.tmp/`. Work over a whole history at once runs
/// with more: migrations (which may derive every fact) with DuckDB's own
/// limit, a graph change re-deriving its video's facts with 2 GB (on 33M
/// events of one video it failed at 512 MB and passed at 1 GB).
pub const DEFAULT_MEMORY_LIMIT: &str = "512MB";

/// The write-ahead log's size at which DuckDB checkpoints by itself. At
/// DuckDB's 16 MB, with the writer and the facts' derivation committing on
/// two connections, a 10M-event import left a 693 MB database (half of it
/// blocks freed by checkpoints) against 379 MB at 128 MB, which was also
/// faster (167,694 against 159,069 events/s) and peaked lower (809 against
/// 831 MiB). The cost: after a crash, opening replays up to that much log.
pub const CHECKPOINT_THRESHOLD: &str = "128MB";

/// How often the writer tries to reopen a database that became unusable.
pub const REOPEN_INTERVAL: Duration = Duration::from_secs(1);

/// Settings of the embedded store.
#[derive(Debug, Clone)]
pub struct DuckDbConfig {
    /// Write jobs (requests) that may wait for the writer; beyond this,
    /// appends fail with [`StoreErrorKind::Overloaded`].
    pub queue_capacity: usize,
    /// DuckDB's memory limit, e.g. "2GB"; [`DEFAULT_MEMORY_LIMIT`] when
    /// `None`.
    pub memory_limit: Option<String>,
    /// Sessions whose stored dedup keys and view chains the writer keeps in
    /// memory (the most recently written to); others are read from the
    /// database when a batch reaches them.
    pub cached_sessions: usize,
    /// Whether small appends are acknowledged through the intake log
    /// (`intake/` beside the database) and applied in batches, rather than
    /// each committed to the database.
    pub intake: bool,
}

impl DuckDbConfig {
    /// The memory limit DuckDB is held to.
    pub fn memory_limit(&self) -> &str {
        self.memory_limit.as_deref().unwrap_or(DEFAULT_MEMORY_LIMIT)
    }
}

impl Default for DuckDbConfig {
    fn default() -> DuckDbConfig {
        DuckDbConfig {
            queue_capacity: 256,
            memory_limit: None,
            cached_sessions: 20_000,
            intake: true,
        }
    }
}

/// The embedded DuckDB store.
pub struct DuckDbStore {
    shared: Arc<Shared>,
    jobs: Option<SyncSender<Job>>,
    writer: Option<JoinHandle<()>>,
    deriver: Option<JoinHandle<()>>,
    depth: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// Idle reader connections kept at most: enough for the reports of a
/// dashboard page asked at once.
const IDLE_READERS: usize = 12;

/// Prepared statements each reader connection keeps (least recently used
/// first out): a dashboard page asks for about 35 distinct queries.
const STATEMENTS_PER_READER: usize = 64;

/// The reader connections: the one they are cloned from, and those that
/// finished a read, kept with their prepared statements. DuckDB plans a
/// report's query in a few milliseconds, about a third of its time at 10M
/// events; a dashboard asks the same queries again (another load, another
/// viewer of the same period), so a reader reuses the plans it made.
pub(crate) struct Readers {
    source: Connection,
    idle: Vec<Connection>,
    /// Which opening of the database these connections belong to.
    generation: u64,
}

impl Readers {
    pub(crate) fn new(source: Connection) -> Readers {
        static OPENINGS: AtomicU64 = AtomicU64::new(0);
        Readers {
            source,
            idle: Vec::new(),
            generation: OPENINGS.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// What the store's callers and its writer thread share.
pub(crate) struct Shared {
    pub path: PathBuf,
    pub config: DuckDbConfig,
    /// The reader connections; `None` while the writer reopens the
    /// database.
    pub readers: Mutex<Option<Readers>>,
    /// Why the database cannot be used, until the writer has reopened it.
    pub fault: Mutex<Option<StoreError>>,
    /// The storage sequence number after the last committed event.
    pub stored_through: AtomicI64,
    /// The session facts cover every event with a smaller sequence number.
    pub facts_through: AtomicI64,
    /// Events acknowledged through the intake log and not applied yet.
    pub unapplied: AtomicUsize,
    /// The session facts' derivation (`deriver.rs`).
    pub deriver: deriver::Deriver,
}

impl Shared {
    /// Whether the session facts cover every committed event.
    pub fn facts_current(&self) -> bool {
        self.facts_through.load(Ordering::Acquire) >= self.stored_through.load(Ordering::Acquire)
    }

    /// A new connection to the database (the facts' derivation).
    pub fn connection(&self) -> Result<Connection> {
        self.with_readers(|readers| readers.source.try_clone())
    }

    /// A connection for one read, with the statements earlier reads
    /// prepared on it: an idle one, else a new one. `give_back` keeps it
    /// for the next read.
    fn reader(&self) -> Result<(Connection, u64)> {
        self.with_readers(|readers| {
            let connection = match readers.idle.pop() {
                Some(connection) => connection,
                None => {
                    let connection = readers.source.try_clone()?;
                    connection.set_prepared_statement_cache_capacity(STATEMENTS_PER_READER);
                    connection
                }
            };
            Ok((connection, readers.generation))
        })
    }

    /// Keeps a connection that finished a read for the next one, unless
    /// the database was reopened meanwhile or enough are idle.
    fn give_back(&self, connection: Connection, generation: u64) {
        if let Ok(mut readers) = self.readers.lock()
            && let Some(readers) = readers.as_mut()
            && readers.generation == generation
            && readers.idle.len() < IDLE_READERS
        {
            readers.idle.push(connection);
        }
    }

    fn with_readers<T>(&self, work: impl FnOnce(&mut Readers) -> duckdb::Result<T>) -> Result<T> {
        let mut readers = self
            .readers
            .lock()
            .map_err(|_| StoreError::internal("reader lock poisoned"))?;
        let readers = readers.as_mut().ok_or_else(|| {
            StoreError::new(
                StoreErrorKind::Unavailable,
                "the database is being reopened",
            )
        })?;
        work(readers)
            .map_err(|e| internal("opening a reader", e))
            .map_err(|e| self.observe(e))
    }

    /// The current fault, if the database is unusable.
    pub fn fault(&self) -> Option<StoreError> {
        self.fault
            .lock()
            .ok()
            .and_then(|fault| fault.as_ref().map(StoreError::same))
    }

    /// Records `error` as the store's fault when it made the database
    /// unusable; returns the error unchanged.
    pub fn observe(&self, error: StoreError) -> StoreError {
        if is_fatal(&error.to_string())
            && let Ok(mut fault) = self.fault.lock()
            && fault.is_none()
        {
            tracing::error!(%error, "the database became unusable; reopening it");
            *fault = Some(error.same());
        }
        error
    }
}

/// A DuckDB error that invalidates the database until it is reopened.
pub(crate) fn is_fatal(message: &str) -> bool {
    message.contains("FATAL Error") || message.contains("database has been invalidated")
}

/// A store error for a failed DuckDB call, its kind told by the message: a
/// full disk is [`StoreErrorKind::Full`], a fatal error
/// [`StoreErrorKind::Unavailable`], anything else
/// [`StoreErrorKind::Internal`].
pub(crate) fn internal(
    context: &str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    let message = format!("{context}: {error}");
    let kind = if message.contains("No space left on device") || message.contains("Disk full") {
        StoreErrorKind::Full
    } else if is_fatal(&message) {
        StoreErrorKind::Unavailable
    } else {
        StoreErrorKind::Internal
    };
    StoreError::caused_by(kind, message, error)
}

/// Runs `work` in one transaction of `connection` (`what` names it in
/// errors): committed when it succeeds, rolled back when it or the commit
/// fails.
pub(crate) fn in_transaction<T>(
    connection: &Connection,
    what: &str,
    work: impl FnOnce() -> Result<T>,
) -> Result<T> {
    connection
        .execute_batch("BEGIN TRANSACTION")
        .map_err(|e| internal("starting a transaction", e))?;
    let done = work().and_then(|value| {
        connection
            .execute_batch("COMMIT")
            .map_err(|e| internal(&format!("committing {what}"), e))
            .map(|()| value)
    });
    if done.is_err() {
        let _ = connection.execute_batch("ROLLBACK");
    }
    done
}

/// Sets DuckDB's memory limit (of the whole database, every connection).
pub(crate) fn set_memory_limit(connection: &Connection, limit: &str) -> Result<()> {
    connection
        .execute_batch(&format!("SET memory_limit = '{}'", limit.replace('\'', "")))
        .map_err(|e| {
            internal(
                &format!("setting memory_limit to {limit:?} (a size such as \"512MB\" or \"4GB\")"),
                e,
            )
        })
}

/// Opens the database file and brings its schema up to date.
pub(crate) fn open_database(path: &Path, config: &DuckDbConfig) -> Result<Connection> {
    let connection = Connection::open(path).map_err(|e| {
        let context = format!("opening {}", path.display());
        // DuckDB refuses a file another process has open for writing.
        if e.to_string().contains("Could not set lock on file") {
            StoreError::caused_by(StoreErrorKind::Locked, format!("{context}: {e}"), e)
        } else {
            internal(&context, e)
        }
    })?;
    connection
        .execute_batch(&format!(
            "SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'"
        ))
        .map_err(|e| internal("setting checkpoint_threshold", e))?;
    // A migration may derive facts over the whole history: DuckDB's own
    // memory limit for it, as for a graph change (`writer.rs`).
    schema::migrate(&connection)?;
    set_memory_limit(&connection, config.memory_limit())?;
    Ok(connection)
}

impl DuckDbStore {
    /// Opens (creating if needed) the store in `data_dir`, applying pending
    /// migrations.
    ///
    /// # Errors
    /// [`StoreErrorKind::Incompatible`] when the database comes from a newer
    /// version; [`StoreErrorKind::Internal`] on I/O or database faults.
    pub fn open(data_dir: &Path, config: &DuckDbConfig) -> Result<DuckDbStore> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| internal(&format!("creating {}", data_dir.display()), e))?;
        let path = data_dir.join(DATABASE_FILE);
        let connection = open_database(&path, config)?;
        let reader_source = connection
            .try_clone()
            .map_err(|e| internal("opening a reader", e))?;
        let shared = Arc::new(Shared {
            path,
            config: config.clone(),
            readers: Mutex::new(Some(Readers::new(reader_source))),
            fault: Mutex::new(None),
            stored_through: AtomicI64::new(0),
            facts_through: AtomicI64::new(0),
            unapplied: AtomicUsize::new(0),
            deriver: deriver::Deriver::default(),
        });
        let depth = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (jobs, receiver) = sync_channel(config.queue_capacity.max(1));
        let state = writer::WriterState::load(connection, depth.clone(), shared.clone())?;
        let writer = std::thread::Builder::new()
            .name("pathlens-duckdb-writer".into())
            .spawn(move || state.run(receiver))
            .map_err(|e| internal("starting the writer thread", e))?;
        let facts = shared.clone();
        let deriver = std::thread::Builder::new()
            .name("pathlens-duckdb-facts".into())
            .spawn(move || facts.deriver.run(&facts))
            .map_err(|e| internal("starting the facts thread", e))?;
        Ok(DuckDbStore {
            shared,
            jobs: Some(jobs),
            writer: Some(writer),
            deriver: Some(deriver),
            depth,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Writes everything in DuckDB's write-ahead log into the database file
    /// now (DuckDB also does so by itself once the log is large).
    ///
    /// # Errors
    /// As the checkpoint fails; a fatal failure makes the store unusable
    /// until the writer has reopened the database.
    pub fn checkpoint(&self) -> Result<()> {
        self.submit(|reply| Write::Checkpoint { reply })
    }

    /// Runs `read` on a fresh reader connection, recording a fault that
    /// makes the database unusable.
    fn read<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        if let Some(fault) = self.shared.fault() {
            return Err(fault);
        }
        let (connection, generation) = self.shared.reader()?;
        match read(&connection) {
            Ok(answer) => {
                self.shared.give_back(connection, generation);
                Ok(answer)
            }
            // A connection whose read failed is not kept.
            Err(error) => Err(self.shared.observe(error)),
        }
    }

    fn submit<T>(
        &self,
        make: impl FnOnce(std::sync::mpsc::SyncSender<Result<T>>) -> Write,
    ) -> Result<T> {
        let (reply, answer) = sync_channel(1);
        if let Err(refused) = self.enqueue(make(reply)) {
            return Err(refused.0);
        }
        answer.recv().map_err(|_| {
            StoreError::new(
                StoreErrorKind::Unavailable,
                "the writer stopped before answering",
            )
        })?
    }

    /// Queues `write` for the writer; gives it back with the error when the
    /// queue is full or the writer has stopped.
    fn enqueue(&self, write: Write) -> std::result::Result<(), Box<(StoreError, Write)>> {
        let Some(jobs) = self.jobs.as_ref() else {
            return Err(Box::new((
                StoreError::new(StoreErrorKind::Unavailable, "the store is closed"),
                write,
            )));
        };
        self.depth
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        jobs.try_send(Job { write }).map_err(|error| {
            self.depth
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            Box::new(match error {
                TrySendError::Full(job) => (
                    StoreError::new(
                        StoreErrorKind::Overloaded,
                        "the write queue is full; retry shortly",
                    ),
                    job.write,
                ),
                TrySendError::Disconnected(job) => (
                    StoreError::new(StoreErrorKind::Unavailable, "the writer has stopped"),
                    job.write,
                ),
            })
        })
    }
}

impl Drop for DuckDbStore {
    fn drop(&mut self) {
        // Closing the channel ends the writer after it drains what is queued.
        self.jobs.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        // Then the facts of everything committed are derived.
        self.shared.deriver.stop();
        if let Some(deriver) = self.deriver.take() {
            let _ = deriver.join();
        }
    }
}

impl DuckDbStore {
    /// [`DuckDbStore::read`] that cancelling stops: it interrupts the query
    /// the reader is running, and the read answers `Cancelled`.
    fn read_cancellable<T>(
        &self,
        cancel: &pathlens_store::Cancel,
        read: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<T> {
        let outcome = self.read(|c| {
            let handle = c.interrupt_handle();
            let guard = cancel.on_cancel(move || handle.interrupt());
            let answer = read(c);
            drop(guard);
            // A cancellation as the read ended may still interrupt this
            // connection: the read fails, so the connection is not kept
            // for another.
            if cancel.is_cancelled() {
                return Err(pathlens_store::cancel::cancelled());
            }
            answer
        });
        match outcome {
            Err(_) if cancel.is_cancelled() => Err(pathlens_store::cancel::cancelled()),
            other => other,
        }
    }

    /// Has the writer apply what the intake log acknowledged, so that a
    /// read sees every acknowledged event. With the writer's queue full the
    /// read goes on (without the last moments' events) rather than fail.
    fn applied(&self) -> Result<()> {
        if self.shared.unapplied.load(Ordering::Acquire) == 0 {
            return Ok(());
        }
        match self.submit(|reply| Write::Apply { reply }) {
            Err(error) if error.kind() == StoreErrorKind::Overloaded => Ok(()),
            other => other,
        }
    }

    /// Whether the session facts cover every stored event now. The facts
    /// are derived after the events' commit (`deriver.rs`): a report first
    /// derives what is pending itself, or, when that fails, reads the
    /// events themselves (exact, slower; a fault of the database fails the
    /// read as it would any other).
    fn facts_ready(&self) -> bool {
        self.shared.facts_current()
            || match self.shared.deriver.derive(&self.shared) {
                // Events committed since are later than this read.
                Ok(()) => true,
                Err(error) => {
                    tracing::warn!(%error, "session facts could not be derived; reading the events");
                    false
                }
            }
    }
}

impl Store for DuckDbStore {
    fn put_video(&self, partner: PartnerId, graph: &Graph, now: DateTime<Utc>) -> Result<()> {
        let graph = graph.clone();
        self.submit(|reply| Write::Video {
            partner,
            graph,
            now,
            reply,
        })
    }

    fn video(&self, partner: PartnerId, id: &str) -> Result<Option<StoredVideo>> {
        self.read(|c| read::video(c, partner, id))
    }

    fn videos(&self, partner: PartnerId) -> Result<Vec<StoredVideo>> {
        self.read(|c| read::videos(c, partner))
    }

    fn put_key(&self, key: &ApiKey) -> Result<()> {
        let key = key.clone();
        self.submit(|reply| Write::Key { key, reply })
    }

    fn keys(&self) -> Result<Vec<ApiKey>> {
        self.read(read::keys)
    }

    fn revoke_key(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        let id = id.to_string();
        self.submit(|reply| Write::Revoke { id, now, reply })
    }

    fn append(&self, events: Vec<Event>) -> Result<AppendOutcome> {
        if events.is_empty() {
            return Ok(AppendOutcome::default());
        }
        self.submit(|reply| Write::Append {
            events,
            reply: AppendReply::Wait(reply),
        })
    }

    fn append_later(
        &self,
        events: Vec<Event>,
        done: AppendDone,
    ) -> std::result::Result<(), (Vec<Event>, AppendDone)> {
        if events.is_empty() {
            done(Ok(AppendOutcome::default()));
            return Ok(());
        }
        // The writer calls `done` once the events are durable (or with
        // the error that kept them from being stored).
        let write = Write::Append {
            events,
            reply: AppendReply::Call(done),
        };
        if let Err(refused) = self.enqueue(write)
            && let (error, Write::Append { reply, .. }) = *refused
        {
            reply.send(Err(error));
        }
        Ok(())
    }

    fn scan(&self, request: &ScanRequest) -> Result<Vec<EventRow>> {
        self.applied()?;
        self.read(|c| read::scan(c, request))
    }

    fn values(&self, request: &ValuesRequest) -> Result<Vec<DimensionValue>> {
        self.applied()?;
        // From the facts when they answer it (`rollup::values`).
        if self.facts_ready()
            && let Some(values) = self.read(|c| rollup::values(c, request))?
        {
            return Ok(values);
        }
        self.read(|c| read::values(c, request))
    }

    fn aggregate(&self, request: &AggregateRequest) -> Result<Aggregates> {
        request.cancel.check()?;
        self.applied()?;
        let facts = self.facts_ready();
        self.read_cancellable(&request.cancel, |c| aggregate::aggregate(c, request, facts))
    }

    fn breakdown(
        &self,
        request: &AggregateRequest,
        dimension: Dimension,
        values: &[String],
    ) -> Result<Vec<Totals>> {
        request.cancel.check()?;
        self.applied()?;
        // Every value in one query over the facts when they answer it;
        // otherwise one aggregate per value.
        if rollup::covers(request)
            && self.facts_ready()
            && let Some(totals) = self.read_cancellable(&request.cancel, |c| {
                rollup::breakdown(c, request, dimension, values)
            })?
        {
            return Ok(totals);
        }
        pathlens_store::aggregate::breakdown_by_value(self, request, dimension, values)
    }

    fn export(&self, partner: Option<PartnerId>, offset: u64, limit: usize) -> Result<Vec<Event>> {
        self.applied()?;
        self.read(|c| read::export(c, partner, offset, limit))
    }

    fn event_count(&self) -> Result<u64> {
        self.applied()?;
        self.read(read::event_count)
    }

    fn health(&self) -> Result<()> {
        self.read(read::event_count).map(|_| ())
    }

    fn write_queue_depth(&self) -> usize {
        self.depth.load(std::sync::atomic::Ordering::Relaxed)
    }
}
