//! Each view's playback, worked out once when it is stored.
//!
//! docs/metrics.md: within its player session (session, player session,
//! entry), in event-index order, a view adds how much `play_time_sum` grew
//! since the previous view (its own value after a reset or as the first;
//! at most 30 s). The store keeps that figure in the `view_ms` column, over
//! the whole stored history of the player session, so unfiltered reports
//! read it instead of ordering every view at every report.
//!
//! The writer remembers the last view (by event index, then time) of the
//! player sessions of the sessions it holds in memory (`sessions.rs`). A batch whose views all come after that tail, in order,
//! is worked out in memory; a view that arrives before the tail (a late
//! beacon, an import of older events, an index restarted at 1) makes the
//! writer recompute that whole player session in SQL inside the same
//! transaction, so the figures never depend on arrival order.

use std::collections::{HashMap, HashSet};

use duckdb::{Connection, params};
use pathlens_model::{Event, EventKind, event::MAX_VIEW_CONTRIBUTION_SECS};
use pathlens_store::Result;

use crate::internal;

const MAX_VIEW_MS: i64 = (MAX_VIEW_CONTRIBUTION_SECS * 1000.0) as i64;

/// One player session: (partner, video, session, player session, entry).
pub(crate) type ChainKey = (u32, String, String, Option<String>, Option<String>);

/// The last view of a player session: its (event index, time) and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tail {
    order: (u32, i64),
    sum_ms: i64,
}

impl Tail {
    pub fn new(order: (u32, i64), sum_ms: i64) -> Tail {
        Tail { order, sum_ms }
    }

    /// Whether this view comes after `other` in its player session.
    pub fn is_after(&self, other: &Tail) -> bool {
        self.order > other.order
    }
}

/// The `play_time_sum` of a view in ms, as the definitions round it.
fn sum_ms(event: &Event) -> Option<i64> {
    if event.kind != EventKind::View {
        return None;
    }
    event.play_time_sum.map(|s| (s * 1000.0).round() as i64)
}

fn key_of(event: &Event) -> ChainKey {
    (
        event.partner_id,
        event.video_id.clone(),
        event.session_id.clone(),
        event.player_session.clone(),
        event.entry_id.clone(),
    )
}

/// What a view adds after a view of `previous_ms` (or as the first).
fn increase(previous_ms: Option<i64>, current_ms: i64) -> i64 {
    let added = match previous_ms {
        Some(previous) if current_ms >= previous => current_ms - previous,
        _ => current_ms,
    };
    added.min(MAX_VIEW_MS)
}

/// The SQL that sets `view_ms` for every view of the player sessions in
/// the temporary table `recompute_chains`, from all their stored views.
const RECOMPUTE: &str = "UPDATE events SET view_ms = c.view_ms FROM (
        SELECT seq, CASE WHEN previous_ms IS NOT NULL AND sum_ms >= previous_ms
                THEN least(sum_ms - previous_ms, ?) ELSE least(sum_ms, ?) END AS view_ms
        FROM (
            SELECT e.seq, round(e.play_time_sum * 1000.0)::BIGINT AS sum_ms,
                lag(round(e.play_time_sum * 1000.0)::BIGINT) OVER (
                    PARTITION BY e.partner_id, e.video_id, e.session_id, e.player_session, e.entry_id
                    ORDER BY e.event_index, e.ts_us) AS previous_ms
            FROM events e SEMI JOIN recompute_chains r
                ON e.partner_id = r.partner_id AND e.video_id = r.video_id
                AND e.session_id = r.session_id
                AND e.player_session IS NOT DISTINCT FROM r.player_session
                AND e.entry_id IS NOT DISTINCT FROM r.entry_id
            WHERE e.kind = 4 AND e.play_time_sum IS NOT NULL
        )
    ) c WHERE events.seq = c.seq";

/// Reads a row of (partner, video, session, player session, entry, event
/// index, time, `play_time_sum` in ms).
fn key_and_tail(row: &duckdb::Row<'_>) -> duckdb::Result<(ChainKey, Tail)> {
    Ok((
        (
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
        ),
        Tail {
            order: (row.get(5)?, row.get(6)?),
            sum_ms: row.get(7)?,
        },
    ))
}

/// The tails of every player session.
#[derive(Debug, Default)]
pub(crate) struct Chains {
    tails: HashMap<ChainKey, Tail>,
}

/// What one batch does to the chains, applied only once it is committed.
#[derive(Debug, Default)]
pub(crate) struct Planned {
    /// `view_ms` of each event of the batch, in order (0 for non-views and
    /// for views recomputed in SQL).
    pub view_ms: Vec<i64>,
    tails: HashMap<ChainKey, Tail>,
    recompute: HashSet<ChainKey>,
}

impl Chains {
    /// Keeps `tail` as its player session's last view unless a later one
    /// is known.
    pub fn keep_latest(&mut self, key: ChainKey, tail: Tail) {
        let latest = self.tails.entry(key).or_insert(tail);
        if tail.is_after(latest) {
            *latest = tail;
        }
    }

    /// Forgets the player sessions `gone` says so of.
    pub fn forget(&mut self, gone: impl Fn(&ChainKey) -> bool) {
        self.tails.retain(|key, _| !gone(key));
    }

    /// Forgets every player session.
    pub fn clear(&mut self) {
        self.tails.clear();
    }

    /// Works out `view_ms` for `events` (about to be stored, in this order).
    pub fn plan(&self, events: &[&Event]) -> Planned {
        let mut planned = Planned {
            view_ms: vec![0; events.len()],
            ..Planned::default()
        };
        let mut by_chain: HashMap<ChainKey, Vec<usize>> = HashMap::new();
        for (index, event) in events.iter().enumerate() {
            if sum_ms(event).is_some() {
                by_chain.entry(key_of(event)).or_default().push(index);
            }
        }
        for (key, mut indexes) in by_chain {
            indexes.sort_by_key(|&i| (events[i].event_index, events[i].ts.timestamp_micros()));
            let order = |i: usize| (events[i].event_index, events[i].ts.timestamp_micros());
            let tail = self.tails.get(&key).copied();
            let in_order = tail.is_none_or(|t| order(indexes[0]) > t.order)
                && indexes.windows(2).all(|w| order(w[0]) < order(w[1]));
            if !in_order {
                planned.recompute.insert(key);
                continue;
            }
            let mut previous = tail.map(|t| t.sum_ms);
            for &i in &indexes {
                let current = sum_ms(events[i]).unwrap_or(0);
                planned.view_ms[i] = increase(previous, current);
                previous = Some(current);
            }
            let last = *indexes.last().unwrap_or(&0);
            planned.tails.insert(
                key,
                Tail {
                    order: order(last),
                    sum_ms: sum_ms(events[last]).unwrap_or(0),
                },
            );
        }
        planned
    }

    /// Inside the batch's transaction, after its rows are appended:
    /// recomputes the player sessions that a view reached out of order and
    /// reads their new tails.
    pub fn recompute(connection: &Connection, planned: &mut Planned) -> Result<()> {
        if planned.recompute.is_empty() {
            return Ok(());
        }
        connection
            .execute_batch(
                "CREATE OR REPLACE TEMP TABLE recompute_chains (partner_id UINTEGER,
                    video_id VARCHAR, session_id VARCHAR, player_session VARCHAR, entry_id VARCHAR)",
            )
            .map_err(|e| internal("listing view chains to recompute", e))?;
        {
            let mut appender = connection
                .appender("recompute_chains")
                .map_err(|e| internal("listing view chains to recompute", e))?;
            for (partner, video, session, player, entry) in &planned.recompute {
                appender
                    .append_row(params![partner, video, session, player, entry])
                    .map_err(|e| internal("listing view chains to recompute", e))?;
            }
            appender
                .flush()
                .map_err(|e| internal("listing view chains to recompute", e))?;
        }
        connection
            .execute(RECOMPUTE, params![MAX_VIEW_MS, MAX_VIEW_MS])
            .map_err(|e| internal("recomputing view chains", e))?;
        let mut statement = connection
            .prepare(
                "SELECT r.partner_id, r.video_id, r.session_id, r.player_session, r.entry_id,
                    arg_max(e.event_index, [e.event_index::BIGINT, e.ts_us]),
                    arg_max(e.ts_us, [e.event_index::BIGINT, e.ts_us]),
                    arg_max(round(e.play_time_sum * 1000.0)::BIGINT, [e.event_index::BIGINT, e.ts_us])
                FROM events e JOIN recompute_chains r
                    ON e.partner_id = r.partner_id AND e.video_id = r.video_id
                    AND e.session_id = r.session_id
                    AND e.player_session IS NOT DISTINCT FROM r.player_session
                    AND e.entry_id IS NOT DISTINCT FROM r.entry_id
                WHERE e.kind = 4 AND e.play_time_sum IS NOT NULL
                GROUP BY ALL",
            )
            .map_err(|e| internal("reading recomputed view chains", e))?;
        let rows = statement
            .query_map([], key_and_tail)
            .map_err(|e| internal("reading recomputed view chains", e))?;
        for row in rows {
            let (key, tail) = row.map_err(|e| internal("reading recomputed view chains", e))?;
            planned.tails.insert(key, tail);
        }
        Ok(())
    }

    /// Keeps what a committed batch did.
    pub fn apply(&mut self, planned: Planned) {
        self.tails.extend(planned.tails);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increases_follow_the_definition() {
        assert_eq!(increase(None, 12_500), 12_500);
        assert_eq!(increase(Some(10_000), 20_000), 10_000);
        assert_eq!(increase(Some(20_000), 5_000), 5_000, "a reset");
        assert_eq!(increase(Some(0), 70_000), 30_000, "capped");
    }
}
