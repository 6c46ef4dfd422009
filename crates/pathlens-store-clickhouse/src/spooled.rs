//! The store a pathlens node serves with on ClickHouse: appends are
//! acknowledged once they are in the local durable [`Spool`], and a
//! background shipper moves them to ClickHouse.
//!
//! - **Append.** Events repeated within the call or already waiting in the
//!   spool are duplicates; the rest are looked up in ClickHouse (bounded by
//!   `lookup_timeout`) so a retry of a shipped event is a duplicate too.
//!   When ClickHouse cannot answer, they are spooled as new: the shipper's
//!   own check drops any that turn out to be stored, so an event still
//!   counts once, though the answer counted it as accepted. The new events
//!   are written and synced to the spool as one record, then acknowledged.
//! - **Shipping.** One thread takes the oldest records, up to
//!   `max_batch_events` events (waiting `linger` for a small batch to grow),
//!   and stores them with one INSERT after the insert-side dedup check. On
//!   success the spool's cursor moves past them; on failure it waits and
//!   tries again, doubling the wait up to `max_backoff`. A restarted node
//!   reads the unshipped records back from the spool and carries on.
//! - **Reads.** Reports and exports first wait (at most `flush_timeout`)
//!   for what this node acknowledged to reach ClickHouse, so a node reads
//!   its own writes; videos and keys are written to ClickHouse directly.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use pathlens_model::{Event, Graph};
use pathlens_store::{
    AggregateRequest, Aggregates, ApiKey, AppendOutcome, Dimension, DimensionValue, EventRow,
    PartnerId, Result, ScanRequest, SpoolStatus, Store, StoreError, StoreErrorKind, StoredVideo,
    Totals, ValuesRequest,
};

use crate::ClickHouseStore;
use crate::spool::{self, Spool};

/// Settings of the spool and its shipper.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    /// The spool's directory (one per pathlens node).
    pub dir: PathBuf,
    /// Events per INSERT at most.
    pub max_batch_events: u64,
    /// How long a batch smaller than `max_batch_events` may wait to grow.
    pub linger: Duration,
    /// First wait after a failed shipment.
    pub min_backoff: Duration,
    /// Longest wait between attempts while ClickHouse is down.
    pub max_backoff: Duration,
    /// Size at which a new segment file starts.
    pub segment_bytes: u64,
    /// Spool size beyond which appends are refused as overloaded (HTTP 503),
    /// so a long outage cannot fill the disk.
    pub max_bytes: u64,
    /// Longest wait for ClickHouse's answer to an append's dedup lookup.
    pub lookup_timeout: Duration,
    /// Longest wait of a read for this node's acknowledged events to ship.
    pub flush_timeout: Duration,
    /// Refusals in a row (ClickHouse answering an error, not an outage)
    /// after which a batch is shipped record by record, and a single record
    /// is set aside in `rejected/` so the ones after it can ship.
    pub refusals_before_set_aside: u32,
}

impl SpoolConfig {
    /// Defaults for the spool in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> SpoolConfig {
        SpoolConfig {
            dir: dir.into(),
            max_batch_events: 100_000,
            linger: Duration::from_millis(250),
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            segment_bytes: 64 << 20,
            max_bytes: 8 << 30,
            lookup_timeout: Duration::from_secs(2),
            flush_timeout: Duration::from_secs(30),
            refusals_before_set_aside: 10,
        }
    }
}

struct State {
    spool: Spool,
    /// Ship now, ignoring `linger`, until this record is shipped.
    flush_through: u64,
    /// The last shipment failed (ClickHouse down); readers then do not wait.
    failing: bool,
    last_error: Option<String>,
    /// Events set aside as refused since the store opened.
    set_aside: u64,
    shutdown: bool,
}

struct Shared {
    store: Arc<ClickHouseStore>,
    config: SpoolConfig,
    state: Mutex<State>,
    /// Wakes the shipper: new records, a flush, shutdown.
    work: Condvar,
    /// Wakes readers waiting for a shipment.
    shipped: Condvar,
}

impl Shared {
    fn state(&self) -> Result<MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| StoreError::internal("spool lock poisoned"))
    }
}

/// A [`ClickHouseStore`] behind a local durable spool.
pub struct SpooledStore {
    shared: Arc<Shared>,
    shipper: Option<JoinHandle<()>>,
}

/// A spool fault, keeping the I/O error's kind and text as its cause.
fn spool_error(context: &str, error: &std::io::Error) -> StoreError {
    StoreError::caused_by(
        StoreErrorKind::Internal,
        format!("{context}: {error}"),
        std::io::Error::new(error.kind(), error.to_string()),
    )
}

impl SpooledStore {
    /// Opens the spool (shipping what an earlier run left in it) in front
    /// of `store`. ClickHouse need not be up.
    ///
    /// # Errors
    /// When the spool cannot be read (see [`Spool::open`]).
    pub fn open(store: Arc<ClickHouseStore>, config: SpoolConfig) -> Result<SpooledStore> {
        let spool = Spool::open(&config.dir, config.segment_bytes).map_err(|e| {
            StoreError::caused_by(
                StoreErrorKind::Incompatible,
                format!("opening the spool in {}: {e}", config.dir.display()),
                e,
            )
        })?;
        if !spool.is_empty() {
            tracing::info!(
                events = spool.status(0).events,
                dir = %config.dir.display(),
                "spool: shipping events left by an earlier run"
            );
        }
        let shared = Arc::new(Shared {
            store,
            config,
            state: Mutex::new(State {
                spool,
                flush_through: 0,
                failing: false,
                last_error: None,
                set_aside: 0,
                shutdown: false,
            }),
            work: Condvar::new(),
            shipped: Condvar::new(),
        });
        let worker = shared.clone();
        let shipper = std::thread::Builder::new()
            .name("pathlens-clickhouse-shipper".into())
            .spawn(move || ship(&worker))
            .map_err(|e| StoreError::internal(format!("starting the shipper: {e}")))?;
        Ok(SpooledStore {
            shared,
            shipper: Some(shipper),
        })
    }

    /// The ClickHouse store behind the spool.
    pub fn inner(&self) -> &ClickHouseStore {
        &self.shared.store
    }

    /// Events set aside in `rejected/` since the store opened (see
    /// [`SpoolConfig::refusals_before_set_aside`]).
    pub fn set_aside_events(&self) -> u64 {
        self.shared.state().map_or(0, |s| s.set_aside)
    }

    /// The last shipping error, while shipments fail.
    pub fn last_error(&self) -> Option<String> {
        self.shared.state().ok().and_then(|s| s.last_error.clone())
    }

    /// Waits until everything acknowledged so far is in ClickHouse (or set
    /// aside as refused), at most `timeout`; false when it is not
    /// (ClickHouse down or slow).
    pub fn flush(&self, timeout: Duration) -> bool {
        let Ok(mut state) = self.shared.state() else {
            return false;
        };
        let target = state.spool.last_seq();
        if state.spool.shipped_through() >= target {
            return true;
        }
        state.flush_through = state.flush_through.max(target);
        self.shared.work.notify_all();
        let deadline = Instant::now() + timeout;
        while state.spool.shipped_through() < target {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = match self.shared.shipped.wait_timeout(state, deadline - now) {
                Ok((guard, _)) => guard,
                Err(_) => return false,
            };
        }
        true
    }

    /// Before a read: let this node's acknowledged events reach ClickHouse,
    /// unless shipping is failing (the read then fails or answers alone).
    fn settle(&self) {
        let failing = self.shared.state().map(|s| s.failing).unwrap_or(true);
        if !failing && !self.flush(self.shared.config.flush_timeout) {
            tracing::warn!("spool: reading before every acknowledged event reached ClickHouse");
        }
    }
}

impl Drop for SpooledStore {
    fn drop(&mut self) {
        if let Ok(mut state) = self.shared.state() {
            state.shutdown = true;
        }
        self.shared.work.notify_all();
        if let Some(shipper) = self.shipper.take() {
            let _ = shipper.join();
        }
    }
}

/// The shipper thread: ships until shut down; at shutdown it ships what it
/// can and leaves the rest in the spool for the next run.
fn ship(shared: &Shared) {
    let config = &shared.config;
    let mut backoff = config.min_backoff;
    // Consecutive refusals (not outages) of the batch at the head, and,
    // while isolating a refused record, the last record to ship one by one.
    let mut refusals = 0u32;
    let mut one_by_one_through = 0u64;
    loop {
        let batch = {
            let Ok(mut state) = shared.state() else {
                return;
            };
            loop {
                if state.shutdown && (state.spool.is_empty() || state.failing) {
                    return;
                }
                if state.spool.is_empty() {
                    state = match shared.work.wait(state) {
                        Ok(guard) => guard,
                        Err(_) => return,
                    };
                    continue;
                }
                let status = state.spool.status(Utc::now().timestamp_micros());
                let age = Duration::from_secs_f64(status.oldest_age_seconds);
                let urgent = state.shutdown
                    || state.flush_through > state.spool.shipped_through()
                    || status.events >= config.max_batch_events;
                if !urgent && age < config.linger {
                    state = match shared.work.wait_timeout(state, config.linger - age) {
                        Ok((guard, _)) => guard,
                        Err(_) => return,
                    };
                    continue;
                }
                let one_by_one = state.spool.shipped_through() < one_by_one_through;
                let limit = if one_by_one {
                    1
                } else {
                    config.max_batch_events
                };
                match state.spool.next_batch(limit) {
                    Some(batch) => break batch,
                    None => continue,
                }
            }
        };
        let shipped = spool::read_batch(&config.dir, &batch.locations)
            .map_err(|e| spool_error("reading the spool", &e))
            .and_then(|events| shared.store.append_events(events));
        let Ok(mut state) = shared.state() else {
            return;
        };
        match shipped {
            Ok(outcome) => {
                if let Err(error) = state.spool.commit(batch.through) {
                    tracing::error!(%error, "spool: moving the cursor failed; the batch will be checked again");
                }
                if state.failing {
                    tracing::info!("spool: shipping to ClickHouse resumed");
                }
                state.failing = false;
                state.last_error = None;
                backoff = config.min_backoff;
                refusals = 0;
                tracing::debug!(
                    events = batch.events,
                    stored = outcome.accepted,
                    "spool: shipped a batch"
                );
                shared.shipped.notify_all();
            }
            Err(error) if error.kind() == StoreErrorKind::Internal => {
                // ClickHouse answered with an error, or the spool could not
                // be read: something in this batch may be refused for good.
                refusals += 1;
                state.failing = true;
                state.last_error = Some(error.to_string());
                shared.shipped.notify_all();
                if refusals >= config.refusals_before_set_aside {
                    refusals = 0;
                    if batch.locations.len() > 1 {
                        tracing::warn!(%error, "spool: a batch keeps being refused; shipping its records one by one");
                        one_by_one_through = batch.through;
                    } else if shared.store.probe_insert().is_ok() {
                        // The server takes inserts (an empty one passes the
                        // same authentication, rights and table), so it is
                        // this record that is refused.
                        set_aside(&mut state, &batch, &error);
                        shared.shipped.notify_all();
                        continue;
                    }
                }
                if refusals == 1 {
                    tracing::warn!(%error, "spool: ClickHouse refused a batch; retrying with back-off");
                }
                if state.shutdown {
                    return;
                }
                if let Ok((guard, _)) = shared.work.wait_timeout(state, backoff) {
                    drop(guard);
                }
                backoff = (backoff * 2).min(config.max_backoff);
            }
            Err(error) => {
                refusals = 0;
                if !state.failing {
                    tracing::warn!(%error, "spool: shipping to ClickHouse failed; retrying with back-off");
                }
                state.failing = true;
                state.last_error = Some(error.to_string());
                // Readers waiting for this shipment stop waiting.
                shared.shipped.notify_all();
                if state.shutdown {
                    return;
                }
                if let Ok((guard, _)) = shared.work.wait_timeout(state, backoff) {
                    drop(guard);
                }
                backoff = (backoff * 2).min(config.max_backoff);
            }
        }
    }
}

/// Moves a record that keeps being refused out of the way, into the
/// spool's `rejected/` directory, so that the records after it ship; it is
/// kept whole (see [`Spool::set_aside`]) for an operator to inspect.
fn set_aside(state: &mut State, batch: &spool::Batch, error: &StoreError) {
    let Some(location) = batch.locations.first() else {
        return;
    };
    match state.spool.set_aside(location) {
        Ok(path) => {
            tracing::error!(
                %error,
                events = batch.events,
                file = %path.display(),
                "spool: a record was refused again and again; set aside, shipping goes on"
            );
            if let Err(error) = state.spool.commit(batch.through) {
                tracing::error!(%error, "spool: moving the cursor failed");
            }
            state.set_aside += batch.events;
        }
        Err(error) => tracing::error!(%error, "spool: setting a refused record aside failed"),
    }
}

impl Store for SpooledStore {
    fn put_video(&self, partner: PartnerId, graph: &Graph, now: DateTime<Utc>) -> Result<()> {
        self.shared.store.put_video(partner, graph, now)
    }

    fn video(&self, partner: PartnerId, id: &str) -> Result<Option<StoredVideo>> {
        self.shared.store.video(partner, id)
    }

    fn videos(&self, partner: PartnerId) -> Result<Vec<StoredVideo>> {
        self.shared.store.videos(partner)
    }

    fn put_key(&self, key: &ApiKey) -> Result<()> {
        self.shared.store.put_key(key)
    }

    fn keys(&self) -> Result<Vec<ApiKey>> {
        self.shared.store.keys()
    }

    fn revoke_key(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        self.shared.store.revoke_key(id, now)
    }

    fn append(&self, events: Vec<Event>) -> Result<AppendOutcome> {
        if events.is_empty() {
            return Ok(AppendOutcome::default());
        }
        let mut outcome = AppendOutcome::default();
        let mut candidates = Vec::with_capacity(events.len());
        {
            let state = self.shared.state()?;
            if state.spool.status(0).bytes >= self.shared.config.max_bytes {
                return Err(StoreError::new(
                    StoreErrorKind::Overloaded,
                    "the local spool is full while ClickHouse catches up; retry later",
                ));
            }
            let mut seen = std::collections::HashSet::with_capacity(events.len());
            for event in events {
                let key = (event.partner_id, event.dedup_key);
                if state.spool.contains(&key) || !seen.insert(key) {
                    outcome.duplicates += 1;
                } else {
                    candidates.push(event);
                }
            }
        }
        let keys: Vec<(u32, u64)> = candidates
            .iter()
            .map(|e| (e.partner_id, e.dedup_key))
            .collect();
        if !keys.is_empty() {
            match self
                .shared
                .store
                .stored_keys(&keys, self.shared.config.lookup_timeout)
            {
                Ok(stored) => {
                    let before = candidates.len();
                    candidates.retain(|e| !stored.contains(&(e.partner_id, e.dedup_key)));
                    outcome.duplicates += before - candidates.len();
                }
                Err(error) => {
                    tracing::debug!(%error, "spool: dedup lookup skipped; the shipper checks again");
                }
            }
        }
        let mut state = self.shared.state()?;
        // Another append may have spooled some of them meanwhile.
        let before = candidates.len();
        candidates.retain(|e| !state.spool.contains(&(e.partner_id, e.dedup_key)));
        outcome.duplicates += before - candidates.len();
        outcome.accepted = candidates.len();
        if !candidates.is_empty() {
            state
                .spool
                .append(&candidates, Utc::now().timestamp_micros())
                .map_err(|e| spool_error("writing to the spool", &e))?;
            self.shared.work.notify_all();
        }
        Ok(outcome)
    }

    fn scan(&self, request: &ScanRequest) -> Result<Vec<EventRow>> {
        self.settle();
        self.shared.store.scan(request)
    }

    fn values(&self, request: &ValuesRequest) -> Result<Vec<DimensionValue>> {
        self.settle();
        self.shared.store.values(request)
    }

    fn aggregate(&self, request: &AggregateRequest) -> Result<Aggregates> {
        self.settle();
        self.shared.store.aggregate(request)
    }

    fn breakdown(
        &self,
        request: &AggregateRequest,
        dimension: Dimension,
        values: &[String],
    ) -> Result<Vec<Totals>> {
        self.settle();
        self.shared.store.breakdown(request, dimension, values)
    }

    fn export(&self, partner: Option<PartnerId>, offset: u64, limit: usize) -> Result<Vec<Event>> {
        self.settle();
        self.shared.store.export(partner, offset, limit)
    }

    fn event_count(&self) -> Result<u64> {
        self.settle();
        self.shared.store.event_count()
    }

    fn write_queue_depth(&self) -> usize {
        self.shared.state().map(|s| s.spool.records()).unwrap_or(0)
    }

    fn spool_status(&self) -> Option<SpoolStatus> {
        self.shared
            .state()
            .ok()
            .map(|s| s.spool.status(Utc::now().timestamp_micros()))
    }
}
