//! Decoding one native event: read its fields, check the rules that span
//! fields, and fill what the request tells.

use std::borrow::Cow;
use std::cell::OnceCell;

use pathlens_model::{Context, Event, EventKind};
use serde::de::DeserializeSeed;

use crate::RequestContext;
use crate::country::CountryCode;
use crate::error::{JSON_FIELD, Rejection};
use crate::field::Field;
use crate::raw::{EventReader, RawContext, RawEvent};
use crate::referrer;
use crate::user_agent::{self, Agent};

/// Decodes one event given as the JSON text of one object, such as one line
/// of an NDJSON import.
///
/// It takes the raw text rather than a `serde_json::Value` so that no JSON
/// tree is built: fields are read straight into the event, and the only
/// allocations are the event's own strings. `index` is the event's position
/// in its batch or file, carried into a rejection. The `User-Agent` of `ctx`,
/// if any, is parsed here only when the event lacks device, OS or browser;
/// [`decode_batch`](crate::decode_batch) parses it once per request.
///
/// # Errors
///
/// Returns a [`Rejection`] naming the first field that breaks a rule of the
/// native format, or the field `(json)` when `json` is not one JSON object.
pub fn decode_event(
    json: &str,
    index: usize,
    ctx: &RequestContext<'_>,
) -> Result<Event, Rejection> {
    EventDecoder::new(ctx).decode_text(json, index)
}

/// Decodes the events of one request, parsing its `User-Agent` at most once.
pub(crate) struct EventDecoder<'c> {
    ctx: &'c RequestContext<'c>,
    /// Parsed on first need: many batches carry their own context.
    agent: OnceCell<Agent>,
    /// The proxy's country header, when it holds a valid code.
    header_country: Option<CountryCode>,
}

impl<'c> EventDecoder<'c> {
    pub(crate) fn new(ctx: &'c RequestContext<'c>) -> EventDecoder<'c> {
        EventDecoder {
            ctx,
            agent: OnceCell::new(),
            header_country: ctx.country.and_then(CountryCode::parse),
        }
    }

    /// Decodes one JSON object held in the bytes of `line`.
    pub(crate) fn decode_line(&self, line: &[u8], index: usize) -> Result<Event, Rejection> {
        // Checking the whole line at once is faster than letting the JSON
        // reader check each string of it.
        match std::str::from_utf8(line) {
            Ok(json) => self.decode_text(json, index),
            Err(error) => Err(Rejection::new(
                index,
                JSON_FIELD,
                format!("not valid UTF-8: {error}"),
            )),
        }
    }

    /// Decodes one JSON object held in `json`.
    pub(crate) fn decode_text(&self, json: &str, index: usize) -> Result<Event, Rejection> {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let read = EventReader { index }
            .deserialize(&mut deserializer)
            .and_then(|read| deserializer.end().map(|()| read))
            .map_err(|error| Rejection::unreadable(index, &error))?;
        self.build(read?, index)
    }

    /// Checks the rules that span fields and builds the event.
    pub(crate) fn build(&self, raw: RawEvent<'_>, index: usize) -> Result<Event, Rejection> {
        let required = |field: Field| {
            Rejection::new(index, field.name(), "required, but absent, null or empty")
        };
        let partner_id = raw.partner_id.ok_or_else(|| required(Field::PartnerId))?;
        let video_id = raw.video_id.ok_or_else(|| required(Field::VideoId))?;
        let session_id = raw.session_id.ok_or_else(|| required(Field::SessionId))?;
        let event_index = raw.event_index.ok_or_else(|| required(Field::EventIndex))?;
        let kind = raw.kind.ok_or_else(|| required(Field::Kind))?;
        // Ids appear in URLs, CSV files and the dashboard: the video id
        // follows the graph's id rules; the others may not hide or reorder
        // text.
        if let Some(problem) = pathlens_model::graph::id_problem(&video_id) {
            return Err(Rejection::new(index, Field::VideoId.name(), problem));
        }
        for (field, value) in [
            (Field::SessionId, Some(&session_id)),
            (Field::NodeId, raw.node_id.as_ref()),
            (Field::FromNodeId, raw.from_node_id.as_ref()),
            (Field::ToNodeId, raw.to_node_id.as_ref()),
            (Field::HotspotId, raw.hotspot_id.as_ref()),
            (Field::EntryId, raw.entry_id.as_ref()),
            (Field::UserId, raw.user_id.as_ref()),
        ] {
            if let Some(problem) = value.and_then(|v| pathlens_model::graph::text_problem(v)) {
                return Err(Rejection::new(index, field.name(), problem));
            }
        }
        if partner_id != self.ctx.partner_id {
            return Err(Rejection::new(
                index,
                Field::PartnerId.name(),
                format!(
                    "this key may only send events of partner {}, got {partner_id}",
                    self.ctx.partner_id
                ),
            ));
        }
        let node_id = match kind {
            // A switch happens at the node it leaves.
            EventKind::NodeSwitch => raw.node_id.or_else(|| raw.from_node_id.clone()),
            _ => raw.node_id,
        };
        let present = [
            (Field::NodeId, node_id.is_some()),
            (Field::FromNodeId, raw.from_node_id.is_some()),
            (Field::ToNodeId, raw.to_node_id.is_some()),
            (Field::HotspotId, raw.hotspot_id.is_some()),
            (Field::Quartile, raw.quartile.is_some()),
        ];
        if let Some((field, _)) = present
            .into_iter()
            .find(|(field, is_present)| !is_present && required_for(kind).contains(field))
        {
            let reason = format!("required for {} events", kind.name());
            return Err(Rejection::new(index, field.name(), reason));
        }
        let ts = match (self.ctx.trusted_timestamps, raw.ts) {
            (true, Some(ts)) => {
                if let Some(reason) = self.ctx.window.problem(ts, self.ctx.now) {
                    return Err(Rejection::new(index, Field::Ts.name(), reason));
                }
                ts
            }
            _ => self.ctx.now,
        };
        Ok(Event {
            partner_id,
            player_session: None,
            dedup_key: Event::native_dedup_key(&video_id, &session_id, event_index),
            video_id: video_id.into_owned(),
            node_id: node_id.map(Cow::into_owned),
            entry_id: raw.entry_id.map(Cow::into_owned),
            session_id: session_id.into_owned(),
            event_index,
            ts,
            kind,
            user_id: raw.user_id.map(Cow::into_owned),
            position: raw.position,
            play_time_sum: raw.play_time_sum,
            from_node_id: raw.from_node_id.map(Cow::into_owned),
            to_node_id: raw.to_node_id.map(Cow::into_owned),
            hotspot_id: raw.hotspot_id.map(Cow::into_owned),
            target_url: raw.target_url.map(Cow::into_owned),
            quartile: raw.quartile,
            context: self.context(raw.context),
        })
    }

    /// The event's context: what it sent, completed from the request.
    fn context(&self, raw: RawContext<'_>) -> Context {
        let sent_or_derived =
            |sent: Option<Cow<'_, str>>, derive: fn(&Agent) -> &Option<String>| {
                sent.map(Cow::into_owned)
                    .or_else(|| derive(self.agent()).clone())
            };
        Context {
            country: raw
                .country
                .or(self.header_country)
                .map(CountryCode::to_owned_string),
            device: sent_or_derived(raw.device, |agent| &agent.device),
            os: sent_or_derived(raw.os, |agent| &agent.os),
            browser: sent_or_derived(raw.browser, |agent| &agent.browser),
            referrer_domain: raw.referrer.as_deref().and_then(referrer::domain),
            application: raw.application.map(Cow::into_owned),
            playback_type: raw.playback_type,
        }
    }

    fn agent(&self) -> &Agent {
        self.agent.get_or_init(|| {
            self.ctx
                .user_agent
                .map(user_agent::parse)
                .unwrap_or_default()
        })
    }
}

/// The fields an event of `kind` cannot do without, beyond those every event
/// needs.
fn required_for(kind: EventKind) -> &'static [Field] {
    match kind {
        EventKind::NodePlay => &[Field::NodeId],
        EventKind::NodeSwitch => &[Field::FromNodeId, Field::ToNodeId],
        EventKind::HotspotClick => &[Field::HotspotId],
        EventKind::Quartile => &[Field::Quartile],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};
    use pathlens_model::PlaybackType;
    use serde_json::{Value, json};

    use super::*;
    use crate::test_support::{CHROME_ON_WINDOWS, PARTNER, minimal_event, now, player_request};

    fn decode(event: &Value, ctx: &RequestContext<'_>) -> Result<Event, Rejection> {
        decode_event(&event.to_string(), 3, ctx)
    }

    fn rejected(event: &Value) -> Rejection {
        let rejection = decode(event, &player_request()).unwrap_err();
        assert_eq!(rejection.index, 3);
        rejection
    }

    fn with(mut event: Value, field: &str, value: Value) -> Value {
        event[field] = value;
        event
    }

    fn without(mut event: Value, field: &str) -> Value {
        event.as_object_mut().unwrap().remove(field);
        event
    }

    fn sent_time() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    fn every_field() -> Value {
        json!({
            "partner_id": PARTNER, "video_id": "1_path", "node_id": "n2", "entry_id": "0_entry",
            "session_id": "page:player", "event_index": 17, "ts": "2024-05-01T14:00:00+02:00",
            "kind": "node_switch", "user_id": "ada@example.com", "position": 12.5,
            "play_time_sum": 30, "from_node_id": "n1", "to_node_id": "n3", "hotspot_id": "h7",
            "target_url": "https://shop.example.com/p?id=1", "quartile": 75, "country": "fr",
            "device": "Tablet", "os": "iOS", "browser": "Safari",
            "referrer_domain": "https://www.Example.com/x?y", "application": "lms",
            "playback_type": "live"
        })
    }

    #[test]
    fn an_event_with_every_field_decodes() {
        let trusted = RequestContext {
            window: crate::TimeWindow::default(),
            trusted_timestamps: true,
            ..player_request()
        };
        let event = decode(&every_field(), &trusted).unwrap();
        let expected = Event {
            partner_id: PARTNER,
            video_id: "1_path".into(),
            node_id: Some("n2".into()),
            entry_id: Some("0_entry".into()),
            session_id: "page:player".into(),
            event_index: 17,
            ts: sent_time(),
            kind: EventKind::NodeSwitch,
            user_id: Some("ada@example.com".into()),
            position: Some(12.5),
            play_time_sum: Some(30.0),
            from_node_id: Some("n1".into()),
            to_node_id: Some("n3".into()),
            hotspot_id: Some("h7".into()),
            target_url: Some("https://shop.example.com/p?id=1".into()),
            quartile: Some(75),
            context: Context {
                country: Some("FR".into()),
                device: Some("Tablet".into()),
                os: Some("iOS".into()),
                browser: Some("Safari".into()),
                referrer_domain: Some("example.com".into()),
                application: Some("lms".into()),
                playback_type: Some(PlaybackType::Live),
            },
            player_session: None,
            dedup_key: Event::native_dedup_key("1_path", "page:player", 17),
        };
        assert_eq!(event, expected);
    }

    #[test]
    fn every_kind_decodes_with_its_required_fields() {
        for kind in EventKind::ALL {
            let event = decode(&minimal_event(kind.name(), 1), &player_request()).unwrap();
            assert_eq!(event.kind, kind);
            assert_eq!(event.ts, now());
            assert_eq!(event.context, Context::default());
        }
    }

    #[test]
    fn missing_required_fields_are_named() {
        for field in [
            "partner_id",
            "video_id",
            "session_id",
            "event_index",
            "kind",
        ] {
            let rejection = rejected(&without(minimal_event("play", 1), field));
            assert_eq!(rejection.field, field);
            assert_eq!(rejection.reason, "required, but absent, null or empty");
        }
        for (field, value) in [("video_id", json!("")), ("session_id", json!(null))] {
            let rejection = rejected(&with(minimal_event("play", 1), field, value));
            assert_eq!(rejection.field, field);
        }
    }

    #[test]
    fn another_partners_event_is_rejected() {
        let rejection = rejected(&with(
            minimal_event("play", 1),
            "partner_id",
            json!(PARTNER + 1),
        ));
        assert_eq!(rejection.field, "partner_id");
        assert!(
            rejection.reason.contains("only send events of partner 101"),
            "{}",
            rejection.reason
        );
    }

    #[test]
    fn kinds_require_their_fields() {
        let cases = [
            ("node_play", "node_id"),
            ("node_switch", "from_node_id"),
            ("node_switch", "to_node_id"),
            ("hotspot_click", "hotspot_id"),
            ("quartile", "quartile"),
        ];
        for (kind, field) in cases {
            let rejection = rejected(&without(minimal_event(kind, 1), field));
            assert_eq!(rejection.field, field, "{kind}");
            assert_eq!(rejection.reason, format!("required for {kind} events"));
        }
    }

    #[test]
    fn field_rules_name_their_field() {
        let long = "x".repeat(257);
        let cases = [
            (
                "event_index",
                json!("x"),
                "expected a non-negative integer, got \"x\"",
            ),
            (
                "event_index",
                json!(4_294_967_296u64),
                "expected a non-negative integer no larger than 4294967295, got 4294967296",
            ),
            (
                "kind",
                json!("click"),
                "unknown kind \"click\"; expected one of impression, play_request, play, view, node_play, node_switch, hotspot_click, quartile, pause, resume, seek, replay, error",
            ),
            (
                "quartile",
                json!(33),
                "expected 25, 50, 75, 90 or 100, got 33",
            ),
            (
                "position",
                json!(-2),
                "expected a finite number of 0 or more, got -2",
            ),
            (
                "play_time_sum",
                json!(true),
                "expected a finite number of 0 or more, got true",
            ),
            (
                "ts",
                json!("2024-05-01 12:00"),
                "expected an RFC 3339 time such as \"2024-05-01T12:00:00Z\", got \"2024-05-01 12:00\"",
            ),
            (
                "country",
                json!("France"),
                "expected a two-letter ISO 3166-1 country code, got \"France\"",
            ),
            (
                "playback_type",
                json!("vr"),
                "expected \"vod\", \"live\" or \"dvr\", got \"vr\"",
            ),
            ("user_id", json!(12), "expected a string, got 12"),
            ("hotspot_id", json!(long), "longer than 256 characters"),
            (
                "colour",
                json!("red"),
                "unknown field; the native event format has no field of this name",
            ),
            (
                "sessionId",
                json!("s"),
                "unknown field; did you mean \"session_id\"?",
            ),
        ];
        for (field, value, reason) in cases {
            let rejection = rejected(&with(minimal_event("play", 1), field, value));
            assert_eq!(
                (rejection.field.as_str(), rejection.reason.as_str()),
                (field, reason)
            );
        }
    }

    #[test]
    fn unreadable_json_is_rejected_as_json() {
        for text in ["{\"partner_id\": ", "{} {}", "not json", "[]"] {
            let rejection = decode_event(text, 9, &player_request()).unwrap_err();
            assert_eq!(
                (rejection.index, rejection.field.as_str()),
                (9, "(json)"),
                "{text}"
            );
        }
    }

    #[test]
    fn node_switch_without_node_takes_the_from_node() {
        let event = decode(&minimal_event("node_switch", 1), &player_request()).unwrap();
        assert_eq!(event.node_id.as_deref(), Some("n1"));
    }

    #[test]
    fn empty_or_null_user_id_is_anonymous() {
        for user in [json!(""), json!(null)] {
            let event = decode(
                &with(minimal_event("play", 1), "user_id", user),
                &player_request(),
            );
            assert_eq!(event.unwrap().user_id, None);
        }
    }

    #[test]
    fn ids_that_would_mislead_are_refused_naming_the_field() {
        for (field, value, needle) in [
            ("video_id", "a/b", "'/'"),
            ("video_id", "two words", "' '"),
            ("session_id", "s\u{202E}1", "U+202E"),
            ("user_id", "ada\u{0007}", "U+0007"),
            ("node_id", "n\u{200B}", "U+200B"),
        ] {
            let event = with(minimal_event("play", 1), field, json!(value));
            let rejection = decode(&event, &player_request()).unwrap_err();
            assert_eq!(rejection.field, field, "{value:?}");
            assert!(rejection.reason.contains(needle), "{}", rejection.reason);
        }
        let fine = with(minimal_event("play", 1), "user_id", json!("Ada Lovelace"));
        assert!(decode(&fine, &player_request()).is_ok());
    }

    #[test]
    fn ts_is_honoured_only_when_trusted() {
        let sent = with(
            minimal_event("play", 1),
            "ts",
            json!("2024-05-01T12:00:00Z"),
        );
        assert_eq!(decode(&sent, &player_request()).unwrap().ts, now());
        let trusted = RequestContext {
            window: crate::TimeWindow::default(),
            trusted_timestamps: true,
            ..player_request()
        };
        assert_eq!(decode(&sent, &trusted).unwrap().ts, sent_time());
        let unsent = minimal_event("play", 1);
        assert_eq!(decode(&unsent, &trusted).unwrap().ts, now());
    }

    #[test]
    fn an_imported_time_must_be_plausible() {
        let trusted = RequestContext {
            window: crate::TimeWindow::default(),
            trusted_timestamps: true,
            ..player_request()
        };
        // now() is 2024-06-01T08:30:00Z.
        for (ts, needle) in [
            ("0001-01-01T00:00:00Z", "earliest"),
            ("1999-12-31T23:59:59Z", "earliest"),
            ("9999-12-31T00:00:00Z", "24 hours after"),
            ("2024-06-02T08:30:01Z", "24 hours after"),
        ] {
            let event = with(minimal_event("play", 1), "ts", json!(ts));
            let rejection = decode(&event, &trusted).unwrap_err();
            assert_eq!(rejection.field, "ts", "{ts}");
            assert!(
                rejection.reason.contains(needle),
                "{ts}: {}",
                rejection.reason
            );
        }
        for ts in ["2000-01-01T00:00:00Z", "2024-06-02T08:30:00Z"] {
            let event = with(minimal_event("play", 1), "ts", json!(ts));
            assert!(decode(&event, &trusted).is_ok(), "{ts}");
        }
        // An untrusted time is ignored, not judged.
        let far = with(
            minimal_event("play", 1),
            "ts",
            json!("9999-12-31T00:00:00Z"),
        );
        assert_eq!(decode(&far, &player_request()).unwrap().ts, now());
        // The window is configurable.
        let narrow = RequestContext {
            window: crate::TimeWindow {
                earliest: "2024-01-01T00:00:00Z".parse().unwrap(),
                max_future: chrono::Duration::hours(1),
            },
            ..trusted
        };
        for (ts, ok) in [
            ("2023-12-31T23:59:59Z", false),
            ("2024-01-01T00:00:00Z", true),
            ("2024-06-01T09:30:00Z", true),
            ("2024-06-01T09:30:01Z", false),
        ] {
            let event = with(minimal_event("play", 1), "ts", json!(ts));
            assert_eq!(decode(&event, &narrow).is_ok(), ok, "{ts}");
        }
    }

    #[test]
    fn context_comes_from_the_request_when_absent() {
        let ctx = RequestContext {
            window: crate::TimeWindow::default(),
            user_agent: Some(CHROME_ON_WINDOWS),
            country: Some("de"),
            ..player_request()
        };
        let derived = decode(&minimal_event("play", 1), &ctx).unwrap().context;
        assert_eq!(derived.country.as_deref(), Some("DE"));
        assert_eq!(derived.device.as_deref(), Some("Desktop"));
        assert_eq!(derived.os.as_deref(), Some("Windows"));
        assert_eq!(derived.browser.as_deref(), Some("Chrome"));

        let sent = json!({"country": "JP", "os": "Linux"});
        let mut event = minimal_event("play", 1);
        event
            .as_object_mut()
            .unwrap()
            .extend(sent.as_object().unwrap().clone());
        let mixed = decode(&event, &ctx).unwrap().context;
        assert_eq!(mixed.country.as_deref(), Some("JP"));
        assert_eq!(mixed.os.as_deref(), Some("Linux"));
        assert_eq!(mixed.device.as_deref(), Some("Desktop"));
    }

    #[test]
    fn a_bad_country_header_is_ignored() {
        let ctx = RequestContext {
            window: crate::TimeWindow::default(),
            country: Some("T1"),
            ..player_request()
        };
        let event = decode(&minimal_event("play", 1), &ctx).unwrap();
        assert_eq!(event.context.country, None);
    }

    #[test]
    fn referrers_are_normalised_and_unreadable_ones_dropped() {
        let base64 = "aHR0cHM6Ly93d3cuZXhhbXBsZS5vcmcvcGFnZQ==";
        for (raw, expected) in [
            ("https://www.Example.com/x?y", Some("example.com")),
            ("lms.example.edu", Some("lms.example.edu")),
            (base64, Some("example.org")),
            ("about:blank", None),
        ] {
            let event = with(minimal_event("play", 1), "referrer_domain", json!(raw));
            let decoded = decode(&event, &player_request()).unwrap();
            assert_eq!(
                decoded.context.referrer_domain.as_deref(),
                expected,
                "{raw}"
            );
        }
    }

    #[test]
    fn the_dedup_key_is_the_native_one() {
        let event = decode(&minimal_event("view", 42), &player_request()).unwrap();
        assert_eq!(
            event.dedup_key,
            Event::native_dedup_key("1_path", "page:player", 42)
        );
    }

    mod round_trip {
        use proptest::prelude::*;

        use super::*;

        fn text() -> impl Strategy<Value = String> {
            "[a-zA-Z0-9_:.@-]{1,24}|[a-z \"\\\\/\u{e9}\u{4e2d}\u{1f600}]{1,12}"
        }

        /// A video id: it follows the graph's id rules (no spaces, `/`, …).
        fn video_id() -> impl Strategy<Value = String> {
            "[a-zA-Z0-9_:.@-]{1,24}|[a-z\"\\\\\u{e9}\u{4e2d}\u{1f600}]{1,12}"
        }

        fn optional_text() -> impl Strategy<Value = Option<String>> {
            proptest::option::of(text())
        }

        fn amount() -> impl Strategy<Value = Option<f64>> {
            // Thousandths print and parse back exactly through JSON.
            proptest::option::of((0u64..100_000_000).prop_map(|millis| millis as f64 / 1000.0))
        }

        fn context() -> impl Strategy<Value = Context> {
            (
                proptest::option::of("[A-Z]{2}"),
                (
                    optional_text(),
                    optional_text(),
                    optional_text(),
                    optional_text(),
                ),
                proptest::option::of("r[a-z0-9]{0,8}\\.(com|org|co\\.uk)"),
                proptest::option::of(prop_oneof![
                    Just(PlaybackType::Vod),
                    Just(PlaybackType::Live),
                    Just(PlaybackType::Dvr)
                ]),
            )
                .prop_map(
                    |(
                        country,
                        (device, os, browser, application),
                        referrer_domain,
                        playback_type,
                    )| {
                        Context {
                            country,
                            device,
                            os,
                            browser,
                            referrer_domain,
                            application,
                            playback_type,
                        }
                    },
                )
        }

        prop_compose! {
            fn event()(
                kind in proptest::sample::select(EventKind::ALL.to_vec()),
                (video_id, session_id, event_index) in (video_id(), text(), any::<u32>()),
                (node_id, entry_id, user_id) in (text(), optional_text(), optional_text()),
                (from_node_id, to_node_id, hotspot_id) in (text(), text(), text()),
                (position, play_time_sum) in (amount(), amount()),
                target_url in proptest::option::of("https://[a-z]{1,10}\\.com/[a-z0-9/?=&]{0,60}"),
                quartile in proptest::sample::select(vec![25u8, 50, 75, 90, 100]),
                // From the earliest time an event may carry to the test's now.
                (seconds, nanos) in (crate::EARLIEST_EVENT_SECS..1_717_200_000, 0u32..1_000_000_000),
                optional in any::<[bool; 5]>(),
                context in context(),
            ) -> Event {
                // Fields a kind requires are always present; others may be.
                let keep = |flag: bool, required: bool| flag || required;
                Event {
                    partner_id: PARTNER,
                    node_id: keep(optional[0], matches!(kind, EventKind::NodePlay | EventKind::NodeSwitch)).then_some(node_id),
                    from_node_id: keep(optional[1], kind == EventKind::NodeSwitch).then_some(from_node_id),
                    to_node_id: keep(optional[2], kind == EventKind::NodeSwitch).then_some(to_node_id),
                    hotspot_id: keep(optional[3], kind == EventKind::HotspotClick).then_some(hotspot_id),
                    quartile: keep(optional[4], kind == EventKind::Quartile).then_some(quartile),
                    player_session: None,
                    dedup_key: Event::native_dedup_key(&video_id, &session_id, event_index),
                    video_id,
                    entry_id,
                    session_id,
                    event_index,
                    ts: Utc.timestamp_opt(seconds, nanos).unwrap(),
                    kind,
                    user_id,
                    position,
                    play_time_sum,
                    target_url,
                    context,
                }
            }
        }

        proptest! {
            #[test]
            fn native_json_decodes_to_the_same_event(event in event()) {
                let trusted = RequestContext { trusted_timestamps: true, ..player_request() };
                let json = serde_json::to_string(&event.to_native()).unwrap();
                let decoded = decode_event(&json, 0, &trusted);
                prop_assert_eq!(decoded, Ok(event), "{}", json);
            }
        }
    }
}
