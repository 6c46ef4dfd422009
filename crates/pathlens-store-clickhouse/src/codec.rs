//! How events map to the columns of the `events` table, in `RowBinary`.
//!
//! The same encoding of an event's fields serves the INSERT body and the
//! local spool's records, so a spooled batch is decoded with the code that
//! reads exports.

use chrono::DateTime;
use pathlens_model::event::Context;
use pathlens_model::{Event, EventKind, PlaybackType};
use pathlens_store::EventRow;

use crate::rowbinary::{DecodeError, DecodeResult, Reader, Source, Writer};

/// The columns of an event as stored, in the order [`write_event`] writes
/// them; an INSERT adds [`INGEST_COLUMNS`] after them.
pub const EVENT_COLUMNS: &[&str] = &[
    "partner_id",
    "video_id",
    "ts_us",
    "kind",
    "session_id",
    "event_index",
    "node_id",
    "entry_id",
    "user_id",
    "position",
    "play_time_sum",
    "from_node_id",
    "to_node_id",
    "hotspot_id",
    "target_url",
    "quartile",
    "country",
    "device",
    "os",
    "browser",
    "referrer_domain",
    "application",
    "playback_type",
    "player_session",
    "dedup_key",
];

/// Storage order: the store's clock at the insert, then the position in it.
pub const INGEST_COLUMNS: &[&str] = &["ingest_us", "ingest_pos"];

/// The columns a scan returns, in the order [`read_row`] reads them.
pub const ROW_COLUMNS: &[&str] = &[
    "ts_us",
    "kind",
    "session_id",
    "entry_id",
    "node_id",
    "event_index",
    "user_id",
    "position",
    "play_time_sum",
    "from_node_id",
    "to_node_id",
    "hotspot_id",
    "quartile",
    "player_session",
];

/// Writes the [`EVENT_COLUMNS`] of `event`.
pub fn write_event(writer: &mut Writer, event: &Event) {
    let context = &event.context;
    writer.u32(event.partner_id);
    writer.string(&event.video_id);
    writer.i64(event.ts.timestamp_micros());
    writer.u8(event.kind.code());
    writer.string(&event.session_id);
    writer.u32(event.event_index);
    writer.opt_string(event.node_id.as_deref());
    writer.opt_string(event.entry_id.as_deref());
    writer.opt_string(event.user_id.as_deref());
    writer.opt_f64(event.position);
    writer.opt_f64(event.play_time_sum);
    writer.opt_string(event.from_node_id.as_deref());
    writer.opt_string(event.to_node_id.as_deref());
    writer.opt_string(event.hotspot_id.as_deref());
    writer.opt_string(event.target_url.as_deref());
    writer.opt_u8(event.quartile);
    writer.opt_string(context.country.as_deref());
    writer.opt_string(context.device.as_deref());
    writer.opt_string(context.os.as_deref());
    writer.opt_string(context.browser.as_deref());
    writer.opt_string(context.referrer_domain.as_deref());
    writer.opt_string(context.application.as_deref());
    writer.opt_string(context.playback_type.map(PlaybackType::name));
    writer.opt_string(event.player_session.as_deref());
    writer.u64(event.dedup_key);
}

fn kind(reader: &impl Source, code: u8) -> DecodeResult<EventKind> {
    EventKind::from_code(code).ok_or_else(|| DecodeError {
        offset: reader.position(),
        reason: format!("unknown event kind code {code}"),
    })
}

/// Reads the [`EVENT_COLUMNS`] of one event.
pub fn read_event(reader: &mut impl Source) -> DecodeResult<Event> {
    let partner_id = reader.u32()?;
    let video_id = reader.string()?;
    let ts_us = reader.i64()?;
    let code = reader.u8()?;
    let kind = kind(reader, code)?;
    let session_id = reader.string()?;
    let event_index = reader.u32()?;
    let node_id = reader.opt_string()?;
    let entry_id = reader.opt_string()?;
    let user_id = reader.opt_string()?;
    let position = reader.opt_f64()?;
    let play_time_sum = reader.opt_f64()?;
    let from_node_id = reader.opt_string()?;
    let to_node_id = reader.opt_string()?;
    let hotspot_id = reader.opt_string()?;
    let target_url = reader.opt_string()?;
    let quartile = reader.opt_u8()?;
    let context = Context {
        country: reader.opt_string()?,
        device: reader.opt_string()?,
        os: reader.opt_string()?,
        browser: reader.opt_string()?,
        referrer_domain: reader.opt_string()?,
        application: reader.opt_string()?,
        playback_type: reader
            .opt_string()?
            .as_deref()
            .and_then(PlaybackType::from_name),
    };
    let player_session = reader.opt_string()?;
    let dedup_key = reader.u64()?;
    Ok(Event {
        partner_id,
        video_id,
        node_id,
        entry_id,
        session_id,
        event_index,
        ts: DateTime::from_timestamp_micros(ts_us).unwrap_or_default(),
        kind,
        user_id,
        position,
        play_time_sum,
        from_node_id,
        to_node_id,
        hotspot_id,
        target_url,
        quartile,
        context,
        player_session,
        dedup_key,
    })
}

/// Reads the [`ROW_COLUMNS`] of one row.
pub fn read_row(reader: &mut impl Source) -> DecodeResult<EventRow> {
    let ts_us = reader.i64()?;
    let code = reader.u8()?;
    Ok(EventRow {
        ts_us,
        kind: kind(reader, code)?,
        session_id: reader.string()?,
        entry_id: reader.opt_string()?,
        node_id: reader.opt_string()?,
        event_index: reader.u32()?,
        user_id: reader.opt_string()?,
        position: reader.opt_f64()?,
        play_time_sum: reader.opt_f64()?,
        from_node_id: reader.opt_string()?,
        to_node_id: reader.opt_string()?,
        hotspot_id: reader.opt_string()?,
        quartile: reader.opt_u8()?,
        player_session: reader.opt_string()?,
    })
}

/// Reads rows of `dedup_key` and [`ROW_COLUMNS`] until the input ends,
/// keeping the first row of each dedup key.
pub fn read_distinct_rows(reader: &mut impl Source) -> DecodeResult<Vec<EventRow>> {
    let mut seen = std::collections::HashSet::new();
    let mut rows = Vec::new();
    while !reader.is_at_end() {
        let key = reader.u64()?;
        let row = read_row(reader)?;
        if seen.insert(key) {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Reads rows until the input ends.
pub fn read_all<'a, T>(
    data: &'a [u8],
    mut read: impl FnMut(&mut Reader<'a>) -> DecodeResult<T>,
) -> DecodeResult<Vec<T>> {
    let mut reader = Reader::new(data);
    let mut rows = Vec::new();
    while !reader.is_at_end() {
        rows.push(read(&mut reader)?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pathlens_store::conformance::sample_event;
    use pathlens_store::memory::row_of;

    fn full_event() -> Event {
        let mut event = sample_event(3, "v", "s", 9, EventKind::NodeSwitch);
        event.user_id = Some("u".into());
        event.position = Some(1.25);
        event.play_time_sum = Some(0.1 + 0.2);
        event.from_node_id = Some("a".into());
        event.to_node_id = Some("b".into());
        event.hotspot_id = Some("h".into());
        event.target_url = Some("https://example.com/?q='x'".into());
        event.quartile = Some(90);
        event.context.country = Some("FR".into());
        event.context.device = Some("Mobile".into());
        event.context.os = Some("Android".into());
        event.context.browser = Some("Chrome".into());
        event.context.referrer_domain = Some("example.com".into());
        event.context.application = Some("app".into());
        event.context.playback_type = Some(PlaybackType::Dvr);
        event.player_session = Some("page:player".into());
        event
    }

    #[test]
    fn events_round_trip() {
        let events = vec![full_event(), sample_event(1, "v", "s", 1, EventKind::Play)];
        let mut writer = Writer::new();
        for event in &events {
            write_event(&mut writer, event);
        }
        let bytes = writer.into_bytes();
        assert_eq!(read_all(&bytes, read_event).unwrap(), events);
    }

    #[test]
    fn rows_read_the_row_columns() {
        let event = full_event();
        let mut writer = Writer::new();
        writer.i64(event.ts.timestamp_micros());
        writer.u8(event.kind.code());
        writer.string(&event.session_id);
        writer.opt_string(event.entry_id.as_deref());
        writer.opt_string(event.node_id.as_deref());
        writer.u32(event.event_index);
        writer.opt_string(event.user_id.as_deref());
        writer.opt_f64(event.position);
        writer.opt_f64(event.play_time_sum);
        writer.opt_string(event.from_node_id.as_deref());
        writer.opt_string(event.to_node_id.as_deref());
        writer.opt_string(event.hotspot_id.as_deref());
        writer.opt_u8(event.quartile);
        writer.opt_string(event.player_session.as_deref());
        let bytes = writer.into_bytes();
        assert_eq!(read_all(&bytes, read_row).unwrap(), vec![row_of(&event)]);
        // With a dedup key before each row, a repeated key is read once.
        let mut keyed = Vec::new();
        for key in [7u64, 8, 7] {
            keyed.extend_from_slice(&key.to_le_bytes());
            keyed.extend_from_slice(&bytes);
        }
        assert_eq!(
            read_distinct_rows(&mut Reader::new(&keyed)).unwrap().len(),
            2
        );
    }

    #[test]
    fn an_unknown_kind_is_an_error() {
        let mut event = Writer::new();
        event.i64(0);
        event.u8(200);
        let bytes = event.into_bytes();
        assert!(read_all(&bytes, read_row).is_err());
    }
}
