//! Properties of whole simulations: determinism, valid references, event
//! numbering, monotone times and play sums, retries.

use std::collections::{HashMap, HashSet};

use pathlens_model::{Behavior, Event, EventKind, Graph};

use super::*;

fn small_config(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        days: 14,
        sessions_per_day: 25.0,
        retry_rate: 0.2,
        ..SimConfig::default()
    }
}

fn simulate(config: SimConfig) -> Vec<Event> {
    Simulator::new(config, sample_graphs()).collect()
}

fn by_session(events: &[Event]) -> HashMap<&str, Vec<&Event>> {
    let mut sessions: HashMap<&str, Vec<&Event>> = HashMap::new();
    for event in events {
        sessions.entry(&event.session_id).or_default().push(event);
    }
    sessions
}

#[test]
fn same_config_gives_the_same_events() {
    let first = simulate(small_config(7));
    assert!(first.len() > 1000, "{}", first.len());
    assert_eq!(first, simulate(small_config(7)));
    assert_ne!(first, simulate(small_config(8)));
}

#[test]
fn the_hint_counts_every_session() {
    let simulator = Simulator::new(small_config(3), sample_graphs());
    let hint = simulator.session_count_hint();
    let events: Vec<Event> = simulator.collect();
    assert_eq!(by_session(&events).len() as u64, hint);
    let videos: HashSet<&str> = events.iter().map(|e| e.video_id.as_str()).collect();
    assert_eq!(videos.len(), 3);
}

#[test]
fn events_reference_live_parts_of_their_graph() {
    let graphs: HashMap<String, Graph> = sample_graphs()
        .into_iter()
        .map(|g| (g.id.clone(), g))
        .collect();
    let events = simulate(small_config(11));
    for event in &events {
        let graph = &graphs[&event.video_id];
        check_references(graph, event);
        assert_eq!(event.partner_id, 1);
        assert_eq!(
            event.dedup_key,
            Event::native_dedup_key(&event.video_id, &event.session_id, event.event_index)
        );
    }
}

fn check_references(graph: &Graph, event: &Event) {
    let live = |id: &Option<String>| {
        let node = graph
            .node(id.as_deref().expect("node id present"))
            .expect("known node");
        assert!(node.deleted_at.is_none(), "{event:?}");
        node
    };
    let Some(_) = &event.node_id else {
        assert_eq!(event.entry_id.as_deref(), Some(graph.id.as_str()));
        assert!(matches!(
            event.kind,
            EventKind::Impression | EventKind::PlayRequest | EventKind::Play
        ));
        return;
    };
    let node = live(&event.node_id);
    assert_eq!(event.entry_id.as_deref(), Some(node.entry_id.as_str()));
    let position = event.position.expect("node events have a position");
    assert!(
        position >= 0.0 && position * 1000.0 <= node.duration_ms as f64,
        "{event:?}"
    );
    match event.kind {
        EventKind::NodeSwitch => {
            assert_eq!(event.from_node_id, event.node_id);
            let target = live(&event.to_node_id);
            let leads_there = node
                .live_hotspots()
                .any(|h| h.behavior.target_node() == Some(target.id.as_str()));
            assert!(leads_there, "{event:?}");
            if let Some(hotspot_id) = &event.hotspot_id {
                let (_, hotspot) = graph.hotspot(hotspot_id).expect("known hotspot");
                assert!(hotspot.deleted_at.is_none());
            }
        }
        EventKind::HotspotClick => {
            let hotspot = node
                .live_hotspots()
                .find(|h| Some(&h.id) == event.hotspot_id.as_ref())
                .expect("a live hotspot of the node");
            let Behavior::GoToUrl { url } = &hotspot.behavior else {
                panic!("{event:?} clicks a hotspot that is no link");
            };
            assert_eq!(event.target_url.as_ref(), Some(url));
            assert_inside_window(position, hotspot.start_ms, hotspot.end_ms);
        }
        EventKind::Quartile => assert!(matches!(event.quartile, Some(25 | 50 | 75 | 90 | 100))),
        EventKind::View => assert!(event.play_time_sum.is_some()),
        _ => {}
    }
}

fn assert_inside_window(position: f64, start_ms: u64, end_ms: u64) {
    let position_ms = position * 1000.0;
    assert!(
        position_ms >= start_ms as f64 && position_ms <= end_ms as f64,
        "{position} outside {start_ms}..{end_ms} ms"
    );
}

#[test]
fn clicked_switches_happen_inside_the_hotspot_window() {
    let graphs = sample_graphs();
    let events = simulate(small_config(5));
    let mut clicked = 0;
    for event in events.iter().filter(|e| e.kind == EventKind::NodeSwitch) {
        let graph = graphs.iter().find(|g| g.id == event.video_id).unwrap();
        let Some((owner, hotspot)) = event.hotspot_id.as_deref().and_then(|id| graph.hotspot(id))
        else {
            continue;
        };
        if Some(&owner.id) == event.from_node_id.as_ref() {
            clicked += 1;
            assert_eq!(hotspot.behavior.target_node(), event.to_node_id.as_deref());
            assert_inside_window(event.position.unwrap(), hotspot.start_ms, hotspot.end_ms);
        }
    }
    assert!(clicked > 100, "{clicked}");
}

#[test]
fn automatic_switches_come_with_and_without_a_stale_hotspot() {
    let graphs = sample_graphs();
    let events = simulate(small_config(13));
    let (mut bare, mut stale) = (0, 0);
    for event in events.iter().filter(|e| e.kind == EventKind::NodeSwitch) {
        let graph = graphs.iter().find(|g| g.id == event.video_id).unwrap();
        match event.hotspot_id.as_deref().and_then(|id| graph.hotspot(id)) {
            None => bare += 1,
            Some((owner, _)) if Some(&owner.id) != event.from_node_id.as_ref() => stale += 1,
            Some(_) => {}
        }
    }
    assert!(bare > 20 && stale > 0, "bare {bare}, stale {stale}");
    assert!(stale < bare, "bare {bare}, stale {stale}");
}

#[test]
fn event_indexes_are_unique_per_session_except_retried_copies() {
    let events = simulate(small_config(17));
    for (session, list) in by_session(&events) {
        let mut seen: HashMap<u32, &Event> = HashMap::new();
        for event in list {
            if let Some(earlier) = seen.insert(event.event_index, event) {
                assert_eq!(earlier, event, "index reused in {session}");
            }
        }
        let mut indexes: Vec<u32> = seen.into_keys().collect();
        indexes.sort_unstable();
        assert_eq!(
            indexes,
            (1..=indexes.len() as u32).collect::<Vec<_>>(),
            "{session}"
        );
    }
}

#[test]
fn retries_repeat_dedup_keys_only_when_asked() {
    let duplicates = |retry_rate: f64| {
        let events = simulate(SimConfig {
            retry_rate,
            ..small_config(19)
        });
        let keys: HashSet<u64> = events.iter().map(|e| e.dedup_key).collect();
        events.len() - keys.len()
    };
    assert_eq!(duplicates(0.0), 0);
    assert!(duplicates(0.2) > 0);
    let everyone = simulate(SimConfig {
        retry_rate: 1.0,
        ..small_config(19)
    });
    for (session, list) in by_session(&everyone) {
        let keys: HashSet<u64> = list.iter().map(|e| e.dedup_key).collect();
        assert!(keys.len() < list.len(), "{session} has no retried event");
    }
}

#[test]
fn times_never_go_back_within_a_session_and_sessions_come_in_start_order() {
    let events = simulate(small_config(23));
    let sessions = by_session(&events);
    for list in sessions.values() {
        assert!(list.windows(2).all(|w| w[0].ts <= w[1].ts));
    }
    let mut starts = Vec::new();
    for event in &events {
        if starts.last().map(|(id, _)| id) != Some(&event.session_id) {
            starts.push((event.session_id.clone(), event.ts));
        }
    }
    assert_eq!(
        starts.len(),
        sessions.len(),
        "a session's events are not contiguous"
    );
    assert!(starts.windows(2).all(|w| w[0].1 <= w[1].1));
    let config = small_config(23);
    assert!(starts[0].1 >= config.start);
    assert!(starts.last().unwrap().1 < config.start + Duration::days(14));
}

#[test]
fn play_time_sum_never_decreases_per_player_session() {
    let events = simulate(small_config(29));
    let mut last: HashMap<(&str, &str), f64> = HashMap::new();
    let mut continued = 0;
    for event in events.iter().filter(|e| e.kind == EventKind::View) {
        let key = (
            event.session_id.as_str(),
            event.entry_id.as_deref().unwrap(),
        );
        let sum = event.play_time_sum.unwrap();
        if let Some(previous) = last.insert(key, sum) {
            assert!(sum >= previous, "{event:?} after {previous}");
            assert!(sum - previous <= 10.0 + 1e-9, "{event:?} after {previous}");
        } else {
            assert_eq!(sum, 0.0, "the first view of a player session starts at 0");
        }
    }
    // Loops revisit nodes: some node_play must find its entry already played.
    let mut played: HashSet<(&str, &str)> = HashSet::new();
    for event in events.iter().filter(|e| e.kind == EventKind::NodePlay) {
        let key = (
            event.session_id.as_str(),
            event.entry_id.as_deref().unwrap(),
        );
        if !played.insert(key) {
            continued += 1;
        }
    }
    assert!(continued > 0, "no session revisited a node");
}

#[test]
fn sessions_have_one_viewer_one_context_and_the_right_openings() {
    let events = simulate(small_config(31));
    let (mut played, mut unplayed) = (0, 0);
    for list in by_session(&events).values() {
        let first = list[0];
        assert_eq!(first.kind, EventKind::Impression);
        assert!(
            list.iter()
                .all(|e| e.user_id == first.user_id && e.context == first.context)
        );
        match list.iter().find(|e| e.kind == EventKind::Play) {
            Some(_) => played += 1,
            None => {
                unplayed += 1;
                assert!(list.iter().all(|e| e.kind == EventKind::Impression));
            }
        }
    }
    assert!(
        played > 3 * unplayed && unplayed > 0,
        "{played} / {unplayed}"
    );
}

#[test]
fn default_config_generates_a_full_quarter() {
    let config = SimConfig::default();
    assert_eq!(config.start.to_rfc3339(), "2026-01-01T00:00:00+00:00");
    assert_eq!(config.days, 90);
    let hint = Simulator::new(config, sample_graphs()).session_count_hint();
    assert!((20_000..35_000).contains(&hint), "{hint}");
}
