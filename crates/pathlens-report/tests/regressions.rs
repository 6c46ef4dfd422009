//! Small, fixed cases for the disagreements between the engine and the
//! definitions that the property test found, so each stays fixed with a
//! readable example.

use chrono::{DateTime, TimeZone, Utc};
use pathlens_model::{Context, Event, EventKind};
use pathlens_report::{ReportKind, ReportRequest, run};
use pathlens_store::Store;
use pathlens_store::memory::MemoryStore;
use serde_json::{Value, json};

use crate::generate::{PARTNER, maze};

fn at(day: u32, hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, day, hour, minute, second)
        .unwrap()
}

/// An event of session `session` in the maze, numbered `index`.
fn event(
    session: &str,
    index: u32,
    ts: DateTime<Utc>,
    kind: EventKind,
    node: Option<&str>,
) -> Event {
    Event {
        partner_id: PARTNER,
        video_id: "maze".into(),
        node_id: node.map(str::to_string),
        entry_id: Some(node.map_or("maze".into(), |n| format!("entry-{n}"))),
        session_id: session.into(),
        event_index: index,
        ts,
        kind,
        user_id: None,
        position: None,
        play_time_sum: None,
        from_node_id: None,
        to_node_id: None,
        hotspot_id: None,
        target_url: None,
        quartile: None,
        context: Context {
            country: Some("FR".into()),
            ..Context::default()
        },
        player_session: None,
        dedup_key: Event::native_dedup_key("maze", session, index),
    }
}

/// The JSON rows of a report over `events` of the maze.
fn rows(events: Vec<Event>, kind: ReportKind, params: &[(&str, &str)]) -> Vec<Value> {
    let store = MemoryStore::new();
    let now = at(31, 0, 0, 0);
    store.put_video(PARTNER, &maze(), now).unwrap();
    store.append(events).unwrap();
    let video = store.video(PARTNER, "maze").unwrap().unwrap();
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let request = ReportRequest::from_params(kind, &params).unwrap();
    let report = run(&store, &video, &request, now).unwrap();
    report.to_json()["rows"].as_array().unwrap().clone()
}

/// Totals compared with another period: the one row of each period is the
/// same row, whatever its impressions (the first column) are.
#[test]
fn compared_totals_match_their_single_rows() {
    let events = vec![
        event("s1", 1, at(2, 10, 0, 0), EventKind::Impression, None),
        event("s2", 1, at(3, 10, 0, 0), EventKind::Impression, None),
        event("s3", 1, at(3, 11, 0, 0), EventKind::Impression, None),
    ];
    let params = [
        ("from", "2026-01-03"),
        ("to", "2026-01-03"),
        ("compare", "previous_period"),
    ];
    let totals = &rows(events, ReportKind::Totals, &params)[0];
    assert_eq!(totals["impressions"], json!(2));
    assert_eq!(totals["impressions_previous"], json!(1));
    assert_eq!(totals["impressions_change"], json!(1.0));
}

/// A rate with no plays in the other period is null there (not 0), and so
/// is its change.
#[test]
fn a_previous_rate_over_no_plays_stays_null() {
    let mut view = event("s1", 2, at(3, 10, 0, 5), EventKind::View, Some("a"));
    view.play_time_sum = Some(5.0);
    view.position = Some(5.0);
    let events = vec![
        event("s1", 1, at(3, 10, 0, 0), EventKind::NodePlay, Some("a")),
        view,
    ];
    let params = [
        ("from", "2026-01-03"),
        ("to", "2026-01-03"),
        ("compare", "previous_period"),
    ];
    let nodes = rows(events, ReportKind::Nodes, &params);
    let a = nodes.iter().find(|r| r["node_id"] == "a").unwrap();
    assert_eq!(a["completion_rate"], json!(0.5));
    assert_eq!(a["completion_rate_previous"], Value::Null);
    assert_eq!(a["completion_rate_change"], Value::Null);
    assert_eq!(a["plays_previous"], json!(0));
}

/// `countries=unknown` keeps the events without a country, however it is
/// spelt, next to upper-cased country codes.
#[test]
fn the_unknown_country_matches_events_without_one() {
    let mut anywhere = event("s2", 1, at(3, 11, 0, 0), EventKind::Impression, None);
    anywhere.context.country = None;
    let events = vec![
        event("s1", 1, at(3, 10, 0, 0), EventKind::Impression, None),
        anywhere,
    ];
    for (countries, expected) in [("unknown", 1), ("Unknown,fr", 2), ("fr", 1), ("de", 0)] {
        let params = [
            ("from", "2026-01-03"),
            ("to", "2026-01-03"),
            ("countries", countries),
        ];
        let totals = &rows(events.clone(), ReportKind::Totals, &params)[0];
        assert_eq!(
            totals["impressions"],
            json!(expected),
            "countries={countries}"
        );
    }
}

/// A click exactly 29 % into its hotspot's window (3.74 s in 2–8 s) is in
/// bucket 29, although (1740 / 6000) · 100 is 28.999999999999996 in f64.
#[test]
fn a_click_on_a_heatmap_boundary_falls_in_the_later_bucket() {
    let mut switch = event("s1", 2, at(3, 10, 0, 4), EventKind::NodeSwitch, Some("a"));
    switch.from_node_id = Some("a".into());
    switch.to_node_id = Some("b".into());
    switch.hotspot_id = Some("a-b".into());
    switch.position = Some(3.74);
    let events = vec![
        event("s1", 1, at(3, 10, 0, 0), EventKind::NodePlay, Some("a")),
        switch,
    ];
    let params = [
        ("from", "2026-01-03"),
        ("to", "2026-01-03"),
        ("hotspot", "a-b"),
    ];
    let heatmap = rows(events, ReportKind::Heatmap, &params);
    let clicked: Vec<&Value> = heatmap.iter().filter(|r| r["clicks"] == json!(1)).collect();
    assert_eq!(clicked.len(), 1);
    assert_eq!(clicked[0]["bucket"], json!(29));
}

/// A view that added 70 ms of the 7 s node b and ended at 2.03 s watched
/// 1.96–2.03 s: bucket 28 only. In f64, 2.03 · 1000 is 2029.9999999999998,
/// which once also marked bucket 27.
#[test]
fn a_view_starting_on_a_bucket_boundary_marks_no_earlier_bucket() {
    let mut view = event("s1", 2, at(3, 10, 0, 2), EventKind::View, Some("b"));
    view.play_time_sum = Some(0.07);
    view.position = Some(2.03);
    let events = vec![
        event("s1", 1, at(3, 10, 0, 0), EventKind::NodePlay, Some("b")),
        view,
    ];
    let params = [("from", "2026-01-03"), ("to", "2026-01-03"), ("node", "b")];
    let curve = rows(events, ReportKind::Curve, &params);
    let watched: Vec<&Value> = curve
        .iter()
        .filter(|r| r["viewers"] == json!(1))
        .map(|r| &r["percent"])
        .collect();
    assert_eq!(watched, [&json!(28)]);
}

/// The hotspot session filter keeps sessions with a counted click: an
/// automatic switch still carrying the id of a hotspot of another node
/// (here a-b, which sits on a) does not select its session.
#[test]
fn a_stale_hotspot_id_does_not_select_a_session() {
    let mut chosen = event("s1", 1, at(3, 10, 0, 0), EventKind::NodeSwitch, Some("a"));
    chosen.from_node_id = Some("a".into());
    chosen.to_node_id = Some("c".into());
    chosen.hotspot_id = Some("a-c".into());
    chosen.position = Some(6.0);
    let mut stale = event("s1", 3, at(3, 10, 0, 20), EventKind::NodeSwitch, Some("c"));
    stale.from_node_id = Some("c".into());
    stale.to_node_id = Some("b".into());
    stale.hotspot_id = Some("a-b".into());
    stale.position = Some(12.3);
    let events = vec![
        chosen,
        event("s1", 2, at(3, 10, 0, 1), EventKind::Impression, None),
        stale,
    ];
    for (hotspot, impressions) in [("a-b", 0), ("a-c", 1)] {
        let params = [
            ("from", "2026-01-03"),
            ("to", "2026-01-03"),
            ("hotspots", hotspot),
        ];
        let totals = &rows(events.clone(), ReportKind::Totals, &params)[0];
        assert_eq!(
            totals["impressions"],
            json!(impressions),
            "hotspots={hotspot}"
        );
    }
}

/// A view's increase is over the whole history of its player session: a
/// session resumed two days later adds only what it played since its last
/// view, not its whole `play_time_sum` again (a 24-hour look-back did).
#[test]
fn a_view_increase_looks_back_over_the_whole_history() {
    let view = |index, ts, sum| Event {
        play_time_sum: Some(sum),
        ..event("s1", index, ts, EventKind::View, Some("n-a"))
    };
    let events = vec![
        view(1, at(2, 10, 0, 0), 20.0),
        view(2, at(5, 10, 0, 0), 25.0),
    ];
    let params = [("from", "2026-01-05"), ("to", "2026-01-05"), ("tz", "UTC")];
    let totals = rows(events, ReportKind::Totals, &params);
    assert_eq!(totals[0]["minutes_viewed"], json!(5.0 / 60.0));
}
