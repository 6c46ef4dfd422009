//! [`Store::aggregate`](pathlens_store::Store::aggregate) on ClickHouse: the
//! queries of [`crate::sql::aggregate`], one per part a request asks for,
//! and their `RowBinary` answers read into [`Aggregates`];
//! [`Store::breakdown`](pathlens_store::Store::breakdown) as one query for
//! every value.

use std::collections::{HashMap, HashSet};

use pathlens_store::{
    AggregateRequest, Aggregates, Curve, Dimension, Result, Totals, Transition, ViewerStats,
};

use crate::http::Client;
use crate::rowbinary::{DecodeError, Reader, Source};
use crate::sql::Tables;
use crate::sql::aggregate::Plan;

fn decode_error(part: &str, error: &DecodeError) -> pathlens_store::StoreError {
    pathlens_store::StoreError::caused_by(
        pathlens_store::StoreErrorKind::Internal,
        format!("aggregating {part}: ClickHouse's answer cannot be read ({error})"),
        error.clone(),
    )
}

/// Reads each row of `answer` with `row`.
fn decode<T>(
    part: &str,
    answer: &[u8],
    mut row: impl FnMut(&mut Reader<'_>) -> std::result::Result<T, DecodeError>,
) -> Result<Vec<T>> {
    let mut reader = Reader::new(answer);
    let mut out = Vec::new();
    while !reader.is_at_end() {
        out.push(row(&mut reader).map_err(|e| decode_error(part, &e))?);
    }
    Ok(out)
}

/// Sends every query at once (each part is its own query, so ClickHouse
/// works on them side by side) and returns their answers in order.
fn fetch(
    client: &Client,
    request: &AggregateRequest,
    queries: &[(&str, String)],
) -> Result<Vec<Vec<u8>>> {
    request.cancel.check()?;
    let answers: Vec<Result<Vec<u8>>> = std::thread::scope(|scope| {
        let running: Vec<_> = queries
            .iter()
            .map(|(_, sql)| scope.spawn(move || client.query(sql)))
            .collect();
        running
            .into_iter()
            .map(|thread| {
                thread.join().unwrap_or_else(|_| {
                    Err(pathlens_store::StoreError::internal(
                        "a ClickHouse query thread panicked",
                    ))
                })
            })
            .collect()
    });
    request.cancel.check()?;
    answers.into_iter().collect()
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
    let check = [("repeated keys", fast.duplicates())];
    let repeats = decode("repeated keys", &fetch(client, request, &check)?[0], |r| {
        r.u64()
    })?;
    if repeats.into_iter().sum::<u64>() == 0 {
        return Ok(figures);
    }
    answer(client, &Plan::new(tables, request, cluster, true), request)
}

/// The totals of `request`'s first bucket for each of `values` of
/// `dimension`, in their order: for each value what [`aggregate`] answers
/// with the filter narrowed to it, all values in one query (and the check
/// for repeated keys, as [`aggregate`] does). Values the request's filter
/// keeps out get zero totals.
///
/// # Errors
/// As ClickHouse fails, or when the request is cancelled.
pub fn breakdown(
    client: &Client,
    tables: &Tables,
    cluster: bool,
    request: &AggregateRequest,
    dimension: Dimension,
    values: &[String],
) -> Result<Vec<Totals>> {
    let mut seen = HashSet::new();
    let asked: Vec<&str> = values
        .iter()
        .filter(|v| request.filter.narrowed(dimension, v).is_some())
        .map(String::as_str)
        .filter(|v| seen.insert(*v))
        .collect();
    if asked.is_empty() || request.parts.buckets.is_empty() {
        return Ok(vec![Totals::default(); values.len()]);
    }
    let fast = Plan::split(tables, request, cluster, false, dimension, &asked);
    let mut found = breakdown_answer(client, &fast, request)?;
    let check = [("repeated keys", fast.duplicates())];
    let repeats = decode("repeated keys", &fetch(client, request, &check)?[0], |r| {
        r.u64()
    })?;
    if repeats.into_iter().sum::<u64>() > 0 {
        let plan = Plan::split(tables, request, cluster, true, dimension, &asked);
        found = breakdown_answer(client, &plan, request)?;
    }
    Ok(values
        .iter()
        .map(|value| {
            if request.filter.narrowed(dimension, value).is_some() {
                found.get(value).copied().unwrap_or_default()
            } else {
                Totals::default()
            }
        })
        .collect())
}

/// The totals that follow a row's key: impressions, plays, unique viewers,
/// sessions played and completed, view ms.
fn read_totals(r: &mut Reader<'_>) -> std::result::Result<Totals, DecodeError> {
    Ok(Totals {
        impressions: r.u64()?,
        plays: r.u64()?,
        unique_viewers: r.u64()?,
        sessions_played: r.u64()?,
        sessions_completed: r.u64()?,
        view_ms: r.i64()?,
    })
}

fn breakdown_answer(
    client: &Client,
    plan: &Plan<'_>,
    request: &AggregateRequest,
) -> Result<HashMap<String, Totals>> {
    let queries = [("breakdown", plan.breakdown())];
    let answers = fetch(client, request, &queries)?;
    let found = decode("breakdown", &answers[0], |r| {
        Ok((r.string()?, read_totals(r)?))
    })?;
    Ok(found.into_iter().collect())
}

fn answer(client: &Client, plan: &Plan<'_>, request: &AggregateRequest) -> Result<Aggregates> {
    let parts = &request.parts;
    let mut queries: Vec<(&str, String)> = Vec::new();
    let mut ask = |part: &'static str, sql: String| {
        queries.push((part, sql));
        queries.len() - 1
    };
    let totals = (!parts.buckets.is_empty()).then(|| ask("totals", plan.totals()));
    let nodes = parts.nodes.then(|| {
        (
            ask("nodes", plan.nodes()),
            ask("watched buckets", plan.watched()),
            ask("drop-offs", plan.dropoffs()),
        )
    });
    let clicks = parts.clicks.then(|| ask("clicks", plan.clicks()));
    let transitions = parts
        .transitions
        .then(|| ask("transitions", plan.transitions()));
    let viewers = parts.viewers.then(|| ask("viewers", plan.viewers()));
    let curve = parts
        .curve
        .as_deref()
        .map(|node| ask("the curve", plan.curve(node)));
    let spot = parts.heatmap.as_deref().and_then(|hotspot| {
        request
            .graph
            .hotspot(hotspot)
            .map(|(_, spot)| (hotspot, spot))
    });
    let heatmap = spot.map(|(hotspot, spot)| {
        ask(
            "the heat map",
            plan.heatmap(hotspot, spot.start_ms, spot.end_ms),
        )
    });
    let answers = fetch(client, request, &queries)?;
    let of = |index: usize| (queries[index].0, answers[index].as_slice());

    let mut answer = Aggregates::default();
    if let Some(index) = totals {
        answer.totals = vec![Totals::default(); parts.buckets.len()];
        let (part, bytes) = of(index);
        let found = decode(part, bytes, |r| Ok((r.u64()?, read_totals(r)?)))?;
        for (bucket, totals) in found {
            if let Some(slot) = answer.totals.get_mut((bucket as usize).wrapping_sub(1)) {
                *slot = totals;
            }
        }
    }
    if let Some((figures, watched, dropoffs)) = nodes {
        answer.nodes = request.empty_nodes();
        let (part, bytes) = of(figures);
        for (node, plays, viewers, view_ms) in decode(part, bytes, |r| {
            Ok((r.string()?, r.u64()?, r.u64()?, r.i64()?))
        })? {
            let stats = answer.nodes.entry(node).or_default();
            stats.plays = plays;
            stats.unique_viewers = viewers;
            stats.view_ms = view_ms;
        }
        let (part, bytes) = of(watched);
        for (node, buckets) in decode(part, bytes, |r| Ok((r.string()?, r.u64()?)))? {
            if let Some(stats) = answer.nodes.get_mut(&node) {
                stats.watched_buckets = buckets;
            }
        }
        let (part, bytes) = of(dropoffs);
        for (node, count) in decode(part, bytes, |r| Ok((r.string()?, r.u64()?)))? {
            if let Some(stats) = answer.nodes.get_mut(&node) {
                stats.dropoffs = count;
            }
        }
    }
    if let Some(index) = clicks {
        let (part, bytes) = of(index);
        answer.clicks = decode(part, bytes, |r| Ok((r.string()?, r.u64()?)))?
            .into_iter()
            .collect();
    }
    if let Some(index) = transitions {
        let (part, bytes) = of(index);
        answer.transitions = decode(part, bytes, |r| {
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
    if let Some(index) = viewers {
        let (part, bytes) = of(index);
        answer.viewers = decode(part, bytes, |r| {
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
    if let Some(index) = curve {
        let (part, bytes) = of(index);
        let found = decode(part, bytes, |r| {
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
    if parts.heatmap.is_some() {
        let mut counts = vec![0u64; 100];
        if let Some(index) = heatmap {
            let (part, bytes) = of(index);
            for (bucket, clicks) in decode(part, bytes, |r| Ok((r.u8()?, r.u64()?)))? {
                if let Some(count) = counts.get_mut(usize::from(bucket)) {
                    *count = clicks;
                }
            }
        }
        answer.heatmap = counts;
    }
    Ok(answer)
}
