//! KAVA beacons through the whole router in process (routing, CORS,
//! decoding, retry window, session reassembly, the in-memory store), one
//! request per iteration, reported as beacons per second. Each beacon is
//! different, so none is taken for a retry.
//!
//! Run with `cargo bench --profile dev -p pathlens-server --bench beacons`.
//! For latency percentiles over a real socket (and against a running
//! `pathlens serve` with its DuckDB store) use the `beacon_load` example.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pathlens_server::auth::issue_key;
use pathlens_server::{AppState, ServerConfig, router, system_clock};
use pathlens_store::memory::MemoryStore;
use pathlens_store::{KeyKind, Store};
use tower::ServiceExt;

const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

fn beacons(c: &mut Criterion) {
    let store = Arc::new(MemoryStore::new());
    issue_key(store.as_ref(), 1, KeyKind::Write, "bench", Utc::now()).unwrap();
    let shared: Arc<dyn Store> = store.clone();
    let state = AppState::new(shared, ServerConfig::default(), system_clock()).unwrap();
    let app = router(state);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let counter = AtomicU64::new(0);
    let mut group = c.benchmark_group("kava");
    group.throughput(Throughput::Elements(1));
    group.bench_function("get_view_beacon", |b| {
        b.iter(|| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let uri = format!(
                "/api_v3/index.php?service=analytics&action=trackEvent&eventType=99&partnerId=1&\
                 entryId=0_node&rootEntryId=1_path&nodeId=n1&sessionId=page{}:player&eventIndex={}&\
                 position=10.5&playTimeSum={}&referrer=https%3A%2F%2Fwww.example.com%2Fp&playbackType=vod",
                n / 50,
                n % 50 + 1,
                (n % 50) * 10
            );
            let request = Request::get(uri).header("user-agent", USER_AGENT).body(Body::empty()).unwrap();
            let response = runtime.block_on(app.clone().oneshot(request)).unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            black_box(response);
        });
    });
    group.bench_function("post_json_view_beacon", |b| {
        b.iter(|| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let uri = format!("/api_v3/index.php?service=analytics&action=trackEvent&eventType=99&partnerId=1&entryId=0_node&sessionId=post{}:player", n / 50);
            let body = format!(
                r#"{{"eventIndex":{},"rootEntryId":"1_path","nodeId":"n1","position":10.5,"playTimeSum":{},"referrer":"https://www.example.com/p","playbackType":"vod","clientVer":"3.17.2"}}"#,
                n % 50 + 1,
                (n % 50) * 10
            );
            let request = Request::post(uri).header("user-agent", USER_AGENT).header("content-type", "text/plain").body(Body::from(body)).unwrap();
            let response = runtime.block_on(app.clone().oneshot(request)).unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            black_box(response);
        });
    });
    group.finish();
}

criterion_group!(benches, beacons);
criterion_main!(benches);
