//! Reading the rollup ClickHouse maintains itself: `node_slots`, an
//! `AggregatingMergeTree` filled by a materialized view on every insert into
//! `events`, per (partner, video, 15-minute UTC slot, node, event kind),
//! with `countState()` of the events and `uniqExactState` of their user ids
//! (anonymous viewers as the one value `''`).
//!
//! Every IANA offset is a multiple of 15 minutes, so a local day, week or
//! month in any time zone is a whole number of slots, and the merged states
//! answer plays, node plays, views and unique viewers of any local period
//! exactly. The report engine does not read this table yet (it computes
//! every report from scanned rows); these queries are what a rollup-backed
//! report would send, and the integration tests check them against the
//! engine's answers on the same events.

use chrono::{DateTime, Utc};

use super::{Tables, quote};

fn slots(partner: u32, video: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    format!(
        "partner_id = {partner} AND video_id = {}\n  AND slot >= toDateTime({}) AND slot < toDateTime({})",
        quote(video),
        start.timestamp(),
        end.timestamp()
    )
}

/// Events and unique viewers per event kind of one video in `[start, end)`
/// (instants on 15-minute boundaries); `TabSeparated` rows of
/// `kind, events, viewers`.
pub fn by_kind(
    tables: &Tables,
    partner: u32,
    video: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> String {
    format!(
        "SELECT kind, countMerge(events) AS kind_events, uniqExactMerge(viewers) AS kind_viewers\nFROM {rollup}\nWHERE {slots}\nGROUP BY kind\nORDER BY kind\nFORMAT TabSeparated",
        rollup = tables.node_slots,
        slots = slots(partner, video, start, end)
    )
}

/// Per node (`''` for whole-video events): events of `kind` and unique
/// viewers among all the node's events; `TabSeparated` rows of
/// `node, events, viewers`.
pub fn by_node(
    tables: &Tables,
    partner: u32,
    video: &str,
    kind: u8,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> String {
    format!(
        "SELECT node,\n       sum(kind_events * (kind = {kind})) AS node_events,\n       uniqExactMerge(kind_viewers) AS node_viewers\nFROM\n(\n    SELECT node, kind, countMerge(events) AS kind_events, uniqExactMergeState(viewers) AS kind_viewers\n    FROM {rollup}\n    WHERE {slots}\n    GROUP BY node, kind\n)\nGROUP BY node\nORDER BY node\nFORMAT TabSeparated",
        rollup = tables.node_slots,
        slots = slots(partner, video, start, end).replace('\n', "\n    ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn rollup_queries() {
        let tables = Tables::local("pathlens");
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2026, 1, 31, 0, 0, 0).unwrap();
        insta::assert_snapshot!(format!(
            "{}\n\n{}",
            by_kind(&tables, 1, "onboarding", start, end),
            by_node(&tables, 1, "onboarding", 5, start, end)
        ));
    }
}
