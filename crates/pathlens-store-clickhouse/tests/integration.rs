//! The ClickHouse store against real ClickHouse servers.
//!
//! The servers come from the environment `scripts/clickhouse env` prints
//! (`PATHLENS_CLICKHOUSE_URL`, `…_URLS`, `PATHLENS_CLICKHOUSE_TEST_CLUSTER`); `scripts/test`
//! starts them and sets it. Without it, each test says it is skipped and
//! passes. Every test works in a database of its own, so they run in
//! parallel.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pathlens_model::{Event, EventKind};
use pathlens_sim::sample_graphs;
use pathlens_store::conformance::{self, Harness, sample_event};
use pathlens_store::memory::MemoryStore;
use pathlens_store::{Store, StoreErrorKind};
use pathlens_store_clickhouse::sql::rollups;
use pathlens_store_clickhouse::{
    ClickHouseConfig, ClickHouseStore, SpoolConfig, SpooledStore, codec, rowbinary, schema, spool,
    sql,
};

use common::{Database, number};

/// A fresh database, opened directly.
struct Direct {
    database: Database,
}

impl Harness for Direct {
    fn open(&self) -> Box<dyn Store> {
        Box::new(ClickHouseStore::open(self.database.config(0)).expect("open the ClickHouse store"))
    }
}

/// A fresh database behind a spool of its own.
struct Spooled {
    database: Database,
    spool: tempfile::TempDir,
}

fn quick_spool(dir: &Path) -> SpoolConfig {
    SpoolConfig {
        linger: Duration::from_millis(20),
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(500),
        lookup_timeout: Duration::from_secs(2),
        flush_timeout: Duration::from_secs(60),
        ..SpoolConfig::new(dir)
    }
}

fn spooled(config: ClickHouseConfig, dir: &Path) -> SpooledStore {
    SpooledStore::open(Arc::new(ClickHouseStore::connect(config)), quick_spool(dir))
        .expect("open the spooled store")
}

impl Harness for Spooled {
    fn open(&self) -> Box<dyn Store> {
        Box::new(spooled(self.database.config(0), self.spool.path()))
    }
}

#[test]
fn conformance_suite_direct() {
    let Some(url) = common::server("conformance_suite_direct") else {
        return;
    };
    conformance::run_all(|| Direct {
        database: Database::new(std::slice::from_ref(&url)),
    });
}

#[test]
fn conformance_suite_through_the_spool() {
    let Some(url) = common::server("conformance_suite_through_the_spool") else {
        return;
    };
    conformance::run_all(|| Spooled {
        database: Database::new(std::slice::from_ref(&url)),
        spool: tempfile::tempdir().expect("temp dir"),
    });
}

#[test]
fn migrations_apply_once_and_refuse_newer_databases() {
    let Some(url) = common::server("migrations_apply_once_and_refuse_newer_databases") else {
        return;
    };
    let database = Database::new(&[url]);
    drop(ClickHouseStore::open(database.config(0)).unwrap());
    drop(ClickHouseStore::open(database.config(0)).unwrap());
    let client = database.client(0);
    let name = &database.name;
    assert_eq!(
        schema::current_version(&client, name).unwrap(),
        schema::latest_version()
    );
    assert_eq!(
        number(
            &client,
            &format!("SELECT count() FROM {name}.schema_migrations FORMAT TabSeparated")
        ),
        u64::from(schema::latest_version()),
        "each migration recorded once"
    );
    client
        .execute(&format!(
            "INSERT INTO {name}.schema_migrations (version, description, applied_at) VALUES (999, 'future', now())"
        ))
        .unwrap();
    let error = ClickHouseStore::open(database.config(0))
        .err()
        .expect("a newer schema is refused");
    assert_eq!(error.kind(), StoreErrorKind::Incompatible);
    assert!(error.to_string().contains("999"), "{error}");
}

#[test]
fn a_version_1_database_is_upgraded_in_place() {
    let Some(url) = common::server("a_version_1_database_is_upgraded_in_place") else {
        return;
    };
    let database = Database::new(&[url]);
    let client = database.client(0);
    let name = &database.name;
    assert_eq!(schema::migrate_to(&client, name, Some(1)).unwrap(), 1);
    // An event as a version-1 pathlens stored it.
    let old = sample_event(1, "v", "s", 1, EventKind::Play);
    let mut rows = rowbinary::Writer::new();
    codec::write_event(&mut rows, &old);
    rows.i64(1);
    rows.u32(0);
    client
        .insert(
            &sql::append::insert_events(&sql::Tables::local(name)),
            rows.into_bytes(),
        )
        .unwrap();
    let store = ClickHouseStore::open(database.config(0)).unwrap();
    assert_eq!(schema::current_version(&client, name).unwrap(), 2);
    assert_eq!(store.export(Some(1), 0, 10).unwrap(), vec![old.clone()]);
    let again = store.append(vec![old]).unwrap();
    assert_eq!(again.duplicates, 1, "the dedup keys cover version-1 rows");
    store
        .append(vec![sample_event(1, "v", "s", 2, EventKind::Play)])
        .unwrap();
    assert_eq!(
        number(
            &client,
            &format!("SELECT countMerge(events) FROM {name}.node_slots FORMAT TabSeparated")
        ),
        1,
        "the rollup added by migration 2 counts events inserted after it"
    );
}

#[test]
fn authentication_is_sent() {
    let Some(url) = common::server("authentication_is_sent") else {
        return;
    };
    let database = Database::new(std::slice::from_ref(&url));
    let host = url.trim_start_matches("http://");
    let right = ClickHouseConfig::from_url(&format!(
        "clickhouse://pathlens:pathlens@{host}/{}",
        database.name
    ))
    .unwrap();
    ClickHouseStore::open(right).expect("the test servers know user pathlens");
    let wrong = ClickHouseConfig::from_url(&format!(
        "clickhouse://pathlens:nope@{host}/{}",
        database.name
    ))
    .unwrap();
    let error = ClickHouseStore::open(wrong)
        .err()
        .expect("a wrong password is refused");
    assert!(
        error.to_string().to_lowercase().contains("password"),
        "{error}"
    );
}

/// The distinct events of `events`, as the reference store keeps them.
fn distinct(events: &[Event]) -> usize {
    events
        .iter()
        .map(|e| (e.partner_id, e.dedup_key))
        .collect::<HashSet<_>>()
        .len()
}

fn scanned(store: &dyn Store, video: &str) -> usize {
    let request = pathlens_store::ScanRequest {
        partner_id: 1,
        video_id: video.to_string(),
        start: chrono::DateTime::from_timestamp(0, 0).unwrap(),
        end: common::now(),
        kinds: Vec::new(),
        filter: pathlens_store::ContextFilter::default(),
    };
    store.scan(&request).unwrap().len()
}

#[test]
fn the_same_batch_sent_twice_counts_once() {
    let Some(url) = common::server("the_same_batch_sent_twice_counts_once") else {
        return;
    };
    let database = Database::new(&[url]);
    let events = common::traffic(2, 10.0);
    let unique = distinct(&events);
    assert!(
        unique < events.len(),
        "the simulated traffic has client retries"
    );
    let store = ClickHouseStore::open(database.config(0)).unwrap();
    let first = store.append(events.clone()).unwrap();
    assert_eq!(first.accepted, unique);
    assert_eq!(first.duplicates, events.len() - unique);
    let second = store.append(events.clone()).unwrap();
    assert_eq!((second.accepted, second.duplicates), (0, events.len()));
    assert_eq!(store.event_count().unwrap(), unique as u64);
    let per_video: usize = sample_graphs().iter().map(|g| scanned(&store, &g.id)).sum();
    assert_eq!(per_video, unique);
    let client = database.client(0);
    assert_eq!(
        number(
            &client,
            &format!(
                "SELECT count() FROM {}.events FORMAT TabSeparated",
                database.name
            )
        ),
        unique as u64,
        "the second batch inserted nothing"
    );
}

#[test]
fn two_nodes_racing_with_the_same_batch_count_it_once() {
    let Some(url) = common::server("two_nodes_racing_with_the_same_batch_count_it_once") else {
        return;
    };
    let database = Database::new(&[url]);
    let events = common::traffic(2, 10.0);
    let unique = distinct(&events);
    let memory = MemoryStore::new();
    common::load(&memory, &events, 1_000);
    let a = Arc::new(ClickHouseStore::open(database.config(0)).unwrap());
    let b = Arc::new(ClickHouseStore::open(database.config(0)).unwrap());
    a.append(events[..10].to_vec()).unwrap();
    // Two nodes that do not share a dedup check insert the same batches at
    // the same moment: some events may be stored twice ...
    let threads: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|store| {
            let events = events.clone();
            std::thread::spawn(move || {
                for chunk in events.chunks(500) {
                    store.append(chunk.to_vec()).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    // ... and every read counts them once.
    assert_eq!(a.event_count().unwrap(), unique as u64);
    assert_eq!(b.export(None, 0, usize::MAX >> 1).unwrap().len(), unique);
    for graph in sample_graphs() {
        a.put_video(1, &graph, common::graph_time()).unwrap();
        assert_eq!(scanned(a.as_ref(), &graph.id), scanned(&memory, &graph.id));
    }
    common::assert_same_reports(
        "racing nodes",
        &common::reports(a.as_ref()),
        &common::reports(&memory),
    );
}

#[test]
fn rows_stored_twice_are_counted_once_in_reports() {
    let Some(url) = common::server("rows_stored_twice_are_counted_once_in_reports") else {
        return;
    };
    let database = Database::new(&[url]);
    let events = common::traffic(31, 3.0);
    let memory = MemoryStore::new();
    common::load(&memory, &events, 5_000);
    let store = ClickHouseStore::open(database.config(0)).unwrap();
    common::load(&store, &events, 5_000);
    let expected = common::reports(&memory);
    common::assert_same_reports("before the repeats", &common::reports(&store), &expected);
    // What two racing nodes leave behind: some events stored twice.
    let client = database.client(0);
    client
        .execute(&format!(
            "INSERT INTO {db}.events SELECT * FROM {db}.events WHERE dedup_key % 5 = 0",
            db = database.name
        ))
        .unwrap();
    let stored = number(
        &client,
        &format!(
            "SELECT count() FROM {}.events FORMAT TabSeparated",
            database.name
        ),
    );
    assert!(
        stored > distinct(&events) as u64,
        "some rows are stored twice"
    );
    common::assert_same_reports("after the repeats", &common::reports(&store), &expected);
}

#[test]
fn reports_are_identical_on_every_backend() {
    let Some(url) = common::server("reports_are_identical_on_every_backend") else {
        return;
    };
    let database = Database::new(&[url]);
    let events = common::traffic(31, 6.0);
    let memory = MemoryStore::new();
    common::load(&memory, &events, 5_000);
    let spool = tempfile::tempdir().unwrap();
    let clickhouse = spooled(database.config(0), spool.path());
    common::load(&clickhouse, &events, 5_000);
    assert_eq!(
        clickhouse.event_count().unwrap(),
        memory.event_count().unwrap()
    );
    let expected = common::reports(&memory);
    let from_clickhouse = common::reports(&clickhouse);
    common::assert_same_reports("ClickHouse vs memory", &from_clickhouse, &expected);

    // The embedded store on the same events gives the same reports, field by field.
    let embedded_dir = tempfile::tempdir().unwrap();
    let embedded = pathlens_store_duckdb::DuckDbStore::open(
        embedded_dir.path(),
        &pathlens_store_duckdb::DuckDbConfig::default(),
    )
    .unwrap();
    common::load(&embedded, &events, 5_000);
    assert_eq!(
        embedded.event_count().unwrap(),
        clickhouse.event_count().unwrap()
    );
    common::assert_same_reports(
        "ClickHouse vs the embedded DuckDB store",
        &from_clickhouse,
        &common::reports(&embedded),
    );

    // The rollups ClickHouse maintains agree with the engine's figures.
    let store = clickhouse.inner();
    let tables = store.tables();
    let start = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 1, 1, 0, 0, 0).unwrap();
    let end = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 2, 1, 0, 0, 0).unwrap();
    for graph in sample_graphs() {
        let totals = expected
            .iter()
            .find(|(name, _)| name.starts_with(&format!("{} totals ", graph.id)))
            .map(|(_, report)| report["rows"][0].clone())
            .unwrap();
        let by_kind = store
            .query_rows(&rollups::by_kind(tables, 1, &graph.id, start, end))
            .unwrap();
        let play = by_kind
            .iter()
            .find(|row| row[0] == EventKind::Play.code().to_string())
            .expect("plays in the rollup");
        assert_eq!(play[1], totals["plays"].to_string(), "{}: plays", graph.id);
        assert_eq!(
            play[2],
            totals["unique_viewers"].to_string(),
            "{}: unique viewers",
            graph.id
        );
        let nodes = expected
            .iter()
            .find(|(name, _)| name.starts_with(&format!("{} nodes ", graph.id)))
            .map(|(_, report)| report["rows"].as_array().unwrap().clone())
            .unwrap();
        let by_node = store
            .query_rows(&rollups::by_node(
                tables,
                1,
                &graph.id,
                EventKind::NodePlay.code(),
                start,
                end,
            ))
            .unwrap();
        for row in nodes {
            let id = row["node_id"].as_str().unwrap();
            let (plays, viewers) = by_node
                .iter()
                .find(|r| r[0] == id)
                .map_or(("0".to_string(), "0".to_string()), |r| {
                    (r[1].clone(), r[2].clone())
                });
            assert_eq!(
                plays,
                row["plays"].to_string(),
                "{}/{id}: node plays",
                graph.id
            );
            assert_eq!(
                viewers,
                row["unique_viewers"].to_string(),
                "{}/{id}: node viewers",
                graph.id
            );
        }
    }
}

#[test]
fn two_shards_give_the_single_node_answers() {
    let Some((urls, cluster)) = common::cluster("two_shards_give_the_single_node_answers") else {
        return;
    };
    let database = Database::new(&urls);
    let single = Database::new(&urls[..1]);
    let events = common::traffic(31, 4.0);
    let unique = distinct(&events);

    let node = |index: usize, dir: &Path| {
        let config = database
            .config(index)
            .with_cluster(Some(cluster.clone()))
            .unwrap();
        let store = Arc::new(ClickHouseStore::open(config).unwrap());
        SpooledStore::open(store, quick_spool(dir)).unwrap()
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(0, dir_a.path());
    let b = node(1, dir_b.path());
    for graph in sample_graphs() {
        a.put_video(1, &graph, common::graph_time()).unwrap();
    }
    // Batches alternate between the two pathlens nodes; every fifth batch
    // is also retried through the other node.
    let mut duplicates = 0;
    for (index, chunk) in events.chunks(2_000).enumerate() {
        let (first, second) = if index % 2 == 0 { (&a, &b) } else { (&b, &a) };
        first.append(chunk.to_vec()).unwrap();
        if index % 5 == 0 {
            assert!(first.flush(Duration::from_secs(60)));
            let retry = second.append(chunk.to_vec()).unwrap();
            assert_eq!(
                retry.accepted, 0,
                "a retry through the other node is a duplicate"
            );
            duplicates += retry.duplicates;
        }
    }
    assert!(duplicates > 0);
    assert!(a.flush(Duration::from_secs(60)) && b.flush(Duration::from_secs(60)));

    // Both shards hold part of the events, each event once.
    let local = |index: usize| {
        number(
            &database.client(index),
            &format!(
                "SELECT count() FROM {}.events FORMAT TabSeparated",
                database.name
            ),
        )
    };
    let (first, second) = (local(0), local(1));
    assert!(
        first > 0 && second > 0,
        "both shards hold events ({first}, {second})"
    );
    assert_eq!(first + second, unique as u64);
    assert_eq!(a.event_count().unwrap(), unique as u64);
    assert_eq!(b.event_count().unwrap(), unique as u64);

    // The same events on one server.
    let one = ClickHouseStore::open(single.config(0)).unwrap();
    common::load(&one, &events, 10_000);
    let expected = common::reports(&one);
    common::assert_same_reports("cluster through node A", &common::reports(&a), &expected);
    common::assert_same_reports("cluster through node B", &common::reports(&b), &expected);
    let memory = MemoryStore::new();
    common::load(&memory, &events, 10_000);
    common::assert_same_reports(
        "single server vs memory",
        &expected,
        &common::reports(&memory),
    );
}

/// A ClickHouse server of the test's own, stopped when the test ends.
struct OwnServer {
    name: String,
    http: u16,
    tcp: u16,
}

impl OwnServer {
    fn run(&self, action: &str) {
        let mut command = Command::new("bash");
        command.arg(common::script()).arg(action).arg(&self.name);
        if action == "start-one" {
            command.arg(self.http.to_string()).arg(self.tcp.to_string());
        }
        let status = command.status().expect("run scripts/clickhouse");
        assert!(
            status.success(),
            "scripts/clickhouse {action} {} failed",
            self.name
        );
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(common::script())
            .arg("purge-one")
            .arg(&self.name)
            .status();
    }
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn nothing_acknowledged_is_lost_while_clickhouse_is_down() {
    let Some(_) = common::server("nothing_acknowledged_is_lost_while_clickhouse_is_down") else {
        return;
    };
    let offset: u16 = std::env::var("PATHLENS_CH_PORT_OFFSET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let server = OwnServer {
        name: format!("outage-{}", std::process::id()),
        http: 18190 + offset,
        tcp: 19190 + offset,
    };
    server.run("start-one");
    let database = Database::new(&[server.url()]);
    let spool = tempfile::tempdir().unwrap();
    let events = common::traffic(5, 40.0);
    let batches: Vec<Vec<Event>> = events.chunks(400).map(<[Event]>::to_vec).collect();
    assert!(batches.len() >= 24, "{} batches", batches.len());
    let memory = MemoryStore::new();
    common::load(&memory, &events, 400);

    // ClickHouse up: batches are acknowledged and shipped.
    let node = spooled(database.config(0), spool.path());
    for graph in sample_graphs() {
        node.put_video(1, &graph, common::graph_time()).unwrap();
    }
    for batch in &batches[..8] {
        node.append(batch.clone()).unwrap();
    }
    assert!(node.flush(Duration::from_secs(60)));
    assert_eq!(node.spool_status().unwrap().events, 0);

    // ClickHouse down: appends are still acknowledged, from the spool.
    server.run("stop-one");
    let mut acknowledged = 0;
    for batch in &batches[8..16] {
        acknowledged += node.append(batch.clone()).unwrap().accepted;
    }
    assert!(acknowledged > 0);
    let retry = node.append(batches[10].clone()).unwrap();
    assert_eq!(
        retry.accepted, 0,
        "a retry of a spooled batch is a duplicate"
    );
    // A retry of a batch already in ClickHouse cannot be checked now: it is
    // spooled, and the shipper drops it later.
    node.append(batches[3].clone()).unwrap();
    std::thread::sleep(Duration::from_millis(1_100));
    let status = node.spool_status().unwrap();
    assert!(status.events as usize >= acknowledged, "{status:?}");
    assert!(status.oldest_age_seconds >= 1.0, "{status:?}");
    assert!(node.write_queue_depth() > 0);
    assert!(
        !node.flush(Duration::from_millis(500)),
        "nothing ships while ClickHouse is down"
    );
    assert!(node.last_error().is_some());

    // pathlens restarts while ClickHouse is still down, and goes on.
    drop(node);
    let node = spooled(database.config(0), spool.path());
    assert!(node.spool_status().unwrap().events as usize >= acknowledged);
    for batch in &batches[16..20] {
        node.append(batch.clone()).unwrap();
    }

    // ClickHouse is back: the spool drains by itself.
    server.run("start-one");
    wait_until("the spool to drain", Duration::from_secs(90), || {
        node.spool_status().unwrap().events == 0
    });
    for batch in &batches[20..] {
        node.append(batch.clone()).unwrap();
    }
    let late_retry = node.append(batches[5].clone()).unwrap();
    assert_eq!(late_retry.accepted, 0);
    assert_eq!(node.event_count().unwrap(), memory.event_count().unwrap());
    for graph in sample_graphs() {
        assert_eq!(
            scanned(&node, &graph.id),
            scanned(&memory, &graph.id),
            "{}",
            graph.id
        );
    }
    let totals = |store: &dyn Store| -> Vec<serde_json::Value> {
        common::reports_of(store, &[pathlens_report::ReportKind::Totals])
            .into_iter()
            .map(|(_, report)| report["rows"].clone())
            .collect()
    };
    assert_eq!(totals(&node), totals(&memory), "every event counted once");
}

#[test]
fn a_record_refused_again_and_again_is_set_aside() {
    let Some(url) = common::server("a_record_refused_again_and_again_is_set_aside") else {
        return;
    };
    let database = Database::new(&[url]);
    let dir = tempfile::tempdir().unwrap();
    let batch = |session: &str| -> Vec<Event> {
        (1..=5)
            .map(|i| sample_event(1, "v", session, i, EventKind::View))
            .collect()
    };
    // Sessions of different lengths: `sample_event`'s dedup key depends on it.
    let segment = dir.path().join(format!("{:020}.seg", 1));
    // Acknowledged now, so that `linger` holds the shipper back until the
    // flush below: the record must go bad before anything ships.
    let now = chrono::Utc::now().timestamp_micros();
    let second_record = {
        let mut spool = spool::Spool::open(dir.path(), 1 << 20).unwrap();
        spool.append(&batch("a"), now).unwrap();
        let start = std::fs::metadata(&segment).unwrap().len();
        spool.append(&batch("bb"), now).unwrap();
        spool.append(&batch("ccc"), now).unwrap();
        start
    };
    let config = SpoolConfig {
        linger: Duration::from_secs(60),
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        refusals_before_set_aside: 2,
        ..quick_spool(dir.path())
    };
    let node = SpooledStore::open(
        Arc::new(ClickHouseStore::connect(database.config(0))),
        config,
    )
    .unwrap();
    // The second record goes bad on disk after the node read it back.
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[second_record as usize + 30] ^= 0xff;
    std::fs::write(&segment, bytes).unwrap();
    assert!(
        node.flush(Duration::from_secs(60)),
        "{:?}",
        node.last_error()
    );
    assert_eq!(node.set_aside_events(), 5);
    assert_eq!(
        node.event_count().unwrap(),
        10,
        "the records around it shipped"
    );
    let rejected: Vec<_> = std::fs::read_dir(dir.path().join("rejected"))
        .unwrap()
        .collect();
    assert_eq!(rejected.len(), 1);
}

/// Simulated traffic in which context is not constant within a session:
/// some sessions move to another country (and device) half way, some
/// alternate between two countries event by event, some events carry no
/// country or device, and some carry the literal `unknown`.
fn mixed_context_traffic() -> Vec<Event> {
    let mut events = common::traffic(31, 3.0);
    let mut sessions: std::collections::HashMap<String, (usize, u32)> =
        std::collections::HashMap::new();
    for event in &events {
        let next = sessions.len();
        let entry = sessions
            .entry(event.session_id.clone())
            .or_insert((next, 0));
        entry.1 = entry.1.max(event.event_index);
    }
    for event in &mut events {
        let (number, last) = sessions[&event.session_id];
        let other = |country: &Option<String>| {
            Some(
                if country.as_deref() == Some("DE") {
                    "FR"
                } else {
                    "DE"
                }
                .to_string(),
            )
        };
        let context = &mut event.context;
        match number % 5 {
            0 if event.event_index > last / 2 => {
                context.country = other(&context.country);
                context.device = Some("Console".into());
            }
            1 if event.event_index % 3 == 0 => {
                context.country = None;
                context.device = None;
            }
            2 if event.event_index % 2 == 1 => context.country = Some("unknown".into()),
            3 if event.event_index % 2 == 1 => {
                context.country = other(&context.country);
                context.referrer_domain = None;
            }
            _ => {}
        }
    }
    events
}

/// `ClickHouseStore::breakdown` (one query for every value) equals its
/// definition, `aggregate` once per value with the filter narrowed to it,
/// on the same store, and the in-memory store's reading of the same
/// definition: with sessions that change context, absent values, session
/// filters, a context filter whose list leaves some values out, and values
/// no event has.
#[test]
fn a_breakdown_equals_aggregate_value_by_value() {
    use pathlens_store::aggregate::breakdown_by_value;
    use pathlens_store::{
        AggregateRequest, Cancel, ContextFilter, Dimension, Parts, SessionFilter, Totals,
        ValuesRequest, ViewerKind,
    };
    let Some(url) = common::server("a_breakdown_equals_aggregate_value_by_value") else {
        return;
    };
    let database = Database::new(&[url]);
    let events = mixed_context_traffic();
    let store = ClickHouseStore::open(database.config(0)).unwrap();
    common::load(&store, &events, 5_000);
    let memory = MemoryStore::new();
    common::load(&memory, &events, 5_000);
    let at = |day: u32| chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 1, day, 0, 0, 0);
    let periods = [
        (at(1).unwrap(), at(31).unwrap()),
        (at(9).unwrap(), at(21).unwrap()),
    ];
    let filters = [
        ContextFilter::default(),
        ContextFilter {
            countries: vec!["FR".into(), "DE".into(), "unknown".into()],
            viewer: Some(ViewerKind::Known),
            ..ContextFilter::default()
        },
    ];
    let dimensions = [
        Dimension::Country,
        Dimension::Device,
        Dimension::ReferrerDomain,
    ];
    let (mut compared, mut viewed, mut zeros_outside) = (0, 0, 0);
    for graph in sample_graphs() {
        let node = graph
            .nodes
            .iter()
            .find(|n| !n.hotspots.is_empty())
            .unwrap_or(&graph.nodes[0]);
        let session_filters = [
            SessionFilter::default(),
            SessionFilter {
                nodes: vec![node.id.clone()],
                hotspots: Vec::new(),
            },
            SessionFilter {
                nodes: Vec::new(),
                hotspots: node.hotspots.iter().take(1).map(|h| h.id.clone()).collect(),
            },
        ];
        for (index, &(start, end)) in periods.iter().enumerate() {
            // The whole month: no filter, the context filter, the node
            // filter; the shorter period: the hotspot filter, and the
            // context and node filters at once.
            let combinations: &[(usize, usize)] = if index == 0 {
                &[(0, 0), (1, 0), (0, 1)]
            } else {
                &[(0, 2), (1, 1)]
            };
            for (filter, sessions) in combinations
                .iter()
                .map(|&(f, s)| (&filters[f], &session_filters[s]))
            {
                let request = AggregateRequest {
                    partner_id: 1,
                    graph: &graph,
                    start,
                    end,
                    filter: filter.clone(),
                    sessions: sessions.clone(),
                    parts: Parts {
                        buckets: vec![(start.timestamp_micros(), end.timestamp_micros())],
                        ..Parts::default()
                    },
                    cancel: Cancel::default(),
                };
                for dimension in dimensions {
                    let mut values: Vec<String> = store
                        .values(&ValuesRequest {
                            partner_id: 1,
                            video_id: graph.id.clone(),
                            start,
                            end,
                            dimension,
                            filter: ContextFilter::default(),
                        })
                        .unwrap()
                        .into_iter()
                        .map(|v| v.value)
                        .collect();
                    values.sort();
                    assert!(values.len() >= 2, "{}: {values:?}", dimension.name());
                    // A value no event has, and one asked twice.
                    values.push("nowhere".into());
                    values.push(values[0].clone());
                    let name = format!(
                        "{} {start}..{end} {filter:?} {sessions:?} by {}",
                        graph.id,
                        dimension.name()
                    );
                    let answer = store.breakdown(&request, dimension, &values).unwrap();
                    let defined = breakdown_by_value(&store, &request, dimension, &values).unwrap();
                    assert_eq!(answer.len(), values.len(), "{name}");
                    for ((value, one), by_value) in values.iter().zip(&answer).zip(&defined) {
                        assert_eq!(one, by_value, "{name}: {value}");
                    }
                    let reference =
                        breakdown_by_value(&memory, &request, dimension, &values).unwrap();
                    assert_eq!(answer, reference, "{name}: the in-memory store");
                    for (value, totals) in values.iter().zip(&answer) {
                        if request.filter.narrowed(dimension, value).is_none() {
                            assert_eq!(*totals, Totals::default(), "{name}: {value}");
                            zeros_outside += 1;
                        }
                    }
                    viewed += answer.iter().filter(|t| t.view_ms > 0).count();
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, 3 * 5 * dimensions.len());
    assert!(viewed > 50, "{viewed} values with viewing time");
    assert!(
        zeros_outside > 0,
        "some values are outside the filter's list"
    );
    // The stream does what it is meant to: sessions of two countries.
    let mut countries: std::collections::HashMap<&str, HashSet<Option<&str>>> =
        std::collections::HashMap::new();
    for event in &events {
        countries
            .entry(event.session_id.as_str())
            .or_default()
            .insert(event.context.country.as_deref());
    }
    assert!(countries.values().filter(|c| c.len() > 1).count() > 20);
}
