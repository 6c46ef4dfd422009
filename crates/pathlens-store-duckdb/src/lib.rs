//! The embedded store: one DuckDB database file in a data directory.
//!
//! - [`schema`]: versioned migrations, applied when the store opens;
//! - [`writer`]: the single writer thread, fed by a bounded channel, which
//!   group-commits appends and acknowledges them only once committed;
//! - [`read`]: scans and lookups, each on its own connection so reads run
//!   beside the writer;
//! - [`aggregate`]: report figures aggregated in SQL, never raw rows;
//! - `chains`: each view's playback, worked out when it is stored;
//! - [`codec`]: how rows map to model types.
//!
//! DuckDB's commit writes and syncs its write-ahead log, so an acknowledged
//! append survives `kill -9`.

mod aggregate;
mod chains;
mod codec;
mod read;
pub mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use duckdb::Connection;
use pathlens_model::{Event, Graph};
use pathlens_store::{
    AggregateRequest, Aggregates, ApiKey, AppendOutcome, EventRow, PartnerId, Result, ScanRequest,
    Store, StoreError, StoreErrorKind, StoredVideo,
};

use crate::writer::{Job, Write};

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "pathlens.duckdb";

/// Settings of the embedded store.
#[derive(Debug, Clone)]
pub struct DuckDbConfig {
    /// Write jobs (requests) that may wait for the writer; beyond this,
    /// appends fail with [`StoreErrorKind::Overloaded`].
    pub queue_capacity: usize,
    /// DuckDB's memory limit, e.g. "2GB"; DuckDB's default when `None`.
    pub memory_limit: Option<String>,
}

impl Default for DuckDbConfig {
    fn default() -> DuckDbConfig {
        DuckDbConfig {
            queue_capacity: 256,
            memory_limit: None,
        }
    }
}

/// The embedded DuckDB store.
pub struct DuckDbStore {
    path: PathBuf,
    /// A connection kept only to clone readers from.
    reader_source: Mutex<Connection>,
    jobs: Option<SyncSender<Job>>,
    writer: Option<JoinHandle<()>>,
    depth: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

pub(crate) fn internal(context: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::internal(format!("{context}: {error}"))
}

impl DuckDbStore {
    /// Opens (creating if needed) the store in `data_dir`, applying pending
    /// migrations and loading the dedup index.
    ///
    /// # Errors
    /// [`StoreErrorKind::Incompatible`] when the database comes from a newer
    /// version; [`StoreErrorKind::Internal`] on I/O or database faults.
    pub fn open(data_dir: &Path, config: &DuckDbConfig) -> Result<DuckDbStore> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| internal(&format!("creating {}", data_dir.display()), e))?;
        let path = data_dir.join(DATABASE_FILE);
        let connection = Connection::open(&path)
            .map_err(|e| internal(&format!("opening {}", path.display()), e))?;
        if let Some(limit) = &config.memory_limit {
            connection
                .execute_batch(&format!("SET memory_limit = '{}'", limit.replace('\'', "")))
                .map_err(|e| internal("setting memory_limit", e))?;
        }
        schema::migrate(&connection)?;
        let reader_source = connection
            .try_clone()
            .map_err(|e| internal("opening a reader", e))?;
        let depth = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (jobs, receiver) = sync_channel(config.queue_capacity.max(1));
        let state = writer::WriterState::load(connection, depth.clone())?;
        let writer = std::thread::Builder::new()
            .name("pathlens-duckdb-writer".into())
            .spawn(move || state.run(receiver))
            .map_err(|e| internal("starting the writer thread", e))?;
        Ok(DuckDbStore {
            path,
            reader_source: Mutex::new(reader_source),
            jobs: Some(jobs),
            writer: Some(writer),
            depth,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn reader(&self) -> Result<Connection> {
        let source = self
            .reader_source
            .lock()
            .map_err(|_| StoreError::internal("reader lock poisoned"))?;
        source
            .try_clone()
            .map_err(|e| internal("opening a reader", e))
    }

    fn submit<T>(
        &self,
        make: impl FnOnce(std::sync::mpsc::SyncSender<Result<T>>) -> Write,
    ) -> Result<T> {
        let (reply, answer) = sync_channel(1);
        let jobs = self
            .jobs
            .as_ref()
            .ok_or_else(|| StoreError::new(StoreErrorKind::Unavailable, "the store is closed"))?;
        self.depth
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match jobs.try_send(Job { write: make(reply) }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.depth
                    .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                return Err(StoreError::new(
                    StoreErrorKind::Overloaded,
                    "the write queue is full; retry shortly",
                ));
            }
            Err(TrySendError::Disconnected(_)) => {
                self.depth
                    .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                return Err(StoreError::new(
                    StoreErrorKind::Unavailable,
                    "the writer has stopped",
                ));
            }
        }
        answer.recv().map_err(|_| {
            StoreError::new(
                StoreErrorKind::Unavailable,
                "the writer stopped before answering",
            )
        })?
    }
}

impl Drop for DuckDbStore {
    fn drop(&mut self) {
        // Closing the channel ends the writer after it drains what is queued.
        self.jobs.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
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
        read::video(&self.reader()?, partner, id)
    }

    fn videos(&self, partner: PartnerId) -> Result<Vec<StoredVideo>> {
        read::videos(&self.reader()?, partner)
    }

    fn put_key(&self, key: &ApiKey) -> Result<()> {
        let key = key.clone();
        self.submit(|reply| Write::Key { key, reply })
    }

    fn keys(&self) -> Result<Vec<ApiKey>> {
        read::keys(&self.reader()?)
    }

    fn revoke_key(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        let id = id.to_string();
        self.submit(|reply| Write::Revoke { id, now, reply })
    }

    fn append(&self, events: Vec<Event>) -> Result<AppendOutcome> {
        if events.is_empty() {
            return Ok(AppendOutcome::default());
        }
        self.submit(|reply| Write::Append { events, reply })
    }

    fn scan(&self, request: &ScanRequest) -> Result<Vec<EventRow>> {
        read::scan(&self.reader()?, request)
    }

    fn aggregate(&self, request: &AggregateRequest) -> Result<Aggregates> {
        aggregate::aggregate(&self.reader()?, request)
    }

    fn export(&self, partner: Option<PartnerId>, offset: u64, limit: usize) -> Result<Vec<Event>> {
        read::export(&self.reader()?, partner, offset, limit)
    }

    fn event_count(&self) -> Result<u64> {
        read::event_count(&self.reader()?)
    }

    fn write_queue_depth(&self) -> usize {
        self.depth.load(std::sync::atomic::Ordering::Relaxed)
    }
}
