//! Rewriting the database file with every table packed and the derived
//! tables sorted for the reads that use them.
//!
//! Rows reach the tables in arrival order. A bulk import interleaves every
//! video's sessions, and the facts' derivation deletes and re-inserts the
//! facts of sessions that get more events, so after a large import:
//! - the blocks that checkpoints freed stay in the file (DuckDB reuses
//!   them, but never gives them back to the file system);
//! - one video's facts are spread over every row group of the period, so a
//!   report of one video reads all videos' row groups.
//!
//! Compaction copies each table into a new file: the facts in (partner,
//! video, slot) order, so a report reads only its video's row groups and
//! each column's runs compress; `session_days` in (partner, video, session)
//! order, so a session's lookup skips the row groups whose session ids do not
//! bracket it; the events in storage (`seq`) order, which the facts'
//! derivation and exports rely on. Rows and schema are copied unchanged, so
//! every report answers the same. The new file replaces the old one by a
//! rename, after both are closed: a crash at any point leaves one complete
//! database, and a stale copy is removed by the next compaction.
//!
//! It needs the data directory to itself: DuckDB's lock on the file refuses
//! it while another process (a running server) has the database open, and
//! within one process the caller must have closed its store first, as
//! `pathlens compact` and `pathlens import` do.

use std::path::Path;
use std::time::Instant;

use duckdb::Connection;
use pathlens_store::{Result, StoreError, StoreErrorKind};

use crate::aggregate::quote;
use crate::{DATABASE_FILE, DuckDbConfig, DuckDbStore, internal};

/// The copy being written, beside the database.
const COPY_FILE: &str = "pathlens.duckdb.compact";

/// The order each table is copied in (`None`: as stored).
fn order_of(table: &str) -> Option<&'static str> {
    match table {
        "fact_slots" | "fact_moves" | "fact_last" => Some("partner_id, video_id, slot"),
        "fact_watch" => Some("partner_id, video_id, view_slot, play_slot"),
        "fact_sessions" => Some("partner_id, video_id, first_slot"),
        "session_days" => Some("partner_id, video_id, session_id, day"),
        _ => None,
    }
}

/// What a compaction did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Compaction {
    /// The database file's size before, in bytes.
    pub before_bytes: u64,
    /// Its size after.
    pub after_bytes: u64,
    /// Events in it.
    pub events: u64,
    /// How long the copy took, in seconds.
    pub seconds: f64,
}

fn size_of(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Whether a bulk load of `added` events into a store now holding `stored`
/// is worth a compaction: when it brought at least a tenth of what is
/// stored, the interleaving it left is a large part of the file.
pub fn worth_compacting(added: u64, stored: u64) -> bool {
    added > 0 && added.saturating_mul(10) >= stored
}

/// Compacts the database in `data_dir` (see the module's documentation).
/// It first opens the store as a server would, which stores what the
/// intake log holds and derives every pending fact, and closes it.
///
/// # Errors
/// [`StoreErrorKind::Locked`] when another process has the database open;
/// internal errors on I/O or database faults (the database is then left
/// as it was).
pub fn compact(data_dir: &Path, config: &DuckDbConfig) -> Result<Compaction> {
    let started = Instant::now();
    let database = data_dir.join(DATABASE_FILE);
    if !database.exists() {
        return Err(StoreError::new(
            StoreErrorKind::Internal,
            format!("there is no database in {}", data_dir.display()),
        ));
    }
    // Everything acknowledged is applied and derived, and DuckDB's
    // write-ahead log is checkpointed, when the store closes.
    drop(DuckDbStore::open(data_dir, config)?);
    let wal = data_dir.join(format!("{DATABASE_FILE}.wal"));
    if wal.exists() {
        return Err(StoreError::new(
            StoreErrorKind::Internal,
            format!(
                "compacting: {} remains after closing the database, so its copy could miss what it holds; nothing was changed",
                wal.display()
            ),
        ));
    }
    let copy = data_dir.join(COPY_FILE);
    remove_if_present(&copy)?;
    remove_if_present(&data_dir.join(format!("{COPY_FILE}.wal")))?;
    let before_bytes = size_of(&database);
    let events = match write_copy(&database, &copy, data_dir, config) {
        Ok(events) => events,
        Err(error) => {
            let _ = std::fs::remove_file(&copy);
            return Err(error);
        }
    };
    // The copy is complete and closed: make it durable, then put it in
    // the database's place.
    let sync = |path: &Path| {
        crate::intake::sync_path(path)
            .map_err(|e| internal(&format!("syncing {}", path.display()), e))
    };
    sync(&copy)?;
    std::fs::rename(&copy, &database)
        .map_err(|e| internal(&format!("replacing {}", database.display()), e))?;
    sync(data_dir)?;
    Ok(Compaction {
        before_bytes,
        after_bytes: size_of(&database),
        events,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `path` as a quoted SQL string.
fn quote_path(path: &Path) -> String {
    quote(&path.to_string_lossy())
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(internal(&format!("removing {}", path.display()), e)),
    }
}

/// Copies every table of `database` into the new file `copy`; the events'
/// count.
fn write_copy(database: &Path, copy: &Path, data_dir: &Path, config: &DuckDbConfig) -> Result<u64> {
    let connection =
        Connection::open_in_memory().map_err(|e| internal("opening DuckDB for compaction", e))?;
    let spill = data_dir.join(format!("{DATABASE_FILE}.tmp"));
    connection
        .execute_batch(&format!(
            "SET memory_limit = {};
            SET temp_directory = {};
            ATTACH {} AS source (READ_ONLY);
            ATTACH {} AS target;
            COPY FROM DATABASE source TO target (SCHEMA);",
            quote(config.memory_limit()),
            quote_path(&spill),
            quote_path(database),
            quote_path(copy),
        ))
        .map_err(|e| internal("preparing the compacted copy", e))?;
    let tables: Vec<String> = {
        let mut statement = connection
            .prepare(
                "SELECT table_name FROM duckdb_tables()
                WHERE database_name = 'source' AND schema_name = 'main' ORDER BY table_name",
            )
            .map_err(|e| internal("listing tables", e))?;
        let rows = statement
            .query_map([], |row| row.get(0))
            .map_err(|e| internal("listing tables", e))?;
        rows.collect::<duckdb::Result<_>>()
            .map_err(|e| internal("listing tables", e))?
    };
    for table in &tables {
        let order = order_of(table).map_or(String::new(), |o| format!(" ORDER BY {o}"));
        connection
            .execute_batch(&format!(
                "INSERT INTO target.main.\"{table}\" SELECT * FROM source.main.\"{table}\"{order}"
            ))
            .map_err(|e| internal(&format!("copying {table}"), e))?;
    }
    let events: i64 = connection
        .query_row("SELECT count(*) FROM target.main.events", [], |row| {
            row.get(0)
        })
        .map_err(|e| internal("counting the copied events", e))?;
    connection
        .execute_batch("CHECKPOINT target; DETACH target; DETACH source;")
        .map_err(|e| internal("closing the compacted copy", e))?;
    Ok(u64::try_from(events).unwrap_or(0))
}
