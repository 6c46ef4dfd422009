//! Latency of the full set of reports of one video over 30 days on the
//! embedded store: totals, daily timeseries, nodes, node drill-down, viewing
//! curve, hotspot heat map, transitions and viewers — once plain and once
//! compared with the previous period — over a database of simulated traffic
//! (1,000,000 events by default; set PATHLENS_BENCH_EVENTS to change it).
//!
//! Run: `cargo bench --profile dev -p pathlens-store-duckdb --bench reports`

use std::time::Instant;

mod common;

use chrono::{NaiveDate, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use pathlens_report::ReportRequest;
use pathlens_sim::SimConfig;
use pathlens_store::Store;
use pathlens_store_duckdb::{DuckDbConfig, DuckDbStore};

fn target_events() -> usize {
    std::env::var("PATHLENS_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn load(store: &DuckDbStore) -> usize {
    let now = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
    common::load_simulated(store, target_events(), SimConfig::default().start, now)
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

fn reports(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = DuckDbStore::open(dir.path(), &DuckDbConfig::default()).unwrap();
    let started = Instant::now();
    let stored = load(&store);
    eprintln!(
        "loaded {stored} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let video = store.video(1, "onboarding").unwrap().unwrap();
    let now = Utc.from_utc_datetime(
        &NaiveDate::from_ymd_opt(2026, 2, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap(),
    );
    let mut group = c.benchmark_group("reports");
    group.sample_size(10);
    for (name, compare) in [
        ("full set, 30 days, one video", false),
        ("full set with comparison", true),
    ] {
        let set = requests(compare);
        group.bench_function(name, |b| {
            b.iter(|| {
                for request in &set {
                    pathlens_report::run(&store, &video, request, now).unwrap();
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, reports);
criterion_main!(benches);
