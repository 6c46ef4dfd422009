//! The storage boundary of pathlens.
//!
//! Every backend (the embedded DuckDB store, the ClickHouse store) implements
//! [`Store`]; nothing above this crate names a concrete backend. A store
//! keeps four things per partner: interactive videos (graphs), API keys, and
//! raw events, the source of truth for every report.
//!
//! - [`query`]: what a report asks of a store: a video, a time range and the
//!   filters that can be applied row by row, answered with [`EventRow`]s;
//! - [`aggregate`]: the figures a report asks for, aggregated in the store;
//! - [`reference`]: those figures computed row by row, the definitions'
//!   reading every backend is held to;
//! - [`cancel`]: stopping a read whose client went away;
//! - [`key`]: API keys, which authenticate admins and players;
//! - [`conformance`]: the behaviour every backend must show, as a test suite
//!   each backend runs against itself.

pub mod aggregate;
pub mod cancel;
pub mod conformance;
pub mod key;
pub mod memory;
pub mod query;
pub mod reference;

use chrono::{DateTime, Utc};
use pathlens_model::{Event, Graph};

pub use aggregate::{
    AggregateRequest, Aggregates, Curve, NodeStats, Parts, SessionFilter, Totals, Transition,
    ViewerStats,
};
pub use cancel::Cancel;
pub use key::{ApiKey, KeyKind};
pub use query::{
    ContextFilter, Dimension, DimensionValue, EventRow, ScanRequest, ValuesRequest, ViewerKind,
};

/// A partner (tenant) id; no read or write crosses partners.
pub type PartnerId = u32;

/// Why a store operation failed, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The write queue is full: the caller should retry later (HTTP 503).
    Overloaded,
    /// The store cannot be reached, has shut down, or its database is
    /// unusable until it is reopened (the embedded store reopens itself).
    Unavailable,
    /// The storage has no space left: nothing of the failed write is kept;
    /// the caller should retry once space is freed (HTTP 503).
    Full,
    /// The data on disk is not what this version understands.
    Incompatible,
    /// Another process holds the storage (a running server has the data
    /// directory open): work through that process instead.
    Locked,
    /// A read stopped by its [`Cancel`] (client gone, deadline passed).
    Cancelled,
    /// Anything else: a bug or an I/O fault.
    Internal,
}

/// The error a store error was caused by, kept for callers that look
/// through the chain (and shared by the copies [`StoreError::same`] makes).
pub type Cause = std::sync::Arc<dyn std::error::Error + Send + Sync>;

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
    #[source]
    cause: Option<Cause>,
}

impl StoreError {
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
        StoreError {
            kind,
            message: message.into(),
            cause: None,
        }
    }

    /// An error of `kind` caused by `cause`, which stays reachable through
    /// [`std::error::Error::source`].
    pub fn caused_by(
        kind: StoreErrorKind,
        message: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError {
            kind,
            message: message.into(),
            cause: Some(std::sync::Arc::new(cause)),
        }
    }

    pub fn internal(message: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Internal, message)
    }

    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// Another error of the same kind and message, for answering several
    /// callers with one failure.
    pub fn same(&self) -> StoreError {
        StoreError {
            kind: self.kind,
            message: self.message.clone(),
            cause: self.cause.clone(),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// What [`Store::append_later`] calls with the outcome of an append.
pub type AppendDone = Box<dyn FnOnce(Result<AppendOutcome>) + Send>;

/// An interactive video as stored, with its bookkeeping dates.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVideo {
    pub partner_id: PartnerId,
    pub graph: Graph,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What an append did: every event was either stored or recognised as a
/// repeat of one already stored (same partner, video, session and dedup
/// key; every decoder derives the key from the event's session, so a retry
/// repeats all four).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    pub accepted: usize,
    pub duplicates: usize,
}

/// A storage backend.
///
/// All methods block but [`Store::append_later`]; async callers run them
/// on a blocking thread.
pub trait Store: Send + Sync {
    /// Creates or replaces the video `graph.id` of `partner`.
    ///
    /// # Errors
    /// As the backend fails.
    fn put_video(&self, partner: PartnerId, graph: &Graph, now: DateTime<Utc>) -> Result<()>;

    /// The video `id` of `partner`, if it exists.
    ///
    /// # Errors
    /// As the backend fails, or [`StoreErrorKind::Incompatible`] when the stored
    /// graph cannot be read.
    fn video(&self, partner: PartnerId, id: &str) -> Result<Option<StoredVideo>>;

    /// Every video of `partner`, ordered by id.
    ///
    /// # Errors
    /// As [`Store::video`].
    fn videos(&self, partner: PartnerId) -> Result<Vec<StoredVideo>>;

    /// Stores a new API key.
    ///
    /// # Errors
    /// As the backend fails.
    fn put_key(&self, key: &ApiKey) -> Result<()>;

    /// Every API key, revoked ones included.
    ///
    /// # Errors
    /// As the backend fails.
    fn keys(&self) -> Result<Vec<ApiKey>>;

    /// Marks the key `id` revoked; false when there is no such key.
    ///
    /// # Errors
    /// As the backend fails.
    fn revoke_key(&self, id: &str, now: DateTime<Utc>) -> Result<bool>;

    /// Stores `events`, skipping those whose (partner, video, session, dedup
    /// key) is already stored or repeated earlier in the same call. Returns
    /// only once the accepted events are durable.
    ///
    /// # Errors
    /// [`StoreErrorKind::Overloaded`] when the write queue is full; nothing
    /// of this call is stored then.
    fn append(&self, events: Vec<Event>) -> Result<AppendOutcome>;

    /// Stores `events` as [`Store::append`] does, without waiting: `done`
    /// is called with what `append` would return, once the accepted events
    /// are durable, from the thread that made them so (or at once, with an
    /// error, when the append cannot be queued). An async caller then need
    /// not hold a thread while it waits. A store whose appends can only be
    /// waited for gives `events` and `done` back (the default); the caller
    /// then calls [`Store::append`] on a thread that may block.
    ///
    /// # Errors
    /// `Err` only to give the append back, as above.
    #[allow(clippy::type_complexity)]
    fn append_later(
        &self,
        events: Vec<Event>,
        done: AppendDone,
    ) -> std::result::Result<(), (Vec<Event>, AppendDone)> {
        Err((events, done))
    }

    /// The events of one video in a time range that pass the row filters,
    /// in no particular order.
    ///
    /// # Errors
    /// As the backend fails.
    fn scan(&self, request: &ScanRequest) -> Result<Vec<EventRow>>;

    /// The values of `request.dimension` among the events of the video in
    /// the period that pass the row filters, each with its count of play
    /// events and of events of any kind (a repeated event counted once), in
    /// no particular order. Absent values are counted under
    /// [`query::UNKNOWN`]. Breakdown reports rank them; filter inputs
    /// suggest them.
    ///
    /// # Errors
    /// As the backend fails.
    fn values(&self, request: &ValuesRequest) -> Result<Vec<DimensionValue>>;

    /// The figures `request` asks for, aggregated from the stored events
    /// (see [`aggregate`]). The default reads rows through [`Store::scan`]
    /// and computes them with [`reference::aggregate`]; a backend that can
    /// aggregate inside its database overrides it and must give the same
    /// answer.
    ///
    /// # Errors
    /// As the backend fails.
    fn aggregate(&self, request: &AggregateRequest) -> Result<Aggregates> {
        reference::aggregate(self, request)
    }

    /// The headline totals of `request`'s period (its first bucket) for
    /// each of `values` of `dimension`: for each value, exactly what
    /// [`Store::aggregate`] answers with `request.filter` narrowed to it
    /// ([`ContextFilter::narrowed`]; zero figures when nothing could pass),
    /// in the order of `values`. The default asks [`Store::aggregate`]
    /// once per value; a backend may answer all values in one query.
    ///
    /// # Errors
    /// As the backend fails.
    fn breakdown(
        &self,
        request: &AggregateRequest,
        dimension: Dimension,
        values: &[String],
    ) -> Result<Vec<Totals>> {
        aggregate::breakdown_by_value(self, request, dimension, values)
    }

    /// Every stored event of `partner` (all partners when `None`), in
    /// storage order, from `offset` on, at most `limit` of them: for export
    /// and for moving data between stores.
    ///
    /// # Errors
    /// As the backend fails.
    fn export(&self, partner: Option<PartnerId>, offset: u64, limit: usize) -> Result<Vec<Event>>;

    /// Whether the store can serve reads and writes now: a cheap round trip
    /// to its database. The default asks for [`Store::event_count`].
    ///
    /// # Errors
    /// The fault that makes the store unusable.
    fn health(&self) -> Result<()> {
        self.event_count().map(|_| ())
    }

    /// How many events are stored in all.
    ///
    /// # Errors
    /// As the backend fails.
    fn event_count(&self) -> Result<u64>;

    /// Batches waiting for the writer, for `/metrics`.
    fn write_queue_depth(&self) -> usize;

    /// The local durable spool of a store that acknowledges events before
    /// they reach a remote database (the ClickHouse store), for `/metrics`;
    /// `None` for stores without one.
    fn spool_status(&self) -> Option<SpoolStatus> {
        None
    }
}

/// What waits in a store's local spool: acknowledged events not yet shipped.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SpoolStatus {
    /// Events acknowledged and not yet stored remotely.
    pub events: u64,
    /// Bytes those events take in the spool's files.
    pub bytes: u64,
    /// Seconds since the oldest of them was acknowledged (0 when empty).
    pub oldest_age_seconds: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn a_cause_stays_reachable_through_copies() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "no access");
        let error = StoreError::caused_by(StoreErrorKind::Internal, "reading: no access", io);
        assert_eq!(error.to_string(), "reading: no access");
        for copy in [&error, &error.same()] {
            let cause = copy.source().expect("the cause is kept");
            assert_eq!(cause.to_string(), "no access");
        }
        assert!(StoreError::internal("plain").source().is_none());
    }
}
