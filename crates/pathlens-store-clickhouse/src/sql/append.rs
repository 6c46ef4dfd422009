//! Storing events, and the check that keeps a retried event from being
//! stored twice.
//!
//! Dedup is insert-side: before an INSERT, the store asks `event_keys` which
//! of the batch's (partner, dedup key) pairs are stored already and leaves
//! those out. The pairs travel as a temporary table beside the query
//! (ClickHouse's external data, in `RowBinary`), so a batch of 100,000 keys
//! costs no query parsing. `event_keys` is a `ReplacingMergeTree` sorted by
//! `(partner_id, dedup_key)` with a small index granularity, filled by a
//! materialized view from every insert into `events`, so the check reads a
//! few small granules per key instead of the events. One store sends its
//! inserts one at a time, so its check is exact; two pathlens nodes that
//! receive the same retried event at the same instant could both store it,
//! and every read keeps one row per dedup key (see [`super::scan`] and
//! [`super::export`]).

use super::Tables;
use crate::codec::{EVENT_COLUMNS, INGEST_COLUMNS};

/// The name of the temporary table of the batch's keys.
pub const KEYS_TABLE: &str = "batch_keys";

/// Its columns, in the order each `RowBinary` row holds them.
pub const KEYS_STRUCTURE: &str = "partner_id UInt32, dedup_key UInt64";

/// Which of the pairs in [`KEYS_TABLE`] are stored; answered in `RowBinary`
/// rows of `(partner_id UInt32, dedup_key UInt64)`.
pub fn stored_keys(tables: &Tables) -> String {
    format!(
        "SELECT DISTINCT partner_id, dedup_key\nFROM {keys}\nWHERE (partner_id, dedup_key) IN {KEYS_TABLE}\nFORMAT RowBinary",
        keys = tables.event_keys
    )
}

/// The INSERT whose `RowBinary` body holds events (see
/// [`crate::codec::write_event`]) each followed by its ingest columns.
pub fn insert_events(tables: &Tables) -> String {
    let columns: Vec<&str> = EVENT_COLUMNS
        .iter()
        .chain(INGEST_COLUMNS)
        .copied()
        .collect();
    format!(
        "INSERT INTO {events} ({columns}) FORMAT RowBinary",
        events = tables.events,
        columns = columns.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_keys_reads_the_batch_table() {
        insta::assert_snapshot!(format!(
            "-- {KEYS_TABLE}: {KEYS_STRUCTURE}\n{}",
            stored_keys(&Tables::local("pathlens"))
        ));
    }

    #[test]
    fn insert_names_every_column() {
        insta::assert_snapshot!(insert_events(&Tables::distributed("pathlens")));
    }
}
