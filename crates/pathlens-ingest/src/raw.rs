//! Reading one event object into typed but not yet cross-checked fields.
//!
//! The reader walks the object's keys once, converting each value to the
//! field's type as it goes, so that every type error names its field. Strings
//! stay borrowed from the body until the event is built. The first problem
//! wins: the rest of the object is skipped, not checked.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use pathlens_model::{EventKind, PlaybackType};
use serde::de::{
    Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};

use crate::country::CountryCode;
use crate::error::{JSON_FIELD, Rejection};
use crate::field::Field;
use crate::value::{FieldValue, quoted};
use crate::{MAX_TEXT_CHARS, MAX_URL_CHARS};

/// The fields of one event, each checked on its own.
#[derive(Debug, Default)]
pub(crate) struct RawEvent<'de> {
    pub partner_id: Option<u32>,
    pub video_id: Option<Cow<'de, str>>,
    pub node_id: Option<Cow<'de, str>>,
    pub entry_id: Option<Cow<'de, str>>,
    pub session_id: Option<Cow<'de, str>>,
    pub event_index: Option<u32>,
    pub ts: Option<DateTime<Utc>>,
    pub kind: Option<EventKind>,
    pub user_id: Option<Cow<'de, str>>,
    pub position: Option<f64>,
    pub play_time_sum: Option<f64>,
    pub from_node_id: Option<Cow<'de, str>>,
    pub to_node_id: Option<Cow<'de, str>>,
    pub hotspot_id: Option<Cow<'de, str>>,
    pub target_url: Option<Cow<'de, str>>,
    pub quartile: Option<u8>,
    pub context: RawContext<'de>,
}

/// The context fields of one event, as sent.
#[derive(Debug, Default)]
pub(crate) struct RawContext<'de> {
    pub country: Option<CountryCode>,
    pub device: Option<Cow<'de, str>>,
    pub os: Option<Cow<'de, str>>,
    pub browser: Option<Cow<'de, str>>,
    /// The raw referrer (URL, domain or Base64); normalised when built.
    pub referrer: Option<Cow<'de, str>>,
    pub application: Option<Cow<'de, str>>,
    pub playback_type: Option<PlaybackType>,
}

impl<'de> RawEvent<'de> {
    /// Stores `value` as `field`, or says why it cannot be.
    fn set(&mut self, field: Field, value: FieldValue<'de>) -> Result<(), String> {
        let text = |value: FieldValue<'de>| value.into_text(MAX_TEXT_CHARS);
        match field {
            Field::PartnerId => self.partner_id = value.into_u32()?,
            Field::VideoId => self.video_id = text(value)?,
            Field::NodeId => self.node_id = text(value)?,
            Field::EntryId => self.entry_id = text(value)?,
            Field::SessionId => self.session_id = text(value)?,
            Field::EventIndex => self.event_index = value.into_u32()?,
            Field::Ts => self.ts = text(value)?.as_deref().map(parse_ts).transpose()?,
            Field::Kind => self.kind = text(value)?.as_deref().map(parse_kind).transpose()?,
            Field::UserId => self.user_id = text(value)?,
            Field::Position => self.position = value.into_amount()?,
            Field::PlayTimeSum => self.play_time_sum = value.into_amount()?,
            Field::FromNodeId => self.from_node_id = text(value)?,
            Field::ToNodeId => self.to_node_id = text(value)?,
            Field::HotspotId => self.hotspot_id = text(value)?,
            Field::TargetUrl => self.target_url = value.into_text(MAX_URL_CHARS)?,
            Field::Quartile => self.quartile = value.into_u32()?.map(parse_quartile).transpose()?,
            Field::Country => {
                self.context.country = text(value)?.as_deref().map(parse_country).transpose()?
            }
            Field::Device => self.context.device = text(value)?,
            Field::Os => self.context.os = text(value)?,
            Field::Browser => self.context.browser = text(value)?,
            Field::ReferrerDomain => self.context.referrer = text(value)?,
            Field::Application => self.context.application = text(value)?,
            Field::PlaybackType => {
                self.context.playback_type = text(value)?
                    .as_deref()
                    .map(parse_playback_type)
                    .transpose()?
            }
        }
        Ok(())
    }
}

fn parse_ts(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| {
            format!(
                "expected an RFC 3339 time such as \"2024-05-01T12:00:00Z\", got {}",
                quoted(raw)
            )
        })
}

fn parse_kind(raw: &str) -> Result<EventKind, String> {
    EventKind::from_name(raw).ok_or_else(|| {
        let names: Vec<&str> = EventKind::ALL.iter().map(|kind| kind.name()).collect();
        format!(
            "unknown kind {}; expected one of {}",
            quoted(raw),
            names.join(", ")
        )
    })
}

fn parse_quartile(number: u32) -> Result<u8, String> {
    match number {
        25 | 50 | 75 | 90 | 100 => Ok(number as u8),
        _ => Err(format!("expected 25, 50, 75, 90 or 100, got {number}")),
    }
}

fn parse_country(raw: &str) -> Result<CountryCode, String> {
    CountryCode::parse(raw).ok_or_else(|| {
        format!(
            "expected a two-letter ISO 3166-1 country code, got {}",
            quoted(raw)
        )
    })
}

fn parse_playback_type(raw: &str) -> Result<PlaybackType, String> {
    PlaybackType::from_name(raw)
        .ok_or_else(|| format!("expected \"vod\", \"live\" or \"dvr\", got {}", quoted(raw)))
}

/// Reads one JSON value as an event object: the event's fields, or the first
/// problem found as a rejection of the event at `index`. Only broken JSON
/// syntax is a deserialiser error.
pub(crate) struct EventReader {
    pub index: usize,
}

impl EventReader {
    fn not_an_object(&self, got: impl fmt::Display) -> Result<RawEvent<'static>, Rejection> {
        Err(Rejection::new(
            self.index,
            JSON_FIELD,
            format!("expected an event object, got {got}"),
        ))
    }

    /// Reads the object's entries; see the type's documentation.
    fn read_entries<'de, A: MapAccess<'de>>(
        &self,
        map: &mut A,
    ) -> Result<Result<RawEvent<'de>, Rejection>, A::Error> {
        let mut event = RawEvent::default();
        let mut seen = 0u32;
        let mut problem = None;
        while let Some(FieldKey(key)) = map.next_key()? {
            if problem.is_some() {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let field = match key {
                Ok(field) => field,
                Err(unknown) => {
                    let reason = Field::unknown_reason(&unknown);
                    problem = Some(Rejection::new(self.index, unknown, reason));
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if seen & field.bit() != 0 {
                problem = Some(Rejection::new(
                    self.index,
                    field.name(),
                    "given more than once",
                ));
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            seen |= field.bit();
            if let Err(reason) = event.set(field, map.next_value()?) {
                problem = Some(Rejection::new(self.index, field.name(), reason));
            }
        }
        Ok(match problem {
            Some(rejection) => Err(rejection),
            None => Ok(event),
        })
    }
}

impl<'de> DeserializeSeed<'de> for EventReader {
    type Value = Result<RawEvent<'de>, Rejection>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EventReader {
    type Value = Result<RawEvent<'de>, Rejection>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        self.read_entries(&mut map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self.not_an_object("an array"))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(self.not_an_object("null"))
    }

    fn visit_bool<E>(self, value: bool) -> Result<Self::Value, E> {
        Ok(self.not_an_object(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Self::Value, E> {
        Ok(self.not_an_object(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Self::Value, E> {
        Ok(self.not_an_object(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Self::Value, E> {
        Ok(self.not_an_object(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(self.not_an_object(quoted(value)))
    }
}

/// An object key: a known field, or the unknown name (owned, since it only
/// serves a rejection).
struct FieldKey(Result<Field, String>);

impl<'de> Deserialize<'de> for FieldKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(FieldKeyVisitor)
    }
}

struct FieldKeyVisitor;

impl Visitor<'_> for FieldKeyVisitor {
    type Value = FieldKey;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a field name")
    }

    fn visit_str<E>(self, name: &str) -> Result<FieldKey, E> {
        Ok(FieldKey(
            Field::from_name(name).ok_or_else(|| name.to_owned()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<RawEvent<'_>, Rejection> {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        EventReader { index: 4 }
            .deserialize(&mut deserializer)
            .unwrap()
    }

    fn rejected_field(json: &str) -> (String, String) {
        let rejection = read(json).unwrap_err();
        assert_eq!(rejection.index, 4);
        (rejection.field, rejection.reason)
    }

    #[test]
    fn reads_typed_fields_borrowing_strings() {
        let event = read(
            r#"{"partner_id": 7, "video_id": "v", "kind": "quartile", "quartile": 90,
                "ts": "2024-05-01T14:00:00+02:00", "country": "de", "playback_type": "dvr"}"#,
        )
        .unwrap();
        assert_eq!(event.partner_id, Some(7));
        assert!(matches!(event.video_id, Some(Cow::Borrowed("v"))));
        assert_eq!(event.kind, Some(EventKind::Quartile));
        assert_eq!(event.quartile, Some(90));
        assert_eq!(event.ts.unwrap().to_rfc3339(), "2024-05-01T12:00:00+00:00");
        assert_eq!(event.context.country, CountryCode::parse("DE"));
        assert_eq!(event.context.playback_type, Some(PlaybackType::Dvr));
    }

    #[test]
    fn type_errors_name_the_field() {
        let (field, reason) = rejected_field(r#"{"event_index": "x"}"#);
        assert_eq!(field, "event_index");
        assert_eq!(reason, "expected a non-negative integer, got \"x\"");
    }

    #[test]
    fn unknown_and_repeated_fields_are_rejected() {
        let (field, reason) = rejected_field(r#"{"videoId": "v"}"#);
        assert_eq!(field, "videoId");
        assert!(reason.starts_with("unknown field"), "{reason}");
        let (field, reason) = rejected_field(r#"{"os": "a", "os": "b"}"#);
        assert_eq!(
            (field.as_str(), reason.as_str()),
            ("os", "given more than once")
        );
    }

    #[test]
    fn first_problem_wins_and_the_rest_is_skipped() {
        let (field, _) = rejected_field(r#"{"kind": "nope", "bogus": [1, {"a": 2}], "ts": 5}"#);
        assert_eq!(field, "kind");
    }

    #[test]
    fn non_objects_are_rejected_as_json() {
        for json in ["[1, 2]", "null", "true", "5", "-5", "1.5", "\"event\""] {
            let (field, reason) = rejected_field(json);
            assert_eq!(field, JSON_FIELD);
            assert!(reason.starts_with("expected an event object"), "{reason}");
        }
    }

    #[test]
    fn value_rules_name_their_field() {
        let cases = [
            (r#"{"quartile": 30}"#, "quartile"),
            (r#"{"country": "FRA"}"#, "country"),
            (r#"{"playback_type": "VOD"}"#, "playback_type"),
            (r#"{"ts": "yesterday"}"#, "ts"),
            (r#"{"position": -1}"#, "position"),
            (r#"{"play_time_sum": "10"}"#, "play_time_sum"),
            (r#"{"partner_id": -3}"#, "partner_id"),
        ];
        for (json, expected) in cases {
            assert_eq!(rejected_field(json).0, expected, "{json}");
        }
    }

    #[test]
    fn string_limits_differ_for_urls() {
        let long_id = format!(r#"{{"node_id": "{}"}}"#, "n".repeat(MAX_TEXT_CHARS + 1));
        assert_eq!(rejected_field(&long_id).0, "node_id");
        let url = format!(r#"{{"target_url": "https://x.io/{}"}}"#, "p".repeat(1000));
        assert!(read(&url).is_ok());
        let too_long_url = format!(r#"{{"target_url": "{}"}}"#, "p".repeat(MAX_URL_CHARS + 1));
        assert_eq!(rejected_field(&too_long_url).0, "target_url");
    }
}
