use serde_json::{Value, json};

use super::*;
use crate::test_support::{CHROME_ON_WINDOWS, PARTNER, now, player_request};

const CONTENT: &str = "https://lms.example.edu/mod/hvp/embed.php?id=12";

fn ctx(video: Option<&'static str>) -> XapiContext<'static> {
    XapiContext {
        request: RequestContext {
            window: crate::TimeWindow::default(),
            user_agent: Some(CHROME_ON_WINDOWS),
            country: Some("nl"),
            ..player_request()
        },
        video,
    }
}

/// A statement shaped as H5P emits it.
fn statement(verb: &str, object_id: &str, extra: Value) -> Value {
    let mut statement = json!({
        "actor": {"name": "Ada", "mbox": "mailto:ada@example.com", "objectType": "Agent"},
        "verb": {"id": format!("http://adlnet.gov/expapi/verbs/{verb}"), "display": {"en-US": verb}},
        "object": {"id": object_id, "objectType": "Activity",
                   "definition": {"extensions": {"http://h5p.org/x-api/h5p-local-content-id": 12}}},
        "context": {"contextActivities": {"category": [
            {"id": "http://h5p.org/libraries/H5P.InteractiveVideo-1.26", "objectType": "Activity"}]}}
    });
    merge(&mut statement, extra);
    statement
}

fn merge(target: &mut Value, extra: Value) {
    match (target, extra) {
        (Value::Object(target), Value::Object(extra)) => {
            for (key, value) in extra {
                merge(target.entry(key).or_insert(Value::Null), value);
            }
        }
        (target, extra) => *target = extra,
    }
}

fn decode(body: &Value, video: Option<&'static str>) -> Result<XapiDecoded, XapiError> {
    decode_statements(body.to_string().as_bytes(), &ctx(video))
}

fn one(body: &Value) -> Event {
    let decoded = decode(body, None).unwrap();
    assert_eq!(decoded.events.len(), 1, "{:?}", decoded.unmapped);
    decoded.events.into_iter().next().unwrap()
}

#[test]
fn every_mapped_verb_becomes_its_event() {
    let sub = format!("{CONTENT}?subContentId=8c4d-1");
    let cases = [
        ("initialized", EventKind::Impression, None),
        ("played", EventKind::Play, None),
        ("progressed", EventKind::View, None),
        ("interacted", EventKind::HotspotClick, None),
        ("answered", EventKind::HotspotClick, None),
        ("completed", EventKind::Quartile, Some(100)),
    ];
    for (verb, kind, quartile) in cases {
        let event = one(&statement(verb, &sub, json!({})));
        assert_eq!((event.kind, event.quartile), (kind, quartile), "{verb}");
        assert_eq!(event.video_id, CONTENT, "{verb}");
        assert_eq!(event.partner_id, PARTNER);
        assert_eq!(event.ts, now());
    }
}

#[test]
fn video_profile_verbs_map_like_adl_verbs() {
    let mut played = statement("played", CONTENT, json!({}));
    played["verb"]["id"] = json!("https://w3id.org/xapi/video/verbs/played");
    assert_eq!(one(&played).kind, EventKind::Play);
}

#[test]
fn an_interaction_is_a_hotspot_click_at_the_ending_point() {
    let object = format!("{CONTENT}?subContentId=go-left");
    let event = one(&statement(
        "interacted",
        &object,
        json!({"context": {"extensions": {"http://id.tincanapi.com/extension/ending-point": "PT1M3.5S"}}}),
    ));
    assert_eq!(event.hotspot_id.as_deref(), Some("go-left"));
    assert_eq!(event.node_id, None);
    assert_eq!(event.position, Some(63.5));
    assert_eq!(event.user_id.as_deref(), Some("ada@example.com"));
    assert_eq!(event.context.browser.as_deref(), Some("Chrome"));
    assert_eq!(event.context.country.as_deref(), Some("NL"));
}

#[test]
fn progress_names_the_node_and_reads_the_position_from_the_result() {
    let event = one(&statement(
        "progressed",
        &format!("{CONTENT}&subContentId=node-2"),
        json!({"result": {"extensions": {"http://id.tincanapi.com/extension/ending-point": "PT12S"}}}),
    ));
    assert_eq!(event.kind, EventKind::View);
    assert_eq!(event.node_id.as_deref(), Some("node-2"));
    assert_eq!(event.position, Some(12.0));
    assert_eq!(event.play_time_sum, None);
}

#[test]
fn the_video_profile_time_is_a_fallback_position() {
    let event = one(&statement(
        "played",
        CONTENT,
        json!({"result": {"extensions": {"https://w3id.org/xapi/video/extensions/time": 4.25}}}),
    ));
    assert_eq!(event.position, Some(4.25));
}

#[test]
fn arrays_of_statements_decode_in_order_with_unmapped_ones_counted() {
    let body = json!([
        statement(
            "initialized",
            CONTENT,
            json!({"id": "11111111-1111-4111-8111-111111111111"})
        ),
        statement("attempted", CONTENT, json!({})),
        statement("played", CONTENT, json!({})),
        statement("Paused", CONTENT, json!({})),
    ]);
    let decoded = decode(&body, Some("tour")).unwrap();
    let kinds: Vec<EventKind> = decoded.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::Impression, EventKind::Play]);
    assert_eq!(decoded.unmapped, ["attempted", "paused"]);
    assert_eq!(decoded.ids.len(), 4);
    assert_eq!(decoded.ids[0], "11111111-1111-4111-8111-111111111111");
    assert!(
        decoded.ids[1..]
            .iter()
            .all(|id| id.len() == 36 && id.as_bytes()[14] == b'4')
    );
    assert!(decoded.events.iter().all(|e| e.video_id == "tour"));
    let indexes: Vec<u32> = decoded.events.iter().map(|e| e.event_index).collect();
    assert_eq!(indexes, [1, 3]);
}

#[test]
fn actors_give_user_ids_in_order_of_preference() {
    let with_actor = |actor: Value| {
        let mut s = statement("played", CONTENT, json!({}));
        s["actor"] = actor;
        one(&s).user_id
    };
    assert_eq!(
        with_actor(
            json!({"account": {"name": "u-42", "homePage": "https://lms"}, "mbox": "mailto:x@y"})
        )
        .as_deref(),
        Some("u-42")
    );
    assert_eq!(
        with_actor(json!({"mbox": "mailto:ada@example.com"})).as_deref(),
        Some("ada@example.com")
    );
    assert_eq!(
        with_actor(json!({"mbox_sha1sum": "ab12"})).as_deref(),
        Some("ab12")
    );
    assert_eq!(with_actor(json!({"name": "Ada"})).as_deref(), Some("Ada"));
    assert_eq!(with_actor(json!({"objectType": "Agent"})), None);
    assert_eq!(with_actor(json!({"name": ""})), None);
}

#[test]
fn sessions_come_from_the_registration_or_the_actor_and_video() {
    let mut registered = statement("played", CONTENT, json!({}));
    registered["context"]["registration"] = json!("ec531277-b57b-4c15-8d91-d292c5b2b8f7");
    assert_eq!(
        one(&registered).session_id,
        "ec531277-b57b-4c15-8d91-d292c5b2b8f7"
    );
    let first = one(&statement("played", CONTENT, json!({}))).session_id;
    let again = one(&statement("initialized", CONTENT, json!({}))).session_id;
    assert!(first.starts_with("xapi-"));
    assert_eq!(first, again, "same actor and video, same session");
    let mut other = statement("played", CONTENT, json!({}));
    other["actor"] = json!({"mbox": "mailto:bob@example.com"});
    assert_ne!(one(&other).session_id, first);
}

#[test]
fn statement_ids_deduplicate_and_missing_ids_never_do() {
    let with_id = statement(
        "played",
        CONTENT,
        json!({"id": "22222222-2222-4222-8222-222222222222"}),
    );
    assert_eq!(one(&with_id).dedup_key, one(&with_id).dedup_key);
    let without = statement("played", CONTENT, json!({}));
    let later = XapiContext {
        request: RequestContext {
            window: crate::TimeWindow::default(),
            now: now() + chrono::Duration::seconds(1),
            ..ctx(None).request
        },
        video: None,
    };
    let a = decode_statements(without.to_string().as_bytes(), &ctx(None)).unwrap();
    let b = decode_statements(without.to_string().as_bytes(), &later).unwrap();
    assert_ne!(a.events[0].dedup_key, b.events[0].dedup_key);
    assert_ne!(a.ids[0], b.ids[0]);
}

#[test]
fn admin_imports_keep_the_timestamp() {
    let stamped = statement(
        "played",
        CONTENT,
        json!({"timestamp": "2024-01-02T03:04:05.5+01:00"}),
    );
    assert_eq!(one(&stamped).ts, now());
    let trusted = XapiContext {
        request: RequestContext {
            window: crate::TimeWindow::default(),
            trusted_timestamps: true,
            ..ctx(None).request
        },
        video: None,
    };
    let decoded = decode_statements(stamped.to_string().as_bytes(), &trusted).unwrap();
    assert_eq!(
        decoded.events[0].ts.to_rfc3339(),
        "2024-01-02T02:04:05.500+00:00"
    );
    // A time in the far future is a mistake, named as such.
    let future = statement(
        "played",
        CONTENT,
        json!({"timestamp": "9999-01-01T00:00:00Z"}),
    );
    let error = decode_statements(future.to_string().as_bytes(), &trusted).unwrap_err();
    assert_eq!(error.field, "timestamp");
    assert!(error.reason.contains("24 hours after"), "{}", error.reason);
}

#[test]
fn invalid_statements_name_their_index_and_field() {
    let good = statement("played", CONTENT, json!({}));
    let mut no_verb = good.clone();
    no_verb.as_object_mut().unwrap().remove("verb");
    let mut no_actor = good.clone();
    no_actor.as_object_mut().unwrap().remove("actor");
    let mut no_object = good.clone();
    no_object["object"] = json!({"objectType": "Activity"});
    let bad_point = statement(
        "interacted",
        CONTENT,
        json!({"result": {"extensions": {"http://id.tincanapi.com/extension/ending-point": "1 minute"}}}),
    );
    let long_object = statement(
        "played",
        &format!("https://x/{}", "p".repeat(300)),
        json!({}),
    );
    // Regression: a duration of 10^20 hours was taken as a position.
    let endless_point = statement(
        "interacted",
        CONTENT,
        json!({"result": {"extensions": {"http://id.tincanapi.com/extension/ending-point": "PT99999999999999999999H"}}}),
    );
    for (bad, field) in [
        (no_verb, "verb.id"),
        (no_actor, "actor"),
        (no_object, "object.id"),
        (
            bad_point,
            "result.extensions.http://id.tincanapi.com/extension/ending-point",
        ),
        (long_object, "object.id"),
        (
            endless_point,
            "result.extensions.http://id.tincanapi.com/extension/ending-point",
        ),
        (json!("text"), "(statement)"),
    ] {
        let error = decode(&json!([good.clone(), bad]), None).unwrap_err();
        assert_eq!((error.index, error.field.as_str()), (1, field), "{error}");
    }
    let error = decode_statements(b"not json", &ctx(None)).unwrap_err();
    assert_eq!(error.field, "(body)");
    let error = decode_statements(b"42", &ctx(None)).unwrap_err();
    assert_eq!(error.field, "(body)");
}

#[test]
fn too_many_statements_are_refused() {
    let many = Value::Array(vec![json!({}); MAX_STATEMENTS + 1]);
    assert_eq!(decode(&many, None).unwrap_err().field, "(body)");
}

#[test]
fn iso_durations() {
    for (text, seconds) in [
        ("PT1M3.5S", Some(63.5)),
        ("PT63.5S", Some(63.5)),
        ("PT0S", Some(0.0)),
        ("PT1H2M3S", Some(3723.0)),
        ("P1DT1S", Some(86_401.0)),
        ("P1W", Some(604_800.0)),
        ("PT0,5S", Some(0.5)),
        ("PT", None),
        ("P", None),
        ("PT1S2M", None),
        ("P1Y", None),
        ("PT1.2.3S", None),
        ("PT5", None),
        ("63.5", None),
    ] {
        assert_eq!(iso_duration_seconds(text), seconds, "{text}");
    }
}

#[test]
fn sub_content_ids_are_split_off() {
    assert_eq!(
        split_sub_content("https://a/b"),
        ("https://a/b".to_owned(), None)
    );
    assert_eq!(
        split_sub_content("https://a/b?subContentId=x"),
        ("https://a/b".to_owned(), Some("x".to_owned()))
    );
    assert_eq!(
        split_sub_content("https://a/b?id=1?subContentId=x"),
        ("https://a/b?id=1".to_owned(), Some("x".to_owned()))
    );
    assert_eq!(
        split_sub_content("https://a/b?subContentId=x&lang=en"),
        ("https://a/b?lang=en".to_owned(), Some("x".to_owned()))
    );
    assert_eq!(
        split_sub_content("https://a/b?id=1&subContentId=x&lang=en"),
        ("https://a/b?id=1&lang=en".to_owned(), Some("x".to_owned()))
    );
}
