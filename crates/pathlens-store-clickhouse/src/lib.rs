//! The ClickHouse store: pathlens's [`Store`] over ClickHouse's HTTP
//! interface, for platforms that outgrow one machine.
//!
//! - [`ClickHouseStore`] talks to one ClickHouse server (or, with a cluster
//!   name, to `Distributed` tables over the cluster's shards); an append is
//!   acknowledged once ClickHouse has the events.
//! - [`SpooledStore`] is what a pathlens node serves with: an append is
//!   acknowledged once the events are in a local durable [`spool`], and a
//!   background shipper sends them to ClickHouse in large batches, retrying
//!   while ClickHouse is down and resuming after a restart.
//!
//! The modules: [`config`] (the `clickhouse://` URL), [`http`] (the
//! client), [`schema`] (versioned migrations), [`sql`] (one module per
//! operation, each query in a snapshot test), [`codec`] and [`rowbinary`]
//! (the data format), [`spool`] and [`spooled`].

pub mod aggregate;
pub mod codec;
pub mod config;
pub mod http;
pub mod rowbinary;
pub mod schema;
pub mod spool;
pub mod spooled;
pub mod sql;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pathlens_model::{Event, Graph};
use pathlens_store::{
    AggregateRequest, Aggregates, ApiKey, AppendOutcome, Dimension, DimensionValue, EventRow,
    KeyKind, PartnerId, Result, ScanRequest, Store, StoreError, StoreErrorKind, StoredVideo,
    Totals, ValuesRequest,
};

pub use config::ClickHouseConfig;
pub use spooled::{SpoolConfig, SpooledStore};

use crate::http::Client;
use crate::rowbinary::{DecodeError, Reader, Source, StreamReader, Writer};
use crate::sql::Tables;

/// A clock that never repeats or goes back, for storage order and versions.
#[derive(Debug, Default)]
struct Clock {
    last_us: i64,
}

impl Clock {
    fn next(&mut self) -> i64 {
        self.last_us = Utc::now().timestamp_micros().max(self.last_us + 1);
        self.last_us
    }

    /// A version newer than `previous` and than every earlier one.
    fn version_after(&mut self, previous: u64) -> u64 {
        let candidate = self.next().max(0) as u64;
        let version = candidate.max(previous + 1);
        self.last_us = self.last_us.max(version as i64);
        version
    }
}

/// Monthly partitions one INSERT may touch at most (current ClickHouse
/// refuses an insert into more than 100 partitions).
const MONTHS_PER_INSERT: usize = 60;

/// `events` as one insert, or, when they span more months than one insert
/// may touch (an import of years of history), as several, month by month.
fn by_months(events: Vec<Event>) -> Vec<Vec<Event>> {
    use chrono::Datelike;
    let month = |event: &Event| event.ts.year() * 12 + event.ts.month0() as i32;
    let months: HashSet<i32> = events.iter().map(month).collect();
    if months.len() <= MONTHS_PER_INSERT {
        return vec![events];
    }
    let mut months: Vec<i32> = months.into_iter().collect();
    months.sort_unstable();
    let mut parts: Vec<Vec<Event>> = months
        .chunks(MONTHS_PER_INSERT)
        .map(|_| Vec::new())
        .collect();
    for event in events {
        let index = months.binary_search(&month(&event)).unwrap_or(0) / MONTHS_PER_INSERT;
        parts[index].push(event);
    }
    parts
}

fn decode_error(what: &str, error: &DecodeError) -> StoreError {
    StoreError::caused_by(
        StoreErrorKind::Internal,
        format!("{what}: ClickHouse's answer cannot be read ({error})"),
        error.clone(),
    )
}

/// The store on one ClickHouse server or cluster.
pub struct ClickHouseStore {
    config: ClickHouseConfig,
    client: Client,
    tables: Tables,
    /// Whether the migrations have been applied (done at the first request
    /// that reaches the server).
    ready: Mutex<bool>,
    /// Serialises this store's writes (so its dedup check is exact) and
    /// holds the clock that orders them.
    writes: Mutex<Clock>,
}

impl ClickHouseStore {
    /// Connects and applies pending migrations.
    ///
    /// # Errors
    /// [`StoreErrorKind::Unavailable`] when the server cannot be reached,
    /// [`StoreErrorKind::Incompatible`] for a database from a newer pathlens.
    pub fn open(config: ClickHouseConfig) -> Result<ClickHouseStore> {
        let store = ClickHouseStore::connect(config);
        store.ready()?;
        Ok(store)
    }

    /// A store that reaches the server only at its first request (which
    /// then applies the migrations): a node can start, and spool events,
    /// while ClickHouse is down.
    pub fn connect(config: ClickHouseConfig) -> ClickHouseStore {
        let mut settings = Vec::new();
        if config.cluster.is_some() {
            // An insert into a Distributed table returns once every shard
            // has its rows, not when they are queued locally.
            settings.push(("insert_distributed_sync", "1".to_string()));
        }
        let client = Client::new(&config.endpoint, config.timeout, settings);
        let tables = match config.cluster {
            Some(_) => Tables::distributed(&config.database),
            None => Tables::local(&config.database),
        };
        ClickHouseStore {
            config,
            client,
            tables,
            ready: Mutex::new(false),
            writes: Mutex::new(Clock::default()),
        }
    }

    pub fn config(&self) -> &ClickHouseConfig {
        &self.config
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Applies the migrations once.
    ///
    /// # Errors
    /// As [`ClickHouseStore::open`].
    pub fn ready(&self) -> Result<()> {
        let mut ready = self
            .ready
            .lock()
            .map_err(|_| StoreError::internal("ClickHouse store lock poisoned"))?;
        if !*ready {
            schema::migrate(
                &self.client,
                &self.config.database,
                self.config.cluster.as_deref(),
            )?;
            *ready = true;
        }
        Ok(())
    }

    fn writes(&self) -> Result<std::sync::MutexGuard<'_, Clock>> {
        self.writes
            .lock()
            .map_err(|_| StoreError::internal("ClickHouse store lock poisoned"))
    }

    /// Which of `keys` (partner, dedup key) are stored, each query bounded
    /// by `timeout`.
    ///
    /// # Errors
    /// When ClickHouse fails or does not answer in time.
    pub fn stored_keys(
        &self,
        keys: &[(u32, u64)],
        timeout: Duration,
    ) -> Result<HashSet<(u32, u64)>> {
        self.ready()?;
        let mut stored = HashSet::new();
        if keys.is_empty() {
            return Ok(stored);
        }
        let mut table = Writer::with_capacity(keys.len() * 12);
        for (partner, key) in keys {
            table.u32(*partner);
            table.u64(*key);
        }
        let answer = self.client.query_with_table(
            &sql::append::stored_keys(&self.tables),
            sql::append::KEYS_TABLE,
            sql::append::KEYS_STRUCTURE,
            &table.into_bytes(),
            timeout,
        )?;
        let mut reader = Reader::new(&answer);
        while !reader.is_at_end() {
            let pair = reader
                .u32()
                .and_then(|partner| reader.u64().map(|key| (partner, key)))
                .map_err(|e| decode_error("checking stored keys", &e))?;
            stored.insert(pair);
        }
        Ok(stored)
    }

    /// Stores the events not stored yet (same partner and dedup key), in
    /// one INSERT, and answers once ClickHouse has them.
    ///
    /// # Errors
    /// As ClickHouse fails; nothing of the call is acknowledged then (an
    /// INSERT that failed half way is completed by a retry, which the dedup
    /// check keeps from doubling).
    pub fn append_events(&self, events: Vec<Event>) -> Result<AppendOutcome> {
        if events.is_empty() {
            return Ok(AppendOutcome::default());
        }
        self.ready()?;
        let mut clock = self.writes()?;
        let mut seen = HashSet::with_capacity(events.len());
        let mut outcome = AppendOutcome::default();
        let mut fresh = Vec::with_capacity(events.len());
        for event in events {
            if seen.insert((event.partner_id, event.dedup_key)) {
                fresh.push(event);
            } else {
                outcome.duplicates += 1;
            }
        }
        let keys: Vec<(u32, u64)> = fresh.iter().map(|e| (e.partner_id, e.dedup_key)).collect();
        let stored = self.stored_keys(&keys, self.config.timeout)?;
        let before = fresh.len();
        fresh.retain(|event| !stored.contains(&(event.partner_id, event.dedup_key)));
        outcome.duplicates += before - fresh.len();
        outcome.accepted = fresh.len();
        if fresh.is_empty() {
            return Ok(outcome);
        }
        for part in by_months(fresh) {
            let ingest_us = clock.next();
            let mut rows = Writer::with_capacity(part.len() * 192);
            for (position, event) in part.iter().enumerate() {
                codec::write_event(&mut rows, event);
                rows.i64(ingest_us);
                rows.u32(position as u32);
            }
            self.client
                .insert(&sql::append::insert_events(&self.tables), rows.into_bytes())?;
        }
        Ok(outcome)
    }

    fn video_rows(&self, sql: &str) -> Result<Vec<(StoredVideo, u64)>> {
        self.ready()?;
        let answer = self.client.query(sql)?;
        let mut reader = Reader::new(&answer);
        let mut videos = Vec::new();
        while !reader.is_at_end() {
            let row = (|| {
                Ok::<_, DecodeError>((
                    reader.u32()?,
                    reader.string()?,
                    reader.string()?,
                    reader.i64()?,
                    reader.i64()?,
                    reader.u64()?,
                ))
            })()
            .map_err(|e| decode_error("reading videos", &e))?;
            let (partner_id, _id, json, created_us, updated_us, version) = row;
            let graph: Graph = serde_json::from_str(&json).map_err(|e| {
                StoreError::new(
                    StoreErrorKind::Incompatible,
                    format!("stored graph cannot be read: {e}"),
                )
            })?;
            videos.push((
                StoredVideo {
                    partner_id,
                    graph,
                    created_at: DateTime::from_timestamp_micros(created_us).unwrap_or_default(),
                    updated_at: DateTime::from_timestamp_micros(updated_us).unwrap_or_default(),
                },
                version,
            ));
        }
        Ok(videos)
    }

    fn key_rows(&self, sql: &str) -> Result<Vec<(ApiKey, u64)>> {
        self.ready()?;
        let answer = self.client.query(sql)?;
        let mut reader = Reader::new(&answer);
        let mut keys = Vec::new();
        while !reader.is_at_end() {
            let row = (|| {
                Ok::<_, DecodeError>((
                    reader.string()?,
                    reader.u32()?,
                    reader.string()?,
                    reader.string()?,
                    reader.string()?,
                    reader.i64()?,
                    reader.opt_i64()?,
                    reader.u64()?,
                ))
            })()
            .map_err(|e| decode_error("reading keys", &e))?;
            let (id, partner_id, kind, name, token_hash, created_us, revoked_us, version) = row;
            keys.push((
                ApiKey {
                    id,
                    partner_id,
                    kind: KeyKind::from_name(&kind).unwrap_or(KeyKind::Write),
                    name,
                    token_hash,
                    created_at: DateTime::from_timestamp_micros(created_us).unwrap_or_default(),
                    revoked_at: revoked_us.and_then(DateTime::from_timestamp_micros),
                },
                version,
            ));
        }
        Ok(keys)
    }

    fn insert_key(&self, key: &ApiKey, version: u64) -> Result<()> {
        let mut row = Writer::new();
        row.string(&key.id);
        row.u32(key.partner_id);
        row.string(key.kind.name());
        row.string(&key.name);
        row.string(&key.token_hash);
        row.i64(key.created_at.timestamp_micros());
        row.opt_i64(key.revoked_at.map(|t| t.timestamp_micros()));
        row.u64(version);
        self.client
            .insert(&sql::keys::insert(&self.tables), row.into_bytes())
    }

    /// Sends an INSERT of no rows: whether the server takes inserts into the
    /// events table at all (user, rights, table), whatever the rows.
    ///
    /// # Errors
    /// As ClickHouse fails.
    pub fn probe_insert(&self) -> Result<()> {
        self.ready()?;
        self.client
            .insert(&sql::append::insert_events(&self.tables), Vec::new())
    }

    /// Runs a `TabSeparated` query and returns its rows split into fields
    /// (for tests and tools reading the rollups).
    ///
    /// # Errors
    /// As ClickHouse fails.
    pub fn query_rows(&self, sql: &str) -> Result<Vec<Vec<String>>> {
        self.ready()?;
        let text = self.client.query_text(sql)?;
        Ok(text
            .lines()
            .map(|line| line.split('\t').map(str::to_string).collect())
            .collect())
    }

    /// Writes a new version of a video; `created_at` of `None` keeps the
    /// stored creation time (or takes `updated_at` for a new video).
    fn write_video(
        &self,
        partner: PartnerId,
        graph: &Graph,
        created_at: Option<DateTime<Utc>>,
        updated_at: DateTime<Utc>,
    ) -> Result<()> {
        let json = serde_json::to_string(graph).map_err(|e| {
            StoreError::caused_by(
                StoreErrorKind::Internal,
                format!("encoding a graph: {e}"),
                e,
            )
        })?;
        let existing = self
            .video_rows(&sql::videos::video(&self.tables, partner, &graph.id))?
            .into_iter()
            .next();
        let mut clock = self.writes()?;
        let (stored_created, previous) = existing
            .map(|(video, version)| (video.created_at, version))
            .unwrap_or((updated_at, 0));
        let mut row = Writer::new();
        row.u32(partner);
        row.string(&graph.id);
        row.string(&json);
        row.i64(created_at.unwrap_or(stored_created).timestamp_micros());
        row.i64(updated_at.timestamp_micros());
        row.u64(clock.version_after(previous));
        self.client
            .insert(&sql::videos::insert(&self.tables), row.into_bytes())
    }

    /// Stores a video as another store kept it, dates included (moving a
    /// data directory into ClickHouse).
    ///
    /// # Errors
    /// As ClickHouse fails.
    pub fn import_video(&self, video: &StoredVideo) -> Result<()> {
        self.write_video(
            video.partner_id,
            &video.graph,
            Some(video.created_at),
            video.updated_at,
        )
    }
}

impl Store for ClickHouseStore {
    fn put_video(&self, partner: PartnerId, graph: &Graph, now: DateTime<Utc>) -> Result<()> {
        self.write_video(partner, graph, None, now)
    }

    fn video(&self, partner: PartnerId, id: &str) -> Result<Option<StoredVideo>> {
        Ok(self
            .video_rows(&sql::videos::video(&self.tables, partner, id))?
            .into_iter()
            .next()
            .map(|(video, _)| video))
    }

    fn videos(&self, partner: PartnerId) -> Result<Vec<StoredVideo>> {
        Ok(self
            .video_rows(&sql::videos::videos(&self.tables, partner))?
            .into_iter()
            .map(|(video, _)| video)
            .collect())
    }

    fn put_key(&self, key: &ApiKey) -> Result<()> {
        self.ready()?;
        let version = self.writes()?.version_after(0);
        self.insert_key(key, version)
    }

    fn keys(&self) -> Result<Vec<ApiKey>> {
        Ok(self
            .key_rows(&sql::keys::keys(&self.tables))?
            .into_iter()
            .map(|(key, _)| key)
            .collect())
    }

    fn revoke_key(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        let Some((mut key, previous)) = self
            .key_rows(&sql::keys::key(&self.tables, id))?
            .into_iter()
            .next()
        else {
            return Ok(false);
        };
        key.revoked_at.get_or_insert(now);
        let version = self.writes()?.version_after(previous);
        self.insert_key(&key, version)?;
        Ok(true)
    }

    fn append(&self, events: Vec<Event>) -> Result<AppendOutcome> {
        self.append_events(events)
    }

    fn scan(&self, request: &ScanRequest) -> Result<Vec<EventRow>> {
        self.ready()?;
        self.client
            .query_streaming(&sql::scan::scan(&self.tables, request), |body| {
                codec::read_distinct_rows(&mut StreamReader::new(body))
                    .map_err(|e| decode_error("scanning events", &e))
            })
    }

    fn values(&self, request: &ValuesRequest) -> Result<Vec<DimensionValue>> {
        self.ready()?;
        let answer = self
            .client
            .query(&sql::scan::values(&self.tables, request))?;
        let mut reader = Reader::new(&answer);
        let mut values = Vec::new();
        while !reader.is_at_end() {
            let mut row = || -> std::result::Result<DimensionValue, DecodeError> {
                Ok(DimensionValue {
                    value: reader.string()?,
                    plays: reader.u64()?,
                    events: reader.u64()?,
                })
            };
            values.push(row().map_err(|e| decode_error("reading the values of a dimension", &e))?);
        }
        Ok(values)
    }

    fn aggregate(&self, request: &AggregateRequest) -> Result<Aggregates> {
        self.ready()?;
        aggregate::aggregate(
            &self.client,
            &self.tables,
            self.config.cluster.is_some(),
            request,
        )
    }

    fn breakdown(
        &self,
        request: &AggregateRequest,
        dimension: Dimension,
        values: &[String],
    ) -> Result<Vec<Totals>> {
        self.ready()?;
        aggregate::breakdown(
            &self.client,
            &self.tables,
            self.config.cluster.is_some(),
            request,
            dimension,
            values,
        )
    }

    fn export(&self, partner: Option<PartnerId>, offset: u64, limit: usize) -> Result<Vec<Event>> {
        self.ready()?;
        let answer =
            self.client
                .query(&sql::export::export(&self.tables, partner, offset, limit))?;
        codec::read_all(&answer, codec::read_event)
            .map_err(|e| decode_error("exporting events", &e))
    }

    fn event_count(&self) -> Result<u64> {
        self.ready()?;
        let text = self.client.query_text(&sql::export::count(&self.tables))?;
        text.trim().parse().map_err(|_| {
            StoreError::internal(format!("counting events: unexpected answer {text:?}"))
        })
    }

    fn write_queue_depth(&self) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_of_history_are_inserted_a_few_years_at_a_time() {
        use pathlens_model::EventKind;
        let events: Vec<Event> = (0..200u32)
            .map(|i| {
                let mut event =
                    pathlens_store::conformance::sample_event(1, "v", "s", i, EventKind::View);
                event.ts = DateTime::from_timestamp(i64::from(i) * 2_678_400, 0).unwrap();
                event
            })
            .collect();
        let parts = by_months(events);
        assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), 200);
        assert!(parts.len() >= 3);
        assert_eq!(by_months(vec![]).len(), 1);
    }

    #[test]
    fn the_clock_never_repeats() {
        let mut clock = Clock::default();
        let first = clock.next();
        let second = clock.next();
        assert!(second > first);
        let far = (Utc::now().timestamp_micros() + 10_000_000) as u64;
        assert_eq!(clock.version_after(far), far + 1);
        assert!(clock.next() > far as i64 + 1);
    }
}
