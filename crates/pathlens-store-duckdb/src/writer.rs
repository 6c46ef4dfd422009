//! The single writer thread.
//!
//! Every change goes through one thread that owns the write connection.
//! Appends waiting in the channel are committed together (group commit): one
//! transaction, one write-ahead-log sync, then every waiting caller gets its
//! answer. The dedup index — (partner, dedup key) of every stored event —
//! lives in memory here, loaded from the events table when the store opens.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};

use chrono::{DateTime, Utc};
use duckdb::{Connection, params};
use pathlens_model::{Event, Graph};
use pathlens_store::{ApiKey, AppendOutcome, PartnerId, Result};

use crate::chains::Chains;
use crate::codec;
use crate::internal;

/// Appends committed in one transaction at most.
const MAX_JOBS_PER_COMMIT: usize = 64;

/// A change and the channel its answer goes to.
pub(crate) enum Write {
    Append {
        events: Vec<Event>,
        reply: SyncSender<Result<AppendOutcome>>,
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
}

pub(crate) struct Job {
    pub write: Write,
}

pub(crate) struct WriterState {
    connection: Connection,
    seen: HashSet<(u32, u64)>,
    chains: Chains,
    next_seq: i64,
    depth: Arc<AtomicUsize>,
}

impl WriterState {
    /// Loads the dedup index and the next storage sequence number.
    pub fn load(connection: Connection, depth: Arc<AtomicUsize>) -> Result<WriterState> {
        let mut seen = HashSet::new();
        {
            let mut statement = connection
                .prepare("SELECT partner_id, dedup_key FROM events")
                .map_err(|e| internal("loading the dedup index", e))?;
            let keys = statement
                .query_map([], |row| Ok((row.get::<_, u32>(0)?, row.get::<_, u64>(1)?)))
                .map_err(|e| internal("loading the dedup index", e))?;
            for key in keys {
                seen.insert(key.map_err(|e| internal("loading the dedup index", e))?);
            }
        }
        let chains = Chains::load(&connection)?;
        let next_seq = connection
            .query_row("SELECT coalesce(max(seq) + 1, 0) FROM events", [], |row| {
                row.get(0)
            })
            .map_err(|e| internal("reading the last sequence number", e))?;
        Ok(WriterState {
            connection,
            seen,
            chains,
            next_seq,
            depth,
        })
    }

    /// Serves jobs until every sender is gone.
    pub fn run(mut self, jobs: Receiver<Job>) {
        while let Ok(first) = jobs.recv() {
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
        }
    }

    fn apply(&mut self, write: Write) {
        match write {
            Write::Append { events, reply } => self.commit_appends(vec![(events, reply)]),
            Write::Video {
                partner,
                graph,
                now,
                reply,
            } => {
                let _ = reply.send(self.put_video(partner, &graph, now));
            }
            Write::Key { key, reply } => {
                let _ = reply.send(self.put_key(&key));
            }
            Write::Revoke { id, now, reply } => {
                let result = self
                    .connection
                    .execute(
                        "UPDATE api_keys SET revoked_us = coalesce(revoked_us, ?) WHERE id = ?",
                        params![now.timestamp_micros(), id],
                    )
                    .map(|changed| changed > 0)
                    .map_err(|e| internal("revoking a key", e));
                let _ = reply.send(result);
            }
        }
    }

    fn put_video(&self, partner: PartnerId, graph: &Graph, now: DateTime<Utc>) -> Result<()> {
        let json = serde_json::to_string(graph).map_err(|e| internal("encoding a graph", e))?;
        self.connection
            .execute(
                "INSERT INTO videos (partner_id, video_id, graph, created_us, updated_us) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (partner_id, video_id) DO UPDATE SET graph = excluded.graph, updated_us = excluded.updated_us",
                params![partner, graph.id, json, now.timestamp_micros(), now.timestamp_micros()],
            )
            .map(|_| ())
            .map_err(|e| internal("storing a video", e))
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

    /// Stores the new events of every job in one transaction, then answers
    /// each job. On failure nothing is stored and every job gets the error.
    fn commit_appends(&mut self, jobs: Vec<(Vec<Event>, SyncSender<Result<AppendOutcome>>)>) {
        if jobs.is_empty() {
            return;
        }
        let mut fresh: HashSet<(u32, u64)> = HashSet::new();
        let mut outcomes = Vec::with_capacity(jobs.len());
        let mut accepted: Vec<&Event> = Vec::new();
        for (events, _) in &jobs {
            let mut outcome = AppendOutcome::default();
            for event in events {
                let key = (event.partner_id, event.dedup_key);
                if self.seen.contains(&key) || !fresh.insert(key) {
                    outcome.duplicates += 1;
                } else {
                    outcome.accepted += 1;
                    accepted.push(event);
                }
            }
            outcomes.push(outcome);
        }
        let result = self.write_events(&accepted);
        if result.is_ok() {
            self.seen.extend(fresh);
            self.next_seq += accepted.len() as i64;
        }
        for ((_, reply), outcome) in jobs.into_iter().zip(outcomes) {
            let answer = match &result {
                Ok(()) => Ok(outcome),
                Err(error) => Err(pathlens_store::StoreError::new(
                    error.kind(),
                    error.to_string(),
                )),
            };
            let _ = reply.send(answer);
        }
    }

    fn write_events(&mut self, events: &[&Event]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut planned = self.chains.plan(events);
        self.connection
            .execute_batch("BEGIN TRANSACTION")
            .map_err(|e| internal("starting a transaction", e))?;
        let appended = (|| {
            let mut appender = self
                .connection
                .appender("events")
                .map_err(|e| internal("opening the appender", e))?;
            for (offset, event) in events.iter().enumerate() {
                let seq = self.next_seq + offset as i64;
                codec::append_event(&mut appender, seq, event, planned.view_ms[offset])?;
            }
            appender
                .flush()
                .map_err(|e| internal("flushing the appender", e))?;
            drop(appender);
            Chains::recompute(&self.connection, &mut planned)
        })();
        match appended.and_then(|()| {
            self.connection
                .execute_batch("COMMIT")
                .map_err(|e| internal("committing events", e))
        }) {
            Ok(()) => {
                self.chains.apply(planned);
                Ok(())
            }
            Err(error) => {
                let _ = self.connection.execute_batch("ROLLBACK");
                tracing::error!(%error, "append failed; rolled back");
                Err(error)
            }
        }
    }
}
