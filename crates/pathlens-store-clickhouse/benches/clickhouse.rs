//! Insert rate into ClickHouse and the latency of the full report set on
//! ClickHouse, on the same simulated data as the embedded store's `reports`
//! benchmark (30 days, three videos, seed 11), so the figures compare.
//!
//! 1. appends through the ClickHouse store in batches of 100,000 events
//!    (what the spool's shipper sends), dedup check included;
//! 2. appends through a pathlens node's spool in batches of 10,000 events
//!    (the API's largest request), timed to the last acknowledgement and to
//!    the moment the spool is empty (all in ClickHouse);
//! 3. the full report set of one video over 30 days (totals, daily
//!    timeseries, nodes, node, curve, heat map, transitions, viewers), plain
//!    and compared with the previous period: aggregated by ClickHouse, and
//!    beside it, in the same run, the rows read into pathlens and
//!    aggregated in Rust; both answers are checked identical, and the bytes
//!    each received from ClickHouse are printed;
//! 4. the breakdown by country of the same video over the same 30 days,
//!    compared with the previous period, first page of 10 values: with the
//!    store's breakdown (every value in one query) and, in the same run, with
//!    the default that asks `aggregate` once per value; the whole report and
//!    the `Store::breakdown` calls alone are timed, and both answers are
//!    checked identical.
//!
//! Needs a server: `scripts/clickhouse start 1 && eval "$(scripts/clickhouse env)"`.
//! With `PATHLENS_BENCH_CLUSTER=pathlens_test` (and `scripts/clickhouse
//! start 2`) the events are spread over a two-shard cluster instead.
//! Run: `PATHLENS_BENCH_EVENTS=1000000 cargo bench --profile dev -p pathlens-store-clickhouse --bench clickhouse`
//! (the same generator settings as the embedded store's benchmark, so the
//! same events for the same count). Set `PATHLENS_BENCH_KEEP=1` to keep the database and skip the spool step
//! (`PATHLENS_BENCH_DATABASE=<name>` then times the reports on it again), and
//! `PATHLENS_BENCH_MEMORY=1` to time the same reports on the in-memory store
//! too (the report engine alone); `PATHLENS_BENCH_RUNS` sets the runs of the
//! report set (5).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use pathlens_model::Event;
use pathlens_report::ReportRequest;
use pathlens_sim::{SimConfig, Simulator, sample_graphs};
use pathlens_store::{
    AggregateRequest, Aggregates, ApiKey, AppendOutcome, Dimension, DimensionValue, EventRow,
    PartnerId, ScanRequest, Store, StoredVideo, Totals, ValuesRequest,
};
use pathlens_store_clickhouse::http::Client;
use pathlens_store_clickhouse::{ClickHouseConfig, ClickHouseStore, SpoolConfig, SpooledStore};
use serde_json::Value;

fn target_events() -> usize {
    std::env::var("PATHLENS_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The embedded store's benchmark data: 30 days of three videos.
fn simulator() -> impl Iterator<Item = Event> {
    let wanted = target_events();
    // As the embedded store's benchmark: about 31 events per session on
    // average, so aim a little high and stop at the target.
    let per_day = wanted as f64 / 30.0 / 3.0 / 28.0;
    let config = SimConfig {
        seed: 11,
        days: 30,
        sessions_per_day: per_day,
        ..SimConfig::default()
    };
    Simulator::new(config, sample_graphs()).take(wanted)
}

fn requests(compare: bool) -> Vec<ReportRequest> {
    let mut params = vec![
        ("from".to_string(), "2026-01-01".to_string()),
        ("to".to_string(), "2026-01-30".to_string()),
        ("tz".to_string(), "Europe/Paris".to_string()),
    ];
    if compare {
        params.push(("compare".into(), "previous_period".into()));
    }
    pathlens_report::request::dashboard_set(&params, "n-intro", "h-eng").unwrap()
}

/// The cluster to spread the events over (`PATHLENS_BENCH_CLUSTER`, one
/// shard per server of `PATHLENS_CLICKHOUSE_URLS`), if any.
fn cluster() -> Option<(String, Vec<String>)> {
    let name = std::env::var("PATHLENS_BENCH_CLUSTER").ok()?;
    let urls = std::env::var("PATHLENS_CLICKHOUSE_URLS")
        .unwrap_or_default()
        .split(',')
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect();
    Some((name, urls))
}

fn config(url: &str, database: &str) -> ClickHouseConfig {
    let config =
        ClickHouseConfig::from_url(&format!("{}/{database}", url.trim_end_matches('/'))).unwrap();
    match cluster() {
        Some((name, _)) => config.with_cluster(Some(name)).unwrap(),
        None => config,
    }
}

fn drop_database(url: &str, database: &str) {
    let config = config(url, database);
    let client = Client::new(&config.endpoint, Duration::from_secs(600), Vec::new());
    let _ = client.execute(&format!("DROP DATABASE IF EXISTS {database}"));
}

fn insert_direct(url: &str, database: &str) -> ClickHouseStore {
    if let Some((name, urls)) = cluster() {
        // Every shard needs its local tables, which each server's store
        // creates when it opens.
        for other in &urls {
            ClickHouseStore::open(config(other, database)).unwrap();
        }
        println!("cluster {name}: {} shards", urls.len());
    }
    let store = ClickHouseStore::open(config(url, database)).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
    for graph in sample_graphs() {
        store.put_video(1, &graph, now).unwrap();
    }
    eprintln!("load: {}", load_average());
    let mut batch = Vec::with_capacity(100_000);
    let (mut stored, mut sent) = (0, 0);
    let mut insert_time = Duration::ZERO;
    let started = Instant::now();
    let flush = |batch: Vec<Event>, stored: &mut usize, insert_time: &mut Duration| {
        let begun = Instant::now();
        *stored += store.append_events(batch).unwrap().accepted;
        *insert_time += begun.elapsed();
    };
    for event in simulator() {
        batch.push(event);
        sent += 1;
        if batch.len() == 100_000 {
            flush(std::mem::take(&mut batch), &mut stored, &mut insert_time);
        }
    }
    flush(batch, &mut stored, &mut insert_time);
    let total = started.elapsed();
    println!(
        "clickhouse insert, batches of 100k: {sent} events ({stored} distinct) in {:.1} s of inserts ({:.0} events/s); {:.1} s with the simulator",
        insert_time.as_secs_f64(),
        sent as f64 / insert_time.as_secs_f64(),
        total.as_secs_f64()
    );
    store
}

fn insert_spooled(url: &str, database: &str) {
    let spool = tempfile::tempdir().unwrap();
    let store = Arc::new(ClickHouseStore::open(config(url, database)).unwrap());
    let node = SpooledStore::open(store, SpoolConfig::new(spool.path())).unwrap();
    eprintln!("load: {}", load_average());
    let events: Vec<Event> = simulator().take(1_000_000).collect();
    let started = Instant::now();
    let mut acknowledged = 0;
    for chunk in events.chunks(10_000) {
        acknowledged += node.append(chunk.to_vec()).unwrap().accepted;
    }
    let acked = started.elapsed();
    assert!(node.flush(Duration::from_secs(3_600)));
    let shipped = started.elapsed();
    println!(
        "pathlens node with spool, requests of 10k: {} events ({acknowledged} acknowledged as new) acknowledged in {:.1} s ({:.0} events/s), all in ClickHouse after {:.1} s ({:.0} events/s)",
        events.len(),
        acked.as_secs_f64(),
        events.len() as f64 / acked.as_secs_f64(),
        shipped.as_secs_f64(),
        events.len() as f64 / shipped.as_secs_f64()
    );
}

/// The full report set (median seconds over the runs, the bytes received
/// from ClickHouse per set, the reports as JSON).
fn time_set(store: &dyn Store, client: &Client, compare: bool) -> (Vec<f64>, u64, Vec<Value>) {
    let video = store.video(1, "onboarding").unwrap().unwrap();
    let now = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
    let set = requests(compare);
    let runs: usize = std::env::var("PATHLENS_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let mut times = Vec::new();
    let mut bytes = 0;
    let mut reports = Vec::new();
    for _ in 0..runs {
        let before = client.bytes_received();
        let started = Instant::now();
        reports = set
            .iter()
            .map(|request| {
                pathlens_report::run(store, &video, request, now)
                    .unwrap()
                    .to_json()
            })
            .collect();
        times.push(started.elapsed().as_secs_f64());
        bytes = client.bytes_received() - before;
    }
    times.sort_by(f64::total_cmp);
    (times, bytes, reports)
}

/// The full report set of one video, aggregated by ClickHouse and, in the
/// same run, read as rows and aggregated in Rust; the two answers must be
/// identical.
fn report_latency(label: &str, store: &ClickHouseStore) {
    for (name, compare) in [
        ("full set, 30 days, one video", false),
        ("full set with comparison", true),
    ] {
        eprintln!("load: {}", load_average());
        let (fast, fast_bytes, fast_reports) = time_set(store, store.client(), compare);
        // The peer: the same rows read into pathlens and aggregated in Rust
        // (how reports ran before ClickHouse aggregated them).
        let rows = pathlens_store::reference::Rerouted::rows(store);
        let (slow, slow_bytes, slow_reports) = time_set(&rows, store.client(), compare);
        assert_eq!(fast_reports, slow_reports, "{name}: the two engines differ");
        let runs = fast.len();
        let median = |t: &[f64]| t[t.len() / 2];
        println!(
            "{label} reports, {name}: aggregated in ClickHouse median {:.3} s (min {:.3}, max {:.3}), {} bytes received; rows into Rust median {:.3} s (min {:.3}, max {:.3}), {} bytes received; {:.1}x faster, {:.0}x fewer bytes ({runs} runs each, answers identical, load {})",
            median(&fast),
            fast[0],
            fast[runs - 1],
            fast_bytes,
            median(&slow),
            slow[0],
            slow[runs - 1],
            slow_bytes,
            median(&slow) / median(&fast),
            slow_bytes as f64 / fast_bytes.max(1) as f64,
            load_average(),
        );
    }
}

/// A store answering as `store` does, except that breakdowns are asked
/// value by value when `value_by_value` (the trait's default), and that
/// the time spent in breakdowns is added up.
struct Breakdowns<'s> {
    store: &'s dyn Store,
    value_by_value: bool,
    spent: Mutex<Duration>,
}

impl Store for Breakdowns<'_> {
    fn put_video(
        &self,
        partner: PartnerId,
        graph: &pathlens_model::Graph,
        now: chrono::DateTime<Utc>,
    ) -> pathlens_store::Result<()> {
        self.store.put_video(partner, graph, now)
    }
    fn video(&self, partner: PartnerId, id: &str) -> pathlens_store::Result<Option<StoredVideo>> {
        self.store.video(partner, id)
    }
    fn videos(&self, partner: PartnerId) -> pathlens_store::Result<Vec<StoredVideo>> {
        self.store.videos(partner)
    }
    fn put_key(&self, key: &ApiKey) -> pathlens_store::Result<()> {
        self.store.put_key(key)
    }
    fn keys(&self) -> pathlens_store::Result<Vec<ApiKey>> {
        self.store.keys()
    }
    fn revoke_key(&self, id: &str, now: chrono::DateTime<Utc>) -> pathlens_store::Result<bool> {
        self.store.revoke_key(id, now)
    }
    fn append(&self, events: Vec<Event>) -> pathlens_store::Result<AppendOutcome> {
        self.store.append(events)
    }
    fn scan(&self, request: &ScanRequest) -> pathlens_store::Result<Vec<EventRow>> {
        self.store.scan(request)
    }
    fn values(&self, request: &ValuesRequest) -> pathlens_store::Result<Vec<DimensionValue>> {
        self.store.values(request)
    }
    fn aggregate(&self, request: &AggregateRequest) -> pathlens_store::Result<Aggregates> {
        self.store.aggregate(request)
    }
    fn breakdown(
        &self,
        request: &AggregateRequest,
        dimension: Dimension,
        values: &[String],
    ) -> pathlens_store::Result<Vec<Totals>> {
        let started = Instant::now();
        let answer = if self.value_by_value {
            pathlens_store::aggregate::breakdown_by_value(self.store, request, dimension, values)
        } else {
            self.store.breakdown(request, dimension, values)
        };
        *self.spent.lock().unwrap() += started.elapsed();
        answer
    }
    fn export(
        &self,
        partner: Option<PartnerId>,
        offset: u64,
        limit: usize,
    ) -> pathlens_store::Result<Vec<Event>> {
        self.store.export(partner, offset, limit)
    }
    fn event_count(&self) -> pathlens_store::Result<u64> {
        self.store.event_count()
    }
    fn write_queue_depth(&self) -> usize {
        self.store.write_queue_depth()
    }
}

/// The breakdown report by country (median seconds of the report and of
/// its `Store::breakdown` calls over the runs, and the report as JSON).
fn time_breakdown(store: &dyn Store, value_by_value: bool) -> (Vec<f64>, Vec<f64>, Value) {
    let video = store.video(1, "onboarding").unwrap().unwrap();
    let now = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
    let params: Vec<(String, String)> = [
        ("from", "2026-01-01"),
        ("to", "2026-01-30"),
        ("tz", "Europe/Paris"),
        ("compare", "previous_period"),
        ("dimension", "country"),
        ("page_size", "10"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let request =
        ReportRequest::from_params(pathlens_report::ReportKind::Breakdown, &params).unwrap();
    let runs: usize = std::env::var("PATHLENS_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let (mut reports, mut breakdowns) = (Vec::new(), Vec::new());
    let mut report = Value::Null;
    for _ in 0..runs {
        let timed = Breakdowns {
            store,
            value_by_value,
            spent: Mutex::new(Duration::ZERO),
        };
        let started = Instant::now();
        report = pathlens_report::run(&timed, &video, &request, now)
            .unwrap()
            .to_json();
        reports.push(started.elapsed().as_secs_f64());
        breakdowns.push(timed.spent.lock().unwrap().as_secs_f64());
    }
    reports.sort_by(f64::total_cmp);
    breakdowns.sort_by(f64::total_cmp);
    (reports, breakdowns, report)
}

/// The breakdown by country with the store's one query per period, and
/// with `aggregate` asked value by value, on the same data in the same run.
fn breakdown_latency(label: &str, store: &ClickHouseStore) {
    eprintln!("load: {}", load_average());
    let (one, one_breakdown, one_report) = time_breakdown(store, false);
    let (each, each_breakdown, each_report) = time_breakdown(store, true);
    assert_eq!(
        one_report, each_report,
        "the breakdown differs from its value-by-value definition"
    );
    let rows = one_report["rows"].as_array().map_or(0, Vec::len);
    assert!(rows > 1, "the breakdown has {rows} rows");
    let median = |t: &[f64]| t[t.len() / 2];
    println!(
        "{label} breakdown by country, 30 days with comparison, {rows} values: one query per period: report median {:.3} s (min {:.3}, max {:.3}), Store::breakdown {:.3} s; value by value: report median {:.3} s (min {:.3}, max {:.3}), Store::breakdown {:.3} s; report {:.1}x faster, Store::breakdown {:.1}x ({} runs each, answers identical, load {})",
        median(&one),
        one[0],
        one[one.len() - 1],
        median(&one_breakdown),
        median(&each),
        each[0],
        each[each.len() - 1],
        median(&each_breakdown),
        median(&each) / median(&one),
        median(&each_breakdown) / median(&one_breakdown),
        one.len(),
        load_average(),
    );
}

fn memory_latency(store: &dyn Store) {
    let video = store.video(1, "onboarding").unwrap().unwrap();
    let now = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
    let set = requests(false);
    let started = Instant::now();
    for request in &set {
        pathlens_report::run(store, &video, request, now).unwrap();
    }
    println!(
        "in-memory reports, full set, 30 days, one video: {:.3} s",
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Ok(url) = std::env::var("PATHLENS_CLICKHOUSE_URL") else {
        eprintln!(
            "skipped: set PATHLENS_CLICKHOUSE_URL (scripts/clickhouse start; eval \"$(scripts/clickhouse env)\")"
        );
        return;
    };
    if let Ok(database) = std::env::var("PATHLENS_BENCH_DATABASE") {
        // A database an earlier run kept: time the reports only.
        let store = ClickHouseStore::open(config(&url, &database)).unwrap();
        println!(
            "{} events in the kept database {database}, ClickHouse at {url}",
            store.event_count().unwrap()
        );
        report_latency("clickhouse", &store);
        breakdown_latency("clickhouse", &store);
        return;
    }
    let database = format!("pathlens_bench_{}", std::process::id());
    println!("{} events, ClickHouse at {url}", target_events());
    let store = insert_direct(&url, &database);
    let rows = store.event_count().unwrap();
    println!("stored: {rows} events");
    report_latency("clickhouse", &store);
    breakdown_latency("clickhouse", &store);
    if std::env::var_os("PATHLENS_BENCH_MEMORY").is_some() {
        // The same reports on the in-memory store: the report engine's own
        // share of the latency, without any database.
        let memory = pathlens_store::memory::MemoryStore::new();
        let now = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
        for graph in sample_graphs() {
            memory.put_video(1, &graph, now).unwrap();
        }
        for chunk in simulator().collect::<Vec<_>>().chunks(100_000) {
            memory.append(chunk.to_vec()).unwrap();
        }
        memory_latency(&memory);
    }
    if std::env::var_os("PATHLENS_BENCH_KEEP").is_some() {
        println!("kept the database {database}");
        return;
    }
    for other in cluster().map(|(_, urls)| urls).unwrap_or_default() {
        drop_database(&other, &database);
    }
    drop_database(&url, &database);
    if cluster().is_some() {
        return;
    }
    let spooled = format!("{database}_spool");
    insert_spooled(&url, &spooled);
    drop_database(&url, &spooled);
}
