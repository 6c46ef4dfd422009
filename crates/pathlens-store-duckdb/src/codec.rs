//! How events and rows map to the database's columns.

use chrono::DateTime;
use duckdb::{Appender, Row, params};
use pathlens_model::event::Context;
use pathlens_model::{Event, EventKind, PlaybackType};
use pathlens_store::{EventRow, Result};

use crate::internal;

/// The columns [`EventRow`] reads, in order.
pub const ROW_COLUMNS: &str = "ts_us, kind, session_id, entry_id, node_id, event_index, user_id, position, play_time_sum, from_node_id, to_node_id, hotspot_id, quartile, player_session";

/// Every column of an event, in table order after `seq`.
pub const EVENT_COLUMNS: &str = "partner_id, video_id, ts_us, kind, session_id, event_index, node_id, entry_id, user_id, position, play_time_sum, from_node_id, to_node_id, hotspot_id, target_url, quartile, country, device, os, browser, referrer_domain, application, playback_type, dedup_key, player_session";

/// Appends `event` as row `seq`, with the playback it adds (`view_ms`,
/// worked out by `chains.rs`).
pub fn append_event(
    appender: &mut Appender<'_>,
    seq: i64,
    event: &Event,
    view_ms: i64,
) -> Result<()> {
    let context = &event.context;
    appender
        .append_row(params![
            seq,
            event.partner_id,
            event.video_id,
            event.ts.timestamp_micros(),
            event.kind.code(),
            event.session_id,
            event.event_index,
            event.node_id,
            event.entry_id,
            event.user_id,
            event.position,
            event.play_time_sum,
            event.from_node_id,
            event.to_node_id,
            event.hotspot_id,
            event.target_url,
            event.quartile,
            context.country,
            context.device,
            context.os,
            context.browser,
            context.referrer_domain,
            context.application,
            context.playback_type.map(PlaybackType::name),
            event.dedup_key,
            event.player_session,
            view_ms,
        ])
        .map_err(|e| internal("appending an event", e))
}

fn kind(code: u8) -> duckdb::Result<EventKind> {
    EventKind::from_code(code).ok_or_else(|| {
        duckdb::Error::FromSqlConversionFailure(
            1,
            duckdb::types::Type::UTinyInt,
            format!("unknown event kind code {code}").into(),
        )
    })
}

/// Reads a row selected with [`ROW_COLUMNS`].
pub fn event_row(row: &Row<'_>) -> duckdb::Result<EventRow> {
    Ok(EventRow {
        ts_us: row.get(0)?,
        kind: kind(row.get(1)?)?,
        session_id: row.get(2)?,
        entry_id: row.get(3)?,
        node_id: row.get(4)?,
        event_index: row.get(5)?,
        user_id: row.get(6)?,
        position: row.get(7)?,
        play_time_sum: row.get(8)?,
        from_node_id: row.get(9)?,
        to_node_id: row.get(10)?,
        hotspot_id: row.get(11)?,
        quartile: row.get(12)?,
        player_session: row.get(13)?,
    })
}

/// Reads a row selected with [`EVENT_COLUMNS`].
pub fn event(row: &Row<'_>) -> duckdb::Result<Event> {
    let ts_us: i64 = row.get(2)?;
    let playback: Option<String> = row.get(22)?;
    Ok(Event {
        partner_id: row.get(0)?,
        video_id: row.get(1)?,
        ts: DateTime::from_timestamp_micros(ts_us).unwrap_or_default(),
        kind: kind(row.get(3)?)?,
        session_id: row.get(4)?,
        event_index: row.get(5)?,
        node_id: row.get(6)?,
        entry_id: row.get(7)?,
        user_id: row.get(8)?,
        position: row.get(9)?,
        play_time_sum: row.get(10)?,
        from_node_id: row.get(11)?,
        to_node_id: row.get(12)?,
        hotspot_id: row.get(13)?,
        target_url: row.get(14)?,
        quartile: row.get(15)?,
        context: Context {
            country: row.get(16)?,
            device: row.get(17)?,
            os: row.get(18)?,
            browser: row.get(19)?,
            referrer_domain: row.get(20)?,
            application: row.get(21)?,
            playback_type: playback.as_deref().and_then(PlaybackType::from_name),
        },
        dedup_key: row.get(23)?,
        player_session: row.get(24)?,
    })
}
