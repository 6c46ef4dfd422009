//! Per-session facts, derived in the writer's transaction.
//!
//! Every figure of an unfiltered report is a sum, a distinct count or a
//! union over facts that depend only on one session's events: what each
//! 15-minute UTC slot of the session holds per node and viewer (counts,
//! playback, arrivals at the node), its moves and clicks per slot and
//! position (for heat maps), its last node play per slot, its span and
//! context (or that its context changes, which row filters need to know),
//! and, for each node play, the 1 % buckets its views covered in each slot
//! as a 100-bit mask (two 64-bit columns). Reports over whole slots (every
//! local hour, day, week and month in any IANA zone is whole slots) read
//! these facts instead of the events (`rollup.rs`).
//!
//! The writer recomputes the facts of every session a batch touches, from
//! all of that session's stored events, inside the batch's transaction: an
//! acknowledged event's facts are as durable as the event, and late or
//! out-of-order events give the same facts as in-order ones. The watched
//! masks need the graph's node durations; storing a graph whose durations
//! changed recomputes that video's masks.

use std::collections::HashMap;

use duckdb::{Connection, params};
use pathlens_model::{EventKind, Graph};
use pathlens_store::Result;

use crate::internal;

/// A 15-minute slot in µs.
pub(crate) const SLOT_US: i64 = 900_000_000;

fn code(kind: EventKind) -> u8 {
    kind.code()
}

/// The tables of facts (migration 4 creates them).
pub(crate) const SCHEMA: &str = "
    CREATE TABLE node_durations (
        partner_id UINTEGER NOT NULL,
        video_id VARCHAR NOT NULL,
        node_id VARCHAR NOT NULL,
        duration_ms BIGINT NOT NULL
    );
    CREATE TABLE fact_slots (
        partner_id UINTEGER NOT NULL,
        video_id VARCHAR NOT NULL,
        session_id VARCHAR NOT NULL,
        slot BIGINT NOT NULL,
        node_id VARCHAR,
        user_id VARCHAR,
        impressions UINTEGER NOT NULL,
        plays UINTEGER NOT NULL,
        node_plays UINTEGER NOT NULL,
        view_ms BIGINT NOT NULL,
        arrivals UINTEGER NOT NULL,
        on_node UINTEGER NOT NULL,
        targeted UINTEGER NOT NULL
    );
    CREATE TABLE fact_moves (
        partner_id UINTEGER NOT NULL,
        video_id VARCHAR NOT NULL,
        session_id VARCHAR NOT NULL,
        slot BIGINT NOT NULL,
        kind UTINYINT NOT NULL,
        hotspot_id VARCHAR,
        from_node_id VARCHAR,
        to_node_id VARCHAR,
        position DOUBLE,
        n UINTEGER NOT NULL
    );
    CREATE TABLE fact_last (
        partner_id UINTEGER NOT NULL,
        video_id VARCHAR NOT NULL,
        session_id VARCHAR NOT NULL,
        slot BIGINT NOT NULL,
        ts_us BIGINT NOT NULL,
        event_index BIGINT NOT NULL,
        node_id VARCHAR NOT NULL
    );
    CREATE TABLE fact_sessions (
        partner_id UINTEGER NOT NULL,
        video_id VARCHAR NOT NULL,
        session_id VARCHAR NOT NULL,
        first_slot BIGINT NOT NULL,
        last_slot BIGINT NOT NULL,
        country VARCHAR,
        device VARCHAR,
        os VARCHAR,
        browser VARCHAR,
        referrer_domain VARCHAR,
        application VARCHAR,
        playback_type VARCHAR,
        user_id VARCHAR,
        mixed BOOLEAN NOT NULL
    );
    CREATE TABLE fact_watch (
        partner_id UINTEGER NOT NULL,
        video_id VARCHAR NOT NULL,
        session_id VARCHAR NOT NULL,
        node_id VARCHAR NOT NULL,
        play BIGINT NOT NULL,
        play_slot BIGINT NOT NULL,
        view_slot BIGINT NOT NULL,
        mask HUGEINT NOT NULL
    );";

/// The context of an event that row filters test.
const CONTEXT: [&str; 8] = [
    "country",
    "device",
    "os",
    "browser",
    "referrer_domain",
    "application",
    "playback_type",
    "user_id",
];

/// The events of the sessions in `touched`, within `[?, ?]` µs (the span
/// that holds all of them, so DuckDB skips the rest of the table by its
/// zone maps), each with its session's code `t.sid`.
fn scope(alias: &str) -> String {
    format!(
        "FROM events {alias} JOIN touched t ON {alias}.partner_id = t.partner_id
            AND {alias}.video_id = t.video_id AND {alias}.session_id = t.session_id
        WHERE {alias}.ts_us >= $lo AND {alias}.ts_us <= $hi"
    )
}

/// The SQL that inserts the facts of the sessions in `touched`. `latest`:
/// into the tables as the latest migration leaves them; else as migration
/// 4 made them, without `fact_slots.events`, `fact_watch.views` and the
/// session codes (`sid`; migrations 7 to 9 add those columns and fill them
/// for the rows already there).
fn inserts(latest: bool) -> Vec<String> {
    let (impression, play, node_play, switch, click, view) = (
        code(EventKind::Impression),
        code(EventKind::Play),
        code(EventKind::NodePlay),
        code(EventKind::NodeSwitch),
        code(EventKind::HotspotClick),
        code(EventKind::View),
    );
    let events = scope("e");
    let events_column = if latest { ", sum(events)" } else { "" };
    let sid = if latest { ", t.sid" } else { "" };
    let outer_sid = if latest { ", sid" } else { "" };
    // The latest `fact_watch` has its masks after the columns migrations 7
    // and 9 added.
    let watch_columns = if latest {
        " (partner_id, video_id, session_id, node_id, play, play_slot, view_slot,
            mask_lo, mask_hi, views, sid)"
    } else {
        ""
    };
    vec![
        // Per slot, node and viewer: counts, playback, arrivals (a node
        // play of the node, or a switch to it), events at the node, events
        // naming it as where they lead, and events of any kind (each event
        // once: its rows under the node it leads to count none).
        {
            let per_slot = format!(
                "SELECT partner_id, video_id, session_id, slot, node_id, user_id,
                sum(impressions) AS impressions, sum(plays) AS plays,
                sum(node_plays) AS node_plays, sum(view_ms) AS view_ms,
                sum(arrivals) AS arrivals, sum(on_node) AS on_node,
                sum(targeted) AS targeted{events_column}{outer_sid}
            FROM (
                SELECT e.partner_id, e.video_id, e.session_id, t.sid, e.ts_us // {SLOT_US} AS slot,
                    e.node_id, e.user_id,
                    (e.kind = {impression})::UINTEGER AS impressions,
                    (e.kind = {play})::UINTEGER AS plays,
                    (e.kind = {node_play} AND e.node_id IS NOT NULL)::UINTEGER AS node_plays,
                    e.view_ms,
                    (e.kind = {node_play} AND e.node_id IS NOT NULL)::UINTEGER AS arrivals,
                    (e.node_id IS NOT NULL)::UINTEGER AS on_node,
                    0::UINTEGER AS targeted,
                    1::UINTEGER AS events
                {events}
                UNION ALL
                SELECT e.partner_id, e.video_id, e.session_id, t.sid, e.ts_us // {SLOT_US},
                    e.to_node_id, e.user_id, 0, 0, 0, 0, (e.kind = {switch})::UINTEGER, 0, 1, 0
                {events} AND e.to_node_id IS NOT NULL
            )
            GROUP BY partner_id, video_id, session_id, sid, slot, node_id, user_id"
            );
            // `prev_play_slot`: on a row with plays, the slot of the
            // session's previous row with plays (in slot, node, viewer
            // order), so that the first of a session's rows in a bucket is
            // known without grouping the rows by session.
            insert(
                "fact_slots",
                &per_slot,
                latest.then_some((
                    "partner_id, video_id, session_id, slot, node_id, user_id, impressions,
                    plays, node_plays, view_ms, arrivals, on_node, targeted, events, sid,
                    prev_play_slot",
                    "CASE WHEN plays > 0 THEN lag(slot) OVER (
                        PARTITION BY sid, plays > 0
                        ORDER BY slot, node_id NULLS FIRST, user_id NULLS FIRST) END",
                )),
            )
        },
        format!(
            "INSERT INTO fact_moves
            SELECT e.partner_id, e.video_id, e.session_id, e.ts_us // {SLOT_US}, e.kind,
                e.hotspot_id, e.from_node_id, e.to_node_id, e.position, count(*){sid}
            {events} AND e.kind IN ({switch}, {click})
            GROUP BY ALL"
        ),
        // Per slot, the session's last node play; with `next_slot`, the
        // session's next slot that has one (none for its last), so that a
        // period's latest row of a session is found without grouping.
        {
            let per_slot = format!(
                "SELECT e.partner_id, e.video_id, e.session_id, e.ts_us // {SLOT_US} AS slot,
                    max(e.ts_us), arg_max(e.event_index::BIGINT, [e.ts_us, e.event_index::BIGINT]),
                    arg_max(e.node_id, [e.ts_us, e.event_index::BIGINT]){sid}
                {events} AND e.kind = {node_play} AND e.node_id IS NOT NULL
                GROUP BY e.partner_id, e.video_id, e.session_id, t.sid, e.ts_us // {SLOT_US}"
            );
            insert(
                "fact_last",
                &per_slot,
                latest.then_some((
                    "partner_id, video_id, session_id, slot, ts_us, event_index, node_id, sid,
                    next_slot",
                    "lead(slot) OVER (PARTITION BY sid ORDER BY slot)",
                )),
            )
        },
        // Each session's span and context: its values when every event
        // of the session has the same (absent counting as a value), else
        // `mixed`. A row filter keeps such a session whole or not at all.
        {
            let values: Vec<String> = CONTEXT
                .iter()
                .map(|c| format!("any_value(e.{c})"))
                .collect();
            let varies: Vec<String> = CONTEXT
                .iter()
                .map(|c| format!("count(DISTINCT e.{c}) + (count(*) > count(e.{c}))::INTEGER > 1"))
                .collect();
            format!(
                "INSERT INTO fact_sessions
                SELECT e.partner_id, e.video_id, e.session_id, min(e.ts_us) // {SLOT_US},
                    max(e.ts_us) // {SLOT_US}, {}, {}{sid}
                {events}
                GROUP BY e.partner_id, e.video_id, e.session_id, t.sid",
                values.join(", "),
                varies.join(" OR ")
            )
        },
        // Each node play (numbered per session and node in time order) and
        // the 1 % buckets its views covered, per slot of the view, as a
        // mask; the arithmetic is the reference's. `views`: how many rows
        // (slots) the play has, so that reports take the mask of a play
        // with one row as it is, without grouping.
        format!(
            "INSERT INTO fact_watch{watch_columns}
            WITH ordered AS (
                SELECT e.partner_id, e.video_id, e.session_id, t.sid, e.node_id, e.kind,
                    e.position, e.view_ms, e.ts_us,
                    sum(CASE WHEN e.kind = {node_play} THEN 1 ELSE 0 END) OVER w AS play,
                    max(CASE WHEN e.kind = {node_play} THEN e.ts_us END) OVER w AS play_us
                {events} AND e.node_id IS NOT NULL AND e.kind IN ({node_play}, {view})
                WINDOW w AS (PARTITION BY e.partner_id, e.video_id, e.session_id, e.node_id
                    ORDER BY e.ts_us, e.event_index, e.kind = {view}
                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
            ),
            spans AS (
                SELECT o.*, o.position * 1000.0 AS end_ms,
                    greatest(o.position * 1000.0 - o.view_ms::DOUBLE, 0.0) AS start_ms,
                    d.duration_ms::DOUBLE AS duration_ms
                FROM ordered o JOIN node_durations d ON d.partner_id = o.partner_id
                    AND d.video_id = o.video_id AND d.node_id = o.node_id
                WHERE o.kind = {view} AND o.play > 0 AND o.position IS NOT NULL
                    AND o.view_ms > 0 AND d.duration_ms > 0
            ),
            ranges AS (
                SELECT *, greatest(last0, first) AS last FROM (
                    SELECT *,
                        least(greatest(floor(start_ms * 100.0 / duration_ms + 1e-6), 0.0), 99.0)::INTEGER AS first,
                        least(greatest(ceil(end_ms * 100.0 / duration_ms - 1e-6) - 1.0, 0.0), 99.0)::INTEGER AS last0
                    FROM spans)
            )
            SELECT partner_id, video_id, session_id, node_id, play, play_us // {SLOT_US},
                ts_us // {SLOT_US}, {masks}
            FROM ranges
            GROUP BY partner_id, video_id, session_id, sid, node_id, play, play_us // {SLOT_US},
                ts_us // {SLOT_US}",
            masks = if latest {
                // Buckets `first` to `last` in the low mask (0 to 63) and
                // the high one (64 to 99, from bit 0).
                // Bits a to b are 2^(b+1) - 1 less 2^a - 1, which no
                // shift overflows.
                "bit_or(CASE WHEN first <= 63
                    THEN (~0::UBIGINT >> (63 - least(last, 63))::UBIGINT)
                        - ((1::UBIGINT << first::UBIGINT) - 1::UBIGINT)
                    ELSE 0::UBIGINT END),
                bit_or(CASE WHEN last >= 64
                    THEN (~0::UBIGINT >> (127 - last)::UBIGINT)
                        - ((1::UBIGINT << (greatest(first, 64) - 64)::UBIGINT) - 1::UBIGINT)
                    ELSE 0::UBIGINT END),
                count(*) OVER (PARTITION BY partner_id, video_id, session_id, node_id, play), sid"
            } else {
                "bit_or((1::HUGEINT << (last + 1)::HUGEINT) - (1::HUGEINT << first::HUGEINT))"
            }
        ),
    ]
}

/// `INSERT INTO table` of `rows`: as migration 4 made the table, or, with
/// `latest`, into the latest table's columns, the last of them an
/// expression over `rows`.
fn insert(table: &str, rows: &str, latest: Option<(&str, &str)>) -> String {
    match latest {
        Some((columns, last)) => {
            format!("INSERT INTO {table} ({columns}) SELECT *, {last} FROM ({rows})")
        }
        None => format!("INSERT INTO {table} {rows}"),
    }
}

/// Replaces `$lo` / `$hi` in `sql`.
fn bind(sql: &str, lo: i64, hi: i64) -> String {
    sql.replace("$lo", &lo.to_string())
        .replace("$hi", &hi.to_string())
}

fn create_touched(connection: &Connection) -> Result<()> {
    connection
        .execute_batch(
            "CREATE OR REPLACE TEMP TABLE touched (partner_id UINTEGER, video_id VARCHAR,
                session_id VARCHAR, sid BIGINT, first_slot BIGINT, last_slot BIGINT)",
        )
        .map_err(|e| internal("listing sessions to derive", e))
}

/// Gives each session in `touched` its code: the one its stored facts
/// have (with the slots they span), else a new one above every code in
/// use. Reports group and join sessions by these integers instead of their
/// ids.
fn assign_codes(connection: &Connection) -> Result<()> {
    connection
        .execute_batch(
            "UPDATE touched SET sid = f.sid, first_slot = f.first_slot, last_slot = f.last_slot
            FROM fact_sessions f
            WHERE f.partner_id = touched.partner_id AND f.video_id = touched.video_id
                AND f.session_id = touched.session_id;
            UPDATE touched SET sid = n.sid FROM (
                SELECT partner_id, video_id, session_id,
                    (SELECT coalesce(max(sid), 0) FROM fact_sessions)
                        + row_number() OVER (ORDER BY partner_id, video_id, session_id) AS sid
                FROM touched WHERE sid IS NULL
            ) n
            WHERE n.partner_id = touched.partner_id AND n.video_id = touched.video_id
                AND n.session_id = touched.session_id;",
        )
        .map_err(|e| internal("coding the sessions to derive", e))
}

/// Where the stored facts of the sessions in `touched` lie.
#[derive(Clone, Copy)]
enum Stored {
    /// None of them has facts yet (new sessions).
    Nowhere,
    /// Within these slots (the first of a session to the last).
    Within(i64, i64),
    /// Anywhere.
    Anywhere,
}

/// Each fact table and a slot column that lies within its session's span.
const SPAN_COLUMNS: [(&str, &str); 5] = [
    ("fact_slots", "slot"),
    ("fact_moves", "slot"),
    ("fact_last", "slot"),
    ("fact_watch", "view_slot"),
    ("fact_sessions", "first_slot"),
];

/// Deletes and re-derives the facts of the sessions in `touched`, whose
/// events (old and new) all lie in `[lo, hi]` µs and whose stored facts
/// lie where `stored` says (so the deletes skip the rest by zone maps).
fn rederive(connection: &Connection, lo: i64, hi: i64, stored: Stored) -> Result<()> {
    rederive_as(connection, lo, hi, stored, true)
}

/// [`rederive`] into the latest tables or those of migration 4
/// ([`inserts`]).
fn rederive_as(
    connection: &Connection,
    lo: i64,
    hi: i64,
    stored: Stored,
    latest: bool,
) -> Result<()> {
    let within = match stored {
        Stored::Nowhere => None,
        Stored::Within(first, last) => Some(Some((first, last))),
        Stored::Anywhere => Some(None),
    };
    if let Some(span) = within {
        for (table, column) in SPAN_COLUMNS {
            let span = span.map_or(String::new(), |(first, last)| {
                format!(" AND f.{column} >= {first} AND f.{column} <= {last}")
            });
            // By the sessions' codes (unique over the store), once they
            // exist.
            let session = if latest {
                "f.sid = t.sid"
            } else {
                "f.partner_id = t.partner_id AND f.video_id = t.video_id AND f.session_id = t.session_id"
            };
            connection
                .execute_batch(&format!(
                    "DELETE FROM {table} f USING touched t WHERE {session}{span}"
                ))
                .map_err(|e| internal(&format!("clearing {table}"), e))?;
        }
    }
    for sql in inserts(latest) {
        connection
            .execute_batch(&bind(&sql, lo, hi))
            .map_err(|e| internal("deriving session facts", e))?;
    }
    Ok(())
}

/// Inside the batch's transaction, after its rows (sequence numbers from
/// `first_seq` on, times within `span` µs) are appended and their view
/// playback worked out: re-derives the facts of every session they belong
/// to.
pub(crate) fn derive_batch(
    connection: &Connection,
    first_seq: i64,
    span: (i64, i64),
) -> Result<()> {
    create_touched(connection)?;
    connection
        .execute(
            "INSERT INTO touched (partner_id, video_id, session_id)
            SELECT DISTINCT partner_id, video_id, session_id FROM events WHERE seq >= ?",
            params![first_seq],
        )
        .map_err(|e| internal("listing sessions to derive", e))?;
    assign_codes(connection)?;
    // The sessions' span: the new events' and what their stored facts cover.
    let (new_lo, new_hi) = span;
    let (old_lo, old_hi): (Option<i64>, Option<i64>) = connection
        .query_row(
            "SELECT min(first_slot), max(last_slot) FROM touched",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(|e| internal("reading the sessions' span", e))?;
    let lo = old_lo.map_or(new_lo, |slot| new_lo.min(slot * SLOT_US));
    let hi = old_hi.map_or(new_hi, |slot| new_hi.max((slot + 1) * SLOT_US - 1));
    let stored = match (old_lo, old_hi) {
        (Some(first), Some(last)) => Stored::Within(first, last),
        _ => Stored::Nowhere,
    };
    rederive(connection, lo, hi, stored)
}

/// The node durations of `graph` as stored for masks, sorted.
fn durations(graph: &Graph) -> Vec<(String, i64)> {
    let mut seen = HashMap::new();
    for node in &graph.nodes {
        seen.entry(node.id.clone())
            .or_insert(i64::try_from(node.duration_ms).unwrap_or(i64::MAX));
    }
    let mut list: Vec<(String, i64)> = seen.into_iter().collect();
    list.sort();
    list
}

/// Stores the node durations of one video.
fn append_durations(
    connection: &Connection,
    partner: u32,
    video: &str,
    durations: &[(String, i64)],
) -> Result<()> {
    let mut appender = connection
        .appender("node_durations")
        .map_err(|e| internal("storing node durations", e))?;
    for (node, duration) in durations {
        appender
            .append_row(params![partner, video, node, duration])
            .map_err(|e| internal("storing node durations", e))?;
    }
    appender
        .flush()
        .map_err(|e| internal("storing node durations", e))
}

/// Inside the transaction that stores `graph`: keeps its node durations
/// and, when they changed, re-derives the video's watched masks.
pub(crate) fn graph_stored(connection: &Connection, partner: u32, graph: &Graph) -> Result<()> {
    let wanted = durations(graph);
    let stored: Vec<(String, i64)> = {
        let mut statement = connection
            .prepare(
                "SELECT node_id, duration_ms FROM node_durations
                WHERE partner_id = ? AND video_id = ? ORDER BY node_id, duration_ms",
            )
            .map_err(|e| internal("reading node durations", e))?;
        let rows = statement
            .query_map(params![partner, graph.id], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .map_err(|e| internal("reading node durations", e))?;
        rows.collect::<duckdb::Result<_>>()
            .map_err(|e| internal("reading node durations", e))?
    };
    if stored == wanted {
        return Ok(());
    }
    connection
        .execute(
            "DELETE FROM node_durations WHERE partner_id = ? AND video_id = ?",
            params![partner, graph.id],
        )
        .map_err(|e| internal("storing node durations", e))?;
    append_durations(connection, partner, &graph.id, &wanted)?;
    create_touched(connection)?;
    connection
        .execute(
            "INSERT INTO touched (partner_id, video_id, session_id)
            SELECT DISTINCT partner_id, video_id, session_id FROM events
            WHERE partner_id = ? AND video_id = ?",
            params![partner, graph.id],
        )
        .map_err(|e| internal("listing sessions to derive", e))?;
    assign_codes(connection)?;
    rederive(connection, i64::MIN, i64::MAX, Stored::Anywhere)
}

/// Gives every session with facts its code, and every fact row its
/// session's (at migration 9, on a database whose facts were derived
/// without them).
pub(crate) fn code_stored(connection: &Connection) -> Result<()> {
    connection
        .execute_batch(
            "UPDATE fact_sessions SET sid = c.sid FROM (
                SELECT partner_id, video_id, session_id,
                    row_number() OVER (ORDER BY partner_id, video_id, session_id) AS sid
                FROM fact_sessions
            ) c WHERE fact_sessions.partner_id = c.partner_id
                AND fact_sessions.video_id = c.video_id AND fact_sessions.session_id = c.session_id",
        )
        .map_err(|e| internal("coding the sessions", e))?;
    for (table, _) in SPAN_COLUMNS.iter().filter(|(t, _)| *t != "fact_sessions") {
        connection
            .execute_batch(&format!(
                "UPDATE {table} SET sid = s.sid FROM fact_sessions s
                WHERE {table}.partner_id = s.partner_id AND {table}.video_id = s.video_id
                    AND {table}.session_id = s.session_id"
            ))
            .map_err(|e| internal(&format!("coding the sessions of {table}"), e))?;
    }
    Ok(())
}

/// Derives the facts of every stored event (at migration 4, on a
/// database that already held events and graphs: its tables are those of
/// migration 4).
pub(crate) fn derive_all(connection: &Connection) -> Result<()> {
    let graphs: Vec<(u32, String)> = {
        let mut statement = connection
            .prepare("SELECT partner_id, graph FROM videos")
            .map_err(|e| internal("reading videos", e))?;
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(|e| internal("reading videos", e))?;
        rows.collect::<duckdb::Result<_>>()
            .map_err(|e| internal("reading videos", e))?
    };
    for (partner, json) in graphs {
        if let Ok(graph) = serde_json::from_str::<Graph>(&json) {
            append_durations(connection, partner, &graph.id, &durations(&graph))?;
        }
    }
    create_touched(connection)?;
    connection
        .execute_batch(
            "INSERT INTO touched (partner_id, video_id, session_id)
            SELECT DISTINCT partner_id, video_id, session_id FROM events",
        )
        .map_err(|e| internal("listing sessions to derive", e))?;
    rederive_as(connection, i64::MIN, i64::MAX, Stored::Anywhere, false)
}
