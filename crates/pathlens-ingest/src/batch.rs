//! Decoding a whole request body: decompression, size limits, and the two
//! body forms (a JSON array of events, or NDJSON).

use std::borrow::Cow;
use std::fmt;
use std::io::Read;

use flate2::read::MultiGzDecoder;
use pathlens_model::Event;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, SeqAccess, Visitor};

use crate::error::{IngestError, Rejection, Result};
use crate::native::EventDecoder;
use crate::raw::EventReader;
use crate::{MAX_BODY_BYTES, MAX_EVENTS_PER_REQUEST, RequestContext};

/// What a request's body held: the events that passed validation, and why
/// the others did not.
#[derive(Debug, Default)]
pub struct Decoded {
    /// The valid events, in the order they were sent.
    pub events: Vec<Event>,
    /// One entry per rejected event, in the order they were sent.
    pub rejected: Vec<Rejection>,
}

impl Decoded {
    /// Room for the events a body of `text` probably holds, so that the
    /// list is not copied as it grows.
    fn with_capacity_for(text: &[u8]) -> Decoded {
        const SMALLEST_TYPICAL_EVENT_BYTES: usize = 128;
        let expected = (text.len() / SMALLEST_TYPICAL_EVENT_BYTES + 1).min(MAX_EVENTS_PER_REQUEST);
        Decoded {
            events: Vec::with_capacity(expected),
            rejected: Vec::new(),
        }
    }

    fn push(&mut self, decoded: std::result::Result<Event, Rejection>) {
        match decoded {
            Ok(event) => self.events.push(event),
            Err(rejection) => self.rejected.push(rejection),
        }
    }
}

/// Decodes a request body of native events: a JSON array of event objects,
/// or NDJSON (one object per line, blank lines skipped). The form is told by
/// the first character that is not whitespace (`[` or `{`); an empty body
/// holds no events.
///
/// With `gzip`, the body is gzip-compressed (`Content-Encoding: gzip`) and is
/// decompressed no further than [`MAX_BODY_BYTES`], so a zip bomb cannot
/// exhaust memory. Each event is decoded as [`decode_event`](crate::decode_event)
/// does; a bad event is reported in [`Decoded::rejected`] and the others are
/// kept. In NDJSON a line that is not valid JSON is one rejected event, and
/// an event's index counts the lines that are not blank.
///
/// ```
/// use chrono::Utc;
/// use pathlens_ingest::{RequestContext, decode_batch};
///
/// let ctx = RequestContext {
///     window: pathlens_ingest::TimeWindow::default(),
///     partner_id: 7,
///     now: Utc::now(),
///     trusted_timestamps: false,
///     user_agent: None,
///     country: Some("NL"),
/// };
/// let body = br#"{"partner_id": 7, "video_id": "v", "session_id": "s", "event_index": 1, "kind": "play"}
///
/// {"partner_id": 7, "video_id": "v", "session_id": "s", "event_index": 2, "kind": "jump"}
/// "#;
/// let decoded = decode_batch(body, false, &ctx)?;
/// assert_eq!(decoded.events[0].context.country.as_deref(), Some("NL"));
/// assert_eq!((decoded.rejected[0].index, decoded.rejected[0].field.as_str()), (1, "kind"));
/// # Ok::<(), pathlens_ingest::IngestError>(())
/// ```
///
/// # Errors
///
/// - [`IngestError::TooLarge`] when the body, before or after decompression,
///   exceeds [`MAX_BODY_BYTES`];
/// - [`IngestError::TooManyEvents`] when it holds more than
///   [`MAX_EVENTS_PER_REQUEST`] events (rejected ones included);
/// - [`IngestError::BadEncoding`] when `gzip` is set and the body is not gzip;
/// - [`IngestError::BadBody`] when the body is neither a well-formed JSON
///   array nor starts like NDJSON.
pub fn decode_batch(body: &[u8], gzip: bool, ctx: &RequestContext<'_>) -> Result<Decoded> {
    if body.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    let body = if gzip {
        Cow::Owned(gunzip(body)?)
    } else {
        Cow::Borrowed(body)
    };
    let text = trim_start(&body);
    let decoder = EventDecoder::new(ctx);
    match text.first() {
        None => Ok(Decoded::default()),
        Some(b'[') => decode_array(text, &decoder),
        Some(b'{') => decode_lines(text, &decoder),
        Some(_) => Err(IngestError::BadBody(
            "expected `[` (a JSON array of events) or `{` (NDJSON, one event object per line)"
                .to_owned(),
        )),
    }
}

fn too_large() -> IngestError {
    IngestError::TooLarge {
        limit: MAX_BODY_BYTES,
    }
}

/// Decompresses `body`, stopping one byte past the limit.
fn gunzip(body: &[u8]) -> Result<Vec<u8>> {
    let mut decompressed = Vec::new();
    MultiGzDecoder::new(body)
        .take(MAX_BODY_BYTES as u64 + 1)
        .read_to_end(&mut decompressed)
        .map_err(IngestError::BadEncoding)?;
    if decompressed.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    Ok(decompressed)
}

/// `body` without a UTF-8 byte-order mark and leading whitespace.
fn trim_start(body: &[u8]) -> &[u8] {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let start = body
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(body.len());
    &body[start..]
}

fn decode_lines(text: &[u8], decoder: &EventDecoder<'_>) -> Result<Decoded> {
    let mut decoded = Decoded::with_capacity_for(text);
    let mut index = 0;
    for line in text.split(|byte| *byte == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if index == MAX_EVENTS_PER_REQUEST {
            return Err(too_many());
        }
        decoded.push(decoder.decode_line(line, index));
        index += 1;
    }
    Ok(decoded)
}

fn too_many() -> IngestError {
    IngestError::TooManyEvents {
        limit: MAX_EVENTS_PER_REQUEST,
    }
}

fn decode_array(text: &[u8], decoder: &EventDecoder<'_>) -> Result<Decoded> {
    // JSON text is UTF-8 (RFC 8259); checking it once is faster than letting
    // the reader check each string.
    let text = std::str::from_utf8(text)
        .map_err(|error| IngestError::BadBody(format!("not valid UTF-8: {error}")))?;
    let mut decoded = Decoded::with_capacity_for(text.as_bytes());
    let mut too_many_events = false;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let seed = ArrayReader {
        decoder,
        decoded: &mut decoded,
        too_many_events: &mut too_many_events,
    };
    match seed
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
    {
        Ok(()) => Ok(decoded),
        Err(_) if too_many_events => Err(too_many()),
        Err(error) => Err(IngestError::BadBody(format!(
            "not a well-formed JSON array: {error}"
        ))),
    }
}

/// Decodes the elements of a JSON array one by one, as they are read, so no
/// list of raw events is ever held.
struct ArrayReader<'r, 'c> {
    decoder: &'r EventDecoder<'c>,
    decoded: &'r mut Decoded,
    /// Set when the array is abandoned for holding too many events, which
    /// the deserialiser can only report as a generic error.
    too_many_events: &'r mut bool,
}

impl<'de> DeserializeSeed<'de> for ArrayReader<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ArrayReader<'_, '_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON array of events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        for index in 0..MAX_EVENTS_PER_REQUEST {
            let Some(read) = seq.next_element_seed(EventReader { index })? else {
                return Ok(());
            };
            self.decoded
                .push(read.and_then(|raw| self.decoder.build(raw, index)));
        }
        if seq.next_element::<IgnoredAny>()?.is_some() {
            *self.too_many_events = true;
            return Err(de::Error::custom("too many events"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;
    use serde_json::{Value, json};

    use super::*;
    use crate::IngestErrorKind;
    use crate::test_support::{minimal_event, ndjson, player_request};

    fn decode(body: &[u8]) -> Result<Decoded> {
        decode_batch(body, false, &player_request())
    }

    fn gzip(body: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(body).unwrap();
        encoder.finish().unwrap()
    }

    fn indices(decoded: &Decoded) -> (Vec<u32>, Vec<(usize, &str)>) {
        let kept = decoded
            .events
            .iter()
            .map(|event| event.event_index)
            .collect();
        let rejected = decoded
            .rejected
            .iter()
            .map(|rejection| (rejection.index, rejection.field.as_str()))
            .collect();
        (kept, rejected)
    }

    fn good_events(count: u32) -> Vec<Value> {
        (0..count)
            .map(|index| minimal_event("view", index))
            .collect()
    }

    #[test]
    fn ndjson_and_array_forms_decode_alike() {
        let events = good_events(3);
        let from_lines = decode(ndjson(&events).as_bytes()).unwrap();
        let from_array = decode(Value::Array(events).to_string().as_bytes()).unwrap();
        assert_eq!(from_lines.events.len(), 3);
        assert_eq!(from_lines.events, from_array.events);
        assert!(from_lines.rejected.is_empty() && from_array.rejected.is_empty());
    }

    #[test]
    fn a_mixed_ndjson_batch_keeps_good_events_and_reports_bad_ones() {
        let mut bad_kind = minimal_event("view", 1);
        bad_kind["kind"] = json!("watch");
        let body = format!(
            "{}\n\n{}\n{{\"partner_id\": 101,\n{}\r\n   \n{}",
            minimal_event("view", 0),
            bad_kind,
            minimal_event("view", 3),
            json!({"video_id": "v"}),
        );
        let decoded = decode(body.as_bytes()).unwrap();
        let (kept, rejected) = indices(&decoded);
        assert_eq!(kept, [0, 3]);
        assert_eq!(rejected, [(1, "kind"), (2, "(json)"), (4, "partner_id")]);
    }

    #[test]
    fn a_mixed_array_batch_keeps_good_events_and_reports_bad_ones() {
        let body = json!([
            minimal_event("view", 0),
            minimal_event("quartile", 1),
            "not an event",
            {"partner_id": 101, "video_id": "v", "session_id": "s", "event_index": 3,
             "kind": "quartile"},
            minimal_event("node_switch", 4),
        ]);
        let decoded = decode(body.to_string().as_bytes()).unwrap();
        let (kept, rejected) = indices(&decoded);
        assert_eq!(kept, [0, 1, 4]);
        assert_eq!(rejected, [(2, "(json)"), (3, "quartile")]);
    }

    #[test]
    fn gzip_bodies_are_decompressed() {
        let body = ndjson(&good_events(5));
        let decoded = decode_batch(&gzip(body.as_bytes()), true, &player_request()).unwrap();
        assert_eq!(decoded.events.len(), 5);
    }

    #[test]
    fn bad_gzip_is_a_bad_encoding() {
        let body = ndjson(&good_events(1));
        let error = decode_batch(body.as_bytes(), true, &player_request()).unwrap_err();
        assert!(matches!(error, IngestError::BadEncoding(_)), "{error}");
        assert_eq!(error.kind(), IngestErrorKind::BadRequest);
    }

    #[test]
    fn oversized_bodies_are_too_large() {
        let huge = vec![b' '; MAX_BODY_BYTES + 1];
        let error = decode(&huge).unwrap_err();
        assert!(matches!(error, IngestError::TooLarge { .. }), "{error}");
        assert_eq!(error.kind(), IngestErrorKind::TooLarge);
    }

    #[test]
    fn a_zip_bomb_is_too_large_after_decompression() {
        let bomb = gzip(&vec![b' '; MAX_BODY_BYTES + 1]);
        assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
        let error = decode_batch(&bomb, true, &player_request()).unwrap_err();
        assert!(matches!(error, IngestError::TooLarge { .. }), "{error}");
    }

    #[test]
    fn a_body_at_the_size_limit_is_accepted() {
        let mut body = ndjson(&good_events(1)).into_bytes();
        body.resize(MAX_BODY_BYTES, b'\n');
        assert_eq!(decode(&body).unwrap().events.len(), 1);
    }

    #[test]
    fn more_events_than_the_limit_are_refused_in_both_forms() {
        let events = vec![minimal_event("view", 1); MAX_EVENTS_PER_REQUEST + 1];
        let lines = ndjson(&events);
        let array = Value::Array(events).to_string();
        for body in [lines.as_str(), array.as_str()] {
            let error = decode(body.as_bytes()).unwrap_err();
            assert!(
                matches!(error, IngestError::TooManyEvents { .. }),
                "{error}"
            );
        }
    }

    #[test]
    fn exactly_the_limit_is_accepted_in_both_forms() {
        let events = vec![json!("x"); MAX_EVENTS_PER_REQUEST];
        let array = Value::Array(events.clone()).to_string();
        assert_eq!(
            decode(array.as_bytes()).unwrap().rejected.len(),
            MAX_EVENTS_PER_REQUEST
        );
        let lines = ndjson(&vec![json!({}); MAX_EVENTS_PER_REQUEST]);
        assert_eq!(
            decode(lines.as_bytes()).unwrap().rejected.len(),
            MAX_EVENTS_PER_REQUEST
        );
    }

    #[test]
    fn bodies_of_neither_form_are_bad() {
        let trailing = format!("{} x", Value::Array(good_events(1)));
        for body in ["hello", "42", "[{\"partner_id\": 1", trailing.as_str()] {
            let error = decode(body.as_bytes()).unwrap_err();
            assert!(matches!(error, IngestError::BadBody(_)), "{body}: {error}");
        }
    }

    #[test]
    fn an_array_that_is_not_utf8_is_bad() {
        let error = decode(b"[{\"video_id\": \"\xff\"}]").unwrap_err();
        assert!(matches!(error, IngestError::BadBody(_)), "{error}");
    }

    #[test]
    fn empty_bodies_hold_no_events() {
        for body in ["", "  \n\r\n", "[]", "\u{feff}"] {
            let decoded = decode(body.as_bytes()).unwrap();
            assert!(
                decoded.events.is_empty() && decoded.rejected.is_empty(),
                "{body:?}"
            );
        }
    }

    #[test]
    fn a_byte_order_mark_and_leading_whitespace_are_skipped() {
        let body = format!("\u{feff}\n  {}", ndjson(&good_events(2)));
        assert_eq!(decode(body.as_bytes()).unwrap().events.len(), 2);
    }

    #[test]
    fn invalid_utf8_in_a_line_rejects_only_that_line() {
        let mut body = ndjson(&good_events(1)).into_bytes();
        body.extend_from_slice(b"{\"video_id\": \"\xff\"}\n");
        body.extend_from_slice(ndjson(&good_events(1)).as_bytes());
        let decoded = decode(&body).unwrap();
        assert_eq!(indices(&decoded).1, [(1, "(json)")]);
        assert_eq!(decoded.events.len(), 2);
    }
}
