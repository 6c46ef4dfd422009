//! Reading every stored event in storage order (export, moving data), and
//! counting them.
//!
//! Storage order is `(ingest_us, ingest_pos)`: the inserting store's clock
//! (made strictly increasing per store) and the position in the insert; the
//! dedup key breaks ties between two nodes. An event stored twice by two
//! racing nodes is exported once, at its first copy.

use super::Tables;
use crate::codec::EVENT_COLUMNS;

/// Events of `partner` (all partners when `None`) from `offset` on, at most
/// `limit`, in `RowBinary` rows of [`EVENT_COLUMNS`].
pub fn export(tables: &Tables, partner: Option<u32>, offset: u64, limit: usize) -> String {
    let filter = match partner {
        Some(partner) => format!("WHERE partner_id = {partner}\n"),
        None => String::new(),
    };
    format!(
        "SELECT {columns}\nFROM {events}\n{filter}ORDER BY ingest_us, ingest_pos, dedup_key\nLIMIT 1 BY partner_id, dedup_key\nLIMIT {offset}, {limit}\nFORMAT RowBinary",
        columns = EVENT_COLUMNS.join(", "),
        events = tables.events,
    )
}

/// How many distinct events are stored: `event_keys` holds one row per
/// (partner, dedup key) once merged, and `FINAL` merges on read.
pub fn count(tables: &Tables) -> String {
    format!(
        "SELECT count() FROM {keys} FINAL\nFORMAT TabSeparated",
        keys = tables.event_keys
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_of_one_partner() {
        insta::assert_snapshot!(export(&Tables::local("pathlens"), Some(2), 10_000, 5_000));
    }

    #[test]
    fn export_of_everything_and_the_count() {
        let tables = Tables::distributed("pathlens");
        insta::assert_snapshot!(format!(
            "{}\n\n{}",
            export(&tables, None, 0, 100),
            count(&tables)
        ));
    }
}
