//! Append throughput of the embedded store: simulated events appended in
//! batches of 10,000 (the API's largest request) into a fresh database,
//! durable at each commit.
//!
//! Run: `cargo bench --profile dev -p pathlens-store-duckdb --bench append`

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use pathlens_sim::{SimConfig, Simulator, sample_graphs};
use pathlens_store::Store;
use pathlens_store_duckdb::{DuckDbConfig, DuckDbStore};

const EVENTS: usize = 100_000;

fn events() -> Vec<pathlens_model::Event> {
    let config = SimConfig {
        seed: 7,
        days: 10,
        sessions_per_day: 200.0,
        ..SimConfig::default()
    };
    Simulator::new(config, sample_graphs())
        .take(EVENTS)
        .collect()
}

fn append(c: &mut Criterion) {
    let events = events();
    let mut group = c.benchmark_group("append");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("100k events in batches of 10k", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let store = DuckDbStore::open(dir.path(), &DuckDbConfig::default()).unwrap();
                (dir, store, events.clone())
            },
            |(dir, store, events)| {
                for batch in events.chunks(10_000) {
                    store.append(batch.to_vec()).unwrap();
                }
                (dir, store)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
