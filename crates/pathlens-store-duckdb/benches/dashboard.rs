//! The dashboard of one video, answered in DuckDB's SQL (`Store::aggregate`)
//! beside the row engine it replaced (`pathlens_store::reference`: the
//! period's rows read into Rust and computed there), on the same database in
//! one run. Every answer of the two is checked equal before its time counts.
//!
//! Workloads, over the last 30 local days in Asia/Kolkata of the busiest
//! sample video:
//! - (a) totals with previous-period totals, the daily series, the nodes
//!   overview, the start node's hotspots, transitions;
//! - (b) the same with a country filter, and with a known viewer's id.
//!
//! Prints one table: p50 / p99 ms of each workload per engine and the ratio,
//! with the machine's load average. Set PATHLENS_BENCH_EVENTS (default
//! 1,000,000) and PATHLENS_BENCH_RUNS (default 15).
//!
//! Run: `cargo bench --profile dev -p pathlens-store-duckdb --bench dashboard`

use std::time::{Duration, Instant};

mod common;

use chrono::{DateTime, TimeZone, Utc};
use pathlens_model::{Event, EventKind, Graph};
use pathlens_report::{ReportRequest, request::dashboard_set};
use pathlens_store::{
    AggregateRequest, Aggregates, ApiKey, AppendOutcome, EventRow, PartnerId, Result, ScanRequest,
    Store, StoredVideo,
};
use pathlens_store_duckdb::{DuckDbConfig, DuckDbStore};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The same database, with reports computed row by row in Rust.
struct RowEngine<'s>(&'s DuckDbStore);

impl Store for RowEngine<'_> {
    fn put_video(&self, partner: PartnerId, graph: &Graph, now: DateTime<Utc>) -> Result<()> {
        self.0.put_video(partner, graph, now)
    }
    fn video(&self, partner: PartnerId, id: &str) -> Result<Option<StoredVideo>> {
        self.0.video(partner, id)
    }
    fn videos(&self, partner: PartnerId) -> Result<Vec<StoredVideo>> {
        self.0.videos(partner)
    }
    fn put_key(&self, key: &ApiKey) -> Result<()> {
        self.0.put_key(key)
    }
    fn keys(&self) -> Result<Vec<ApiKey>> {
        self.0.keys()
    }
    fn revoke_key(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        self.0.revoke_key(id, now)
    }
    fn append(&self, events: Vec<Event>) -> Result<AppendOutcome> {
        self.0.append(events)
    }
    fn scan(&self, request: &ScanRequest) -> Result<Vec<EventRow>> {
        self.0.scan(request)
    }
    fn aggregate(&self, request: &AggregateRequest) -> Result<Aggregates> {
        pathlens_store::reference::aggregate(self, request)
    }
    fn export(&self, partner: Option<PartnerId>, offset: u64, limit: usize) -> Result<Vec<Event>> {
        self.0.export(partner, offset, limit)
    }
    fn event_count(&self) -> Result<u64> {
        self.0.event_count()
    }
    fn write_queue_depth(&self) -> usize {
        self.0.write_queue_depth()
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 1, 6, 0, 0).unwrap()
}

fn load(store: &DuckDbStore, wanted: usize) -> usize {
    let start = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
    common::load_simulated(store, wanted, start, now())
}

/// The reports of workload (a) with `extra` parameters.
fn workload(graph: &Graph, extra: &[(&str, &str)]) -> Vec<ReportRequest> {
    let mut common: Vec<(String, String)> = vec![
        ("range".into(), "last_30_days".into()),
        ("tz".into(), "Asia/Kolkata".into()),
    ];
    common.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let hotspot = graph
        .nodes
        .iter()
        .flat_map(|n| &n.hotspots)
        .next()
        .map_or("", |h| h.id.as_str());
    let set = dashboard_set(&common, &graph.start_node, hotspot).unwrap();
    let mut compared = common.clone();
    compared.push(("compare".into(), "previous_period".into()));
    let totals =
        ReportRequest::from_params(pathlens_report::ReportKind::Totals, &compared).unwrap();
    let wanted = [
        pathlens_report::ReportKind::Timeseries,
        pathlens_report::ReportKind::Nodes,
        pathlens_report::ReportKind::Node,
        pathlens_report::ReportKind::Transitions,
    ];
    let mut requests = vec![totals];
    requests.extend(set.into_iter().filter(|r| wanted.contains(&r.kind)));
    requests
}

fn answer(store: &dyn Store, video: &StoredVideo, requests: &[ReportRequest]) -> Vec<String> {
    requests
        .iter()
        .map(|request| {
            pathlens_report::run(store, video, request, now())
                .unwrap()
                .to_json()
                .to_string()
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

fn time(runs: usize, mut work: impl FnMut()) -> (f64, f64) {
    work();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed()
        })
        .collect();
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let wanted = env_number("PATHLENS_BENCH_EVENTS", 1_000_000);
    let runs = env_number("PATHLENS_BENCH_RUNS", 15).max(1);
    let dir = tempfile::tempdir().unwrap();
    // PATHLENS_BENCH_DIR keeps the database there, to look into afterwards.
    let path = std::env::var_os("PATHLENS_BENCH_DIR")
        .map_or_else(|| dir.path().to_path_buf(), std::path::PathBuf::from);
    let store = DuckDbStore::open(&path, &DuckDbConfig::default()).unwrap();
    let started = Instant::now();
    let stored = load(&store, wanted);
    eprintln!(
        "loaded {stored} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let rows = RowEngine(&store);
    // The busiest video: the most plays in the whole history.
    let videos = store.videos(1).unwrap();
    let plays = |video: &StoredVideo| {
        store
            .scan(&ScanRequest {
                partner_id: 1,
                video_id: video.graph.id.clone(),
                start: DateTime::<Utc>::MIN_UTC,
                end: now(),
                kinds: vec![EventKind::Play],
                filter: Default::default(),
            })
            .unwrap()
    };
    let (video, played) = videos
        .iter()
        .map(|v| (v, plays(v)))
        .max_by_key(|(_, p)| p.len())
        .unwrap();
    let known = played
        .iter()
        .find_map(|row| row.user_id.clone())
        .unwrap_or_default();
    let country = "IN";
    let workloads = [
        ("(a) dashboard", workload(&video.graph, &[])),
        (
            "(b) dashboard, country filter",
            workload(&video.graph, &[("countries", country)]),
        ),
        (
            "(b) dashboard, known viewer",
            workload(&video.graph, &[("user_ids", known.as_str())]),
        ),
    ];
    println!(
        "dashboard of {:?} ({} events stored, {} plays of it), last 30 days in Asia/Kolkata, {runs} runs each; load average {}",
        video.graph.id,
        stored,
        played.len(),
        load_average()
    );
    println!();
    println!(
        "| workload | pathlens SQL p50 ms | p99 ms | row engine p50 ms | p99 ms | row engine / SQL |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, requests) in &workloads {
        let sql_answers = answer(&store, video, requests);
        let row_answers = answer(&rows, video, requests);
        assert_eq!(
            sql_answers, row_answers,
            "{name}: SQL and row engine disagree"
        );
        let (sql50, sql99) = time(runs, || {
            answer(&store, video, requests);
        });
        let (row50, row99) = time(runs, || {
            answer(&rows, video, requests);
        });
        println!(
            "| {name} | {sql50:.1} | {sql99:.1} | {row50:.1} | {row99:.1} | {:.1}× |",
            row50 / sql50
        );
    }
    println!();
    println!("load average after: {}", load_average());
}
