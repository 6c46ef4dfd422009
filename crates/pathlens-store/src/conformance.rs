//! The behaviour every [`Store`] backend must show.
//!
//! A backend's integration tests call [`run_all`] with a way to make a fresh,
//! empty location (a temporary directory, a new ClickHouse database) and to
//! open a store on it, possibly several times, so that durability across a
//! reopen is checked too. Each check panics with a message on failure.

use chrono::{DateTime, Duration, TimeZone, Utc};
use pathlens_model::event::Context;
use pathlens_model::{Event, EventKind, Graph, PlaybackType};

use crate::{
    ApiKey, ContextFilter, Dimension, DimensionValue, KeyKind, ScanRequest, Store, ValuesRequest,
    ViewerKind,
};

/// A fresh storage location for one check.
pub trait Harness {
    /// Opens the store at this location, creating it when new. Called again
    /// after the previous store was dropped, it must see the same data.
    fn open(&self) -> Box<dyn Store>;
}

/// One check of the suite.
type Check = fn(&dyn Harness);

/// Runs every check, each on a new location from `new_location`.
pub fn run_all<H: Harness>(new_location: impl Fn() -> H) {
    let checks: [(&str, Check); 10] = [
        ("videos_round_trip", videos_round_trip),
        ("videos_are_per_partner", videos_are_per_partner),
        ("keys_round_trip_and_revoke", keys_round_trip_and_revoke),
        (
            "append_dedups_within_and_across_calls",
            append_dedups_within_and_across_calls,
        ),
        (
            "events_and_dedup_survive_reopen",
            events_and_dedup_survive_reopen,
        ),
        (
            "scan_limits_partner_video_and_time",
            scan_limits_partner_video_and_time,
        ),
        ("scan_applies_context_filters", scan_applies_context_filters),
        ("scan_returns_every_field", scan_returns_every_field),
        (
            "values_count_plays_and_events_per_value",
            values_count_plays_and_events_per_value,
        ),
        (
            "export_pages_in_storage_order",
            export_pages_in_storage_order,
        ),
    ];
    for (name, check) in checks {
        let location = new_location();
        eprintln!("conformance: {name}");
        check(&location);
    }
}

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + Duration::minutes(minute)
}

/// A plain event for the checks; `index` doubles as its dedup key.
pub fn sample_event(
    partner: u32,
    video: &str,
    session: &str,
    index: u32,
    kind: EventKind,
) -> Event {
    Event {
        partner_id: partner,
        video_id: video.to_string(),
        node_id: Some("n1".into()),
        entry_id: Some("e1".into()),
        session_id: session.to_string(),
        event_index: index,
        ts: at(i64::from(index)),
        kind,
        user_id: None,
        position: None,
        play_time_sum: None,
        from_node_id: None,
        to_node_id: None,
        hotspot_id: None,
        target_url: None,
        quartile: None,
        context: Context::default(),
        player_session: None,
        dedup_key: u64::from(index) * 7919 + session.len() as u64,
    }
}

/// Views 1..=`count` of session `session` of video "v" (partner 1).
pub fn sample_views(session: &str, count: u32) -> Vec<Event> {
    (1..=count)
        .map(|i| sample_event(1, "v", session, i, EventKind::View))
        .collect()
}

fn graph(id: &str) -> Graph {
    Graph::from_json(&format!(
        r#"{{"id":"{id}","name":"Video {id}","start_node":"a","nodes":[
            {{"id":"a","name":"A","entry_id":"ea","duration_ms":1000,"hotspots":[
              {{"id":"h","label":"go","start_ms":0,"end_ms":500,"behavior":{{"type":"go_to_node","node_id":"b"}}}}]}},
            {{"id":"b","name":"B","entry_id":"eb","duration_ms":2000}}]}}"#
    ))
    .expect("valid sample graph")
}

fn scan_all(
    store: &dyn Store,
    partner: u32,
    video: &str,
    filter: ContextFilter,
) -> Vec<crate::EventRow> {
    let request = ScanRequest {
        partner_id: partner,
        video_id: video.to_string(),
        start: at(-100_000),
        end: at(100_000),
        kinds: Vec::new(),
        filter,
    };
    store.scan(&request).expect("scan")
}

/// The values of a dimension: absent values and the literal `unknown`
/// together, repeats counted once, the period, video and partner kept, the
/// row filters applied (including the dimension's own).
fn values_count_plays_and_events_per_value(location: &dyn Harness) {
    let store = location.open();
    let event = |session: &str, index: u32, kind: EventKind, country: Option<&str>| {
        let mut event = sample_event(1, "v", session, index, kind);
        event.context.country = country.map(str::to_string);
        event.context.device = Some(
            if index.is_multiple_of(2) {
                "Desktop"
            } else {
                "Tablet"
            }
            .into(),
        );
        event
    };
    let mut events = vec![
        event("s1", 1, EventKind::Impression, Some("FR")),
        event("s1", 2, EventKind::Play, Some("FR")),
        event("s1", 3, EventKind::View, Some("FR")),
        event("s2", 4, EventKind::Play, Some("FR")),
        event("s3", 5, EventKind::Play, Some("DE")),
        event("s4", 6, EventKind::Play, None),
        event("s4", 7, EventKind::View, Some("unknown")),
    ];
    // Elsewhere: another video, another partner, outside the period.
    events.push(sample_event(1, "w", "s5", 8, EventKind::Play));
    events.push(sample_event(2, "v", "s6", 9, EventKind::Play));
    let mut late = event("s7", 10, EventKind::Play, Some("IT"));
    late.ts = at(100_000);
    events.push(late);
    // A repeat of an event already sent.
    events.push(event("s1", 2, EventKind::Play, Some("FR")));
    store.append(events).unwrap();
    let values = |dimension: Dimension, filter: ContextFilter| {
        let mut values = store
            .values(&ValuesRequest {
                partner_id: 1,
                video_id: "v".into(),
                start: at(-100_000),
                end: at(100_000),
                dimension,
                filter,
            })
            .expect("values");
        crate::query::rank_values(&mut values);
        values
    };
    let value = |value: &str, plays: u64, events: u64| DimensionValue {
        value: value.into(),
        plays,
        events,
    };
    assert_eq!(
        values(Dimension::Country, ContextFilter::default()),
        [value("FR", 2, 4), value("unknown", 1, 2), value("DE", 1, 1)]
    );
    assert_eq!(
        values(
            Dimension::Country,
            ContextFilter {
                devices: vec!["Desktop".into()],
                ..ContextFilter::default()
            }
        ),
        [value("FR", 2, 2), value("unknown", 1, 1)]
    );
    assert_eq!(
        values(
            Dimension::Country,
            ContextFilter {
                countries: vec!["DE".into(), "unknown".into()],
                ..ContextFilter::default()
            }
        ),
        [value("unknown", 1, 2), value("DE", 1, 1)]
    );
    assert_eq!(
        values(Dimension::PlaybackType, ContextFilter::default()),
        [value("unknown", 4, 7)]
    );
}

fn videos_round_trip(location: &dyn Harness) {
    let store = location.open();
    let first = graph("v1");
    store.put_video(1, &first, at(0)).unwrap();
    let mut second = graph("v1");
    second.name = "Renamed".into();
    store.put_video(1, &second, at(5)).unwrap();
    let stored = store.video(1, "v1").unwrap().expect("stored video");
    assert_eq!(stored.graph, second);
    assert_eq!(stored.created_at, at(0));
    assert_eq!(stored.updated_at, at(5));
    store.put_video(1, &graph("v0"), at(6)).unwrap();
    let ids: Vec<String> = store
        .videos(1)
        .unwrap()
        .into_iter()
        .map(|v| v.graph.id)
        .collect();
    assert_eq!(ids, vec!["v0".to_string(), "v1".to_string()]);
    assert!(store.video(1, "missing").unwrap().is_none());
}

fn videos_are_per_partner(location: &dyn Harness) {
    let store = location.open();
    store.put_video(1, &graph("v1"), at(0)).unwrap();
    assert!(store.video(2, "v1").unwrap().is_none());
    assert!(store.videos(2).unwrap().is_empty());
}

fn keys_round_trip_and_revoke(location: &dyn Harness) {
    let store = location.open();
    let key = ApiKey {
        id: "k1".into(),
        partner_id: 7,
        kind: KeyKind::Write,
        name: "player".into(),
        token_hash: "ab".repeat(32),
        created_at: at(0),
        revoked_at: None,
    };
    store.put_key(&key).unwrap();
    assert_eq!(store.keys().unwrap(), vec![key.clone()]);
    assert!(store.revoke_key("k1", at(3)).unwrap());
    assert!(!store.revoke_key("nope", at(3)).unwrap());
    assert_eq!(store.keys().unwrap()[0].revoked_at, Some(at(3)));
}

fn append_dedups_within_and_across_calls(location: &dyn Harness) {
    let store = location.open();
    let a = sample_event(1, "v", "s", 1, EventKind::Impression);
    let b = sample_event(1, "v", "s", 2, EventKind::Play);
    let outcome = store.append(vec![a.clone(), b.clone(), a.clone()]).unwrap();
    assert_eq!((outcome.accepted, outcome.duplicates), (2, 1));
    let outcome = store.append(vec![b.clone()]).unwrap();
    assert_eq!((outcome.accepted, outcome.duplicates), (0, 1));
    // The same key under another partner is another event.
    let mut other = a.clone();
    other.partner_id = 2;
    assert_eq!(store.append(vec![other]).unwrap().accepted, 1);
    assert_eq!(store.event_count().unwrap(), 3);
}

fn events_and_dedup_survive_reopen(location: &dyn Harness) {
    {
        let store = location.open();
        let events = (1..=50)
            .map(|i| sample_event(1, "v", "s", i, EventKind::View))
            .collect();
        assert_eq!(store.append(events).unwrap().accepted, 50);
    }
    let store = location.open();
    assert_eq!(store.event_count().unwrap(), 50);
    let again = store
        .append(vec![sample_event(1, "v", "s", 10, EventKind::View)])
        .unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 1));
    assert_eq!(
        scan_all(store.as_ref(), 1, "v", ContextFilter::default()).len(),
        50
    );
}

fn scan_limits_partner_video_and_time(location: &dyn Harness) {
    let store = location.open();
    let mut events = Vec::new();
    for i in 1..=10 {
        events.push(sample_event(1, "v", "s", i, EventKind::View));
    }
    events.push(sample_event(1, "other", "s2", 1, EventKind::View));
    events.push(sample_event(2, "v", "s3", 1, EventKind::View));
    store.append(events).unwrap();
    let request = ScanRequest {
        partner_id: 1,
        video_id: "v".into(),
        start: at(3),
        end: at(7),
        kinds: Vec::new(),
        filter: ContextFilter::default(),
    };
    let mut indexes: Vec<u32> = store
        .scan(&request)
        .unwrap()
        .iter()
        .map(|r| r.event_index)
        .collect();
    indexes.sort_unstable();
    assert_eq!(
        indexes,
        vec![3, 4, 5, 6],
        "start is inclusive, end exclusive"
    );
    let only_plays = ScanRequest {
        kinds: vec![EventKind::Play],
        ..request
    };
    assert!(store.scan(&only_plays).unwrap().is_empty());
}

fn scan_applies_context_filters(location: &dyn Harness) {
    let store = location.open();
    let mut fr = sample_event(1, "v", "s", 1, EventKind::Play);
    fr.context.country = Some("FR".into());
    fr.context.device = Some("Desktop".into());
    fr.context.playback_type = Some(PlaybackType::Live);
    fr.user_id = Some("alice".into());
    let mut de = sample_event(1, "v", "s", 2, EventKind::Play);
    de.context.country = Some("DE".into());
    de.context.browser = Some("Firefox".into());
    de.context.referrer_domain = Some("example.com".into());
    de.context.application = Some("lms".into());
    de.context.os = Some("Linux".into());
    let nowhere = sample_event(1, "v", "s", 3, EventKind::Play);
    store.append(vec![fr, de, nowhere]).unwrap();
    let count = |filter: ContextFilter| scan_all(store.as_ref(), 1, "v", filter).len();
    let f = ContextFilter::default;
    assert_eq!(count(f()), 3);
    assert_eq!(
        count(ContextFilter {
            countries: vec!["FR".into()],
            ..f()
        }),
        1
    );
    assert_eq!(
        count(ContextFilter {
            countries: vec!["FR".into(), "unknown".into()],
            ..f()
        }),
        2
    );
    assert_eq!(
        count(ContextFilter {
            devices: vec!["Desktop".into()],
            ..f()
        }),
        1
    );
    assert_eq!(
        count(ContextFilter {
            os: vec!["Linux".into()],
            ..f()
        }),
        1
    );
    assert_eq!(
        count(ContextFilter {
            browsers: vec!["Firefox".into()],
            ..f()
        }),
        1
    );
    assert_eq!(
        count(ContextFilter {
            referrer_domains: vec!["example.com".into()],
            ..f()
        }),
        1
    );
    assert_eq!(
        count(ContextFilter {
            applications: vec!["lms".into()],
            ..f()
        }),
        1
    );
    assert_eq!(
        count(ContextFilter {
            playback_types: vec!["live".into()],
            ..f()
        }),
        1
    );
    assert_eq!(
        count(ContextFilter {
            user_ids: vec!["alice".into()],
            ..f()
        }),
        1
    );
    assert_eq!(
        count(ContextFilter {
            viewer: Some(ViewerKind::Known),
            ..f()
        }),
        1
    );
    assert_eq!(
        count(ContextFilter {
            viewer: Some(ViewerKind::Anonymous),
            ..f()
        }),
        2
    );
    assert_eq!(
        count(ContextFilter {
            countries: vec!["DE".into()],
            browsers: vec!["Chrome".into()],
            ..f()
        }),
        0,
        "filters combine with AND"
    );
}

fn scan_returns_every_field(location: &dyn Harness) {
    let store = location.open();
    let mut event = sample_event(1, "v", "s", 4, EventKind::NodeSwitch);
    event.ts = at(0) + Duration::microseconds(123_456);
    event.user_id = Some("u".into());
    event.position = Some(12.5);
    event.play_time_sum = Some(30.25);
    event.from_node_id = Some("a".into());
    event.to_node_id = Some("b".into());
    event.hotspot_id = Some("h".into());
    event.quartile = Some(75);
    event.player_session = Some("page:player-2".into());
    store.append(vec![event.clone()]).unwrap();
    let rows = scan_all(store.as_ref(), 1, "v", ContextFilter::default());
    let row = &rows[0];
    assert_eq!(row.ts_us, event.ts.timestamp_micros());
    assert_eq!(row.kind, EventKind::NodeSwitch);
    assert_eq!(row.session_id, "s");
    assert_eq!(row.entry_id.as_deref(), Some("e1"));
    assert_eq!(row.node_id.as_deref(), Some("n1"));
    assert_eq!(row.event_index, 4);
    assert_eq!(row.user_id.as_deref(), Some("u"));
    assert_eq!(row.position, Some(12.5));
    assert_eq!(row.play_time_sum, Some(30.25));
    assert_eq!(row.from_node_id.as_deref(), Some("a"));
    assert_eq!(row.to_node_id.as_deref(), Some("b"));
    assert_eq!(row.hotspot_id.as_deref(), Some("h"));
    assert_eq!(row.quartile, Some(75));
    assert_eq!(row.player_session.as_deref(), Some("page:player-2"));
}

fn export_pages_in_storage_order(location: &dyn Harness) {
    let store = location.open();
    let mut event = sample_event(2, "v", "s", 1, EventKind::HotspotClick);
    event.target_url = Some("https://example.com/".into());
    event.context.country = Some("IN".into());
    event.context.playback_type = Some(PlaybackType::Vod);
    event.player_session = Some("p1".into());
    store.append(vec![event.clone()]).unwrap();
    store
        .append(
            (2..=5)
                .map(|i| sample_event(2, "v", "s", i, EventKind::View))
                .collect(),
        )
        .unwrap();
    store
        .append(vec![sample_event(3, "v", "s", 9, EventKind::View)])
        .unwrap();
    let first = store.export(Some(2), 0, 2).unwrap();
    assert_eq!(first[0], event, "export returns the event as appended");
    let rest = store.export(Some(2), 2, 100).unwrap();
    let indexes: Vec<u32> = first.iter().chain(&rest).map(|e| e.event_index).collect();
    assert_eq!(indexes, vec![1, 2, 3, 4, 5]);
    assert_eq!(store.export(None, 0, 100).unwrap().len(), 6);
}
