//! [`Store::aggregate`](pathlens_store::Store::aggregate) on ClickHouse: the
//! queries of [`crate::sql::aggregate`], one per part a request asks for,
//! and their `RowBinary` answers read into [`Aggregates`].

use std::collections::HashMap;

use pathlens_store::{
    AggregateRequest, Aggregates, Curve, NodeStats, Result, Totals, Transition, ViewerStats,
};

use crate::http::Client;
use crate::rowbinary::{DecodeError, Reader, Source};
use crate::sql::Tables;
use crate::sql::aggregate::Plan;

fn decode_error(part: &str, error: &DecodeError) -> pathlens_store::StoreError {
    pathlens_store::StoreError::internal(format!(
        "aggregating {part}: ClickHouse's answer cannot be read ({error})"
    ))
}

/// Runs `sql` and reads each row of its answer with `row`.
fn rows<T>(
    client: &Client,
    request: &AggregateRequest,
    part: &str,
    sql: &str,
    mut row: impl FnMut(&mut Reader<'_>) -> std::result::Result<T, DecodeError>,
) -> Result<Vec<T>> {
    request.cancel.check()?;
    let answer = client.query(sql)?;
    let mut reader = Reader::new(&answer);
    let mut out = Vec::new();
    while !reader.is_at_end() {
        out.push(row(&mut reader).map_err(|e| decode_error(part, &e))?);
    }
    Ok(out)
}

/// The answer to `request`, aggregated by ClickHouse.
///
/// The queries first read every stored row; then one query counts repeated
/// dedup keys among the rows they read, and only when there are some are
/// the queries sent again reading each event once. Rows are never removed,
/// so a repeat present during the first queries is still there for the
/// count.
///
/// # Errors
/// As ClickHouse fails, or when the request is cancelled.
pub fn aggregate(
    client: &Client,
    tables: &Tables,
    cluster: bool,
    request: &AggregateRequest,
) -> Result<Aggregates> {
    let fast = Plan::new(tables, request, cluster, false);
    let figures = answer(client, &fast, request)?;
    let repeats = rows(client, request, "repeated keys", &fast.duplicates(), |r| {
        r.u64()
    })?;
    if repeats.into_iter().sum::<u64>() == 0 {
        return Ok(figures);
    }
    answer(client, &Plan::new(tables, request, cluster, true), request)
}

fn answer(client: &Client, plan: &Plan<'_>, request: &AggregateRequest) -> Result<Aggregates> {
    let parts = &request.parts;
    let mut answer = Aggregates::default();
    if !parts.buckets.is_empty() {
        answer.totals = vec![Totals::default(); parts.buckets.len()];
        let found = rows(client, request, "totals", &plan.totals(), |r| {
            Ok((
                r.u64()?,
                Totals {
                    impressions: r.u64()?,
                    plays: r.u64()?,
                    unique_viewers: r.u64()?,
                    sessions_played: r.u64()?,
                    sessions_completed: r.u64()?,
                    view_ms: r.i64()?,
                },
            ))
        })?;
        for (bucket, totals) in found {
            if let Some(slot) = answer.totals.get_mut((bucket as usize).wrapping_sub(1)) {
                *slot = totals;
            }
        }
    }
    if parts.nodes {
        answer.nodes = match &parts.only_node {
            Some(node) => HashMap::from([(node.clone(), NodeStats::default())]),
            None => request
                .graph
                .nodes
                .iter()
                .map(|n| (n.id.clone(), NodeStats::default()))
                .collect(),
        };
        for (node, plays, viewers, view_ms) in rows(client, request, "nodes", &plan.nodes(), |r| {
            Ok((r.string()?, r.u64()?, r.u64()?, r.i64()?))
        })? {
            let stats = answer.nodes.entry(node).or_default();
            stats.plays = plays;
            stats.unique_viewers = viewers;
            stats.view_ms = view_ms;
        }
        let watched = rows(client, request, "watched buckets", &plan.watched(), |r| {
            Ok((r.string()?, r.u64()?))
        })?;
        for (node, buckets) in watched {
            if let Some(stats) = answer.nodes.get_mut(&node) {
                stats.watched_buckets = buckets;
            }
        }
        let dropoffs = rows(client, request, "drop-offs", &plan.dropoffs(), |r| {
            Ok((r.string()?, r.u64()?))
        })?;
        for (node, count) in dropoffs {
            if let Some(stats) = answer.nodes.get_mut(&node) {
                stats.dropoffs = count;
            }
        }
    }
    if parts.clicks {
        answer.clicks = rows(client, request, "clicks", &plan.clicks(), |r| {
            Ok((r.string()?, r.u64()?))
        })?
        .into_iter()
        .collect();
    }
    if parts.transitions {
        answer.transitions = rows(client, request, "transitions", &plan.transitions(), |r| {
            let (from, to, has_hotspot, hotspot) = (r.string()?, r.string()?, r.u8()?, r.string()?);
            Ok((
                Transition {
                    from,
                    to,
                    hotspot: (has_hotspot != 0).then_some(hotspot),
                },
                r.u64()?,
            ))
        })?
        .into_iter()
        .collect();
    }
    if parts.viewers {
        answer.viewers = rows(client, request, "viewers", &plan.viewers(), |r| {
            let (known, user) = (r.u8()?, r.string()?);
            Ok((
                (known != 0).then_some(user),
                ViewerStats {
                    impressions: r.u64()?,
                    plays: r.u64()?,
                    view_ms: r.i64()?,
                },
            ))
        })?
        .into_iter()
        .collect();
    }
    if let Some(node) = &parts.curve {
        let found = rows(client, request, "the curve", &plan.curve(node), |r| {
            let plays = r.u64()?;
            let length = r.varint()?;
            let mut watched = Vec::with_capacity(100);
            for _ in 0..length {
                watched.push(r.u64()?);
            }
            Ok(Curve { watched, plays })
        })?;
        answer.curve = found.into_iter().next().unwrap_or_default();
        // No plays: sumForEach of no rows is an empty array.
        answer.curve.watched.resize(100, 0);
    }
    if let Some(hotspot) = &parts.heatmap {
        let mut heatmap = vec![0u64; 100];
        if let Some((_, spot)) = request.graph.hotspot(hotspot) {
            let sql = plan.heatmap(hotspot, spot.start_ms, spot.end_ms);
            for (bucket, clicks) in rows(client, request, "the heat map", &sql, |r| {
                Ok((r.u8()?, r.u64()?))
            })? {
                if let Some(count) = heatmap.get_mut(usize::from(bucket)) {
                    *count = clicks;
                }
            }
        }
        answer.heatmap = heatmap;
    }
    Ok(answer)
}
