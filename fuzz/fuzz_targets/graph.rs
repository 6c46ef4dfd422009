//! Graph documents (`PUT /api/v1/videos/{id}/graph`, `pathlens graph put`):
//! parsing, validation and the derived levels and end nodes.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use pathlens_model::Graph;

fuzz_target!(|text: &str| {
    for graph in [
        Graph::from_json(text),
        Graph::from_any_json(text, "v", "Video"),
    ]
    .into_iter()
    .flatten()
    {
        if graph.validate().is_ok() {
            let levels = graph.levels();
            let _ = graph.end_nodes();
            assert!(
                levels.len() <= graph.nodes.len(),
                "a level for a node that does not exist"
            );
            let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
            let _ = graph.clone().replaced_by(graph, now);
        }
    }
});
