//! What the embedded store's benchmarks share: a database of simulated
//! traffic.

use chrono::{DateTime, Utc};
use pathlens_sim::{SimConfig, Simulator, sample_graphs};
use pathlens_store::Store;

/// Stores the sample videos (as of `now`) and about `wanted` simulated
/// events of 30 days from `start`, in batches of 10,000; returns how many
/// were stored (the simulator's retries are duplicates).
pub fn load_simulated(
    store: &dyn Store,
    wanted: usize,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> usize {
    for graph in sample_graphs() {
        store.put_video(1, &graph, now).unwrap();
    }
    // 30 days of three videos, about 28 events per session: aim a little
    // high and stop at the target.
    let config = SimConfig {
        seed: 11,
        days: 30,
        start,
        sessions_per_day: wanted as f64 / 30.0 / 3.0 / 28.0,
        ..SimConfig::default()
    };
    let mut batch = Vec::with_capacity(10_000);
    let mut stored = 0;
    for event in Simulator::new(config, sample_graphs()).take(wanted) {
        batch.push(event);
        if batch.len() == 10_000 {
            stored += store.append(std::mem::take(&mut batch)).unwrap().accepted;
        }
    }
    stored + store.append(batch).unwrap().accepted
}
