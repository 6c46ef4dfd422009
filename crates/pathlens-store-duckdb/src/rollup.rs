//! Unfiltered reports over whole 15-minute slots, from the session facts
//! (`facts.rs`) instead of the events.
//!
//! Sums add up over slots; distinct viewers and sessions are counted over
//! the facts' (slot, node, viewer) rows; a session's completion and last
//! node are taken over the period's slots; a node play's watched buckets
//! are the union (`bit_or`) of its masks in the period's slots, for plays
//! that started in the period, which is what numbering the plays over the
//! period's events gives; a heat map counts the moves per distinct position.
//! A row filter that keeps every session whole or not at all (each
//! session's context is the same in all its events, as the facts record)
//! is the set of sessions it keeps. A filter that would keep part of a
//! session changes its view chains and node plays, so it goes to the
//! event-level SQL in `aggregate.rs`, as do periods not made of whole slots.

use std::collections::HashMap;

use duckdb::{Connection, params_from_iter};
use pathlens_model::EventKind;
use pathlens_store::query::UNKNOWN;
use pathlens_store::{
    AggregateRequest, Aggregates, Curve, Dimension, DimensionValue, NodeStats, Result, Totals,
    ValuesRequest,
};

use crate::aggregate::{
    Source, buckets_relation, graph_relations, heatmap, id_count_row, in_bucket_order, list,
    node_row, query as rows, query_with, quote, totals_row, transition_row, u64_of, viewer_row,
};
use crate::facts::SLOT_US;
use crate::internal;
use crate::read::Conditions;

/// True when `request`'s period and buckets are whole slots, so the facts
/// may answer it (see [`aggregate`] for row filters).
pub(crate) fn covers(request: &AggregateRequest) -> bool {
    on_slots(
        request.start.timestamp_micros(),
        request.end.timestamp_micros(),
    ) && request.parts.buckets.iter().all(|&(s, e)| on_slots(s, e))
}

/// True when `[start, end)` µs is whole slots.
fn on_slots(start: i64, end: i64) -> bool {
    start >= 0 && start % SLOT_US == 0 && end % SLOT_US == 0
}

/// The CTEs every part reads: `edges` and `graph_nodes` of the graph,
/// `moves` (the period's moves with the hotspot each counts as a click
/// for), `kept` (the sessions the session filter keeps, when there is one)
/// and `done` (kept sessions that reached an end node in the period).
struct Query {
    ctes: String,
    /// `partner_id = … AND video_id = …` for a fact table.
    video: String,
    /// The period's first slot.
    first: i64,
    /// The slot after the period's last.
    end: i64,
    /// ` AND sid IN kept`, or nothing.
    kept: String,
    /// `kept` for `fact_slots`, which records each row's viewer: with a
    /// filter on viewers' ids, only their rows (every session a filter
    /// answered from the facts keeps is of one viewer), so DuckDB drops the
    /// others as it scans instead of probing every row's session.
    slots_kept: String,
}

impl Query {
    /// With `context`: only the sessions in the temporary table
    /// `context_sessions` (those a row filter keeps whole).
    fn new(request: &AggregateRequest, context: bool) -> Query {
        let (edges, graph_nodes) = graph_relations(request.graph);
        let video = format!(
            "partner_id = {} AND video_id = {}",
            request.partner_id,
            quote(&request.graph.id)
        );
        let (first, end) = (
            request.start.timestamp_micros() / SLOT_US,
            request.end.timestamp_micros() / SLOT_US,
        );
        let period = within("slot", first, end);
        let moves_period = within("m.slot", first, end);
        let viewers = &request.filter.user_ids;
        let viewers = if viewers.is_empty() {
            String::new()
        } else {
            format!(" AND user_id IN ({})", list(viewers))
        };
        let (switch, click) = (EventKind::NodeSwitch.code(), EventKind::HotspotClick.code());
        let sessions = &request.sessions;
        let (kept_cte, kept) = if sessions.is_empty() && !context {
            (String::new(), String::new())
        } else {
            let mut sets = Vec::new();
            if context {
                sets.push("SELECT sid FROM context_sessions".to_string());
            }
            if !sessions.nodes.is_empty() {
                sets.push(format!(
                    "SELECT sid FROM fact_slots WHERE {video} AND {period}{viewers}
                        AND node_id IN ({}) AND (on_node > 0 OR targeted > 0)",
                    list(&sessions.nodes)
                ));
            }
            if !sessions.hotspots.is_empty() {
                sets.push(format!(
                    "SELECT sid FROM moves WHERE counted IN ({})",
                    list(&sessions.hotspots)
                ));
            }
            (
                format!(
                    ", kept AS MATERIALIZED ({})",
                    sets.iter()
                        .map(|s| format!("({s})"))
                        .collect::<Vec<_>>()
                        .join(" INTERSECT ")
                ),
                " AND sid IN (SELECT sid FROM kept)".to_string(),
            )
        };
        // The moves of the sessions a row filter keeps, only.
        let moves_kept = if context {
            " AND m.sid IN (SELECT sid FROM context_sessions)"
        } else {
            ""
        };
        // A heat map alone reads the moves of its hotspot only (a move
        // counts for a hotspot only under that hotspot's id).
        let parts = &request.parts;
        let moves_of = match &parts.heatmap {
            Some(hotspot)
                if !parts.clicks && !parts.transitions && sessions.hotspots.is_empty() =>
            {
                format!(" AND m.hotspot_id = {}", quote(hotspot))
            }
            _ => String::new(),
        };
        let ends = request.graph.end_nodes();
        let ends = if ends.is_empty() {
            "NULL".to_string()
        } else {
            list(&ends)
        };
        let ctes = format!(
            "WITH edges AS {edges},
            graph_nodes AS {graph_nodes},
            moves AS MATERIALIZED (
                SELECT m.sid, m.kind, m.from_node_id, m.to_node_id, m.hotspot_id,
                    m.position, m.n,
                    CASE WHEN m.kind = {click} THEN m.hotspot_id
                        WHEN m.kind = {switch} AND e.from_node = m.from_node_id
                            AND e.to_node = m.to_node_id THEN m.hotspot_id END AS counted
                FROM fact_moves m LEFT JOIN edges e ON e.hotspot = m.hotspot_id
                WHERE m.{video} AND {moves_period}{moves_kept}{moves_of}
            ){kept_cte},
            done AS MATERIALIZED (
                SELECT DISTINCT sid FROM fact_slots
                WHERE {video} AND {period} AND arrivals > 0 AND node_id IN ({ends}){viewers}{kept}
            )"
        );
        Query {
            ctes,
            video,
            first,
            end,
            slots_kept: format!("{viewers}{kept}"),
            kept,
        }
    }

    fn sql(&self, tail: &str) -> String {
        format!("{} {tail}", self.ctes)
    }

    /// The period's slots, as a condition on `column`.
    fn period(&self, column: &str) -> String {
        within(column, self.first, self.end)
    }
}

/// `column` within the slots `[first, end)`.
fn within(column: &str, first: i64, end: i64) -> String {
    format!("{column} >= {first} AND {column} < {end}")
}

/// Answers `request` (which [`covers`] accepted) from the facts, or `None`
/// when a row filter meets a session whose context changes within it: the
/// filter would keep part of that session (changing its view chains and
/// node plays), which only the events can answer.
pub(crate) fn aggregate(
    connection: &Connection,
    request: &AggregateRequest,
) -> Result<Option<Aggregates>> {
    if request.filter.is_empty() {
        return figures(connection, request, false).map(Some);
    }
    // Sessions whose span meets the period: none may be mixed; the kept
    // ones go to a temporary table.
    let Some(mut conditions) = whole_sessions(connection, &Span::of(request))? else {
        return Ok(None);
    };
    conditions.context(&request.filter);
    connection
        .prepare(&format!(
            "CREATE OR REPLACE TEMP TABLE context_sessions AS
            SELECT DISTINCT sid FROM fact_sessions WHERE {}",
            conditions.sql.join(" AND ")
        ))
        .and_then(|mut s| s.execute(params_from_iter(conditions.params.iter())))
        .map_err(|e| internal("selecting the sessions a filter keeps", e))?;
    let answer = figures(connection, request, true);
    let _ = connection.execute_batch("DROP TABLE IF EXISTS context_sessions");
    answer.map(Some)
}

/// One video's period in µs.
struct Span<'a> {
    partner_id: u32,
    video_id: &'a str,
    start: i64,
    end: i64,
}

impl Span<'_> {
    fn of<'a>(request: &'a AggregateRequest) -> Span<'a> {
        Span {
            partner_id: request.partner_id,
            video_id: &request.graph.id,
            start: request.start.timestamp_micros(),
            end: request.end.timestamp_micros(),
        }
    }
}

/// The sessions whose span meets `span`'s period, as conditions on
/// `fact_sessions`; `None` when one of them changes context within it.
fn whole_sessions(connection: &Connection, span: &Span) -> Result<Option<Conditions>> {
    let mut conditions = Conditions::default();
    conditions.push(
        &format!(
            "partner_id = ? AND video_id = ? AND first_slot < {} AND last_slot >= {}",
            span.end / SLOT_US,
            span.start / SLOT_US
        ),
        vec![
            Box::new(span.partner_id),
            Box::new(span.video_id.to_string()),
        ],
    );
    let mixed: i64 = connection
        .prepare(&format!(
            "SELECT count(*) FROM fact_sessions WHERE {} AND mixed",
            conditions.sql.join(" AND ")
        ))
        .and_then(|mut s| s.query_row(params_from_iter(conditions.params.iter()), |r| r.get(0)))
        .map_err(|e| internal("looking for sessions of mixed context", e))?;
    Ok((mixed == 0).then_some(conditions))
}

/// The values of `request`'s dimension in its period, with their plays and
/// events, from the facts: when the period is whole slots and no session
/// that meets it changes context, each session's events all carry its
/// context's value, so a value's figures are the sums of its sessions'
/// `fact_slots` rows in the period. `None` otherwise (the caller reads the
/// events).
pub(crate) fn values(
    connection: &Connection,
    request: &ValuesRequest,
) -> Result<Option<Vec<DimensionValue>>> {
    let span = Span {
        partner_id: request.partner_id,
        video_id: &request.video_id,
        start: request.start.timestamp_micros(),
        end: request.end.timestamp_micros(),
    };
    if !on_slots(span.start, span.end) {
        return Ok(None);
    }
    let Some(mut conditions) = whole_sessions(connection, &span)? else {
        return Ok(None);
    };
    conditions.context(&request.filter);
    // The dimension's name is its column (a fixed identifier).
    let sql = format!(
        "SELECT s.value, sum(f.plays)::BIGINT, sum(f.events)::BIGINT
        FROM fact_slots f JOIN (
            SELECT sid, coalesce({}, '{UNKNOWN}') AS value FROM fact_sessions WHERE {}
        ) s ON s.sid = f.sid
        WHERE f.partner_id = {} AND f.video_id = {} AND f.slot >= {} AND f.slot < {}
        GROUP BY s.value HAVING sum(f.events) > 0",
        request.dimension.name(),
        conditions.sql.join(" AND "),
        span.partner_id,
        quote(span.video_id),
        span.start / SLOT_US,
        span.end / SLOT_US
    );
    query_with(connection, &sql, &conditions, "values", |row| {
        Ok(DimensionValue {
            value: row.get(0)?,
            plays: u64_of(row.get(1)?),
            events: u64_of(row.get(2)?),
        })
    })
    .map(Some)
}

/// The period's totals (`request` covers one bucket, the period) for each
/// of `values` of `dimension`, in one query: when no session that meets
/// the period changes context, narrowing the filter to a value keeps the
/// sessions whose context has it, whole, so every value's figures are the
/// totals over its sessions. `None` otherwise (the caller asks value by
/// value).
pub(crate) fn breakdown(
    connection: &Connection,
    request: &AggregateRequest,
    dimension: Dimension,
    values: &[String],
) -> Result<Option<Vec<Totals>>> {
    let Some(mut conditions) = whole_sessions(connection, &Span::of(request))? else {
        return Ok(None);
    };
    conditions.context(&request.filter);
    // The dimension's name is its column (a fixed identifier).
    let value = format!("coalesce({}, '{UNKNOWN}')", dimension.name());
    conditions.push(&format!("{value} IN ({})", list(values)), Vec::new());
    connection
        .prepare(&format!(
            "CREATE OR REPLACE TEMP TABLE context_sessions AS
            SELECT DISTINCT sid, {value} AS value FROM fact_sessions WHERE {}",
            conditions.sql.join(" AND ")
        ))
        .and_then(|mut s| s.execute(params_from_iter(conditions.params.iter())))
        .map_err(|e| internal("selecting the sessions of each value", e))?;
    // The figures join `context_sessions` (each session with its value), so
    // the query need not also keep only its sessions.
    let query = Query::new(request, false);
    let (video, period, first) = (&query.video, query.period("slot"), query.first);
    let slots_kept = &query.slots_kept;
    let sql = query.sql(&format!(
        ", sums AS (
            SELECT c.value, sum(f.impressions) AS impressions, sum(f.plays) AS plays,
                sum(f.view_ms) AS view_ms
            FROM (
                SELECT sid, impressions, plays, view_ms FROM fact_slots
                WHERE {video} AND {period}{slots_kept}
            ) f JOIN context_sessions c ON c.sid = f.sid
            GROUP BY c.value
        ),
        bucketed AS (
            SELECT c.value, p.sid, p.user_id,
                p.prev_play_slot IS NULL OR p.prev_play_slot < {first} AS first
            FROM (
                SELECT sid, user_id, prev_play_slot FROM fact_slots
                WHERE {video} AND {period} AND plays > 0{slots_kept}
            ) p JOIN context_sessions c ON c.sid = p.sid
        ){}",
        played("value")
    ));
    let found = rows(connection, &sql, "breakdown", totals_row::<String>);
    let _ = connection.execute_batch("DROP TABLE IF EXISTS context_sessions");
    let found: HashMap<String, Totals> = found?.into_iter().collect();
    Ok(Some(
        values
            .iter()
            .map(|v| found.get(v).copied().unwrap_or_default())
            .collect(),
    ))
}

/// The CTEs `viewers` (distinct viewers per `key`) and `sessions`
/// (sessions played and completed per `key`) over `bucketed`, play rows
/// with `key`, `sid`, `user_id` and `first`: whether the row is its
/// session's first with plays in its `key` (each session counts once, by
/// that row, without grouping rows by session); then the select of the
/// figures per `key` beside `sums` (impressions, plays, view ms).
fn played(key: &str) -> String {
    format!(
        ", viewers AS (
            SELECT {key},
                count(user_id) + max(CASE WHEN user_id IS NULL THEN 1 ELSE 0 END) AS viewers
            FROM (SELECT DISTINCT {key}, user_id FROM bucketed) GROUP BY {key}
        ),
        sessions AS (
            SELECT b.{key}, count(*) AS sessions, count(d.sid) AS completed
            FROM bucketed b LEFT JOIN done d ON d.sid = b.sid
            WHERE b.first GROUP BY b.{key}
        )
        SELECT s.{key}, s.impressions::BIGINT, s.plays::BIGINT, coalesce(v.viewers, 0),
            s.view_ms::BIGINT, coalesce(n.sessions, 0), coalesce(n.completed, 0)
        FROM sums s LEFT JOIN viewers v ON v.{key} = s.{key}
            LEFT JOIN sessions n ON n.{key} = s.{key}"
    )
}

/// Every asked part from the facts (of the sessions in `context_sessions`
/// only, with `context`).
fn figures(
    connection: &Connection,
    request: &AggregateRequest,
    context: bool,
) -> Result<Aggregates> {
    let query = Query::new(request, context);
    let parts = &request.parts;
    let mut figures = Aggregates::default();
    let (video, period, kept) = (&query.video, query.period("slot"), &query.kept);
    let slots_kept = &query.slots_kept;
    if !parts.buckets.is_empty() {
        let buckets = buckets_relation(&parts.buckets, SLOT_US);
        // The facts are first summed per slot (and the play rows picked
        // out) within the buckets' span, then joined with the buckets.
        let span = format!(
            "slot >= {} AND slot < {}",
            parts.buckets.iter().map(|b| b.0).min().unwrap_or(0) / SLOT_US,
            parts.buckets.iter().map(|b| b.1).max().unwrap_or(0) / SLOT_US
        );
        let sql = query.sql(&format!(
            ", slots AS (
                SELECT idx, b_start, unnest(range(b_start, b_end)) AS slot FROM {buckets}
            ),
            per_slot AS (
                SELECT slot, sum(impressions) AS impressions, sum(plays) AS plays,
                    sum(view_ms) AS view_ms
                FROM fact_slots WHERE {video} AND {span}{slots_kept} GROUP BY slot
            ),
            sums AS (
                SELECT s.idx, sum(p.impressions) AS impressions, sum(p.plays) AS plays,
                    sum(p.view_ms) AS view_ms
                FROM per_slot p JOIN slots s ON s.slot = p.slot GROUP BY s.idx
            ),
            play_rows AS (
                SELECT slot, sid, user_id, prev_play_slot FROM fact_slots
                WHERE {video} AND {span} AND plays > 0{slots_kept}
            ),
            bucketed AS (
                SELECT s.idx, p.sid, p.user_id,
                    p.prev_play_slot IS NULL OR p.prev_play_slot < s.b_start AS first
                FROM play_rows p JOIN slots s ON s.slot = p.slot
            ){}",
            played("idx")
        ));
        let found = rows(connection, &sql, "totals", totals_row)?;
        figures.totals = in_bucket_order(found, parts.buckets.len());
    }
    // A drill-down's curve is of its own node, so the node's watched
    // buckets (the bits of its plays' masks) and plays come with the curve's
    // masks and the node's figures: one pass over the masks for both.
    let drill_down = parts.nodes && parts.curve.is_some() && parts.only_node == parts.curve;
    let masks = match &parts.curve {
        Some(node) => Some(curve_masks(connection, &query, node)?),
        None => None,
    };
    if parts.nodes {
        let shared = masks.as_deref().filter(|_| drill_down);
        figures.nodes = nodes(connection, request, &query, shared)?;
    }
    if let (Some(node), Some(masks)) = (&parts.curve, &masks) {
        let plays = if drill_down {
            figures.nodes.get(node).map_or(0, |stats| stats.plays)
        } else {
            curve_plays(connection, &query, node)?
        };
        figures.curve = curve_of(masks, plays);
    }
    if parts.clicks {
        let sql = query.sql(
            &format!("SELECT counted, sum(n)::BIGINT FROM moves WHERE counted IS NOT NULL{kept} GROUP BY counted"),
        );
        figures.clicks = rows(connection, &sql, "clicks", id_count_row)?
            .into_iter()
            .collect();
    }
    if parts.transitions {
        let sql = query.sql(&format!(
            "SELECT from_node_id, to_node_id, counted, sum(n)::BIGINT FROM moves
            WHERE kind = {} AND from_node_id IS NOT NULL AND to_node_id IS NOT NULL{kept}
            GROUP BY from_node_id, to_node_id, counted",
            EventKind::NodeSwitch.code()
        ));
        figures.transitions = rows(connection, &sql, "transitions", transition_row)?
            .into_iter()
            .collect();
    }
    if parts.viewers {
        let sql = query.sql(&format!(
            "SELECT user_id, sum(impressions)::BIGINT, sum(plays)::BIGINT, sum(view_ms)::BIGINT
            FROM fact_slots WHERE {video} AND {period}{slots_kept}
            GROUP BY user_id
            HAVING sum(impressions) > 0 OR sum(plays) > 0 OR sum(view_ms) <> 0"
        ));
        figures.viewers = rows(connection, &sql, "viewers", viewer_row)?
            .into_iter()
            .collect();
    }
    if let Some(hotspot) = &parts.heatmap {
        let run = |tail: &str, _: bool, _: Option<&str>| query.sql(tail);
        figures.heatmap = heatmap(
            connection,
            request.graph,
            hotspot,
            &run,
            Source::Moves(kept),
        )?;
    }
    Ok(figures)
}

/// The watched masks of each play of the period (of `node`, or every
/// node), as the union over the period's slots: a play with one row is
/// that row's mask, so only plays with more rows are grouped. Buckets 0 to
/// 63 are the bits of `mask_lo`, 64 to 99 those of `mask_hi`.
fn plays_masks(query: &Query, node: Option<&str>) -> String {
    let one = node.map_or(String::new(), |n| format!(" AND node_id = {}", quote(n)));
    let (video, kept) = (&query.video, &query.kept);
    let play_period = query.period("play_slot");
    let view_period = query.period("view_slot");
    let rows =
        format!("FROM fact_watch WHERE {video} AND {play_period} AND {view_period}{one}{kept}");
    format!(
        "SELECT node_id, mask_lo, mask_hi {rows} AND views = 1
        UNION ALL
        SELECT node_id, bit_or(mask_lo) AS mask_lo, bit_or(mask_hi) AS mask_hi {rows}
            AND views > 1
        GROUP BY sid, node_id, play"
    )
}

/// Each node's figures (of `only_node` alone, when the request names it);
/// `masks`, when given, are that node's plays' masks with their counts
/// ([`curve_masks`]), which its watched buckets are worked out from.
fn nodes(
    connection: &Connection,
    request: &AggregateRequest,
    query: &Query,
    masks: Option<&[(u128, u64)]>,
) -> Result<HashMap<String, NodeStats>> {
    let only = request.parts.only_node.as_deref();
    let mut stats = request.empty_nodes();
    let one = only.map_or(String::new(), |n| format!(" AND node_id = {}", quote(n)));
    let (video, period, kept) = (&query.video, query.period("slot"), &query.kept);
    let slots_kept = &query.slots_kept;
    // Distinct viewers as the count of (node, viewer) groups (see `played`).
    let sql = query.sql(&format!(
        "SELECT node_id, sum(plays)::BIGINT,
            count(user_id) FILTER (WHERE on_node > 0)
                + max(CASE WHEN user_id IS NULL AND on_node > 0 THEN 1 ELSE 0 END),
            sum(view_ms)::BIGINT
        FROM (
            SELECT node_id, user_id, sum(node_plays) AS plays, sum(on_node) AS on_node,
                sum(view_ms) AS view_ms
            FROM fact_slots WHERE {video} AND {period} AND node_id IS NOT NULL{one}{slots_kept}
            GROUP BY node_id, user_id
        )
        GROUP BY node_id HAVING sum(on_node) > 0"
    ));
    for (node, plays, viewers, view_ms) in rows(connection, &sql, "nodes", node_row)? {
        let entry = stats.entry(node).or_default();
        entry.plays = plays;
        entry.unique_viewers = viewers;
        entry.view_ms = view_ms;
    }
    let watched = match (masks, only) {
        (Some(masks), Some(node)) => vec![(
            node.to_string(),
            masks
                .iter()
                .map(|&(mask, count)| u64::from(mask.count_ones()) * count)
                .sum(),
        )],
        _ => {
            let sql = query.sql(&format!(
                "SELECT node_id, sum(bit_count(mask_lo) + bit_count(mask_hi))::BIGINT
                FROM ({}) GROUP BY node_id",
                plays_masks(query, only)
            ));
            rows(connection, &sql, "watched buckets", id_count_row)?
        }
    };
    for (node, buckets) in watched {
        if let Some(entry) = stats.get_mut(&node) {
            entry.watched_buckets = buckets;
        }
    }
    // The latest of a session's last node plays: `fact_last` has one row
    // per session and slot (its last node play by time, then event index),
    // so the latest is that of the session's latest slot in the period, the
    // one row whose next slot is none or after the period.
    let end = query.end;
    let sql = query.sql(&format!(
        "SELECT node_id, count(*)::BIGINT FROM fact_last
        WHERE {video} AND {period} AND (next_slot IS NULL OR next_slot >= {end}){kept}
            AND sid NOT IN (SELECT sid FROM done){one}
        GROUP BY node_id"
    ));
    for (node, dropoffs) in rows(connection, &sql, "drop-offs", id_count_row)? {
        if let Some(entry) = stats.get_mut(&node) {
            entry.dropoffs = dropoffs;
        }
    }
    Ok(stats)
}

/// The plays of `node` in the period.
fn curve_plays(connection: &Connection, query: &Query, node: &str) -> Result<u64> {
    let (video, period) = (&query.video, query.period("slot"));
    let slots_kept = &query.slots_kept;
    let sql = query.sql(&format!(
        "SELECT sum(node_plays)::BIGINT FROM fact_slots
        WHERE {video} AND {period} AND node_id = {}{slots_kept}",
        quote(node)
    ));
    Ok(rows(connection, &sql, "a viewing curve", |row| {
        row.get::<_, Option<i64>>(0)
    })?
    .into_iter()
    .flatten()
    .next()
    .map_or(0, u64_of))
}

/// Each distinct union of watched buckets among `node`'s plays of the
/// period, with how many plays have it.
fn curve_masks(connection: &Connection, query: &Query, node: &str) -> Result<Vec<(u128, u64)>> {
    let sql = query.sql(&format!(
        "SELECT mask_lo, mask_hi, count(*)::BIGINT FROM ({}) GROUP BY mask_lo, mask_hi",
        plays_masks(query, Some(node))
    ));
    rows(connection, &sql, "a viewing curve", |row| {
        let (low, high) = (row.get::<_, u64>(0)?, row.get::<_, u64>(1)?);
        Ok((
            u128::from(high) << 64 | u128::from(low),
            u64_of(row.get(2)?),
        ))
    })
}

/// The viewing curve: per 1 % bucket, the plays whose mask has it.
fn curve_of(masks: &[(u128, u64)], plays: u64) -> Curve {
    let mut watched = vec![0u64; 100];
    for &(mask, count) in masks {
        for (bucket, slot) in watched.iter_mut().enumerate() {
            if mask >> bucket & 1 == 1 {
                *slot += count;
            }
        }
    }
    Curve { watched, plays }
}
