//! Versioned schema migrations.
//!
//! Each migration runs once, in order, inside a transaction that also
//! records its version in `schema_migrations`. A database whose version is
//! newer than this binary knows is refused rather than misread.

use duckdb::Connection;
use pathlens_store::{Result, StoreError, StoreErrorKind};

use crate::internal;

/// The migrations, oldest first; the version of migration `i` is `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: videos, API keys and raw events.
    "CREATE TABLE videos (
        partner_id UINTEGER NOT NULL,
        video_id VARCHAR NOT NULL,
        graph VARCHAR NOT NULL,
        created_us BIGINT NOT NULL,
        updated_us BIGINT NOT NULL,
        PRIMARY KEY (partner_id, video_id)
    );
    CREATE TABLE api_keys (
        id VARCHAR PRIMARY KEY,
        partner_id UINTEGER NOT NULL,
        kind VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        token_hash VARCHAR NOT NULL,
        created_us BIGINT NOT NULL,
        revoked_us BIGINT
    );
    CREATE TABLE events (
        seq BIGINT NOT NULL,
        partner_id UINTEGER NOT NULL,
        video_id VARCHAR NOT NULL,
        ts_us BIGINT NOT NULL,
        kind UTINYINT NOT NULL,
        session_id VARCHAR NOT NULL,
        event_index UINTEGER NOT NULL,
        node_id VARCHAR,
        entry_id VARCHAR,
        user_id VARCHAR,
        position DOUBLE,
        play_time_sum DOUBLE,
        from_node_id VARCHAR,
        to_node_id VARCHAR,
        hotspot_id VARCHAR,
        target_url VARCHAR,
        quartile UTINYINT,
        country VARCHAR,
        device VARCHAR,
        os VARCHAR,
        browser VARCHAR,
        referrer_domain VARCHAR,
        application VARCHAR,
        playback_type VARCHAR,
        dedup_key UBIGINT NOT NULL
    );",
    // 2: the player session of sources that play each node in its own player.
    "ALTER TABLE events ADD COLUMN player_session VARCHAR;",
    // 3: each view's playback in ms over its player session's whole history
    // (`chains.rs`), worked out for the events already stored.
    "ALTER TABLE events ADD COLUMN view_ms BIGINT NOT NULL DEFAULT 0;
    UPDATE events SET view_ms = c.view_ms FROM (
        SELECT seq, CASE WHEN previous_ms IS NOT NULL AND sum_ms >= previous_ms
                THEN least(sum_ms - previous_ms, 30000) ELSE least(sum_ms, 30000) END AS view_ms
        FROM (
            SELECT seq, round(play_time_sum * 1000.0)::BIGINT AS sum_ms,
                lag(round(play_time_sum * 1000.0)::BIGINT) OVER (
                    PARTITION BY partner_id, video_id, session_id, player_session, entry_id
                    ORDER BY event_index, ts_us) AS previous_ms
            FROM events WHERE kind = 4 AND play_time_sum IS NOT NULL
        )
    ) c WHERE events.seq = c.seq;",
    // 4: per-session facts that unfiltered reports read (`facts.rs`); a
    // database with events derives them once, when it is opened.
    crate::facts::SCHEMA,
    // 5: how far the session facts are derived: facts cover every event with
    // a smaller `seq` (derived after the events' commit, `deriver.rs`).
    "CREATE TABLE facts_state (through_seq BIGINT NOT NULL);
    INSERT INTO facts_state SELECT coalesce(max(seq) + 1, 0) FROM events;",
    // 6: the days each session has events on, so that the writer reads a
    // batch's sessions from the database instead of holding every stored
    // key in memory (`sessions.rs`).
    crate::sessions::SCHEMA,
    // 7: how many rows each node play has in `fact_watch` (`facts.rs`),
    // counted for the facts already derived.
    "ALTER TABLE fact_watch ADD COLUMN views UINTEGER NOT NULL DEFAULT 1;
    UPDATE fact_watch SET views = c.n FROM (
        SELECT partner_id, video_id, session_id, node_id, play, count(*)::UINTEGER AS n
        FROM fact_watch GROUP BY partner_id, video_id, session_id, node_id, play
    ) c WHERE fact_watch.partner_id = c.partner_id AND fact_watch.video_id = c.video_id
        AND fact_watch.session_id = c.session_id AND fact_watch.node_id = c.node_id
        AND fact_watch.play = c.play AND c.n > 1;",
    // 8: the events of any kind of each `fact_slots` row (`facts.rs`), so
    // that a dimension's values are read from the facts, counted for the
    // facts already derived.
    "ALTER TABLE fact_slots ADD COLUMN events UINTEGER NOT NULL DEFAULT 0;
    UPDATE fact_slots SET events = c.n FROM (
        SELECT partner_id, video_id, session_id, ts_us // 900000000 AS slot, node_id, user_id,
            count(*)::UINTEGER AS n
        FROM events GROUP BY partner_id, video_id, session_id, slot, node_id, user_id
    ) c WHERE fact_slots.partner_id = c.partner_id AND fact_slots.video_id = c.video_id
        AND fact_slots.session_id = c.session_id AND fact_slots.slot = c.slot
        AND fact_slots.node_id IS NOT DISTINCT FROM c.node_id
        AND fact_slots.user_id IS NOT DISTINCT FROM c.user_id;",
    // 9: each session's integer code in every fact table (`facts.rs`), so
    // that reports group and join sessions by an integer; the facts already
    // derived get theirs in the same transaction (`facts::code_stored`).
    "ALTER TABLE fact_sessions ADD COLUMN sid BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE fact_slots ADD COLUMN sid BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE fact_moves ADD COLUMN sid BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE fact_last ADD COLUMN sid BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE fact_watch ADD COLUMN sid BIGINT NOT NULL DEFAULT 0;",
    // 10: each node play's watched buckets as two 64-bit masks (buckets 0
    // to 63, and 64 to 99 from bit 0) instead of one 128-bit integer
    // (`facts.rs`): DuckDB scans, unions, counts and groups 64-bit integers
    // with native instructions.
    "ALTER TABLE fact_watch ADD COLUMN mask_lo UBIGINT NOT NULL DEFAULT 0;
    ALTER TABLE fact_watch ADD COLUMN mask_hi UBIGINT NOT NULL DEFAULT 0;
    UPDATE fact_watch SET mask_lo = (mask & 18446744073709551615::HUGEINT)::UBIGINT,
        mask_hi = (mask >> 64)::UBIGINT;
    ALTER TABLE fact_watch DROP COLUMN mask;",
    // 11: each `fact_last` row's next slot of the same session (`facts.rs`),
    // so that drop-offs take a session's latest row in a period without
    // grouping its rows; worked out for the facts already derived.
    "ALTER TABLE fact_last ADD COLUMN next_slot BIGINT;
    UPDATE fact_last SET next_slot = n.next_slot FROM (
        SELECT sid, slot, lead(slot) OVER (PARTITION BY sid ORDER BY slot) AS next_slot
        FROM fact_last
    ) n WHERE fact_last.sid = n.sid AND fact_last.slot = n.slot AND n.next_slot IS NOT NULL;",
    // 12: on each `fact_slots` row with plays, the slot of the session's
    // previous row with plays (`facts.rs`), so that totals count the
    // sessions of a bucket by their first row in it instead of grouping
    // rows by session; worked out for the facts already derived.
    "ALTER TABLE fact_slots ADD COLUMN prev_play_slot BIGINT;
    UPDATE fact_slots SET prev_play_slot = p.prev_play_slot FROM (
        SELECT sid, slot, node_id, user_id, lag(slot) OVER (
            PARTITION BY sid ORDER BY slot, node_id NULLS FIRST, user_id NULLS FIRST
        ) AS prev_play_slot
        FROM fact_slots WHERE plays > 0
    ) p WHERE fact_slots.sid = p.sid AND fact_slots.slot = p.slot
        AND fact_slots.node_id IS NOT DISTINCT FROM p.node_id
        AND fact_slots.user_id IS NOT DISTINCT FROM p.user_id
        AND fact_slots.plays > 0 AND p.prev_play_slot IS NOT NULL;",
];

/// The migration that adds the session facts.
const FACTS_VERSION: i64 = 4;

/// The migration that adds the sessions' codes to the facts.
const CODES_VERSION: i64 = 9;

/// The schema version this binary writes.
pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// The version recorded in the database (0 for a new one).
///
/// # Errors
/// On database faults.
pub fn current_version(connection: &Connection) -> Result<i64> {
    connection
        .execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMP DEFAULT current_timestamp)")
        .map_err(|e| internal("creating schema_migrations", e))?;
    connection
        .query_row(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            [],
            |row| row.get(0),
        )
        .map_err(|e| internal("reading the schema version", e))
}

/// Applies every migration newer than the database's version.
///
/// # Errors
/// [`StoreErrorKind::Incompatible`] for a database newer than this binary;
/// internal errors when a migration fails (it is rolled back).
pub fn migrate(connection: &Connection) -> Result<()> {
    let current = current_version(connection)?;
    if current > latest_version() {
        return Err(StoreError::new(
            StoreErrorKind::Incompatible,
            format!(
                "the database has schema version {current}, newer than this pathlens knows ({}); upgrade pathlens",
                latest_version()
            ),
        ));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        let sql = sql.trim().trim_end_matches(';');
        crate::in_transaction(connection, &format!("migration {version}"), || {
            connection
                .execute_batch(&format!(
                    "{sql}; INSERT INTO schema_migrations (version) VALUES ({version});"
                ))
                .map_err(|e| internal(&format!("applying migration {version}"), e))?;
            // Facts of the events already stored, in the same transaction.
            if version == FACTS_VERSION && current > 0 {
                tracing::info!("deriving the session facts of the stored events");
                crate::facts::derive_all(connection)?;
            }
            if version == CODES_VERSION && current > 0 {
                crate::facts::code_stored(connection)?;
            }
            Ok(())
        })?;
        tracing::info!(version, "applied schema migration");
    }
    Ok(())
}
