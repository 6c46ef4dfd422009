//! Reads, each on its own connection.

use chrono::DateTime;
use duckdb::types::ToSql;
use duckdb::{Connection, params, params_from_iter};
use pathlens_model::{Event, Graph};
use pathlens_store::{
    ApiKey, ContextFilter, Dimension, DimensionValue, EventRow, KeyKind, PartnerId, Result,
    ScanRequest, StoreError, StoreErrorKind, StoredVideo, ValuesRequest, ViewerKind,
};

use crate::codec;
use crate::internal;

fn stored_video(
    partner_id: PartnerId,
    json: &str,
    created_us: i64,
    updated_us: i64,
) -> Result<StoredVideo> {
    let graph: Graph = serde_json::from_str(json).map_err(|e| {
        StoreError::new(
            StoreErrorKind::Incompatible,
            format!("stored graph cannot be read: {e}"),
        )
    })?;
    Ok(StoredVideo {
        partner_id,
        graph,
        created_at: DateTime::from_timestamp_micros(created_us).unwrap_or_default(),
        updated_at: DateTime::from_timestamp_micros(updated_us).unwrap_or_default(),
    })
}

type VideoRow = (PartnerId, String, i64, i64);

fn video_rows(
    connection: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
) -> Result<Vec<StoredVideo>> {
    let mut statement = connection
        .prepare(sql)
        .map_err(|e| internal("reading videos", e))?;
    let rows: Vec<VideoRow> = statement
        .query_map(params, |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .map_err(|e| internal("reading videos", e))?
        .collect::<duckdb::Result<_>>()
        .map_err(|e| internal("reading videos", e))?;
    rows.into_iter()
        .map(|(partner, json, created, updated)| stored_video(partner, &json, created, updated))
        .collect()
}

pub fn video(connection: &Connection, partner: PartnerId, id: &str) -> Result<Option<StoredVideo>> {
    let sql = "SELECT partner_id, graph, created_us, updated_us FROM videos WHERE partner_id = ? AND video_id = ?";
    Ok(video_rows(connection, sql, &[&partner, &id])?
        .into_iter()
        .next())
}

pub fn videos(connection: &Connection, partner: PartnerId) -> Result<Vec<StoredVideo>> {
    let sql = "SELECT partner_id, graph, created_us, updated_us FROM videos WHERE partner_id = ? ORDER BY video_id";
    video_rows(connection, sql, &[&partner])
}

pub fn keys(connection: &Connection) -> Result<Vec<ApiKey>> {
    let mut statement = connection
        .prepare("SELECT id, partner_id, kind, name, token_hash, created_us, revoked_us FROM api_keys ORDER BY created_us, id")
        .map_err(|e| internal("reading keys", e))?;
    let rows = statement
        .query_map([], |row| {
            let kind: String = row.get(2)?;
            let created: i64 = row.get(5)?;
            let revoked: Option<i64> = row.get(6)?;
            Ok(ApiKey {
                id: row.get(0)?,
                partner_id: row.get(1)?,
                kind: KeyKind::from_name(&kind).unwrap_or(KeyKind::Write),
                name: row.get(3)?,
                token_hash: row.get(4)?,
                created_at: DateTime::from_timestamp_micros(created).unwrap_or_default(),
                revoked_at: revoked.and_then(DateTime::from_timestamp_micros),
            })
        })
        .map_err(|e| internal("reading keys", e))?;
    rows.collect::<duckdb::Result<_>>()
        .map_err(|e| internal("reading keys", e))
}

/// A WHERE clause under construction, with its parameters.
#[derive(Default)]
pub(crate) struct Conditions {
    pub(crate) sql: Vec<String>,
    pub(crate) params: Vec<Box<dyn ToSql>>,
}

impl Conditions {
    pub(crate) fn push(&mut self, sql: &str, params: Vec<Box<dyn ToSql>>) {
        self.sql.push(sql.to_string());
        self.params.extend(params);
    }

    /// `column IN (…)`, where the value `unknown` also matches NULL.
    fn any_of(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let placeholders = vec!["?"; values.len()].join(", ");
        let unknown = if values.iter().any(|v| v == pathlens_store::query::UNKNOWN) {
            format!(" OR {column} IS NULL")
        } else {
            String::new()
        };
        self.push(
            &format!("({column} IN ({placeholders}){unknown})"),
            values
                .iter()
                .map(|v| Box::new(v.clone()) as Box<dyn ToSql>)
                .collect(),
        );
    }

    pub(crate) fn context(&mut self, filter: &ContextFilter) {
        // Each dimension's name is its column.
        for dimension in Dimension::ALL {
            self.any_of(dimension.name(), filter.values_of(dimension));
        }
        if !filter.user_ids.is_empty() {
            let placeholders = vec!["?"; filter.user_ids.len()].join(", ");
            self.push(
                &format!("user_id IN ({placeholders})"),
                filter
                    .user_ids
                    .iter()
                    .map(|v| Box::new(v.clone()) as Box<dyn ToSql>)
                    .collect(),
            );
        }
        match filter.viewer {
            Some(ViewerKind::Known) => self.push("user_id IS NOT NULL", Vec::new()),
            Some(ViewerKind::Anonymous) => self.push("user_id IS NULL", Vec::new()),
            None => {}
        }
    }
}

/// The events of one video of `partner` in `[start, end)`.
fn video_period(
    partner: PartnerId,
    video: &str,
    start: DateTime<chrono::Utc>,
    end: DateTime<chrono::Utc>,
) -> Conditions {
    let mut conditions = Conditions::default();
    conditions.push(
        "partner_id = ? AND video_id = ? AND ts_us >= ? AND ts_us < ?",
        vec![
            Box::new(partner),
            Box::new(video.to_string()),
            Box::new(start.timestamp_micros()),
            Box::new(end.timestamp_micros()),
        ],
    );
    conditions
}

pub fn scan(connection: &Connection, request: &ScanRequest) -> Result<Vec<EventRow>> {
    let mut conditions = video_period(
        request.partner_id,
        &request.video_id,
        request.start,
        request.end,
    );
    if !request.kinds.is_empty() {
        let codes: Vec<String> = request.kinds.iter().map(|k| k.code().to_string()).collect();
        conditions.push(&format!("kind IN ({})", codes.join(", ")), Vec::new());
    }
    conditions.context(&request.filter);
    let sql = format!(
        "SELECT {} FROM events WHERE {}",
        codec::ROW_COLUMNS,
        conditions.sql.join(" AND ")
    );
    let mut statement = connection
        .prepare(&sql)
        .map_err(|e| internal("preparing a scan", e))?;
    let rows = statement
        .query_map(params_from_iter(conditions.params.iter()), codec::event_row)
        .map_err(|e| internal("scanning events", e))?;
    rows.collect::<duckdb::Result<_>>()
        .map_err(|e| internal("scanning events", e))
}

/// The values of a dimension with their play and event counts.
pub fn values(connection: &Connection, request: &ValuesRequest) -> Result<Vec<DimensionValue>> {
    let mut conditions = video_period(
        request.partner_id,
        &request.video_id,
        request.start,
        request.end,
    );
    conditions.context(&request.filter);
    // The column is the dimension's name (a fixed identifier, not input).
    let sql = format!(
        "SELECT coalesce({column}, '{unknown}') AS value,
            count(*) FILTER (WHERE kind = {play}), count(*)
        FROM events WHERE {conditions} GROUP BY ALL",
        column = request.dimension.name(),
        unknown = pathlens_store::query::UNKNOWN,
        play = pathlens_model::EventKind::Play.code(),
        conditions = conditions.sql.join(" AND "),
    );
    let mut statement = connection
        .prepare(&sql)
        .map_err(|e| internal("preparing the values of a dimension", e))?;
    let rows = statement
        .query_map(params_from_iter(conditions.params.iter()), |row| {
            Ok(DimensionValue {
                value: row.get(0)?,
                plays: row.get(1)?,
                events: row.get(2)?,
            })
        })
        .map_err(|e| internal("reading the values of a dimension", e))?;
    rows.collect::<duckdb::Result<_>>()
        .map_err(|e| internal("reading the values of a dimension", e))
}

pub fn export(
    connection: &Connection,
    partner: Option<PartnerId>,
    offset: u64,
    limit: usize,
) -> Result<Vec<Event>> {
    let filter = if partner.is_some() {
        "WHERE partner_id = ?"
    } else {
        "WHERE ? IS NULL"
    };
    let sql = format!(
        "SELECT {} FROM events {filter} ORDER BY seq LIMIT ? OFFSET ?",
        codec::EVENT_COLUMNS
    );
    let mut statement = connection
        .prepare(&sql)
        .map_err(|e| internal("preparing an export", e))?;
    let rows = statement
        .query_map(params![partner, limit as i64, offset as i64], codec::event)
        .map_err(|e| internal("exporting events", e))?;
    rows.collect::<duckdb::Result<_>>()
        .map_err(|e| internal("exporting events", e))
}

pub fn event_count(connection: &Connection) -> Result<u64> {
    connection
        .query_row("SELECT count(*) FROM events", [], |row| {
            row.get::<_, i64>(0)
        })
        .map(|n| n as u64)
        .map_err(|e| internal("counting events", e))
}
