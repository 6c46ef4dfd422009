//! [`Store::aggregate`](pathlens_store::Store::aggregate) inside DuckDB.
//!
//! Each part of a report is one SQL query that reads the video's events of
//! the period, works out the derived facts docs/metrics.md needs (the
//! counted click of a node switch, the node play each view belongs to and
//! the 1 % buckets it covers, completed sessions, each session's last node)
//! and aggregates them; only the figures come back to Rust. Each view's
//! playback is the stored `view_ms` (worked out at ingest, `chains.rs`);
//! under a context filter, which may leave some views of a player session
//! out, the views that pass it are chained here over the whole history.
//! The arithmetic on positions is the reference's, operation for operation,
//! so the floating-point results agree to the bit: the reference
//! (`pathlens_store::reference`) is the yardstick, and the store's tests and
//! the report crate's property test compare the two on random streams.
//!
//! The graph's facts (hotspot edges, node durations, end nodes) and the
//! buckets are small; they travel as `VALUES` lists in the query.

use std::collections::HashMap;
use std::fmt::Write as _;

use duckdb::{Connection, params_from_iter};
use pathlens_model::{EventKind, Graph};
use pathlens_store::{
    AggregateRequest, Aggregates, Curve, NodeStats, Result, Totals, Transition, ViewerStats,
};

use crate::internal;
use crate::read::Conditions;

const VIEW: u8 = 4;

fn code(kind: EventKind) -> u8 {
    kind.code()
}

/// A SQL string literal.
pub(crate) fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `(VALUES …)` of `rows`, or an empty relation with `columns` when there
/// are none.
pub(crate) fn values(columns: &[(&str, &str)], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        let nulls: Vec<String> = columns
            .iter()
            .map(|(name, ty)| format!("NULL::{ty} AS {name}"))
            .collect();
        return format!("(SELECT {} WHERE false)", nulls.join(", "));
    }
    let mut sql = String::from("(SELECT * FROM (VALUES ");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        let _ = write!(sql, "({})", row.join(", "));
    }
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let _ = write!(sql, ") AS t({}))", names.join(", "));
    sql
}

/// `(idx, b_start, b_end)` of each bucket, its bounds divided by `unit`
/// (1 for µs, a slot's length for slot numbers).
pub(crate) fn buckets_relation(buckets: &[(i64, i64)], unit: i64) -> String {
    let rows: Vec<Vec<String>> = buckets
        .iter()
        .enumerate()
        .map(|(i, (s, e))| {
            vec![
                i.to_string(),
                format!("{}::BIGINT", s / unit),
                format!("{}::BIGINT", e / unit),
            ]
        })
        .collect();
    values(
        &[
            ("idx", "BIGINT"),
            ("b_start", "BIGINT"),
            ("b_end", "BIGINT"),
        ],
        &rows,
    )
}

/// The graph's facts as relations: `edges(hotspot, from_node, to_node)` of
/// node-leading hotspots (the first of a repeated id wins, as in the
/// reference) and `graph_nodes(node, duration_ms, is_end)`.
pub(crate) fn graph_relations(graph: &Graph) -> (String, String) {
    let mut seen = std::collections::HashSet::new();
    let mut edges = Vec::new();
    for node in &graph.nodes {
        for hotspot in &node.hotspots {
            if let Some(target) = hotspot.behavior.target_node()
                && seen.insert(hotspot.id.as_str())
            {
                edges.push(vec![quote(&hotspot.id), quote(&node.id), quote(target)]);
            }
        }
    }
    let ends: std::collections::HashSet<String> = graph.end_nodes().into_iter().collect();
    let mut seen = std::collections::HashSet::new();
    let mut nodes = Vec::new();
    for node in &graph.nodes {
        if seen.insert(node.id.as_str()) {
            nodes.push(vec![
                quote(&node.id),
                format!("{}::BIGINT", node.duration_ms),
                ends.contains(&node.id).to_string(),
            ]);
        }
    }
    (
        values(
            &[
                ("hotspot", "VARCHAR"),
                ("from_node", "VARCHAR"),
                ("to_node", "VARCHAR"),
            ],
            &edges,
        ),
        values(
            &[
                ("node", "VARCHAR"),
                ("duration_ms", "BIGINT"),
                ("is_end", "BOOLEAN"),
            ],
            &nodes,
        ),
    )
}

pub(crate) fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| quote(i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The query of the rows every part reads: the period's events after every
/// filter, with `view_ms` and `counted` (the hotspot a row counts as a click
/// for); worked out once per request into a temporary table.
fn base(request: &AggregateRequest, conditions: &mut Conditions) -> String {
    let (edges, _) = graph_relations(request.graph);
    // Unfiltered, every view's playback is the stored `view_ms`. A context
    // filter leaves some views out, so the views that pass it are chained
    // here, over the player sessions' whole history.
    let stored = request.filter.is_empty();
    let (start, end) = (
        request.start.timestamp_micros(),
        request.end.timestamp_micros(),
    );
    let period = format!("ts_us >= {start} AND ts_us < {end}");
    conditions.push(
        &if stored {
            format!("partner_id = ? AND video_id = ? AND {period}")
        } else {
            format!("partner_id = ? AND video_id = ? AND ({period} OR kind = {VIEW})")
        },
        vec![
            Box::new(request.partner_id),
            Box::new(request.graph.id.clone()),
        ],
    );
    conditions.context(&request.filter);
    let (switch, click) = (code(EventKind::NodeSwitch), code(EventKind::HotspotClick));
    let sessions = &request.sessions;
    let kept = if sessions.is_empty() {
        "(SELECT * FROM p)".to_string()
    } else {
        let mut having = Vec::new();
        if !sessions.nodes.is_empty() {
            let nodes = list(&sessions.nodes);
            having.push(format!(
                "bool_or(coalesce(node_id IN ({nodes}), false) OR coalesce(to_node_id IN ({nodes}), false))"
            ));
        }
        if !sessions.hotspots.is_empty() {
            having.push(format!(
                "bool_or(coalesce(counted IN ({}), false))",
                list(&sessions.hotspots)
            ));
        }
        format!(
            "MATERIALIZED (SELECT * FROM p WHERE session_id IN (SELECT session_id FROM p GROUP BY session_id HAVING {}))",
            having.join(" AND ")
        )
    };
    let columns = "ts_us, kind, session_id, entry_id, node_id, event_index, user_id, position,
        play_time_sum, from_node_id, to_node_id, hotspot_id, player_session";
    let where_ = conditions.sql.join(" AND ");
    let chained = if stored {
        format!("chained AS (SELECT {columns}, view_ms FROM events WHERE {where_})")
    } else {
        format!(
            "raw AS MATERIALIZED (SELECT {columns} FROM events WHERE {where_}),
            views AS (
                SELECT *, lag(sum_ms) OVER (
                    PARTITION BY session_id, player_session, entry_id
                    ORDER BY event_index, ts_us) AS previous_ms
                FROM (SELECT *, round(play_time_sum * 1000.0)::BIGINT AS sum_ms FROM raw
                    WHERE kind = {VIEW} AND play_time_sum IS NOT NULL)
            ),
            chained AS (
                SELECT * EXCLUDE (sum_ms, previous_ms),
                    CASE WHEN previous_ms IS NOT NULL AND sum_ms >= previous_ms
                            THEN least(sum_ms - previous_ms, 30000)
                        ELSE least(sum_ms, 30000) END AS view_ms
                FROM views WHERE {period}
                UNION ALL BY NAME
                SELECT *, 0::BIGINT AS view_ms FROM raw
                WHERE {period} AND NOT (kind = {VIEW} AND play_time_sum IS NOT NULL)
            )"
        )
    };
    format!(
        "WITH edges AS {edges},
        {chained},
        p AS MATERIALIZED (
            SELECT c.*,
                CASE WHEN c.kind = {click} THEN c.hotspot_id
                    WHEN c.kind = {switch} AND e.from_node = c.from_node_id
                        AND e.to_node = c.to_node_id THEN c.hotspot_id END AS counted
            FROM chained c LEFT JOIN edges e ON e.hotspot = c.hotspot_id
        ),
        f AS {kept}
        SELECT * FROM f"
    )
}

/// The CTEs every part's query starts with: the graph's relations, `f`
/// (the rows [`base`] put in the temporary table `period_rows`) and `done`,
/// the sessions that reached an end node.
fn prefix(request: &AggregateRequest) -> String {
    let (_, graph_nodes) = graph_relations(request.graph);
    let ends: Vec<String> = request.graph.end_nodes();
    let ends = if ends.is_empty() {
        "NULL".to_string()
    } else {
        list(&ends)
    };
    let (switch, node_play) = (code(EventKind::NodeSwitch), code(EventKind::NodePlay));
    format!(
        "WITH graph_nodes AS {graph_nodes},
        f AS (SELECT * FROM period_rows),
        done AS MATERIALIZED (
            SELECT DISTINCT session_id FROM f
            WHERE (kind = {node_play} AND node_id IN ({ends}))
                OR (kind = {switch} AND to_node_id IN ({ends}))
        )"
    )
}

/// Each node play (numbered per session and node) with the views that
/// follow it, and the 1 % buckets they cover as disjoint runs:
/// `islands(session_id, node_id, play, first, last)` — the union of the
/// play's view spans, so a play's watched buckets are the sum of its
/// islands' lengths — and `node_plays(session_id, node_id, play)`.
fn watched_ctes(only: Option<&str>) -> String {
    let node_play = code(EventKind::NodePlay);
    let only = only.map_or(String::new(), |node| {
        format!(" AND f.node_id = {}", quote(node))
    });
    format!(
        ", ordered AS MATERIALIZED (
            SELECT f.session_id, f.node_id, f.kind, f.position, f.view_ms,
                sum(CASE WHEN f.kind = {node_play} THEN 1 ELSE 0 END) OVER (
                    PARTITION BY f.session_id, f.node_id
                    ORDER BY f.ts_us, f.event_index, f.kind = {VIEW}
                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS play
            FROM f WHERE f.node_id IS NOT NULL AND f.kind IN ({node_play}, {VIEW}){only}
        ),
        node_plays AS (SELECT session_id, node_id, play FROM ordered WHERE kind = {node_play}),
        spans AS (
            SELECT o.session_id, o.node_id, o.play,
                o.position * 1000.0 AS end_ms,
                greatest(o.position * 1000.0 - o.view_ms::DOUBLE, 0.0) AS start_ms,
                g.duration_ms::DOUBLE AS duration_ms
            FROM ordered o JOIN graph_nodes g ON g.node = o.node_id
            WHERE o.kind = {VIEW} AND o.play > 0 AND o.position IS NOT NULL
                AND o.view_ms > 0 AND g.duration_ms > 0
        ),
        ranges AS (
            SELECT session_id, node_id, play, first, greatest(last, first) AS last
            FROM (SELECT session_id, node_id, play,
                least(greatest(floor(start_ms * 100.0 / duration_ms + 1e-6), 0.0), 99.0)::INTEGER AS first,
                least(greatest(ceil(end_ms * 100.0 / duration_ms - 1e-6) - 1.0, 0.0), 99.0)::INTEGER AS last
            FROM spans)
        ),
        starts AS (
            SELECT *, CASE WHEN max(last) OVER (
                    PARTITION BY session_id, node_id, play ORDER BY first, last
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) >= first - 1
                THEN 0 ELSE 1 END AS opens
            FROM ranges
        ),
        numbered AS (
            SELECT *, sum(opens) OVER (
                PARTITION BY session_id, node_id, play ORDER BY first, last
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS island
            FROM starts
        ),
        islands AS (
            SELECT session_id, node_id, play, min(first) AS first, max(last) AS last
            FROM numbered GROUP BY session_id, node_id, play, island
        )"
    )
}

/// A 15-minute UTC slot in µs: every IANA offset is a multiple of it, so
/// local hours, days, weeks and months are whole slots.
const SLOT_US: i64 = 900_000_000;

/// The rows of `f` joined with the bucket holding each (`b.idx`): by slot
/// number, an equality join, when every bound is a whole slot (always, for
/// buckets of local calendar units); else by an ASOF join on the bounds.
fn bucket_join(bounds: &[(i64, i64)], buckets: &str) -> String {
    let aligned = bounds
        .iter()
        .all(|&(start, end)| start >= 0 && start % SLOT_US == 0 && end % SLOT_US == 0);
    if aligned {
        format!(
            "f JOIN (SELECT idx, unnest(range(b_start // {SLOT_US}, b_end // {SLOT_US})) AS slot
                FROM {buckets}) b ON b.slot = f.ts_us // {SLOT_US}"
        )
    } else {
        format!("f ASOF JOIN {buckets} b ON f.ts_us >= b.b_start WHERE f.ts_us < b.b_end")
    }
}

/// Runs `sql` (which has no parameters) and reads each row with `row`.
pub(crate) fn query<T>(
    connection: &Connection,
    sql: &str,
    what: &str,
    row: impl FnMut(&duckdb::Row<'_>) -> duckdb::Result<T>,
) -> Result<Vec<T>> {
    query_with(connection, sql, &Conditions::default(), what, row)
}

/// [`query`] of `sql` with the parameters of `conditions`.
pub(crate) fn query_with<T>(
    connection: &Connection,
    sql: &str,
    conditions: &Conditions,
    what: &str,
    row: impl FnMut(&duckdb::Row<'_>) -> duckdb::Result<T>,
) -> Result<Vec<T>> {
    let started = std::time::Instant::now();
    // Cached on the reader: the same report asked again skips planning.
    let mut statement = connection
        .prepare_cached(sql)
        .map_err(|e| internal(&format!("preparing {what}"), e))?;
    let rows = statement
        .query_map(params_from_iter(conditions.params.iter()), row)
        .map_err(|e| internal(&format!("aggregating {what}"), e))?;
    let found = rows
        .collect::<duckdb::Result<_>>()
        .map_err(|e| internal(&format!("aggregating {what}"), e));
    // `PATHLENS_LOG=pathlens_store_duckdb=debug` times each part of a
    // report; `=trace` also shows its SQL.
    tracing::trace!(part = what, sql, "aggregate query");
    tracing::debug!(
        part = what,
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "aggregated"
    );
    found
}

/// A row of (bucket index, impressions, plays, viewers, view ms, sessions
/// played, sessions completed).
/// A row of totals keyed by its first column (a bucket's index, a value).
pub(crate) fn totals_row<K: duckdb::types::FromSql>(
    row: &duckdb::Row<'_>,
) -> duckdb::Result<(K, Totals)> {
    Ok((
        row.get::<_, K>(0)?,
        Totals {
            impressions: u64_of(row.get(1)?),
            plays: u64_of(row.get(2)?),
            unique_viewers: u64_of(row.get(3)?),
            view_ms: row.get(4)?,
            sessions_played: u64_of(row.get(5)?),
            sessions_completed: u64_of(row.get(6)?),
        },
    ))
}

/// A row of (from node, to node, hotspot, count).
pub(crate) fn transition_row(row: &duckdb::Row<'_>) -> duckdb::Result<(Transition, u64)> {
    Ok((
        Transition {
            from: row.get(0)?,
            to: row.get(1)?,
            hotspot: row.get(2)?,
        },
        u64_of(row.get(3)?),
    ))
}

/// A row of (user id, impressions, plays, view ms).
pub(crate) fn viewer_row(row: &duckdb::Row<'_>) -> duckdb::Result<(Option<String>, ViewerStats)> {
    Ok((
        row.get(0)?,
        ViewerStats {
            impressions: u64_of(row.get(1)?),
            plays: u64_of(row.get(2)?),
            view_ms: row.get(3)?,
        },
    ))
}

/// A row of (node, plays, unique viewers, view ms).
pub(crate) fn node_row(row: &duckdb::Row<'_>) -> duckdb::Result<(String, u64, u64, i64)> {
    Ok((
        row.get(0)?,
        u64_of(row.get(1)?),
        u64_of(row.get(2)?),
        row.get(3)?,
    ))
}

/// A row of (an id, a count).
pub(crate) fn id_count_row(row: &duckdb::Row<'_>) -> duckdb::Result<(String, u64)> {
    Ok((row.get(0)?, u64_of(row.get(1)?)))
}

/// One [`Totals`] per bucket, in order, from the buckets that had rows.
pub(crate) fn in_bucket_order(found: Vec<(i64, Totals)>, buckets: usize) -> Vec<Totals> {
    let mut totals = vec![Totals::default(); buckets];
    for (idx, figures) in found {
        if let Some(slot) = usize::try_from(idx).ok().and_then(|i| totals.get_mut(i)) {
            *slot = figures;
        }
    }
    totals
}

/// Rows of (an id, a count): per node, or per hotspot.
fn per_node(connection: &Connection, sql: &str, what: &str) -> Result<Vec<(String, u64)>> {
    query(connection, sql, what, id_count_row)
}

pub(crate) fn u64_of(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Answers `request`: from the session facts when they cover every stored
/// event (`facts`) and answer it exactly (`rollup.rs`), else from the
/// events.
pub fn aggregate(
    connection: &Connection,
    request: &AggregateRequest,
    facts: bool,
) -> Result<Aggregates> {
    if facts
        && crate::rollup::covers(request)
        && let Some(figures) = crate::rollup::aggregate(connection, request)?
    {
        return Ok(figures);
    }
    from_events(connection, request)
}

/// Answers `request` from the events, one query per part.
pub(crate) fn from_events(
    connection: &Connection,
    request: &AggregateRequest,
) -> Result<Aggregates> {
    // The period's rows after every filter, worked out once for every part
    // into a temporary table of this connection (dropped at the end).
    let mut conditions = Conditions::default();
    let rows = base(request, &mut conditions);
    connection
        .prepare(&format!(
            "CREATE OR REPLACE TEMP TABLE period_rows AS {rows}"
        ))
        .and_then(|mut statement| statement.execute(params_from_iter(conditions.params.iter())))
        .map_err(|e| internal("selecting the period's events", e))?;
    let answer = parts_from(connection, request, &prefix(request));
    let _ = connection.execute_batch("DROP TABLE IF EXISTS period_rows");
    answer
}

/// Each asked part, from the rows in `period_rows`.
fn parts_from(
    connection: &Connection,
    request: &AggregateRequest,
    common: &str,
) -> Result<Aggregates> {
    let parts = &request.parts;
    let mut figures = Aggregates::default();
    let run = |tail: &str, with_watched: bool, only: Option<&str>| {
        let mut sql = common.to_string();
        if with_watched {
            sql.push_str(&watched_ctes(only));
        }
        sql.push(' ');
        sql.push_str(tail);
        sql
    };
    let (impression, play) = (code(EventKind::Impression), code(EventKind::Play));
    if !parts.buckets.is_empty() {
        let buckets = buckets_relation(&parts.buckets, 1);
        let bucketed = bucket_join(&parts.buckets, &buckets);
        let sql = run(
            &format!(
                // Sums over the rows that add to them; distinct counts over
                // play rows only, a small part of the period's events.
                ", bucketed AS (
                    SELECT b.idx, f.kind, f.session_id, f.user_id, f.view_ms FROM {bucketed}
                ),
                sums AS (
                    SELECT idx, count(*) FILTER (WHERE kind = {impression}) AS impressions,
                        count(*) FILTER (WHERE kind = {play}) AS plays, sum(view_ms) AS view_ms
                    FROM bucketed WHERE kind IN ({impression}, {play}) OR view_ms <> 0
                    GROUP BY idx
                ),
                played AS (
                    SELECT p.idx,
                        count(DISTINCT p.user_id)
                            + max(CASE WHEN p.user_id IS NULL THEN 1 ELSE 0 END) AS viewers,
                        count(DISTINCT p.session_id) AS sessions,
                        count(DISTINCT p.session_id) FILTER (WHERE d.session_id IS NOT NULL) AS completed
                    FROM bucketed p LEFT JOIN done d ON d.session_id = p.session_id
                    WHERE p.kind = {play}
                    GROUP BY p.idx
                )
                SELECT s.idx, s.impressions, s.plays, coalesce(p.viewers, 0), s.view_ms::BIGINT,
                    coalesce(p.sessions, 0), coalesce(p.completed, 0)
                FROM sums s LEFT JOIN played p ON p.idx = s.idx"
            ),
            false,
            None,
        );
        let found = query(connection, &sql, "totals", totals_row)?;
        figures.totals = in_bucket_order(found, parts.buckets.len());
    }
    if parts.nodes {
        figures.nodes = nodes(connection, request, &run)?;
    }
    if parts.clicks {
        let sql = run(
            "SELECT counted, count(*) FROM f WHERE counted IS NOT NULL GROUP BY counted",
            false,
            None,
        );
        figures.clicks = per_node(connection, &sql, "clicks")?.into_iter().collect();
    }
    if parts.transitions {
        let sql = run(
            &format!(
                "SELECT from_node_id, to_node_id, counted, count(*) FROM f
                WHERE kind = {} AND from_node_id IS NOT NULL AND to_node_id IS NOT NULL
                GROUP BY from_node_id, to_node_id, counted",
                code(EventKind::NodeSwitch)
            ),
            false,
            None,
        );
        figures.transitions = query(connection, &sql, "transitions", transition_row)?
            .into_iter()
            .collect();
    }
    if parts.viewers {
        let sql = run(
            &format!(
                "SELECT user_id, count(*) FILTER (WHERE kind = {impression}),
                    count(*) FILTER (WHERE kind = {play}), sum(view_ms)::BIGINT
                FROM f WHERE kind IN ({impression}, {play}) OR view_ms <> 0
                GROUP BY user_id"
            ),
            false,
            None,
        );
        figures.viewers = query(connection, &sql, "viewers", viewer_row)?
            .into_iter()
            .collect();
    }
    if let Some(node) = &parts.curve {
        figures.curve = curve(connection, node, &run)?;
    }
    if let Some(hotspot) = &parts.heatmap {
        figures.heatmap = heatmap(connection, request.graph, hotspot, &run, Source::Events)?;
    }
    Ok(figures)
}

/// Builds a part's query: its tail after the common CTEs, with the watched
/// buckets' CTEs or not, for one node or every node.
pub(crate) type Runner<'a> = dyn Fn(&str, bool, Option<&str>) -> String + 'a;

fn nodes(
    connection: &Connection,
    request: &AggregateRequest,
    run: &Runner<'_>,
) -> Result<HashMap<String, NodeStats>> {
    let node_play = code(EventKind::NodePlay);
    let only = request.parts.only_node.as_deref();
    let mut stats = request.empty_nodes();
    // `AND node_id = …` for a drill-down on one node.
    let one = only.map_or(String::new(), |node| {
        format!(" AND node_id = {}", quote(node))
    });
    let sql = run(
        &format!(
            "SELECT node_id, count(*) FILTER (WHERE kind = {node_play}),
                count(DISTINCT user_id) + max(CASE WHEN user_id IS NULL THEN 1 ELSE 0 END),
                sum(view_ms)::BIGINT
            FROM f WHERE node_id IS NOT NULL{one} GROUP BY node_id"
        ),
        false,
        None,
    );
    for (node, plays, viewers, view_ms) in query(connection, &sql, "nodes", node_row)? {
        let entry = stats.entry(node).or_default();
        entry.plays = plays;
        entry.unique_viewers = viewers;
        entry.view_ms = view_ms;
    }
    let sql = run(
        "SELECT node_id, sum(last - first + 1)::BIGINT FROM islands GROUP BY node_id",
        true,
        only,
    );
    for (node, buckets) in per_node(connection, &sql, "watched buckets")? {
        if let Some(entry) = stats.get_mut(&node) {
            entry.watched_buckets = buckets;
        }
    }
    let sql = run(
        &format!(
            "SELECT node_id, count(*) FROM (
                SELECT session_id, node_id, row_number() OVER (
                    PARTITION BY session_id ORDER BY ts_us DESC, event_index DESC) AS latest
                FROM f WHERE kind = {node_play} AND node_id IS NOT NULL
            ) WHERE latest = 1 AND session_id NOT IN (SELECT session_id FROM done){one}
            GROUP BY node_id"
        ),
        false,
        None,
    );
    for (node, dropoffs) in per_node(connection, &sql, "drop-offs")? {
        if let Some(entry) = stats.get_mut(&node) {
            entry.dropoffs = dropoffs;
        }
    }
    Ok(stats)
}

fn curve(connection: &Connection, id: &str, run: &Runner<'_>) -> Result<Curve> {
    let node = quote(id);
    // Islands of one play are disjoint: a bucket's viewers are the islands
    // covering it, counted from where islands open and close.
    let sql = run(
        &format!(
            "SELECT 'plays' AS what, 0 AS bucket, count(*) FROM node_plays WHERE node_id = {node}
            UNION ALL
            SELECT 'open', first, count(*) FROM islands WHERE node_id = {node} GROUP BY first
            UNION ALL
            SELECT 'close', last + 1, count(*) FROM islands WHERE node_id = {node} GROUP BY last"
        ),
        true,
        Some(id),
    );
    let mut changes = [0i64; 101];
    let mut plays = 0;
    for (what, bucket, count) in query(connection, &sql, "a viewing curve", |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, i64>(2)?,
        ))
    })? {
        let slot = usize::try_from(bucket).unwrap_or(0).min(100);
        match what.as_str() {
            "open" => changes[slot] += count,
            "close" => changes[slot] -= count,
            _ => plays = u64_of(count),
        }
    }
    let mut watched = Vec::with_capacity(100);
    let mut running = 0i64;
    for change in &changes[..100] {
        running += change;
        watched.push(u64_of(running));
    }
    Ok(Curve { watched, plays })
}

/// The heat map of `hotspot` from `source`: `f` (one row per event) or the
/// session facts' `moves` (a count per distinct position), with `tail`
/// added to the condition on the counted hotspot.
pub(crate) fn heatmap(
    connection: &Connection,
    graph: &Graph,
    hotspot: &str,
    run: &Runner<'_>,
    source: Source<'_>,
) -> Result<Vec<u64>> {
    let mut buckets = vec![0u64; 100];
    let Some((_, spot)) = graph.hotspot(hotspot) else {
        return Ok(buckets);
    };
    let window = spot.end_ms.saturating_sub(spot.start_ms) as f64;
    let percent = if window > 0.0 {
        format!(
            "(coalesce(position, 0.0) * 1000.0 - {}::DOUBLE) * 100.0 / {window:?}::DOUBLE",
            spot.start_ms
        )
    } else {
        "0.0".to_string()
    };
    let (relation, count, tail) = match source {
        Source::Events => ("f", "count(*)", ""),
        Source::Moves(tail) => ("moves", "sum(n)::BIGINT", tail),
    };
    let sql = run(
        &format!(
            "SELECT least(greatest(floor({percent} + 1e-6), 0.0), 99.0)::INTEGER AS bucket, {count}
            FROM {relation} WHERE counted = {}{tail} GROUP BY bucket",
            quote(hotspot)
        ),
        false,
        None,
    );
    for (bucket, count) in query(connection, &sql, "a heat map", |row| {
        Ok((row.get::<_, i64>(0)?, u64_of(row.get(1)?)))
    })? {
        if let Some(slot) = buckets.get_mut(bucket as usize) {
            *slot = count;
        }
    }
    Ok(buckets)
}

/// Where a heat map's clicks come from.
pub(crate) enum Source<'a> {
    Events,
    /// The facts' moves, with a further condition.
    Moves(&'a str),
}
