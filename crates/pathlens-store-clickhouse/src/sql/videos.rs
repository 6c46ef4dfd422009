//! Interactive videos (graphs): a `ReplacingMergeTree` with a version
//! column. A change inserts a new version; reads take the newest version of
//! each video with `argMax`, which is exact whether or not ClickHouse has
//! merged the versions yet, and also through a `Distributed` table (where
//! `FINAL` would merge only within each shard).

use super::{Tables, quote};

/// Columns answered: `partner_id UInt32, video_id String, graph String,
/// created_us Int64, updated_us Int64, version UInt64`, in `RowBinary`.
fn select(tables: &Tables, condition: &str) -> String {
    format!(
        "SELECT partner_id, video_id,\n       argMax(graph, version) AS latest_graph,\n       argMax(created_us, version) AS latest_created_us,\n       argMax(updated_us, version) AS latest_updated_us,\n       max(version) AS latest_version\nFROM {videos}\nWHERE {condition}\nGROUP BY partner_id, video_id\nORDER BY video_id\nFORMAT RowBinary",
        videos = tables.videos
    )
}

/// The video `id` of `partner`.
pub fn video(tables: &Tables, partner: u32, id: &str) -> String {
    select(
        tables,
        &format!("partner_id = {partner} AND video_id = {}", quote(id)),
    )
}

/// Every video of `partner`, by id.
pub fn videos(tables: &Tables, partner: u32) -> String {
    select(tables, &format!("partner_id = {partner}"))
}

/// The INSERT of a new version, with one `RowBinary` row of
/// `partner_id, video_id, graph, created_us, updated_us, version`.
pub fn insert(tables: &Tables) -> String {
    format!(
        "INSERT INTO {videos} (partner_id, video_id, graph, created_us, updated_us, version) FORMAT RowBinary",
        videos = tables.videos
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_video_and_the_insert() {
        let tables = Tables::local("pathlens");
        insta::assert_snapshot!(format!(
            "{}\n\n{}",
            video(&tables, 1, "onboarding"),
            insert(&tables)
        ));
    }

    #[test]
    fn every_video_of_a_partner() {
        insta::assert_snapshot!(videos(&Tables::distributed("pathlens"), 7));
    }
}
