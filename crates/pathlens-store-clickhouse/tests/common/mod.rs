//! What the integration tests share: the servers (from the environment that
//! `scripts/clickhouse env` prints), one fresh database per test, simulated
//! traffic, and report comparison.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use pathlens_model::{Event, Graph};
use pathlens_report::{ReportKind, ReportRequest};
use pathlens_sim::{SimConfig, Simulator, sample_graphs};
use pathlens_store::{Dimension, Store};
use pathlens_store_clickhouse::ClickHouseConfig;
use pathlens_store_clickhouse::http::Client;
use serde_json::Value;

/// The URL of the first test server, or `None` (after saying why the test
/// is skipped).
pub fn server(test: &str) -> Option<String> {
    match std::env::var("PATHLENS_CLICKHOUSE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "SKIPPED {test}: PATHLENS_CLICKHOUSE_URL is not set. Start servers with \
                 `scripts/clickhouse start` and `eval \"$(scripts/clickhouse env)\"` (scripts/test does)."
            );
            None
        }
    }
}

/// Every test server's URL (two for the cluster test) and the cluster name.
pub fn cluster(test: &str) -> Option<(Vec<String>, String)> {
    server(test)?;
    let urls: Vec<String> = std::env::var("PATHLENS_CLICKHOUSE_URLS")
        .unwrap_or_default()
        .split(',')
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect();
    let name = std::env::var("PATHLENS_CLICKHOUSE_TEST_CLUSTER").unwrap_or_default();
    if urls.len() < 2 || name.is_empty() {
        eprintln!(
            "SKIPPED {test}: needs two servers (PATHLENS_CLICKHOUSE_URLS) and PATHLENS_CLICKHOUSE_TEST_CLUSTER; \
             `scripts/clickhouse start 2` provides them"
        );
        return None;
    }
    Some((urls, name))
}

/// `scripts/clickhouse`, to start and stop a server of the test's own.
pub fn script() -> PathBuf {
    std::env::var("PATHLENS_CLICKHOUSE_SCRIPT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/clickhouse")
        })
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database name no other test (or run) uses.
pub fn fresh_name() -> String {
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
    format!(
        "pathlens_test_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A test's database on some servers, dropped when the test ends.
pub struct Database {
    pub name: String,
    urls: Vec<String>,
}

impl Database {
    pub fn new(urls: &[String]) -> Database {
        Database {
            name: fresh_name(),
            urls: urls.to_vec(),
        }
    }

    /// The store configuration for the database on server `index`.
    pub fn config(&self, index: usize) -> ClickHouseConfig {
        config_for(&self.urls[index], &self.name)
    }

    /// A plain client of server `index`, for checks behind the store's back.
    pub fn client(&self, index: usize) -> Client {
        let config = self.config(index);
        Client::new(&config.endpoint, Duration::from_secs(60), Vec::new())
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        for index in 0..self.urls.len() {
            let _ = self
                .client(index)
                .execute(&format!("DROP DATABASE IF EXISTS {}", self.name));
        }
    }
}

pub fn config_for(url: &str, database: &str) -> ClickHouseConfig {
    let mut config =
        ClickHouseConfig::from_url(&format!("{}/{database}", url.trim_end_matches('/')))
            .expect("a valid test URL");
    config.timeout = Duration::from_secs(120);
    config
}

/// A number from a `TabSeparated` answer.
pub fn number(client: &Client, sql: &str) -> u64 {
    client
        .query_text(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

pub fn graph_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 12, 1, 0, 0, 0).unwrap()
}

/// Simulated January 2026 on the three sample videos, client retries
/// included.
pub fn traffic(days: u32, sessions_per_day: f64) -> Vec<Event> {
    let config = SimConfig {
        seed: 5,
        days,
        sessions_per_day,
        retry_rate: 0.05,
        ..SimConfig::default()
    };
    Simulator::new(config, sample_graphs()).collect()
}

/// Puts the sample videos and appends `events` in batches of `batch`.
pub fn load(store: &dyn Store, events: &[Event], batch: usize) {
    for graph in sample_graphs() {
        store.put_video(1, &graph, graph_time()).expect("put_video");
    }
    for chunk in events.chunks(batch) {
        store.append(chunk.to_vec()).expect("append");
    }
}

/// The instant reports run at (presets are not used).
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
}

/// A node with hotspots and one of its hotspots, for drill-downs.
fn drill_down(graph: &Graph) -> (String, String) {
    let node = graph
        .nodes
        .iter()
        .find(|n| !n.hotspots.is_empty())
        .unwrap_or(&graph.nodes[0]);
    let hotspot = node
        .hotspots
        .first()
        .map(|h| h.id.clone())
        .unwrap_or_default();
    (node.id.clone(), hotspot)
}

/// The report requests compared: every kind, in four settings (UTC, a
/// half-hour zone with a comparison, filters in a DST zone by week, and a
/// session filter by hour); in the last three, the breakdown by every
/// dimension besides the default (country).
pub fn requests(graph: &Graph) -> Vec<(String, ReportRequest)> {
    let (node, hotspot) = drill_down(graph);
    let settings: [&[(&str, &str)]; 4] = [
        &[("from", "2026-01-01"), ("to", "2026-01-31"), ("tz", "UTC")],
        &[
            ("from", "2026-01-08"),
            ("to", "2026-01-21"),
            ("tz", "Asia/Kolkata"),
            ("compare", "previous_period"),
        ],
        &[
            ("from", "2026-01-01"),
            ("to", "2026-01-31"),
            ("tz", "America/New_York"),
            ("interval", "week"),
            ("countries", "US,FR,unknown"),
            ("viewer", "known"),
        ],
        &[
            ("from", "2026-01-05"),
            ("to", "2026-01-25"),
            ("tz", "Europe/Paris"),
            ("interval", "hour"),
        ],
    ];
    let mut requests = Vec::new();
    for (index, setting) in settings.into_iter().enumerate() {
        let breakdowns = if index == 0 {
            Vec::new()
        } else {
            Dimension::ALL
                .into_iter()
                .filter(|d| *d != Dimension::Country)
                .collect()
        };
        let kinds = ReportKind::ALL.into_iter().map(|kind| (kind, None)).chain(
            breakdowns
                .into_iter()
                .map(|d| (ReportKind::Breakdown, Some(d))),
        );
        for (kind, dimension) in kinds {
            let mut params: Vec<(String, String)> = setting
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            if let Some(dimension) = dimension {
                params.push(("dimension".into(), dimension.name().into()));
            }
            let page_size = if kind == ReportKind::Breakdown {
                "100"
            } else {
                "10000"
            };
            params.push(("page_size".into(), page_size.into()));
            if index == 3 {
                // Sessions that reached the drill-down node and clicked its hotspot.
                params.push(("nodes".into(), node.clone()));
                params.push(("hotspots".into(), hotspot.clone()));
            }
            match kind {
                ReportKind::Node | ReportKind::Curve => params.push(("node".into(), node.clone())),
                ReportKind::Heatmap => params.push(("hotspot".into(), hotspot.clone())),
                _ => {}
            }
            let request = ReportRequest::from_params(kind, &params)
                .unwrap_or_else(|e| panic!("{params:?}: {e}"));
            requests.push((format!("{} {params:?}", kind.name()), request));
        }
    }
    requests
}

/// Every report of every sample video as JSON, keyed by a description.
pub fn reports(store: &dyn Store) -> Vec<(String, Value)> {
    reports_of(store, &ReportKind::ALL)
}

/// The reports of `kinds` of every sample video.
pub fn reports_of(store: &dyn Store, kinds: &[ReportKind]) -> Vec<(String, Value)> {
    let mut all = Vec::new();
    for graph in sample_graphs() {
        let video = store
            .video(1, &graph.id)
            .expect("video")
            .unwrap_or_else(|| panic!("video {} missing", graph.id));
        for (name, request) in requests(&graph) {
            if !kinds.contains(&request.kind) {
                continue;
            }
            let report = pathlens_report::run(store, &video, &request, now())
                .unwrap_or_else(|e| panic!("{} {name}: {e}", graph.id));
            all.push((format!("{} {name}", graph.id), report.to_json()));
        }
    }
    all
}

/// Where two JSON values differ, as `path: left != right` lines.
pub fn differences(path: &str, left: &Value, right: &Value, found: &mut Vec<String>) {
    match (left, right) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                let missing = Value::String("<missing>".into());
                differences(
                    &format!("{path}.{key}"),
                    a.get(key).unwrap_or(&missing),
                    b.get(key).unwrap_or(&missing),
                    found,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}[{index}]"), x, y, found);
            }
        }
        _ if left == right => {}
        _ => found.push(format!("{path}: {left} != {right}")),
    }
}

/// Asserts that two sets of reports are identical field by field.
pub fn assert_same_reports(what: &str, left: &[(String, Value)], right: &[(String, Value)]) {
    assert_eq!(left.len(), right.len());
    let mut found = Vec::new();
    let mut reports = Vec::new();
    for ((name, a), (other, b)) in left.iter().zip(right) {
        assert_eq!(name, other);
        let before = found.len();
        differences(name, a, b, &mut found);
        if found.len() > before {
            reports.push(name.clone());
        }
    }
    assert!(
        found.is_empty(),
        "{what}: {} differences in {} reports ({}), the first:\n{}",
        found.len(),
        reports.len(),
        reports.join("; "),
        found
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let rows: usize = left
        .iter()
        .map(|(_, r)| r["rows"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(
        rows > 100,
        "{what}: the reports are nearly empty ({rows} rows)"
    );
}
