//! API keys: a `ReplacingMergeTree` with a version column, like videos.
//! A revocation inserts a new version with `revoked_us` set; reads take the
//! newest version of each key, and `min(revoked_us)` (NULLs skipped) keeps
//! the first revocation time, so revoking twice changes nothing.

use super::{Tables, quote};

/// Columns answered: `id String, partner_id UInt32, kind String, name
/// String, token_hash String, created_us Int64, revoked_us
/// Nullable(Int64), version UInt64`, in `RowBinary`.
fn select(tables: &Tables, condition: Option<&str>) -> String {
    let filter = condition
        .map(|c| format!("WHERE {c}\n"))
        .unwrap_or_default();
    format!(
        "SELECT id,\n       argMax(partner_id, version) AS latest_partner_id,\n       argMax(kind, version) AS latest_kind,\n       argMax(name, version) AS latest_name,\n       argMax(token_hash, version) AS latest_token_hash,\n       argMax(created_us, version) AS latest_created_us,\n       min(revoked_us) AS first_revoked_us,\n       max(version) AS latest_version\nFROM {keys}\n{filter}GROUP BY id\nORDER BY latest_created_us, id\nFORMAT RowBinary",
        keys = tables.api_keys
    )
}

/// Every key, revoked ones included, oldest first.
pub fn keys(tables: &Tables) -> String {
    select(tables, None)
}

/// The key `id`.
pub fn key(tables: &Tables, id: &str) -> String {
    select(tables, Some(&format!("id = {}", quote(id))))
}

/// The INSERT of a new version, with one `RowBinary` row of the columns
/// named in it.
pub fn insert(tables: &Tables) -> String {
    format!(
        "INSERT INTO {keys} (id, partner_id, kind, name, token_hash, created_us, revoked_us, version) FORMAT RowBinary",
        keys = tables.api_keys
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_one_key_and_the_insert() {
        let tables = Tables::local("pathlens");
        insta::assert_snapshot!(format!(
            "{}\n\n{}\n\n{}",
            keys(&tables),
            key(&tables, "k1"),
            insert(&tables)
        ));
    }
}
