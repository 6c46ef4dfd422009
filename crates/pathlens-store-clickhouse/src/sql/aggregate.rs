//! Reports aggregated inside ClickHouse: the queries that answer an
//! [`AggregateRequest`] with figures, never with rows.
//!
//! Every query reads the same relation, the period's events of the video
//! after the row filters and the session filter, one row per dedup key
//! ([`Plan::period`]), and adds what a row needs from the rest of the
//! history: the playback a view contributes, the increase of its
//! `play_time_sum` since the previous view of its player session, is worked
//! out over every stored view of that player session ([`Plan::contributed`]):
//! the views are gathered per player session with `groupArray`, sorted by
//! event index, and differenced with array functions (ClickHouse 18.16 has
//! no window functions). Node plays and their watched 1 % buckets are worked
//! out the same way per session and node: the views that follow a node play
//! belong to it, and each view's buckets are a 100-bit mask held in two
//! 50-bit halves (18.16 has neither 128-bit integers nor `bitCount`).
//!
//! Each query answers `RowBinary` rows of a few columns; the figures follow
//! docs/metrics.md and must equal [`pathlens_store::reference`]'s, which the
//! integration tests check against the embedded store and the in-memory one
//! on the same events, on one server and on a two-shard cluster.
//!
//! On a cluster the queries read the `Distributed` tables: every shard
//! filters and deduplicates its own events and ClickHouse brings the
//! per-session work together on the server pathlens asked; what reaches
//! pathlens is the figures alone. Sets a shard must test against (the
//! sessions kept by a session filter, the completed sessions) are built once
//! and sent to the shards (`GLOBAL IN`).
//!
//! A breakdown ([`Plan::breakdown`]) answers the totals of many values of
//! one dimension in one query: every row carries its value
//! (`dimension_value`, `unknown` when absent), and everything that a
//! narrowed filter would compute per session is computed per session and
//! value instead — the view chains, the sessions a session filter keeps,
//! the completed sessions — so each value's figures are those of the
//! request with the filter narrowed to it.

use std::collections::HashSet;

use pathlens_model::EventKind;
use pathlens_model::event::MAX_VIEW_CONTRIBUTION_SECS;
use pathlens_store::query::UNKNOWN;
use pathlens_store::{AggregateRequest, Dimension};

use super::scan::{date_holds, filter_conditions, utc_day};
use super::{Tables, quote, quote_list};

/// The 15-minute slot of an instant in µs.
const SLOT_US: i64 = 900_000_000;

/// More slots than this and buckets are found by search rather than by a
/// slot-to-bucket map (the map's literal would grow large).
const MAX_MAPPED_SLOTS: i64 = 100_000;

fn code(kind: EventKind) -> u8 {
    kind.code()
}

/// The queries of one request.
pub struct Plan<'r> {
    tables: &'r Tables,
    request: &'r AggregateRequest<'r>,
    /// `GLOBAL IN` on a cluster (the set is built once and sent to every
    /// shard), `IN` on one server.
    in_set: &'static str,
    /// `LIMIT 1 BY dedup_key` where rows are read, or nothing when the rows
    /// are known to hold no repeated key (see [`Plan::duplicates`]).
    dedup: &'static str,
    /// For a breakdown: the rows split by the value of a dimension.
    split: Option<Split>,
}

/// The rows of a breakdown: those whose value of one dimension is among
/// the asked values, each carrying it as `dimension_value`.
struct Split {
    /// The value of a row: the dimension's column, `unknown` when absent.
    value: String,
    /// The asked values, quoted.
    values: String,
}

impl<'r> Plan<'r> {
    /// The queries of `request`, reading every event once per dedup key
    /// when `dedup`, every stored row otherwise.
    pub fn new(
        tables: &'r Tables,
        request: &'r AggregateRequest<'r>,
        cluster: bool,
        dedup: bool,
    ) -> Plan<'r> {
        Plan {
            tables,
            request,
            in_set: if cluster { "GLOBAL IN" } else { "IN" },
            dedup: if dedup {
                "\n    LIMIT 1 BY dedup_key"
            } else {
                ""
            },
            split: None,
        }
    }

    /// The queries of a breakdown of `request` by `dimension` over
    /// `values` (each value one that the request's filter lets pass; see
    /// [`Plan::breakdown`]). Such a plan answers [`Plan::breakdown`] and
    /// [`Plan::duplicates`] only.
    pub fn split(
        tables: &'r Tables,
        request: &'r AggregateRequest<'r>,
        cluster: bool,
        dedup: bool,
        dimension: Dimension,
        values: &[&str],
    ) -> Plan<'r> {
        Plan {
            split: Some(Split {
                // The dimension's name is its column (a fixed identifier).
                value: format!("ifNull({}, {})", dimension.name(), quote(UNKNOWN)),
                values: quote_list(values.iter().copied()),
            }),
            ..Plan::new(tables, request, cluster, dedup)
        }
    }

    /// `, dimension_value` in a breakdown, nothing otherwise: what is added
    /// to `session_id` wherever rows are selected or grouped per session.
    fn by(&self) -> &'static str {
        if self.split.is_some() {
            ", dimension_value"
        } else {
            ""
        }
    }

    /// What sets of sessions are made of: `session_id`, or in a breakdown
    /// `(session_id, dimension_value)` (a session counts for each value
    /// apart).
    fn session_key(&self) -> &'static str {
        if self.split.is_some() {
            "(session_id, dimension_value)"
        } else {
            "session_id"
        }
    }

    /// `, <value> AS dimension_value` in a breakdown, nothing otherwise.
    fn value_column(&self) -> String {
        self.split
            .as_ref()
            .map(|split| format!(", {} AS dimension_value", split.value))
            .unwrap_or_default()
    }

    /// How many of the rows the queries read repeat a dedup key (two
    /// pathlens nodes that stored one retried event at the same instant):
    /// one `UInt64`. Rows are only ever added, so when this is 0 after the
    /// queries ran, they read no repeated key and need no `LIMIT 1 BY`,
    /// which costs more than the rest of a query on 18.16.
    pub fn duplicates(&self) -> String {
        let history = self.history_conditions();
        format!(
            "SELECT toUInt64(count() - uniqExact(dedup_key))
FROM {events}
WHERE ({period}) OR ({history})
FORMAT RowBinary",
            events = self.tables.events,
            period = self.period_conditions().join(" AND "),
            history = history.join(" AND "),
        )
    }

    fn start_us(&self) -> i64 {
        self.request.start.timestamp_micros()
    }

    fn end_us(&self) -> i64 {
        self.request.end.timestamp_micros()
    }

    /// Conditions on the video and the row filters (no time bounds).
    fn video_conditions(&self) -> Vec<String> {
        let mut conditions = vec![
            format!("partner_id = {}", self.request.partner_id),
            format!("video_id = {}", quote(&self.request.graph.id)),
        ];
        conditions.extend(filter_conditions(&self.request.filter));
        if let Some(split) = &self.split {
            conditions.push(format!("{} IN ({})", split.value, split.values));
        }
        conditions
    }

    /// Conditions of the views whose increases a report needs: every view
    /// of the video with `play_time_sum`, whenever stored.
    fn history_conditions(&self) -> Vec<String> {
        let mut conditions = self.video_conditions();
        conditions.push(format!("kind = {}", code(EventKind::View)));
        conditions.push("play_time_sum IS NOT NULL".into());
        conditions
    }

    /// Conditions of the period: the partition days, then the instants.
    fn period_conditions(&self) -> Vec<String> {
        let mut conditions = self.video_conditions();
        let (start, end) = (self.request.start, self.request.end);
        let last = (end - chrono::Duration::microseconds(1)).max(start);
        if date_holds(start) {
            conditions.push(format!("event_date >= {}", utc_day(start)));
        }
        if date_holds(last) {
            conditions.push(format!("event_date <= {}", utc_day(last)));
        }
        conditions.push(format!(
            "ts_us >= {} AND ts_us < {}",
            self.start_us(),
            self.end_us()
        ));
        conditions
    }

    /// `(hotspot, from, to)` of every hotspot leading to a node, the first
    /// one of each id as the graph lists them.
    fn edges(&self) -> Vec<(String, String, String)> {
        let mut seen = HashSet::new();
        let mut edges = Vec::new();
        for node in &self.request.graph.nodes {
            for hotspot in &node.hotspots {
                if let Some(target) = hotspot.behavior.target_node()
                    && seen.insert(hotspot.id.as_str())
                {
                    edges.push((hotspot.id.clone(), node.id.clone(), target.to_string()));
                }
            }
        }
        edges
    }

    /// The hotspot a row counts as a click for (NULL when none): a URL
    /// click's, or a node switch's when the hotspot sits on the from-node
    /// and leads to the to-node.
    fn counted(&self) -> String {
        let edges = self.edges();
        let switch = if edges.is_empty() {
            "0".to_string()
        } else {
            let list: Vec<String> = edges
                .iter()
                .map(|(h, f, t)| format!("({}, {}, {})", quote(h), quote(f), quote(t)))
                .collect();
            format!(
                "hotspot_id IS NOT NULL AND from_node_id IS NOT NULL AND to_node_id IS NOT NULL AND (assumeNotNull(hotspot_id), assumeNotNull(from_node_id), assumeNotNull(to_node_id)) IN ({})",
                list.join(", ")
            )
        };
        format!(
            "multiIf(kind = {click}, hotspot_id, kind = {node_switch} AND ({switch}), hotspot_id, CAST(NULL, 'Nullable(String)'))",
            click = code(EventKind::HotspotClick),
            node_switch = code(EventKind::NodeSwitch),
        )
    }

    /// The period's rows (every column reports read), one per dedup key.
    fn rows(&self) -> String {
        format!(
            "SELECT dedup_key, session_id, kind, node_id, user_id, ts_us, event_index, position, play_time_sum, from_node_id, to_node_id, hotspot_id, {counted} AS counted{value}
    FROM {events}
    WHERE {conditions}{dedup}",
            dedup = self.dedup,
            value = self.value_column(),
            counted = self.counted(),
            events = self.tables.events,
            conditions = self.period_conditions().join(" AND "),
        )
    }

    /// The sessions a session filter keeps, as a condition on `session_id`
    /// (on the session and value in a breakdown; empty when there is no
    /// session filter).
    fn kept_sessions(&self) -> Option<String> {
        let filter = &self.request.sessions;
        let mut conditions = Vec::new();
        if !filter.nodes.is_empty() {
            let nodes = quote_list(filter.nodes.iter().map(String::as_str));
            conditions.push(format!(
                "{key} {in_set} (SELECT session_id{by} FROM ({rows}) WHERE node_id IN ({nodes}) OR to_node_id IN ({nodes}))",
                key = self.session_key(),
                by = self.by(),
                in_set = self.in_set,
                rows = self.rows(),
            ));
        }
        if !filter.hotspots.is_empty() {
            let hotspots = quote_list(filter.hotspots.iter().map(String::as_str));
            conditions.push(format!(
                "{key} {in_set} (SELECT session_id{by} FROM ({rows}) WHERE counted IN ({hotspots}))",
                key = self.session_key(),
                by = self.by(),
                in_set = self.in_set,
                rows = self.rows(),
            ));
        }
        (!conditions.is_empty()).then(|| conditions.join(" AND "))
    }

    /// The period's rows of the sessions the session filter keeps.
    pub fn period(&self) -> String {
        match self.kept_sessions() {
            None => self.rows(),
            Some(kept) => format!("SELECT * FROM ({rows}) WHERE {kept}", rows = self.rows()),
        }
    }

    /// `play_time_sum` × 1000 (`raw_ms`) in whole ms, rounded half away from zero as Rust's
    /// `f64::round` does.
    fn sum_ms() -> &'static str {
        "toInt64(if(raw_ms >= 0, floor(raw_ms) + (raw_ms - floor(raw_ms) >= 0.5), -(floor(-raw_ms) + (-raw_ms - floor(-raw_ms) >= 0.5))))"
    }

    /// The period's views that carry `play_time_sum`, each with the playback
    /// it contributes (`view_ms`): per player session (session, player
    /// session, entry; a missing one is its own value), the increase since
    /// the previous view by event index over the whole stored history, its
    /// own value for the first view or after a reset, capped. In a
    /// breakdown the chains are per player session and value.
    fn contributed(&self) -> String {
        let cap = (MAX_VIEW_CONTRIBUTION_SECS * 1000.0) as i64;
        let history = self.history_conditions();
        let kept = self
            .kept_sessions()
            .map(|k| format!(" AND {k}"))
            .unwrap_or_default();
        format!(
            "SELECT session_id{by}, toUInt8({view}) AS kind, v.4 AS node_id, v.5 AS user_id, v.2 AS ts_us, v.1 AS event_index, v.6 AS position, toInt64(increase) AS view_ms
    FROM
    (
        SELECT session_id{by},
               arraySort(groupArray((event_index, ts_us, ms, node_id, user_id, position))) AS views,
               arrayMap(t -> t.3, views) AS sums,
               arrayMap((c, p, i) -> least(if(i > 1 AND c >= p, c - p, c), {cap}), sums, arrayPushFront(arrayPopBack(sums), toInt64(0)), arrayEnumerate(sums)) AS increases
        FROM
        (
            SELECT session_id, player_session, entry_id, event_index, ts_us, node_id, user_id, position, (assumeNotNull(play_time_sum) * 1000) AS raw_ms, {ms} AS ms{value}
            FROM {events}
            WHERE {history}{dedup}
        )
        WHERE 1{kept}
        GROUP BY session_id{by}, isNull(player_session), ifNull(player_session, ''), isNull(entry_id), ifNull(entry_id, '')
        HAVING countIf(ts_us >= {start} AND ts_us < {end}) > 0
    )
    ARRAY JOIN views AS v, increases AS increase
    WHERE v.2 >= {start} AND v.2 < {end}",
            view = code(EventKind::View),
            by = self.by(),
            value = self.value_column(),
            dedup = self.dedup.replace("\n", "\n        "),
            ms = Self::sum_ms(),
            events = self.tables.events,
            history = history.join(" AND "),
            start = self.start_us(),
            end = self.end_us(),
        )
    }

    /// The period's rows that reports add up, each with the playback it
    /// contributes (0 for all but views carrying `play_time_sum`).
    fn figures(&self) -> String {
        format!(
            "SELECT session_id{by}, kind, node_id, user_id, ts_us, event_index, position, toInt64(0) AS view_ms
    FROM ({period})
    WHERE NOT (kind = {view} AND play_time_sum IS NOT NULL)
    UNION ALL
    {contributed}",
            by = self.by(),
            period = self.period(),
            view = code(EventKind::View),
            contributed = self.contributed(),
        )
    }

    /// The sessions that reached an end node in the period (with the value
    /// whose rows did, in a breakdown).
    fn completed(&self) -> String {
        let ends = self.request.graph.end_nodes();
        if ends.is_empty() {
            let value = if self.split.is_some() {
                ", '' AS dimension_value"
            } else {
                ""
            };
            return format!("SELECT '' AS session_id{value} WHERE 0");
        }
        let ends = quote_list(ends.iter().map(String::as_str));
        format!(
            "SELECT session_id{by} FROM ({period}) WHERE (kind = {node_play} AND node_id IN ({ends})) OR (kind = {node_switch} AND to_node_id IN ({ends}))",
            by = self.by(),
            period = self.period(),
            node_play = code(EventKind::NodePlay),
            node_switch = code(EventKind::NodeSwitch),
        )
    }

    /// The bucket of a row (1-based; 0 outside every bucket).
    fn bucket(&self) -> String {
        let buckets = &self.request.parts.buckets;
        let aligned = buckets
            .iter()
            .all(|(s, e)| s % SLOT_US == 0 && e % SLOT_US == 0);
        let slots: i64 = buckets.iter().map(|(s, e)| (e - s) / SLOT_US).sum();
        if aligned && slots <= MAX_MAPPED_SLOTS {
            let mut from = Vec::new();
            let mut to = Vec::new();
            for (index, (start, end)) in buckets.iter().enumerate() {
                for slot in (start / SLOT_US)..(end / SLOT_US) {
                    from.push(slot.to_string());
                    to.push((index + 1).to_string());
                }
            }
            format!(
                "transform(intDiv(ts_us, {SLOT_US}), [{}], [{}], 0)",
                from.join(","),
                to.join(",")
            )
        } else {
            let starts: Vec<String> = buckets.iter().map(|b| b.0.to_string()).collect();
            let ends: Vec<String> = buckets.iter().map(|b| b.1.to_string()).collect();
            format!(
                "if(ts_us >= arrayElement([{starts}], arrayFirstIndex((e, t) -> t < e, [{ends}], replicate(ts_us, [{ends}]))), arrayFirstIndex((e, t) -> t < e, [{ends}], replicate(ts_us, [{ends}])), 0)",
                starts = starts.join(","),
                ends = ends.join(","),
            )
        }
    }

    /// Per bucket: `bucket UInt64, impressions, plays, viewers, sessions
    /// played, sessions completed (UInt64), view ms (Int64)`.
    pub fn totals(&self) -> String {
        format!(
            "SELECT toUInt64(bucket),
       toUInt64(countIf(kind = {impression})),
       toUInt64(countIf(kind = {play})),
       toUInt64(uniqExactIf(isNull(user_id), ifNull(user_id, ''), kind = {play})),
       toUInt64(uniqExactIf(session_id, kind = {play})),
       toUInt64(uniqExactIf(session_id, kind = {play} AND session_id {in_set} ({completed}))),
       toInt64(sum(view_ms))
FROM
(
    SELECT session_id, kind, user_id, view_ms, {bucket} AS bucket
    FROM ({figures})
)
WHERE bucket > 0
GROUP BY bucket
FORMAT RowBinary",
            impression = code(EventKind::Impression),
            play = code(EventKind::Play),
            completed = self.completed(),
            in_set = self.in_set,
            bucket = self.bucket(),
            figures = self.figures(),
        )
    }

    /// A breakdown's totals over the request's first bucket (its whole
    /// period), per value: `value String, impressions, plays, viewers,
    /// sessions played, sessions completed (UInt64), view ms (Int64)`; a
    /// value without rows has no row. Each value's figures are
    /// [`Plan::totals`] of the request with its filter narrowed to the
    /// value: its rows alone, its view chains, kept and completed sessions.
    pub fn breakdown(&self) -> String {
        let (start, end) = self
            .request
            .parts
            .buckets
            .first()
            .copied()
            .unwrap_or((self.start_us(), self.start_us()));
        format!(
            "SELECT dimension_value,
       toUInt64(countIf(kind = {impression})),
       toUInt64(countIf(kind = {play})),
       toUInt64(uniqExactIf(isNull(user_id), ifNull(user_id, ''), kind = {play})),
       toUInt64(uniqExactIf(session_id, kind = {play})),
       toUInt64(uniqExactIf(session_id, kind = {play} AND {key} {in_set} ({completed}))),
       toInt64(sum(view_ms))
FROM ({figures})
WHERE ts_us >= {start} AND ts_us < {end}
GROUP BY dimension_value
FORMAT RowBinary",
            impression = code(EventKind::Impression),
            play = code(EventKind::Play),
            key = self.session_key(),
            completed = self.completed(),
            in_set = self.in_set,
            figures = self.figures(),
        )
    }

    fn only_node(&self, column: &str) -> String {
        match &self.request.parts.only_node {
            Some(node) => format!(" AND {column} = {}", quote(node)),
            None => String::new(),
        }
    }

    /// Per node named by events: `node String, plays, viewers (UInt64),
    /// view ms (Int64)`.
    pub fn nodes(&self) -> String {
        format!(
            "SELECT assumeNotNull(node_id) AS node,
       toUInt64(countIf(kind = {node_play})),
       toUInt64(uniqExact(isNull(user_id), ifNull(user_id, ''))),
       toInt64(sum(view_ms))
FROM ({figures})
WHERE node_id IS NOT NULL{only}
GROUP BY node
FORMAT RowBinary",
            node_play = code(EventKind::NodePlay),
            figures = self.figures(),
            only = self.only_node("node_id"),
        )
    }

    /// The node durations in ms, as an expression of `node`.
    fn duration(&self) -> String {
        let mut ids = Vec::new();
        let mut durations = Vec::new();
        let mut seen = HashSet::new();
        for node in &self.request.graph.nodes {
            if seen.insert(node.id.as_str()) {
                ids.push(quote(&node.id));
                durations.push(format!("toUInt64({})", node.duration_ms));
            }
        }
        if ids.is_empty() {
            return "toUInt64(0)".into();
        }
        format!(
            "transform(node, [{}], [{}], toUInt64(0))",
            ids.join(", "),
            durations.join(", ")
        )
    }

    /// One half of a view's watched mask: bits `base..base+49` of the 1 %
    /// buckets `first..=last`, shifted down by `base`.
    fn half(base: u32) -> String {
        let top = base + 49;
        format!(
            "if(greatest(first, {base}) > least(last, {top}), toUInt64(0), toUInt64(bitShiftLeft(toUInt64(bitShiftLeft(toUInt64(1), toUInt8(least(last, {top}) - greatest(first, {base}) + 1)) - 1), toUInt8(greatest(first, {base}) - {base}))))"
        )
    }

    /// Every node play of the period (`where` narrows the nodes), with the
    /// 1 % buckets its viewer watched: `session_id, node, play, lo, hi`.
    fn node_plays(&self, only: &str) -> String {
        format!(
            "SELECT session_id, node, play, groupBitOr(view_lo) AS lo, groupBitOr(view_hi) AS hi
    FROM
    (
        SELECT session_id, node, play,
               if(watching, {lo}, toUInt64(0)) AS view_lo,
               if(watching, {hi}, toUInt64(0)) AS view_hi
        FROM
        (
            SELECT session_id, node, play, watching,
                   toInt32(least(greatest(floor(start_ms * 100 / duration + 1e-6), 0), 99)) AS first,
                   toInt32(greatest(least(greatest(ceil(end_ms * 100 / duration - 1e-6) - 1, 0), 99), first)) AS last
            FROM
            (
                SELECT session_id, node, play,
                       (e.3 = 1 AND e.4 IS NOT NULL AND e.5 > 0 AND duration_ms > 0) AS watching,
                       (ifNull(e.4, 0) * 1000) AS end_ms,
                       greatest(end_ms - e.5, 0) AS start_ms,
                       greatest(duration_ms, 1) AS duration
                FROM
                (
                    SELECT session_id, node,
                           arraySort(groupArray((ts_us, event_index, toUInt8(kind = {view}), position, view_ms))) AS events,
                           arrayCumSum(arrayMap(t -> toUInt32(1 - t.3), events)) AS plays,
                           {duration} AS duration_ms
                    FROM (SELECT session_id, assumeNotNull(node_id) AS node, kind, ts_us, event_index, position, view_ms FROM ({figures}) WHERE kind IN ({node_play}, {view}) AND node_id IS NOT NULL{only})
                    GROUP BY session_id, node
                )
                ARRAY JOIN events AS e, plays AS play
                WHERE play > 0
            )
        )
    )
    GROUP BY session_id, node, play",
            lo = Self::half(0),
            hi = Self::half(50),
            view = code(EventKind::View),
            node_play = code(EventKind::NodePlay),
            duration = self.duration(),
            figures = self.figures(),
        )
    }

    /// Per node: `node String, watched buckets UInt64` (Σ over its plays).
    pub fn watched(&self) -> String {
        format!(
            "SELECT node, toUInt64(sum(arraySum(arrayMap((b, l, h) -> bitAnd(bitShiftRight(l, b), 1) + bitAnd(bitShiftRight(h, b), 1), range(50), replicate(lo, range(50)), replicate(hi, range(50))))))
FROM ({plays})
GROUP BY node
FORMAT RowBinary",
            plays = self.node_plays(&self.only_node("node_id")),
        )
    }

    /// Per node: `node String, drop-offs UInt64`: sessions whose last node
    /// play (by time, then event index) was on it and that did not complete.
    pub fn dropoffs(&self) -> String {
        let only = match &self.request.parts.only_node {
            Some(node) => format!(" AND last = {}", quote(node)),
            None => String::new(),
        };
        format!(
            "SELECT last, toUInt64(count())
FROM
(
    SELECT session_id, argMax(assumeNotNull(node_id), (ts_us, event_index)) AS last
    FROM ({period})
    WHERE kind = {node_play} AND node_id IS NOT NULL
    GROUP BY session_id
)
WHERE NOT (session_id {in_set} ({completed})){only}
GROUP BY last
FORMAT RowBinary",
            period = self.period(),
            node_play = code(EventKind::NodePlay),
            completed = self.completed(),
            in_set = self.in_set,
        )
    }

    /// The curve of `node`: one row of `plays UInt64` and `Array(UInt64)`
    /// of 100 counts.
    pub fn curve(&self, node: &str) -> String {
        format!(
            "SELECT toUInt64(count()), sumForEach(arrayMap((b, l, h) -> if(b < 50, toUInt64(bitAnd(bitShiftRight(l, b), 1)), toUInt64(bitAnd(bitShiftRight(h, toUInt8(b - 50)), 1))), range(100), replicate(lo, range(100)), replicate(hi, range(100))))
FROM ({plays})
FORMAT RowBinary",
            plays = self.node_plays(&format!(" AND node_id = {}", quote(node))),
        )
    }

    /// Per counted hotspot: `hotspot String, clicks UInt64`.
    pub fn clicks(&self) -> String {
        format!(
            "SELECT assumeNotNull(counted) AS hotspot, toUInt64(count())
FROM ({period})
WHERE counted IS NOT NULL
GROUP BY hotspot
FORMAT RowBinary",
            period = self.period(),
        )
    }

    /// Per move: `from String, to String, has hotspot UInt8, hotspot
    /// String, moves UInt64`.
    pub fn transitions(&self) -> String {
        format!(
            "SELECT assumeNotNull(from_node_id) AS from_node, assumeNotNull(to_node_id) AS to_node, toUInt8(isNotNull(counted)) AS has_hotspot, ifNull(counted, '') AS hotspot, toUInt64(count())
FROM ({period})
WHERE kind = {node_switch} AND from_node_id IS NOT NULL AND to_node_id IS NOT NULL
GROUP BY from_node, to_node, has_hotspot, hotspot
FORMAT RowBinary",
            period = self.period(),
            node_switch = code(EventKind::NodeSwitch),
        )
    }

    /// Per viewer: `known UInt8, user String, impressions, plays (UInt64),
    /// view ms (Int64)`; anonymous viewers together as `known` 0.
    pub fn viewers(&self) -> String {
        format!(
            "SELECT toUInt8(isNotNull(user_id)) AS known, ifNull(user_id, '') AS user,
       toUInt64(countIf(kind = {impression})),
       toUInt64(countIf(kind = {play})),
       toInt64(sum(view_ms))
FROM ({figures})
WHERE kind IN ({impression}, {play}) OR view_ms != 0
GROUP BY known, user
FORMAT RowBinary",
            impression = code(EventKind::Impression),
            play = code(EventKind::Play),
            figures = self.figures(),
        )
    }

    /// The heat map of a hotspot with time window `[start_ms, end_ms]`:
    /// per 1 % of the window, `bucket UInt8, clicks UInt64`.
    pub fn heatmap(&self, hotspot: &str, start_ms: u64, end_ms: u64) -> String {
        let window = end_ms.saturating_sub(start_ms);
        let bucket = if window > 0 {
            format!(
                "toUInt8(least(greatest(floor((ifNull(position, 0) * 1000 - {start_ms}) * 100 / {window} + 1e-6), 0), 99))"
            )
        } else {
            "toUInt8(0)".into()
        };
        format!(
            "SELECT {bucket} AS bucket, toUInt64(count())
FROM ({period})
WHERE counted = {hotspot}
GROUP BY bucket
FORMAT RowBinary",
            period = self.period(),
            hotspot = quote(hotspot),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use pathlens_store::{Cancel, ContextFilter, Parts, SessionFilter};

    fn request<'g>(
        graph: &'g pathlens_model::Graph,
        sessions: SessionFilter,
    ) -> AggregateRequest<'g> {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2026, 1, 3, 0, 0, 0).unwrap();
        let day = 86_400_000_000;
        let first = start.timestamp_micros();
        AggregateRequest {
            partner_id: 1,
            graph,
            start,
            end,
            filter: ContextFilter {
                countries: vec!["FR".into()],
                ..ContextFilter::default()
            },
            sessions,
            parts: Parts {
                buckets: vec![(first, first + day), (first + day, first + 2 * day)],
                ..Parts::default()
            },
            cancel: Cancel::default(),
        }
    }

    #[test]
    fn every_query_of_a_dashboard() {
        let graph = &pathlens_sim::sample_graphs()[0];
        let node = graph.nodes[0].id.clone();
        let hotspot = graph.nodes[0].hotspots[0].id.clone();
        let request = request(graph, SessionFilter::default());
        let tables = Tables::local("pathlens");
        let plan = Plan::new(&tables, &request, false, true);
        let queries = [
            plan.totals(),
            plan.nodes(),
            plan.watched(),
            plan.dropoffs(),
            plan.curve(&node),
            plan.clicks(),
            plan.transitions(),
            plan.viewers(),
            plan.heatmap(&hotspot, 1_000, 5_000),
            plan.duplicates(),
        ];
        insta::assert_snapshot!(queries.join("\n\n-- next query --\n\n"));
    }

    #[test]
    fn a_session_filter_on_a_cluster_sends_its_sets_to_the_shards() {
        let graph = &pathlens_sim::sample_graphs()[0];
        let sessions = SessionFilter {
            nodes: vec![graph.nodes[1].id.clone()],
            hotspots: vec![graph.nodes[0].hotspots[0].id.clone()],
        };
        let request = request(graph, sessions);
        let tables = Tables::distributed("pathlens");
        let plan = Plan::new(&tables, &request, true, true);
        insta::assert_snapshot!(plan.totals());
    }

    #[test]
    fn a_breakdown_splits_sessions_and_view_chains_by_value() {
        let graph = &pathlens_sim::sample_graphs()[0];
        let sessions = SessionFilter {
            nodes: vec![graph.nodes[1].id.clone()],
            hotspots: Vec::new(),
        };
        let request = request(graph, sessions);
        let tables = Tables::distributed("pathlens");
        let plan = Plan::split(
            &tables,
            &request,
            true,
            true,
            Dimension::Device,
            &["Desktop", "unknown", "o'clock"],
        );
        let queries = [plan.breakdown(), plan.duplicates()];
        insta::assert_snapshot!(queries.join("\n\n-- next query --\n\n"));
    }

    #[test]
    fn buckets_off_the_slot_grid_are_found_by_search() {
        let graph = &pathlens_sim::sample_graphs()[0];
        let mut request = request(graph, SessionFilter::default());
        request.parts.buckets = vec![(1, 1_000_000), (1_000_000, 2_000_000)];
        let tables = Tables::local("pathlens");
        let plan = Plan::new(&tables, &request, false, true);
        assert!(
            plan.bucket()
                .starts_with("if(ts_us >= arrayElement([1,1000000]")
        );
        request.parts.buckets = vec![(0, 2 * SLOT_US)];
        let plan = Plan::new(&tables, &request, false, true);
        assert_eq!(
            plan.bucket(),
            format!("transform(intDiv(ts_us, {SLOT_US}), [0,1], [1,1], 0)")
        );
    }
}
