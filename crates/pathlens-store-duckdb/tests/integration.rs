//! The embedded store against the conformance suite, plus its own checks:
//! migrations, back-pressure and concurrent writers.

use std::sync::Arc;

use pathlens_model::EventKind;
use pathlens_store::conformance::{self, Harness, sample_event};
use pathlens_store::{Store, StoreErrorKind};
use pathlens_store_duckdb::{DuckDbConfig, DuckDbStore, schema};

struct TempLocation {
    dir: tempfile::TempDir,
}

impl Harness for TempLocation {
    fn open(&self) -> Box<dyn Store> {
        Box::new(DuckDbStore::open(self.dir.path(), &DuckDbConfig::default()).expect("open store"))
    }
}

impl TempLocation {
    /// A connection of its own to the (closed) store's database file.
    fn database(&self) -> duckdb::Connection {
        duckdb::Connection::open(self.dir.path().join(pathlens_store_duckdb::DATABASE_FILE))
            .unwrap()
    }

    /// The store, keeping at most `sessions` sessions in the writer's memory.
    fn open_holding(&self, sessions: usize) -> Box<dyn Store> {
        let config = DuckDbConfig {
            cached_sessions: sessions,
            ..DuckDbConfig::default()
        };
        Box::new(DuckDbStore::open(self.dir.path(), &config).expect("open store"))
    }
}

fn location() -> TempLocation {
    TempLocation {
        dir: tempfile::tempdir().expect("temp dir"),
    }
}

#[test]
fn conformance_suite() {
    conformance::run_all(location);
}

#[test]
fn migrations_apply_once_and_refuse_newer_databases() {
    let place = location();
    drop(place.open());
    drop(place.open());
    {
        let connection = place.database();
        assert_eq!(
            schema::current_version(&connection).unwrap(),
            schema::latest_version()
        );
        let applied: i64 = connection
            .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            applied,
            schema::latest_version(),
            "each migration recorded once"
        );
        connection
            .execute_batch("INSERT INTO schema_migrations (version) VALUES (999)")
            .unwrap();
    }
    let error = DuckDbStore::open(place.dir.path(), &DuckDbConfig::default())
        .err()
        .expect("newer schema refused");
    assert_eq!(error.kind(), StoreErrorKind::Incompatible);
    assert!(error.to_string().contains("999"));
}

#[test]
fn concurrent_appends_are_all_stored_once() {
    let place = location();
    let store: Arc<DuckDbStore> =
        Arc::new(DuckDbStore::open(place.dir.path(), &DuckDbConfig::default()).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut accepted = 0;
                for batch in 0..20u32 {
                    // Every thread sends the same events: only one copy may land.
                    let events = (0..50u32)
                        .map(|i| {
                            let mut event =
                                sample_event(1, "v", &format!("s{batch}"), i, EventKind::View);
                            event.dedup_key = u64::from(batch * 1000 + i);
                            event
                        })
                        .collect();
                    accepted += store.append(events).unwrap().accepted;
                }
                let _ = t;
                accepted
            })
        })
        .collect();
    let accepted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(accepted, 20 * 50);
    assert_eq!(store.event_count().unwrap(), 20 * 50);
}

#[test]
fn a_full_queue_is_reported_as_overloaded() {
    let place = location();
    let config = DuckDbConfig {
        queue_capacity: 1,
        ..DuckDbConfig::default()
    };
    let store = Arc::new(DuckDbStore::open(place.dir.path(), &config).unwrap());
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let events = (0..2_000u32)
                    .map(|i| {
                        let mut event = sample_event(1, "v", &format!("t{t}"), i, EventKind::View);
                        event.dedup_key = u64::from(t * 100_000 + i);
                        event
                    })
                    .collect();
                store
                    .append(events)
                    .map(|o| o.accepted)
                    .map_err(|e| e.kind())
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let stored: usize = results.iter().filter_map(|r| r.as_ref().ok()).sum();
    for result in &results {
        if let Err(kind) = result {
            assert_eq!(*kind, StoreErrorKind::Overloaded);
        }
    }
    assert_eq!(
        store.event_count().unwrap() as usize,
        stored,
        "a refused append stores nothing"
    );
}

#[test]
fn a_version_1_database_is_upgraded_in_place() {
    let place = location();
    {
        // A database as version 1 of the schema wrote it, with one event.
        let connection = place.database();
        schema::current_version(&connection).unwrap();
        connection.execute_batch(schema::MIGRATIONS[0]).unwrap();
        connection
            .execute_batch(
                "INSERT INTO schema_migrations (version) VALUES (1);
                 INSERT INTO events (seq, partner_id, video_id, ts_us, kind, session_id, event_index, dedup_key, play_time_sum)
                 VALUES (0, 1, 'v', 1772323200000000, 3, 's', 1, 42, NULL),
                     (1, 1, 'v', 1772323210000000, 4, 's', 2, 43, 10.0),
                     (2, 1, 'v', 1772323220000000, 4, 's', 3, 44, 25.5);",
            )
            .unwrap();
    }
    let store = place.open();
    let events = store.export(Some(1), 0, 10).unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].kind, EventKind::Play);
    assert_eq!(events[0].player_session, None);
    let again = store.append(vec![{
        let mut e = sample_event(1, "v", "s", 1, EventKind::Play);
        e.dedup_key = 42;
        e
    }]);
    assert_eq!(
        again.unwrap().duplicates,
        1,
        "the dedup index covers version-1 rows"
    );
    // The upgrade worked out the stored views' playback, and a view stored
    // after it goes on from the last one.
    let mut next = sample_event(1, "v", "s", 4, EventKind::View);
    (next.entry_id, next.node_id, next.play_time_sum) = (None, None, Some(30.0));
    next.ts = events[2].ts + chrono::Duration::seconds(10);
    assert_eq!(store.append(vec![next]).unwrap().accepted, 1);
    drop(store);
    let connection = place.database();
    let stored: Vec<i64> = connection
        .prepare("SELECT view_ms FROM events ORDER BY seq")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<duckdb::Result<_>>()
        .unwrap();
    assert_eq!(stored, [0, 10_000, 15_500, 4_500]);
}

/// `days` of simulated traffic of `graphs` (partner 1) from `start`.
/// A request for every part (one node drill-down when `only_node`, the
/// curve of `curve`, the heat map of `heatmap`) of `graph` in `[start, end)`.
#[allow(clippy::too_many_arguments)]
fn every_part<'g>(
    graph: &'g pathlens_model::Graph,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    filter: pathlens_store::ContextFilter,
    sessions: pathlens_store::SessionFilter,
    buckets: Vec<(i64, i64)>,
    only_node: Option<String>,
    (curve, heatmap): (Option<String>, Option<String>),
) -> pathlens_store::AggregateRequest<'g> {
    pathlens_store::AggregateRequest {
        partner_id: 1,
        graph,
        start,
        end,
        filter,
        sessions,
        parts: pathlens_store::Parts {
            buckets,
            nodes: true,
            only_node,
            clicks: true,
            transitions: true,
            viewers: true,
            curve,
            heatmap,
        },
        cancel: Default::default(),
    }
}

/// Every part of `graph` over `[start, end)` as one bucket, unfiltered,
/// with the viewing curve of `curve`.
fn unfiltered(
    graph: &pathlens_model::Graph,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    curve: Option<String>,
) -> pathlens_store::AggregateRequest<'_> {
    every_part(
        graph,
        start,
        end,
        Default::default(),
        Default::default(),
        vec![(start.timestamp_micros(), end.timestamp_micros())],
        None,
        (curve, None),
    )
}

fn simulated(
    start: chrono::DateTime<chrono::Utc>,
    graphs: &[pathlens_model::Graph],
    seed: u64,
    days: u32,
    sessions_per_day: f64,
) -> Vec<pathlens_model::Event> {
    let config = pathlens_sim::SimConfig {
        seed,
        partner_id: 1,
        start,
        days,
        sessions_per_day,
        ..pathlens_sim::SimConfig::default()
    };
    pathlens_sim::Simulator::new(config, graphs.to_vec()).collect()
}

/// `events` and, for every fourth session's play, the session playing
/// again 20 minutes later (another slot) and a second later still.
fn with_replays(mut events: Vec<pathlens_model::Event>) -> Vec<pathlens_model::Event> {
    let replays: Vec<pathlens_model::Event> = events
        .iter()
        .filter(|e| e.kind == pathlens_model::EventKind::Play)
        .step_by(4)
        .flat_map(|play| {
            [(20 * 60, 100_000), (20 * 60 + 1, 100_001)].map(|(seconds, index)| {
                let mut again = play.clone();
                again.ts += chrono::Duration::seconds(seconds);
                again.event_index = index;
                again.dedup_key = pathlens_model::Event::native_dedup_key(
                    &again.video_id,
                    &again.session_id,
                    index,
                );
                again
            })
        })
        .collect();
    events.extend(replays);
    events
}

/// A session that plays again counts once in a bucket's sessions and once
/// in its breakdown value's, when its first play lies in the period's
/// first slot as when it lies before the period: the facts' totals and
/// breakdown equal the reference's, value by value.
#[test]
fn sessions_that_play_again_count_once_in_totals_and_breakdowns() {
    use chrono::{Duration, TimeZone, Utc};
    use pathlens_sim::sample_graphs;
    use pathlens_store::{AggregateRequest, Dimension, Parts, reference};

    let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let graphs = sample_graphs();
    let events = with_replays(simulated(start, &graphs, 11, 2, 30.0));
    let place = location();
    let store = place.open();
    for graph in &graphs {
        store.put_video(1, graph, start).unwrap();
    }
    store.append(events.clone()).unwrap();
    let countries: Vec<String> = events
        .iter()
        .map(|e| {
            e.context
                .country
                .clone()
                .unwrap_or_else(|| "unknown".into())
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut counted = 0;
    for graph in &graphs {
        // Periods from the slot of a session's first play that it plays
        // again 20 minutes later, and from the slot after.
        let first_play = events
            .iter()
            .filter(|e| e.video_id == graph.id && e.event_index == 100_000)
            .filter_map(|again| {
                events.iter().find(|e| {
                    e.session_id == again.session_id
                        && e.kind == pathlens_model::EventKind::Play
                        && e.event_index < 100_000
                })
            })
            .nth(3)
            .expect("a session that plays again");
        let slot = chrono::DateTime::from_timestamp_micros(
            first_play.ts.timestamp_micros() / 900_000_000 * 900_000_000,
        )
        .unwrap();
        for from in [slot, slot + Duration::minutes(15)] {
            let to = from + Duration::days(1);
            let request = AggregateRequest {
                partner_id: 1,
                graph,
                start: from,
                end: to,
                filter: Default::default(),
                sessions: Default::default(),
                parts: Parts {
                    buckets: vec![(from.timestamp_micros(), to.timestamp_micros())],
                    ..Parts::default()
                },
                cancel: Default::default(),
            };
            let expected = reference::aggregate(store.as_ref(), &request).unwrap();
            assert_eq!(store.aggregate(&request).unwrap().totals, expected.totals);
            let by_value: Vec<pathlens_store::Totals> = countries
                .iter()
                .map(|country| {
                    let filter = request
                        .filter
                        .narrowed(Dimension::Country, country)
                        .unwrap();
                    reference::aggregate(
                        store.as_ref(),
                        &AggregateRequest {
                            filter,
                            ..request.clone()
                        },
                    )
                    .unwrap()
                    .totals[0]
                })
                .collect();
            assert_eq!(
                store
                    .breakdown(&request, Dimension::Country, &countries)
                    .unwrap(),
                by_value,
                "{} from {from}",
                graph.id
            );
            counted += expected.totals[0].sessions_played;
        }
    }
    assert!(counted > 0, "sessions played in the periods");
}

/// Reads reuse their connections and the plans prepared on them: the same
/// reports asked again, after more events arrived and under other filters
/// (each selecting its sessions into the same temporary table), answer
/// from the data of the moment, as the reference does.
#[test]
fn reports_asked_again_answer_from_the_data_of_the_moment() {
    use chrono::{Duration, TimeZone, Utc};
    use pathlens_sim::sample_graphs;
    use pathlens_store::{ContextFilter, reference};

    let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let graphs = sample_graphs();
    let events = simulated(start, &graphs, 13, 2, 30.0);
    let (first, later) = events.split_at(events.len() / 2);
    let place = location();
    let store = place.open();
    for graph in &graphs {
        store.put_video(1, graph, start).unwrap();
    }
    let countries: Vec<String> = events
        .iter()
        .filter_map(|e| e.context.country.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .take(3)
        .collect();
    let graph = &graphs[0];
    let end = start + Duration::days(2);
    let mut plays = Vec::new();
    for batch in [first, later] {
        store.append(batch.to_vec()).unwrap();
        for _ in 0..2 {
            for country in [None].into_iter().chain(countries.iter().map(Some)) {
                let filter = ContextFilter {
                    countries: country.into_iter().cloned().collect(),
                    ..ContextFilter::default()
                };
                let request = every_part(
                    graph,
                    start,
                    end,
                    filter,
                    Default::default(),
                    vec![(start.timestamp_micros(), end.timestamp_micros())],
                    Some(graph.start_node.clone()),
                    (Some(graph.start_node.clone()), None),
                );
                let figures = store.aggregate(&request).unwrap();
                assert_eq!(
                    figures,
                    reference::aggregate(store.as_ref(), &request).unwrap(),
                    "{country:?}"
                );
                if country.is_none() {
                    plays.push(figures.totals[0].plays);
                }
            }
        }
    }
    assert!(
        plays[0] > 0 && plays[2] > plays[0],
        "later events counted: {plays:?}"
    );
}

/// `events` in a fixed pseudo-random arrival order (one per `seed`).
fn shuffled(events: &[pathlens_model::Event], seed: u32) -> Vec<pathlens_model::Event> {
    let mut shuffled = events.to_vec();
    shuffled.sort_by_key(|e| {
        e.dedup_key
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(seed)
    });
    shuffled
}

/// `aggregate` in SQL gives the reference's figures for every part, with
/// buckets on 15-minute slots and with buckets that are not (the store's
/// contract allows any bounds), filtered and not.
#[test]
fn aggregates_in_sql_equal_the_reference() {
    use chrono::{Duration, TimeZone, Utc};
    use pathlens_sim::sample_graphs;
    use pathlens_store::{ContextFilter, SessionFilter, reference};

    let place = location();
    let store = DuckDbStore::open(place.dir.path(), &DuckDbConfig::default()).unwrap();
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let graphs = sample_graphs();
    for graph in &graphs {
        store.put_video(1, graph, start).unwrap();
    }
    let events = simulated(start, &graphs, 7, 6, 20.0);
    for batch in events.chunks(700) {
        store.append(batch.to_vec()).unwrap();
    }
    let graph = &graphs[0];
    let (from, to) = (start + Duration::days(1), start + Duration::days(5));
    let us = |t: chrono::DateTime<Utc>| t.timestamp_micros();
    let aligned: Vec<(i64, i64)> = (0..4)
        .map(|d| {
            (
                us(from + Duration::days(d)),
                us(from + Duration::days(d + 1)),
            )
        })
        .collect();
    // Bounds off the 15-minute grid, with a gap between two buckets.
    let odd = vec![
        (us(from), us(from) + 3_600_000_001),
        (us(from) + 7_200_000_000, us(to) - 7),
    ];
    let first_node = graph.start_node.clone();
    let first_hotspot = graph.nodes[0].hotspots[0].id.clone();
    let filters = [
        ContextFilter::default(),
        ContextFilter {
            countries: vec!["US".into(), "unknown".into()],
            ..ContextFilter::default()
        },
    ];
    for (buckets, only_node) in [
        (aligned.clone(), None),
        (odd, None),
        (aligned, Some(first_node.clone())),
    ] {
        for filter in &filters {
            for sessions in [
                SessionFilter::default(),
                SessionFilter {
                    nodes: graph.end_nodes(),
                    hotspots: Vec::new(),
                },
            ] {
                let request = every_part(
                    graph,
                    from,
                    to,
                    filter.clone(),
                    sessions,
                    buckets.clone(),
                    only_node.clone(),
                    (Some(first_node.clone()), Some(first_hotspot.clone())),
                );
                let sql = store.aggregate(&request).unwrap();
                let rows = reference::aggregate(&store, &request).unwrap();
                assert!(sql.totals.iter().any(|t| t.plays > 0), "{request:?}");
                assert_eq!(sql, rows, "{request:?}");
            }
        }
    }
}

/// Each view's playback is worked out when it is stored. Events arriving
/// out of order (late beacons, imports of older events, in any batch
/// split) must give the same stored figures, and the same reports, as the
/// same events in order; and a reopened store goes on from where it was.
#[test]
fn view_playback_does_not_depend_on_arrival_order() {
    use chrono::{Duration, TimeZone, Utc};
    use pathlens_sim::sample_graphs;
    use pathlens_store::{AggregateRequest, Parts, reference};

    let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let graphs = sample_graphs();
    let events = simulated(start, &graphs, 3, 3, 15.0);
    let shuffled = shuffled(&events, 17);
    let in_order = location();
    let mixed = location();
    // The mixed store's writer holds two sessions at most: the others are
    // read back from the database as batches reach them.
    let stores = [in_order.open(), mixed.open_holding(2)];
    for store in &stores {
        for graph in &graphs {
            store.put_video(1, graph, start).unwrap();
        }
    }
    for batch in events.chunks(1_000) {
        stores[0].append(batch.to_vec()).unwrap();
    }
    // Uneven batches, and the store reopened halfway.
    let half = shuffled.len() / 2;
    for batch in shuffled[..half].chunks(37) {
        stores[1].append(batch.to_vec()).unwrap();
    }
    drop(stores);
    let stores = [in_order.open(), mixed.open_holding(2)];
    for batch in shuffled[half..].chunks(501) {
        stores[1].append(batch.to_vec()).unwrap();
    }
    // Every event again, in other batches: all recognised as stored, held
    // in memory or not.
    for (store, size) in stores.iter().zip([777, 53]) {
        let stored = store.event_count().unwrap();
        for batch in events.chunks(size) {
            let outcome = store.append(batch.to_vec()).unwrap();
            assert_eq!((outcome.accepted, outcome.duplicates), (0, batch.len()));
        }
        assert_eq!(store.event_count().unwrap(), stored);
    }
    assert_eq!(
        stores[0].event_count().unwrap(),
        stores[1].event_count().unwrap()
    );
    for graph in &graphs {
        let request = AggregateRequest {
            partner_id: 1,
            graph,
            start: start + Duration::hours(20),
            end: start + Duration::days(3),
            filter: Default::default(),
            sessions: Default::default(),
            parts: Parts {
                buckets: vec![(
                    (start + Duration::hours(20)).timestamp_micros(),
                    (start + Duration::days(3)).timestamp_micros(),
                )],
                nodes: true,
                viewers: true,
                ..Parts::default()
            },
            cancel: Default::default(),
        };
        let expected = reference::aggregate(stores[0].as_ref(), &request).unwrap();
        assert!(expected.totals[0].view_ms > 0);
        for store in &stores {
            assert_eq!(store.aggregate(&request).unwrap(), expected, "{}", graph.id);
            // A cancelled request does no work and says so.
            let cancelled = AggregateRequest {
                cancel: pathlens_store::Cancel::new(),
                ..request.clone()
            };
            cancelled.cancel.cancel();
            assert_eq!(
                store.aggregate(&cancelled).unwrap_err().kind(),
                StoreErrorKind::Cancelled
            );
        }
    }
    drop(stores);
    let (ordered, arrived) = (stored_ms(&in_order), stored_ms(&mixed));
    assert!(ordered.iter().any(|(_, ms)| *ms > 0));
    assert_eq!(ordered, arrived);
}

/// Each stored event's dedup key and view playback, of a closed store.
fn stored_ms(place: &TempLocation) -> Vec<(u64, i64)> {
    let connection = place.database();
    let mut statement = connection
        .prepare("SELECT dedup_key, view_ms FROM events ORDER BY dedup_key")
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<duckdb::Result<_>>()
        .unwrap()
}

/// Small batches from four threads at once, out of order and each sent
/// twice, to a writer holding two sessions in memory: they are
/// acknowledged through the intake log while earlier ones are applied on
/// the apply thread, and the events, their view playback and the reports
/// equal those of the same events stored in order, once each.
#[test]
fn small_batches_acknowledged_during_applies_equal_in_order_storage() {
    use chrono::{Duration, TimeZone, Utc};
    use pathlens_sim::sample_graphs;
    use pathlens_store::{AggregateRequest, Parts};

    let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let graphs = sample_graphs();
    let events = simulated(start, &graphs, 3, 3, 15.0);
    let shuffled = shuffled(&events, 29);
    let (in_order, concurrent) = (location(), location());
    let config = DuckDbConfig {
        cached_sessions: 2,
        ..DuckDbConfig::default()
    };
    let stores = [
        Arc::new(DuckDbStore::open(in_order.dir.path(), &DuckDbConfig::default()).unwrap()),
        Arc::new(DuckDbStore::open(concurrent.dir.path(), &config).unwrap()),
    ];
    for store in &stores {
        for graph in &graphs {
            store.put_video(1, graph, start).unwrap();
        }
    }
    let mut stored = 0;
    for batch in events.chunks(1_000) {
        stored += stores[0].append(batch.to_vec()).unwrap().accepted;
    }
    let batches: Arc<Vec<Vec<pathlens_model::Event>>> =
        Arc::new(shuffled.chunks(29).map(<[_]>::to_vec).collect());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (store, batches) = (stores[1].clone(), batches.clone());
            std::thread::spawn(move || {
                let mut accepted = 0;
                for round in 0..2 {
                    for (n, batch) in batches.iter().enumerate() {
                        // Each batch goes to two threads, in both rounds.
                        if n % 4 == t || (n + round + 1) % 4 == t {
                            accepted += store.append(batch.clone()).unwrap().accepted;
                        }
                    }
                }
                accepted
            })
        })
        .collect();
    let accepted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(accepted, stored);
    for store in &stores {
        assert_eq!(store.event_count().unwrap(), stored as u64);
    }
    for graph in &graphs {
        let request = AggregateRequest {
            partner_id: 1,
            graph,
            start,
            end: start + Duration::days(4),
            filter: Default::default(),
            sessions: Default::default(),
            parts: Parts {
                buckets: vec![(
                    start.timestamp_micros(),
                    (start + Duration::days(4)).timestamp_micros(),
                )],
                nodes: true,
                viewers: true,
                clicks: true,
                transitions: true,
                ..Parts::default()
            },
            cancel: Default::default(),
        };
        assert_eq!(
            stores[1].aggregate(&request).unwrap(),
            stores[0].aggregate(&request).unwrap(),
            "{}",
            graph.id
        );
    }
    drop(stores);
    let ordered = stored_ms(&in_order);
    assert!(ordered.iter().any(|(_, ms)| *ms > 0));
    assert_eq!(ordered, stored_ms(&concurrent));
}

/// The session facts that unfiltered reports read are derived when events
/// are stored: events that arrive before their video's graph, out of order
/// and in uneven batches, and a graph whose durations change afterwards,
/// still give the reference's figures for every part; and the facts do not
/// depend on the arrival order.
#[test]
fn session_facts_follow_late_events_and_graph_changes() {
    use chrono::{Duration, TimeZone, Utc};
    use pathlens_sim::sample_graphs;
    use pathlens_store::{ContextFilter, SessionFilter, reference};

    let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let mut graphs = sample_graphs();
    let events = simulated(start, &graphs, 11, 4, 12.0);
    let mut shuffled = events.clone();
    shuffled.sort_by_key(|e| e.dedup_key.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let (in_order, mixed) = (location(), location());
    let stores = [in_order.open(), mixed.open()];
    for batch in events.chunks(900) {
        stores[0].append(batch.to_vec()).unwrap();
    }
    for batch in shuffled.chunks(53) {
        stores[1].append(batch.to_vec()).unwrap();
    }
    // A viewer who plays within the checked period.
    let known = events
        .iter()
        .filter(|e| e.kind == EventKind::Play && e.ts > start + Duration::days(1))
        .find_map(|e| e.user_id.clone())
        .expect("a known viewer");
    let filters = [
        ContextFilter::default(),
        ContextFilter {
            countries: vec!["US".into(), "unknown".into()],
            ..ContextFilter::default()
        },
        ContextFilter {
            user_ids: vec![known],
            ..ContextFilter::default()
        },
    ];
    let check = |stores: &[Box<dyn Store>; 2], graphs: &[pathlens_model::Graph]| {
        // The viewer filter keeps plays of some video.
        let mut viewer_plays = 0;
        for graph in graphs {
            let node = graph.start_node.clone();
            let hotspot = graph.nodes[0].hotspots[0].id.clone();
            for (filter, sessions) in filters.iter().flat_map(|f| {
                [
                    SessionFilter::default(),
                    SessionFilter {
                        nodes: graph.end_nodes(),
                        hotspots: Vec::new(),
                    },
                    SessionFilter {
                        nodes: vec![graph.start_node.clone()],
                        hotspots: vec![hotspot.clone()],
                    },
                ]
                .map(|s| (f.clone(), s))
            }) {
                // Local days of UTC+05:30, and a period that starts mid-session.
                let from = start + Duration::minutes(18 * 60 + 30);
                let to = from + Duration::days(3);
                let buckets = (0..3)
                    .map(|d| {
                        (
                            (from + Duration::days(d)).timestamp_micros(),
                            (from + Duration::days(d + 1)).timestamp_micros(),
                        )
                    })
                    .collect();
                let request = every_part(
                    graph,
                    from,
                    to,
                    filter.clone(),
                    sessions,
                    buckets,
                    None,
                    (Some(node.clone()), Some(hotspot.clone())),
                );
                let expected = reference::aggregate(stores[0].as_ref(), &request).unwrap();
                if request.sessions.is_empty() && !request.filter.user_ids.is_empty() {
                    viewer_plays += expected.totals.iter().map(|t| t.plays).sum::<u64>();
                }
                if request.sessions.is_empty() && request.filter.is_empty() {
                    assert!(expected.totals.iter().any(|t| t.plays > 0), "{}", graph.id);
                    assert!(expected.nodes.values().any(|n| n.watched_buckets > 0));
                    assert!(expected.transitions.values().any(|&n| n > 0));
                }
                for store in stores {
                    assert_eq!(store.aggregate(&request).unwrap(), expected, "{}", graph.id);
                }
            }
        }
        assert!(viewer_plays > 0, "the viewer filter keeps no play");
    };
    // Events stored before any graph: no watched buckets yet, and then the
    // graphs arrive.
    for store in &stores {
        for graph in &graphs {
            store.put_video(1, graph, start).unwrap();
        }
    }
    check(&stores, &graphs);
    // New durations re-derive the watched buckets.
    for graph in &mut graphs {
        for node in &mut graph.nodes {
            node.duration_ms = node.duration_ms * 3 / 2 + 1_000;
        }
        for store in &stores {
            store.put_video(1, graph, start).unwrap();
        }
    }
    check(&stores, &graphs);
    // A session whose country changes on its way (a last view, from
    // elsewhere, that adds 20 s): a filter would keep part of it, so
    // filtered reports come from the events, and still agree.
    let mut moved = events
        .iter()
        .find(|e| {
            e.kind == EventKind::View
                && e.context.country.as_deref() == Some("US")
                && e.play_time_sum.is_some()
                && e.ts > start + chrono::Duration::days(2)
        })
        .expect("a view from the US within the period")
        .clone();
    moved.event_index += 100_000;
    moved.dedup_key ^= 0x5eed;
    moved.ts += chrono::Duration::seconds(1);
    moved.context.country = Some("ZZ".into());
    moved.play_time_sum = moved.play_time_sum.map(|s| s + 20.0);
    for store in &stores {
        assert_eq!(store.append(vec![moved.clone()]).unwrap().accepted, 1);
    }
    check(&stores, &graphs);
    drop(stores);
    assert_eq!(fact_rows(&in_order), fact_rows(&mixed));
}

/// Stores `graphs` and `events` (in batches of `batch`) at `place`, and
/// closes the store.
fn store_closed(
    place: &TempLocation,
    graphs: &[pathlens_model::Graph],
    events: &[pathlens_model::Event],
    start: chrono::DateTime<chrono::Utc>,
    batch: usize,
) {
    let store = place.open();
    for graph in graphs {
        store.put_video(1, graph, start).unwrap();
    }
    for chunk in events.chunks(batch) {
        store.append(chunk.to_vec()).unwrap();
    }
}

/// Every row of the session fact tables of a closed store, as text,
/// without the sessions' integer codes (which depend on the order sessions
/// were first derived in); checks that each session has one code, unique
/// and positive, that every fact row of the session carries.
fn fact_rows(place: &TempLocation) -> Vec<String> {
    let connection = place.database();
    let count = |sql: &str| -> i64 { connection.query_row(sql, [], |row| row.get(0)).unwrap() };
    assert_eq!(
        count(
            "SELECT count(*) - count(DISTINCT sid) + count(*) FILTER (WHERE sid <= 0) FROM fact_sessions"
        ),
        0,
        "one positive code per session"
    );
    let mut all = Vec::new();
    for table in [
        "fact_slots",
        "fact_moves",
        "fact_last",
        "fact_watch",
        "fact_sessions",
    ] {
        assert_eq!(
            count(&format!(
                "SELECT count(*) FROM {table} f LEFT JOIN fact_sessions s
                ON s.partner_id = f.partner_id AND s.video_id = f.video_id
                    AND s.session_id = f.session_id
                WHERE s.sid IS DISTINCT FROM f.sid"
            )),
            0,
            "{table}: every row has its session's code"
        );
        let mut statement = connection
            .prepare(&format!(
                "SELECT CAST(t AS VARCHAR) FROM (SELECT * EXCLUDE (sid) FROM {table}) t ORDER BY ALL"
            ))
            .unwrap();
        let rows: Vec<String> = statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<duckdb::Result<_>>()
            .unwrap();
        assert!(!rows.is_empty(), "{table} holds facts");
        all.extend(rows.into_iter().map(|r| format!("{table} {r}")));
    }
    all
}

/// Empties the fact tables of the (closed) store at `place`, as if no fact
/// had been derived yet.
fn forget_facts(place: &TempLocation) {
    let connection = place.database();
    connection
        .execute_batch(
            "DELETE FROM fact_slots; DELETE FROM fact_moves; DELETE FROM fact_last;
             DELETE FROM fact_watch; DELETE FROM fact_sessions;
             UPDATE facts_state SET through_seq = 0;",
        )
        .unwrap();
}

/// Session facts are derived after the events' commit. Events a crash left
/// without facts (committed, acknowledged, facts not derived yet) get them
/// when the store opens again, and a report asked before that first has
/// them derived: it gives the reference's figures.
#[test]
fn facts_a_crash_left_underived_are_derived_at_the_next_open() {
    use chrono::{Duration, TimeZone, Utc};
    use pathlens_sim::sample_graphs;
    use pathlens_store::reference;

    let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let graphs = sample_graphs();
    let events = simulated(start, &graphs, 7, 3, 10.0);
    let place = location();
    store_closed(&place, &graphs, &events, start, 700);
    let derived = fact_rows(&place);
    // The state of a crash right after the commits: events, no facts.
    forget_facts(&place);
    let store = place.open();
    for graph in &graphs {
        let end = start + Duration::days(3);
        let request = unfiltered(graph, start, end, Some(graph.start_node.clone()));
        let figures = store.aggregate(&request).unwrap();
        assert!(figures.totals[0].plays > 0, "{}: plays", graph.id);
        assert_eq!(
            figures,
            reference::aggregate(store.as_ref(), &request).unwrap(),
            "{}",
            graph.id
        );
    }
    drop(store);
    assert_eq!(fact_rows(&place), derived);
}

/// Migrations 7 to 12 count each node play's rows in `fact_watch` and each
/// `fact_slots` row's events, code the sessions, split the watched masks in
/// two, link each session's last node plays slot to slot and its rows with
/// plays row to row, for a database whose facts were derived without them:
/// the facts come out as a derivation makes them, plays over several slots,
/// buckets on both sides of the split and sessions with last node plays
/// and plays in several rows included.
#[test]
fn migrations_count_rows_and_events_code_sessions_split_masks_and_link_last_plays() {
    use chrono::{TimeZone, Utc};
    use pathlens_sim::sample_graphs;

    let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let graphs = sample_graphs();
    let events = with_replays(simulated(start, &graphs, 9, 2, 20.0));
    let place = location();
    store_closed(&place, &graphs, &events, start, 800);
    let derived = fact_rows(&place);
    {
        let connection = place.database();
        let several: i64 = connection
            .query_row("SELECT count(*) FROM fact_watch WHERE views > 1", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(several > 0, "some node play spans several slots");
        let (low, high, both): (i64, i64, i64) = connection
            .query_row(
                "SELECT count(*) FILTER (WHERE mask_lo <> 0), count(*) FILTER (WHERE mask_hi <> 0),
                    count(*) FILTER (WHERE mask_lo <> 0 AND mask_hi <> 0) FROM fact_watch",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert!(
            low > 0 && high > 0 && both > 0,
            "watched buckets below 64, from 64 and across: {low}, {high}, {both}"
        );
        let linked: i64 = connection
            .query_row(
                "SELECT count(*) FROM fact_last WHERE next_slot > slot",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            linked > 0,
            "some session has last node plays in several slots"
        );
        let replayed: i64 = connection
            .query_row(
                "SELECT count(*) FROM fact_slots WHERE prev_play_slot IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(replayed > 0, "some session has plays in several rows");
        // The database as version 6 left it: one 128-bit mask.
        connection
            .execute_batch(
                "ALTER TABLE fact_slots DROP COLUMN sid;
                ALTER TABLE fact_moves DROP COLUMN sid;
                ALTER TABLE fact_last DROP COLUMN sid;
                ALTER TABLE fact_watch DROP COLUMN sid;
                ALTER TABLE fact_sessions DROP COLUMN sid;
                ALTER TABLE fact_watch DROP COLUMN views;
                ALTER TABLE fact_slots DROP COLUMN events;
                ALTER TABLE fact_watch ADD COLUMN mask HUGEINT NOT NULL DEFAULT 0;
                UPDATE fact_watch SET mask = mask_lo::HUGEINT + (mask_hi::HUGEINT << 64);
                ALTER TABLE fact_watch DROP COLUMN mask_lo;
                ALTER TABLE fact_watch DROP COLUMN mask_hi;
                ALTER TABLE fact_last DROP COLUMN next_slot;
                ALTER TABLE fact_slots DROP COLUMN prev_play_slot;
                DELETE FROM schema_migrations WHERE version IN (7, 8, 9, 10, 11, 12);",
            )
            .unwrap();
    }
    drop(place.open());
    assert_eq!(fact_rows(&place), derived);
}

/// The session facts are derived on their own thread while the writer goes
/// on committing. Appends from several threads (beacon-sized and
/// import-sized), reports asking for the facts, and graph changes (which
/// rewrite the watched masks) all at once: nothing fails, and in the end
/// the facts give the reference's figures and equal those a derivation from
/// the events alone makes.
#[test]
fn facts_derived_beside_the_writer_match_the_reference() {
    use chrono::{Duration, TimeZone, Utc};
    use pathlens_sim::sample_graphs;
    use pathlens_store::reference;

    let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let end = start + Duration::days(4);
    let graphs = sample_graphs();
    let events = simulated(start, &graphs, 11, 4, 25.0);
    let place = location();
    let store: Arc<dyn Store> = Arc::from(place.open());
    for graph in &graphs {
        store.put_video(1, graph, start).unwrap();
    }
    let request = |graph| unfiltered(graph, start, end, None);
    let parts: Vec<Vec<pathlens_model::Event>> = (0..3)
        .map(|i| events.iter().skip(i).step_by(3).cloned().collect())
        .collect();
    std::thread::scope(|scope| {
        for (i, part) in parts.iter().enumerate() {
            let store = store.clone();
            scope.spawn(move || {
                // One thread sends beacon-sized batches (the intake log),
                // the others import-sized ones (straight to the database).
                let size = if i == 0 { 3 } else { 2_500 };
                for batch in part.chunks(size) {
                    store.append(batch.to_vec()).unwrap();
                }
            });
        }
        let store = store.clone();
        let graphs = &graphs;
        scope.spawn(move || {
            // The first video's start node half as long, then as it was:
            // each change recomputes the video's watched masks.
            let mut shorter = graphs[0].clone();
            shorter.nodes[0].duration_ms /= 2;
            for round in 0..12 {
                let graph = &graphs[round % graphs.len()];
                store.aggregate(&request(graph)).unwrap();
                match round % 4 {
                    1 => store.put_video(1, &shorter, start).unwrap(),
                    3 => store.put_video(1, &graphs[0], start).unwrap(),
                    _ => {}
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        });
    });
    for graph in &graphs {
        let figures = store.aggregate(&request(graph)).unwrap();
        assert!(figures.totals[0].plays > 0, "{}: plays", graph.id);
        assert_eq!(
            figures,
            reference::aggregate(store.as_ref(), &request(graph)).unwrap(),
            "{}",
            graph.id
        );
    }
    drop(store);
    let derived = fact_rows(&place);
    forget_facts(&place);
    // Opening derives them again from the events alone; closing waits for it.
    drop(place.open());
    assert_eq!(fact_rows(&place), derived);
}

/// `compact` rewrites the database with the facts sorted by video and
/// time: every event, key and report stays the same (events left in the
/// intake log included), retries of stored events are still duplicates, and
/// the store goes on accepting events.
#[test]
fn compaction_keeps_events_reports_and_dedup() {
    use chrono::{Duration, TimeZone, Utc};
    use pathlens_sim::sample_graphs;
    use pathlens_store::{AggregateRequest, ContextFilter, Parts};

    let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let graphs = sample_graphs();
    let events = simulated(start, &graphs, 5, 3, 12.0);
    let place = location();
    let store = place.open();
    for graph in &graphs {
        store.put_video(1, graph, start).unwrap();
    }
    store
        .put_key(&pathlens_store::ApiKey {
            id: "key_1".into(),
            partner_id: 1,
            kind: pathlens_store::KeyKind::Admin,
            name: "kept".into(),
            token_hash: "hash".into(),
            created_at: start,
            revoked_at: None,
        })
        .unwrap();
    // Shuffled batches interleave the videos; the last ones are small, so
    // they wait in the intake log when the store closes.
    let shuffled = shuffled(&events, 7);
    let (bulk, small) = shuffled.split_at(shuffled.len() - 40);
    for batch in bulk.chunks(500) {
        store.append(batch.to_vec()).unwrap();
    }
    for batch in small.chunks(4) {
        store.append(batch.to_vec()).unwrap();
    }
    let known = events.iter().find_map(|e| e.user_id.clone()).unwrap();
    let request = |graph, filter: ContextFilter| AggregateRequest {
        partner_id: 1,
        graph,
        start,
        end: start + Duration::days(3),
        filter,
        sessions: Default::default(),
        parts: Parts {
            buckets: (0..3)
                .map(|d| {
                    (
                        (start + Duration::days(d)).timestamp_micros(),
                        (start + Duration::days(d + 1)).timestamp_micros(),
                    )
                })
                .collect(),
            nodes: true,
            clicks: true,
            transitions: true,
            viewers: true,
            curve: Some(graph.start_node.clone()),
            ..Parts::default()
        },
        cancel: Default::default(),
    };
    let figures = |store: &dyn Store| {
        let mut all = Vec::new();
        for graph in &graphs {
            for filter in [
                ContextFilter::default(),
                ContextFilter {
                    user_ids: vec![known.clone()],
                    ..ContextFilter::default()
                },
            ] {
                all.push(store.aggregate(&request(graph, filter)).unwrap());
            }
        }
        all
    };
    let before = figures(store.as_ref());
    let exported = store.export(None, 0, 1_000_000).unwrap();
    assert!(before.iter().any(|f| f.totals.iter().any(|t| t.plays > 0)));

    drop(store);

    let done = pathlens_store_duckdb::compact(place.dir.path(), &DuckDbConfig::default()).unwrap();
    assert_eq!(done.events, exported.len() as u64);
    assert!(!place.dir.path().join("pathlens.duckdb.compact").exists());
    {
        // The facts are stored in video and time order.
        let connection = place.database();
        let (stored, sorted): (String, String) = connection
            .query_row(
                "SELECT string_agg(video_id || ':' || slot::VARCHAR, ',' ORDER BY rowid),
                    string_agg(video_id || ':' || slot::VARCHAR, ',' ORDER BY partner_id, video_id, slot)
                FROM fact_slots",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!(stored, sorted);
    }
    let store = place.open();
    assert_eq!(store.export(None, 0, 1_000_000).unwrap(), exported);
    assert_eq!(figures(store.as_ref()), before);
    assert_eq!(store.keys().unwrap().len(), 1);
    // Retries of stored events are duplicates; a new event is stored.
    let retried = store.append(events[..30].to_vec()).unwrap();
    assert_eq!((retried.accepted, retried.duplicates), (0, 30));
    let mut new = events[0].clone();
    new.session_id = "after-compaction".into();
    new.dedup_key ^= 0x5555;
    assert_eq!(store.append(vec![new]).unwrap().accepted, 1);
    assert_eq!(store.event_count().unwrap(), exported.len() as u64 + 1);
}

/// A dimension's values in a period of whole slots come from the session
/// facts: they equal the in-memory store's counts of the same events, for
/// every dimension, with and without filters, and when a session changes
/// context in the period (then the events answer).
#[test]
fn values_from_the_facts_equal_the_events_counts() {
    use chrono::{Duration, TimeZone, Utc};
    use pathlens_sim::sample_graphs;
    use pathlens_store::{
        ContextFilter, Dimension, ValuesRequest, ViewerKind, memory::MemoryStore,
    };

    let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let graphs = sample_graphs();
    let mut events = simulated(start, &graphs, 13, 3, 15.0);
    let (place, memory) = (location(), MemoryStore::new());
    let store = place.open();
    let check = |store: &dyn Store, events: &[pathlens_model::Event]| {
        memory.append(events.to_vec()).unwrap();
        store.append(events.to_vec()).unwrap();
        let countries = vec!["US".to_string(), "unknown".to_string()];
        let filters = [
            ContextFilter::default(),
            ContextFilter {
                countries,
                ..ContextFilter::default()
            },
            ContextFilter {
                viewer: Some(ViewerKind::Known),
                ..ContextFilter::default()
            },
        ];
        let mut seen = 0;
        for graph in &graphs {
            for dimension in Dimension::ALL {
                for filter in &filters {
                    let request = ValuesRequest {
                        partner_id: 1,
                        video_id: graph.id.clone(),
                        start: start + Duration::hours(6),
                        end: start + Duration::days(2) + Duration::minutes(45),
                        dimension,
                        filter: filter.clone(),
                    };
                    let sorted = |store: &dyn Store| {
                        let mut values = store.values(&request).unwrap();
                        values.sort_by(|a, b| a.value.cmp(&b.value));
                        values
                    };
                    let expected = sorted(&memory);
                    seen += expected.iter().map(|v| v.events).sum::<u64>();
                    assert_eq!(
                        sorted(store),
                        expected,
                        "{} {dimension:?} {filter:?}",
                        graph.id
                    );
                }
            }
        }
        assert!(seen > 0);
    };
    check(store.as_ref(), &events[..events.len() / 2]);
    // A session whose country changes half way: its period's values are
    // counted from the events.
    let session = events[events.len() / 2].session_id.clone();
    for event in events.iter_mut().filter(|e| e.session_id == session) {
        event.context.country = Some("ZZ".into());
    }
    check(store.as_ref(), &events[events.len() / 2..]);
}

/// `append_later` answers through its callback what `append` answers, once
/// the events are stored: the same outcome as a plain append of the same
/// events into another store, the events found by the next read, a retry
/// counted as duplicates, and an empty append answered at once.
#[test]
fn append_later_calls_back_with_what_append_answers() {
    use chrono::{TimeZone, Utc};
    use pathlens_sim::sample_graphs;

    let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let graphs = sample_graphs();
    let events = simulated(start, &graphs, 13, 1, 6.0);
    assert!(events.len() > 20);
    let later = |store: &dyn Store, events: Vec<pathlens_model::Event>| {
        let (sender, receiver) = std::sync::mpsc::channel();
        let queued = store.append_later(
            events,
            Box::new(move |outcome| sender.send(outcome).unwrap()),
        );
        assert!(queued.is_ok(), "the embedded store calls back");
        receiver.recv().unwrap().unwrap()
    };
    let (place, other) = (location(), location());
    let (store, plain) = (place.open(), other.open());
    let outcome = later(store.as_ref(), events.clone());
    assert!(outcome.accepted > 0);
    assert_eq!(outcome, plain.append(events.clone()).unwrap());
    assert_eq!(
        store.export(None, 0, 1_000_000).unwrap().len(),
        outcome.accepted
    );
    let retried = later(store.as_ref(), events[..10].to_vec());
    assert_eq!((retried.accepted, retried.duplicates), (0, 10));
    assert_eq!(later(store.as_ref(), Vec::new()), Default::default());
}
