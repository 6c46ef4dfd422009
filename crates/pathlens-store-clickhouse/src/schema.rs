//! Versioned schema migrations, applied when the store opens.
//!
//! ClickHouse has no transactions, so each migration is a list of
//! statements that are safe to run again (`IF NOT EXISTS`), applied in
//! order and then recorded in `schema_migrations`; a migration interrupted
//! half way is simply applied again at the next start. ClickHouse 18.16 has
//! no `ADD COLUMN IF NOT EXISTS`: a later migration that adds a column must
//! check `system.columns` first (see [`Step::AddColumn`]). A database whose
//! version is newer than this binary knows is refused rather than misread.
//!
//! On a cluster each server keeps its own local tables and migrations (there
//! is no ZooKeeper for `ON CLUSTER`): every pathlens node migrates the server
//! it talks to, then creates the `Distributed` tables (`…_all`) over the
//! cluster's local tables ([`cluster_tables`]).

use pathlens_store::{Result, StoreError, StoreErrorKind};

use crate::http::Client;
use crate::sql::quote;

/// One step of a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A statement that may run twice (`CREATE … IF NOT EXISTS`);
    /// `{db}` stands for the database.
    Sql(&'static str),
    /// `ALTER TABLE {db}.table ADD COLUMN column definition`, skipped when
    /// the column exists.
    AddColumn {
        table: &'static str,
        column: &'static str,
        definition: &'static str,
    },
}

/// A migration: its version, what it does, and its steps.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    pub description: &'static str,
    pub steps: &'static [Step],
}

/// The table of applied migrations, created before anything else.
const SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS {db}.schema_migrations
(
    version UInt32,
    description String,
    applied_at DateTime
)
ENGINE = MergeTree()
ORDER BY version";

/// The migrations, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "videos, API keys, raw events and the dedup keys",
        steps: &[
            Step::Sql(
                "CREATE TABLE IF NOT EXISTS {db}.videos
(
    partner_id UInt32,
    video_id String,
    graph String,
    created_us Int64,
    updated_us Int64,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (partner_id, video_id)",
            ),
            Step::Sql(
                "CREATE TABLE IF NOT EXISTS {db}.api_keys
(
    id String,
    partner_id UInt32,
    kind String,
    name String,
    token_hash String,
    created_us Int64,
    revoked_us Nullable(Int64),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id",
            ),
            Step::Sql(
                "CREATE TABLE IF NOT EXISTS {db}.events
(
    partner_id UInt32,
    video_id String,
    ts_us Int64,
    event_date Date DEFAULT toDate(toDateTime(intDiv(ts_us, 1000000), 'UTC')),
    kind UInt8,
    session_id String,
    event_index UInt32,
    node_id Nullable(String),
    entry_id Nullable(String),
    user_id Nullable(String),
    position Nullable(Float64),
    play_time_sum Nullable(Float64),
    from_node_id Nullable(String),
    to_node_id Nullable(String),
    hotspot_id Nullable(String),
    target_url Nullable(String),
    quartile Nullable(UInt8),
    country Nullable(String),
    device Nullable(String),
    os Nullable(String),
    browser Nullable(String),
    referrer_domain Nullable(String),
    application Nullable(String),
    playback_type Nullable(String),
    player_session Nullable(String),
    dedup_key UInt64,
    ingest_us Int64,
    ingest_pos UInt32
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(event_date)
ORDER BY (partner_id, video_id, ts_us)",
            ),
            Step::Sql(
                "CREATE TABLE IF NOT EXISTS {db}.event_keys
(
    partner_id UInt32,
    dedup_key UInt64
)
ENGINE = ReplacingMergeTree()
ORDER BY (partner_id, dedup_key)
SETTINGS index_granularity = 1024",
            ),
            Step::Sql(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.event_keys_mv TO {db}.event_keys AS
SELECT partner_id, dedup_key
FROM {db}.events",
            ),
        ],
    },
    Migration {
        version: 2,
        description: "rollup per 15-minute slot, node and kind: counts and exact unique viewers",
        steps: &[
            Step::Sql(
                "CREATE TABLE IF NOT EXISTS {db}.node_slots
(
    partner_id UInt32,
    video_id String,
    slot DateTime,
    node String,
    kind UInt8,
    events AggregateFunction(count),
    viewers AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(slot)
ORDER BY (partner_id, video_id, slot, node, kind)",
            ),
            Step::Sql(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.node_slots_mv TO {db}.node_slots AS
SELECT
    partner_id,
    video_id,
    toStartOfFifteenMinutes(toDateTime(intDiv(ts_us, 1000000), 'UTC')) AS slot,
    ifNull(node_id, '') AS node,
    kind,
    countState() AS events,
    uniqExactState(ifNull(user_id, '')) AS viewers
FROM {db}.events
GROUP BY partner_id, video_id, slot, node, kind",
            ),
        ],
    },
];

/// The `Distributed` tables over a cluster's local tables, with the sharding
/// key of each: events and their keys by dedup key (a retried event lands on
/// the shard that has it), videos and API keys by their id (every version
/// of one on the same shard).
const CLUSTER_TABLES: &[(&str, &str)] = &[
    ("events", "dedup_key"),
    ("event_keys", "dedup_key"),
    ("videos", "cityHash64(partner_id, video_id)"),
    ("api_keys", "cityHash64(id)"),
    ("node_slots", "cityHash64(partner_id, video_id)"),
];

/// The schema version this binary writes.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The statements of a step, for the database `database` (the snapshot
/// test shows them all).
pub fn statement(step: &Step, database: &str) -> String {
    match step {
        Step::Sql(sql) => sql.replace("{db}", database),
        Step::AddColumn {
            table,
            column,
            definition,
        } => format!("ALTER TABLE {database}.{table} ADD COLUMN {column} {definition}"),
    }
}

/// The statements that create the `Distributed` tables of `cluster`.
pub fn cluster_tables(database: &str, cluster: &str) -> Vec<String> {
    CLUSTER_TABLES
        .iter()
        .map(|(table, sharding)| {
            format!(
                "CREATE TABLE IF NOT EXISTS {database}.{table}_all AS {database}.{table}\nENGINE = Distributed({cluster}, {database}, {table}, {sharding})",
                cluster = quote(cluster),
                database = database,
            )
        })
        .collect()
}

fn number(text: &str, what: &str) -> Result<u32> {
    text.trim()
        .parse()
        .map_err(|_| StoreError::internal(format!("{what}: unexpected answer {text:?}")))
}

/// The version recorded in `database` (0 for a new one); creates the
/// database and `schema_migrations` when missing.
///
/// # Errors
/// When ClickHouse fails.
pub fn current_version(client: &Client, database: &str) -> Result<u32> {
    client.execute(&format!("CREATE DATABASE IF NOT EXISTS {database}"))?;
    client.execute(&SCHEMA_MIGRATIONS.replace("{db}", database))?;
    let text = client.query_text(&format!(
        "SELECT max(version) FROM {database}.schema_migrations FORMAT TabSeparated"
    ))?;
    number(&text, "reading the schema version")
}

fn apply_step(client: &Client, database: &str, step: &Step) -> Result<()> {
    if let Step::AddColumn { table, column, .. } = step {
        let present = client.query_text(&format!(
            "SELECT count() FROM system.columns WHERE database = {} AND table = {} AND name = {} FORMAT TabSeparated",
            quote(database),
            quote(table),
            quote(column)
        ))?;
        if number(&present, "checking a column")? > 0 {
            return Ok(());
        }
    }
    client.execute(&statement(step, database))
}

/// Applies every migration newer than the database's version, up to
/// `target` (all of them when `None`).
///
/// # Errors
/// [`StoreErrorKind::Incompatible`] for a database newer than this binary;
/// the failing statement's error otherwise.
pub fn migrate_to(client: &Client, database: &str, target: Option<u32>) -> Result<u32> {
    let current = current_version(client, database)?;
    if current > latest_version() {
        return Err(StoreError::new(
            StoreErrorKind::Incompatible,
            format!(
                "the ClickHouse database {database} has schema version {current}, newer than this pathlens knows ({}); upgrade pathlens",
                latest_version()
            ),
        ));
    }
    let target = target.unwrap_or_else(latest_version);
    let mut version = current;
    for migration in MIGRATIONS
        .iter()
        .filter(|m| m.version > current && m.version <= target)
    {
        for step in migration.steps {
            apply_step(client, database, step).map_err(|error| {
                StoreError::new(
                    error.kind(),
                    format!("applying migration {}: {error}", migration.version),
                )
            })?;
        }
        client.execute(&format!(
            "INSERT INTO {database}.schema_migrations (version, description, applied_at) VALUES ({}, {}, now())",
            migration.version,
            quote(migration.description)
        ))?;
        tracing::info!(
            version = migration.version,
            database,
            "applied ClickHouse schema migration"
        );
        version = migration.version;
    }
    Ok(version)
}

/// Applies every pending migration, then, on a cluster, creates the
/// `Distributed` tables.
///
/// # Errors
/// As [`migrate_to`].
pub fn migrate(client: &Client, database: &str, cluster: Option<&str>) -> Result<()> {
    migrate_to(client, database, None)?;
    if let Some(cluster) = cluster {
        for sql in cluster_tables(database, cluster) {
            client.execute(&sql)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, index + 1);
        }
    }

    #[test]
    fn migration_statements() {
        let mut text = String::new();
        text.push_str(&SCHEMA_MIGRATIONS.replace("{db}", "pathlens"));
        for migration in MIGRATIONS {
            text.push_str(&format!(
                "\n\n-- {}: {}",
                migration.version, migration.description
            ));
            for step in migration.steps {
                text.push_str("\n\n");
                text.push_str(&statement(step, "pathlens"));
            }
        }
        text.push_str("\n\n-- on a cluster");
        for sql in cluster_tables("pathlens", "analytics") {
            text.push_str("\n\n");
            text.push_str(&sql);
        }
        insta::assert_snapshot!(text);
    }

    #[test]
    fn add_column_steps_name_the_table() {
        let step = Step::AddColumn {
            table: "events",
            column: "region",
            definition: "Nullable(String)",
        };
        assert_eq!(
            statement(&step, "db"),
            "ALTER TABLE db.events ADD COLUMN region Nullable(String)"
        );
    }
}
