//! The dashboard of one video: pathlens's embedded store beside a plain
//! DuckDB (the Python package) answering the same questions from the same
//! events, in one run on one machine. Every answer is checked before its
//! time counts: pathlens's reports against the row engine
//! (`pathlens_store::reference`, rows read into Rust and computed there),
//! and the peer's figures against pathlens's for each question the
//! dashboard asks the store.
//!
//! Workloads, over the last 30 local days in Asia/Kolkata of the busiest
//! sample video:
//! - (a) totals with previous-period totals, the daily series, the nodes
//!   overview, the start node's hotspots, transitions;
//! - (b) the same with a country filter, and with a known viewer's id;
//! - (d) the breakdown by country (its first page of 10 values) compared
//!   with the previous period.
//!
//! The peer (`benches/peers/duckdb_peer.py`) runs in two variants: raw
//! events only, and with each view's increase precomputed at load.
//!
//! Prints one table: p50 / p99 ms of each workload for pathlens and each
//! peer, and the ratio to the faster peer, with the machine's load average.
//! Set PATHLENS_BENCH_EVENTS (default 1,000,000) and PATHLENS_BENCH_RUNS
//! (default 15); PATHLENS_BENCH_PYTHON names the Python with `duckdb`.
//!
//! Run: `cargo bench --profile dev -p pathlens-store-duckdb --bench dashboard`

use std::sync::Mutex;
use std::time::{Duration, Instant};

mod common;

/// The allocator the `pathlens` binary uses (mimalloc, DuckDB's allocations
/// included), so the figures are those of the binary users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use chrono::{DateTime, TimeZone, Utc};
use pathlens_model::{EventKind, Graph};
use pathlens_report::{ReportRequest, request::dashboard_set};
use pathlens_store::{
    AggregateRequest, Aggregates, ContextFilter, Dimension, Parts, Result, ScanRequest, Store,
    StoredVideo, Totals, ValuesRequest,
};
use pathlens_store_duckdb::{DuckDbConfig, DuckDbStore};
use serde_json::{Value, json};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One question a report asked the store: figures (`Store::aggregate`),
/// the totals of each of `values` (`Store::breakdown`), or the values of a
/// dimension (`Store::values`).
#[derive(Clone)]
struct Question {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    filter: ContextFilter,
    parts: Parts,
    /// A breakdown's or a values question's dimension.
    dimension: Option<Dimension>,
    /// A breakdown's values.
    values: Vec<String>,
}

impl Question {
    fn of(request: &AggregateRequest) -> Question {
        Question {
            start: request.start,
            end: request.end,
            filter: request.filter.clone(),
            parts: request.parts.clone(),
            dimension: None,
            values: Vec::new(),
        }
    }

    /// pathlens's answer to it, in the peer's shape.
    fn answer(&self, store: &dyn Store, graph: &Graph) -> Value {
        let request = AggregateRequest {
            partner_id: 1,
            graph,
            start: self.start,
            end: self.end,
            filter: self.filter.clone(),
            sessions: Default::default(),
            parts: self.parts.clone(),
            cancel: Default::default(),
        };
        match self.dimension {
            Some(dimension) if self.parts.buckets.is_empty() => {
                let mut values = store
                    .values(&ValuesRequest {
                        partner_id: 1,
                        video_id: graph.id.clone(),
                        start: self.start,
                        end: self.end,
                        dimension,
                        filter: self.filter.clone(),
                    })
                    .unwrap();
                values.sort_by(|a, b| a.value.cmp(&b.value));
                let values: Vec<Value> = values
                    .into_iter()
                    .map(|v| json!([v.value, v.plays, v.events]))
                    .collect();
                json!({ "values": values })
            }
            Some(dimension) => {
                let totals = store.breakdown(&request, dimension, &self.values).unwrap();
                let rows: Vec<Value> = self
                    .values
                    .iter()
                    .zip(totals)
                    .map(|(value, t)| json!([value, totals_json(&t)]))
                    .collect();
                json!({ "breakdown": rows })
            }
            None => figures_json(self, &store.aggregate(&request).unwrap()),
        }
    }
}

/// A store that records every question asked of it.
struct Recording<'s> {
    store: &'s dyn Store,
    seen: Mutex<Vec<Question>>,
}

impl Store for Recording<'_> {
    fn put_video(&self, partner: u32, graph: &Graph, now: DateTime<Utc>) -> Result<()> {
        self.store.put_video(partner, graph, now)
    }
    fn video(&self, partner: u32, id: &str) -> Result<Option<StoredVideo>> {
        self.store.video(partner, id)
    }
    fn videos(&self, partner: u32) -> Result<Vec<StoredVideo>> {
        self.store.videos(partner)
    }
    fn put_key(&self, key: &pathlens_store::ApiKey) -> Result<()> {
        self.store.put_key(key)
    }
    fn keys(&self) -> Result<Vec<pathlens_store::ApiKey>> {
        self.store.keys()
    }
    fn revoke_key(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        self.store.revoke_key(id, now)
    }
    fn append(&self, events: Vec<pathlens_model::Event>) -> Result<pathlens_store::AppendOutcome> {
        self.store.append(events)
    }
    fn scan(&self, request: &ScanRequest) -> Result<Vec<pathlens_store::EventRow>> {
        self.store.scan(request)
    }
    fn values(&self, request: &ValuesRequest) -> Result<Vec<pathlens_store::DimensionValue>> {
        self.seen.lock().unwrap().push(Question {
            start: request.start,
            end: request.end,
            filter: request.filter.clone(),
            parts: Parts::default(),
            dimension: Some(request.dimension),
            values: Vec::new(),
        });
        self.store.values(request)
    }
    fn aggregate(&self, request: &AggregateRequest) -> Result<Aggregates> {
        self.seen.lock().unwrap().push(Question::of(request));
        self.store.aggregate(request)
    }
    fn breakdown(
        &self,
        request: &AggregateRequest,
        dimension: Dimension,
        values: &[String],
    ) -> Result<Vec<Totals>> {
        self.seen.lock().unwrap().push(Question {
            dimension: Some(dimension),
            values: values.to_vec(),
            ..Question::of(request)
        });
        self.store.breakdown(request, dimension, values)
    }
    fn export(
        &self,
        partner: Option<u32>,
        offset: u64,
        limit: usize,
    ) -> Result<Vec<pathlens_model::Event>> {
        self.store.export(partner, offset, limit)
    }
    fn event_count(&self) -> Result<u64> {
        self.store.event_count()
    }
    fn write_queue_depth(&self) -> usize {
        self.store.write_queue_depth()
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

/// A question as the peer reads it.
fn question_json(question: &Question) -> Value {
    assert!(
        question.filter.devices.is_empty()
            && question.filter.os.is_empty()
            && question.filter.browsers.is_empty()
            && question.filter.viewer.is_none(),
        "the peer knows country and viewer filters only"
    );
    json!({
        "start": question.start.timestamp_micros(),
        "end": question.end.timestamp_micros(),
        "dimension": question.dimension.map(Dimension::name),
        "values": question.values,
        "buckets": question.parts.buckets,
        "nodes": question.parts.nodes,
        "only_node": question.parts.only_node,
        "clicks": question.parts.clicks,
        "transitions": question.parts.transitions,
        "countries": question.filter.countries,
        "user_ids": question.filter.user_ids,
    })
}

/// Totals in the peer's shape.
fn totals_json(t: &Totals) -> Value {
    json!([
        t.impressions,
        t.plays,
        t.unique_viewers,
        t.view_ms,
        t.sessions_played,
        t.sessions_completed
    ])
}

/// pathlens's figures in the peer's shape.
fn figures_json(question: &Question, figures: &Aggregates) -> Value {
    let mut out = serde_json::Map::new();
    if !question.parts.buckets.is_empty() {
        let totals: Vec<Value> = figures.totals.iter().map(totals_json).collect();
        out.insert("totals".into(), Value::Array(totals));
    }
    if question.parts.nodes {
        let nodes: serde_json::Map<String, Value> = figures
            .nodes
            .iter()
            .map(|(node, n)| {
                (
                    node.clone(),
                    json!([
                        n.plays,
                        n.unique_viewers,
                        n.view_ms,
                        n.watched_buckets,
                        n.dropoffs
                    ]),
                )
            })
            .collect();
        out.insert("nodes".into(), Value::Object(nodes));
    }
    if question.parts.clicks {
        out.insert("clicks".into(), json!(figures.clicks));
    }
    if question.parts.transitions {
        let mut moves: Vec<_> = figures.transitions.iter().collect();
        moves.sort();
        let moves: Vec<Value> = moves
            .into_iter()
            .map(|(t, n)| json!([t.from, t.to, t.hotspot, n]))
            .collect();
        out.insert("transitions".into(), Value::Array(moves));
    }
    Value::Object(out)
}

/// The graph's facts the peer needs: node-leading hotspots (the first of a
/// repeated id), node durations, end nodes.
fn graph_json(graph: &Graph) -> (Value, Value, Value) {
    let mut seen = std::collections::HashSet::new();
    let mut edges = Vec::new();
    let mut durations = serde_json::Map::new();
    for node in &graph.nodes {
        durations
            .entry(node.id.clone())
            .or_insert(json!(node.duration_ms));
        for hotspot in &node.hotspots {
            if let Some(target) = hotspot.behavior.target_node()
                && seen.insert(hotspot.id.clone())
            {
                edges.push(json!([hotspot.id, node.id, target]));
            }
        }
    }
    (
        Value::Array(edges),
        Value::Object(durations),
        json!(graph.end_nodes()),
    )
}

/// One workload's timing: p50 and p99 ms.
type Timing = (f64, f64);

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let wanted = env_number("PATHLENS_BENCH_EVENTS", 1_000_000);
    let runs = env_number("PATHLENS_BENCH_RUNS", 15).max(1);
    let python = std::env::var("PATHLENS_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let dir = tempfile::tempdir().unwrap();
    // PATHLENS_BENCH_DIR keeps the database there, to look into afterwards.
    let path = std::env::var_os("PATHLENS_BENCH_DIR")
        .map_or_else(|| dir.path().to_path_buf(), std::path::PathBuf::from);
    let mut store = DuckDbStore::open(&path, &DuckDbConfig::default()).unwrap();
    let started = Instant::now();
    let stored = load(&store, wanted);
    eprintln!(
        "loaded {stored} events (with their session facts) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // PATHLENS_BENCH_COMPACT=1: the store compacted after loading, as
    // `pathlens import` leaves it (`pathlens compact`).
    let compacted = std::env::var_os("PATHLENS_BENCH_COMPACT").is_some_and(|v| v != "0");
    if compacted {
        drop(store);
        let done = pathlens_store_duckdb::compact(&path, &DuckDbConfig::default()).unwrap();
        eprintln!(
            "compacted in {:.1} s: {} bytes before, {} after",
            done.seconds, done.before_bytes, done.after_bytes
        );
        store = DuckDbStore::open(&path, &DuckDbConfig::default()).unwrap();
    }
    let rows = pathlens_store::reference::Rerouted::rows(&store);
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
    let breakdown = ReportRequest::from_params(
        pathlens_report::ReportKind::Breakdown,
        &[
            ("range".into(), "last_30_days".into()),
            ("tz".into(), "Asia/Kolkata".into()),
            ("dimension".into(), "country".into()),
            ("compare".into(), "previous_period".into()),
        ],
    )
    .unwrap();
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
        ("(d) breakdown by country", vec![breakdown]),
    ];
    let heading = format!(
        "dashboard of {:?} ({} events stored{}, {} plays of it), last 30 days in Asia/Kolkata, {runs} runs each; load average {}",
        video.graph.id,
        stored,
        if compacted { ", compacted" } else { "" },
        played.len(),
        load_average()
    );
    // pathlens: every report checked against the row engine, then timed;
    // the questions its reports asked the store are kept for the peer.
    let mut ours: Vec<(Timing, Vec<Question>)> = Vec::new();
    for (name, requests) in &workloads {
        let recording = Recording {
            store: &store,
            seen: Mutex::new(Vec::new()),
        };
        let answers = answer(&recording, video, requests);
        let row_answers = answer(&rows, video, requests);
        assert_eq!(
            answers, row_answers,
            "{name}: pathlens and the row engine disagree"
        );
        let timing = time(runs, || {
            answer(&store, video, requests);
        });
        ours.push((timing, recording.seen.into_inner().unwrap()));
    }
    let figures: Vec<Vec<Value>> = ours
        .iter()
        .map(|(_, questions)| {
            questions
                .iter()
                .map(|q| q.answer(&store, &video.graph))
                .collect()
        })
        .collect();
    // The peer reads the same events from the database file.
    drop(store);
    let (edges, durations, ends) = graph_json(&video.graph);
    let spec = json!({
        "database": path.join(pathlens_store_duckdb::DATABASE_FILE),
        "partner_id": 1,
        "video_id": video.graph.id,
        "edges": edges,
        "durations": durations,
        "ends": ends,
        "runs": runs,
        "workloads": workloads.iter().zip(&ours).map(|((name, _), (_, questions))| json!({
            "name": name,
            "questions": questions.iter().map(question_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    let (spec_path, out_path) = (dir.path().join("spec.json"), dir.path().join("peer.json"));
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/peers/duckdb_peer.py");
    let status = std::process::Command::new(&python)
        .args([script.as_ref(), spec_path.as_os_str(), out_path.as_os_str()])
        .status()
        .unwrap_or_else(|e| panic!("running {python} {script}: {e}"));
    assert!(
        status.success(),
        "the DuckDB peer failed ({status}); it needs Python's duckdb package (pip install duckdb==2.0.0, the version pathlens bundles)"
    );
    let peer: Value = serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    println!("{heading}");
    println!();
    println!(
        "| workload | pathlens p50 ms | p99 ms | DuckDB raw p50 ms | p99 ms | DuckDB precomputed p50 ms | p99 ms | faster peer / pathlens |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (((name, _), ((p50, p99), _)), expected) in workloads.iter().zip(&ours).zip(&figures) {
        let mut cells = Vec::new();
        let mut best = f64::INFINITY;
        for variant in ["raw", "precomputed"] {
            let result = &peer["variants"][variant][*name];
            let answers = result["answers"].as_array().unwrap();
            for (question, (theirs, mine)) in answers.iter().zip(expected).enumerate() {
                assert_eq!(
                    normalised(theirs),
                    normalised(mine),
                    "{name}: the DuckDB peer ({variant}) disagrees with pathlens on question {question}"
                );
            }
            let (peer50, peer99) = (
                result["p50"].as_f64().unwrap(),
                result["p99"].as_f64().unwrap(),
            );
            best = best.min(peer50);
            cells.push(format!("{peer50:.1} | {peer99:.1}"));
        }
        println!(
            "| {name} | {p50:.1} | {p99:.1} | {} | {:.1}× |",
            cells.join(" | "),
            best / p50
        );
    }
    println!();
    println!(
        "peer load (pathlens's events copied into DuckDB tables in memory): raw {:.1} s, with increases precomputed {:.1} s",
        peer["load_s"]["raw"].as_f64().unwrap_or(0.0),
        peer["load_s"]["precomputed"].as_f64().unwrap_or(0.0)
    );
    println!("load average after: {}", load_average());
}

/// Transitions in one order (JSON null, an automatic switch, first).
fn normalised(value: &Value) -> Value {
    let mut value = value.clone();
    if let Some(Value::Array(moves)) = value.get_mut("transitions") {
        moves.sort_by_key(|m| m.to_string());
    }
    value
}
