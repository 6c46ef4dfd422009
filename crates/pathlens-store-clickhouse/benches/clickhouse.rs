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
//!    and compared with the previous period.
//!
//! Needs a server: `scripts/clickhouse start 1 && eval "$(scripts/clickhouse env)"`.
//! Run: `PATHLENS_BENCH_EVENTS=1000000 cargo bench --profile dev -p pathlens-store-clickhouse --bench clickhouse`
//! (the same generator settings as the embedded store's benchmark, so the
//! same events for the same count). Set `PATHLENS_BENCH_KEEP=1` to keep the database and skip the spool step, and
//! `PATHLENS_BENCH_MEMORY=1` to time the same reports on the in-memory store
//! too (the report engine alone); `PATHLENS_BENCH_RUNS` sets the runs of the
//! report set (5).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use pathlens_model::Event;
use pathlens_report::ReportRequest;
use pathlens_sim::{SimConfig, Simulator, sample_graphs};
use pathlens_store::Store;
use pathlens_store_clickhouse::http::Client;
use pathlens_store_clickhouse::{ClickHouseConfig, ClickHouseStore, SpoolConfig, SpooledStore};

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

fn config(url: &str, database: &str) -> ClickHouseConfig {
    ClickHouseConfig::from_url(&format!("{}/{database}", url.trim_end_matches('/'))).unwrap()
}

fn drop_database(url: &str, database: &str) {
    let config = config(url, database);
    let client = Client::new(&config.endpoint, Duration::from_secs(600), Vec::new());
    let _ = client.execute(&format!("DROP DATABASE IF EXISTS {database}"));
}

fn insert_direct(url: &str, database: &str) -> ClickHouseStore {
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

fn report_latency(label: &str, store: &dyn Store) {
    let video = store.video(1, "onboarding").unwrap().unwrap();
    let now = Utc.from_utc_datetime(
        &NaiveDate::from_ymd_opt(2026, 2, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap(),
    );
    for (name, compare) in [
        ("full set, 30 days, one video", false),
        ("full set with comparison", true),
    ] {
        let set = requests(compare);
        eprintln!("load: {}", load_average());
        let runs: usize = std::env::var("PATHLENS_BENCH_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5)
            .max(1);
        let mut times = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            for request in &set {
                pathlens_report::run(store, &video, request, now).unwrap();
            }
            times.push(started.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{label} reports, {name}: median {:.3} s, min {:.3} s, max {:.3} s ({runs} runs)",
            times[runs / 2],
            times[0],
            times[runs - 1]
        );
    }
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
    let database = format!("pathlens_bench_{}", std::process::id());
    println!("{} events, ClickHouse at {url}", target_events());
    let store = insert_direct(&url, &database);
    let rows = store.event_count().unwrap();
    println!("stored: {rows} events");
    report_latency("clickhouse", &store);
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
        report_latency("in-memory", &memory);
    }
    if std::env::var_os("PATHLENS_BENCH_KEEP").is_some() {
        println!("kept the database {database}");
        return;
    }
    drop_database(&url, &database);
    let spooled = format!("{database}_spool");
    insert_spooled(&url, &spooled);
    drop_database(&url, &spooled);
}
