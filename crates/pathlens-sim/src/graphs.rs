//! The sample interactive videos the demo, the tests and the benchmarks use.
//!
//! They live as JSON files under `data/`, embedded at compile time: the
//! Kaltura sample path (imported through [`pathlens_model::kaltura`]) and two
//! graphs in our own format, which between them have URL and pause hotspots,
//! loops, end nodes and deleted nodes and hotspots.

use pathlens_model::{Graph, kaltura};

/// Kaltura's sample path, byte for byte as `shared/samples` has it.
const KALTURA_PATH: &str = include_str!("../data/kaltura-path.json");
/// A product tour with a loop back to features and a removed legacy demo.
const PRODUCT_TOUR: &str = include_str!("../data/product-tour.json");
/// A game-like graph with several loops and a removed shortcut.
const ESCAPE_ROOM: &str = include_str!("../data/escape-room.json");

/// Returns the three sample interactive videos, `onboarding` (the Kaltura
/// sample path), `product-tour` and `escape-room`, each validated.
///
/// # Panics
/// Never with the embedded files; a panic means one of them was edited into
/// an invalid graph, which the crate's tests catch.
pub fn sample_graphs() -> Vec<Graph> {
    let kaltura_value: serde_json::Value =
        serde_json::from_str(KALTURA_PATH).expect("embedded Kaltura path is JSON");
    let onboarding = kaltura::import(&kaltura_value, "onboarding", "Onboarding")
        .expect("embedded Kaltura path imports");
    let product_tour = Graph::from_json(PRODUCT_TOUR).expect("embedded product tour is valid");
    let escape_room = Graph::from_json(ESCAPE_ROOM).expect("embedded escape room is valid");
    vec![onboarding, product_tour, escape_room]
}

#[cfg(test)]
mod tests {
    use super::*;
    use pathlens_model::Behavior;

    #[test]
    fn every_sample_graph_validates() {
        let graphs = sample_graphs();
        let ids: Vec<&str> = graphs.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["onboarding", "product-tour", "escape-room"]);
        for graph in &graphs {
            graph.validate().unwrap();
            assert!(
                !graph.end_nodes().is_empty(),
                "{} has no end node",
                graph.id
            );
        }
    }

    #[test]
    fn onboarding_keeps_the_kaltura_levels() {
        let graphs = sample_graphs();
        let levels = graphs[0].levels();
        assert_eq!(levels["n-intro"], 1);
        assert_eq!(levels["n-sales"], 2);
        assert_eq!(levels["n-eng"], 2);
        assert_eq!(levels["n-end"], 3);
        assert_eq!(levels["n-deep"], 3);
    }

    #[test]
    fn own_format_graphs_have_every_behaviour_and_some_history() {
        for graph in &sample_graphs()[1..] {
            let hotspots: Vec<_> = graph.nodes.iter().flat_map(|n| &n.hotspots).collect();
            let has = |name: &str| hotspots.iter().any(|h| h.behavior.name() == name);
            assert!(
                has("go_to_node") && has("go_to_url") && has("pause"),
                "{}",
                graph.id
            );
            assert!(
                graph.nodes.iter().any(|n| n.deleted_at.is_some()),
                "{}",
                graph.id
            );
            assert!(
                hotspots.iter().any(|h| h.deleted_at.is_some()),
                "{}",
                graph.id
            );
            let levels = graph.levels();
            assert!(
                levels.values().max().copied().unwrap_or(0) >= 3,
                "{}",
                graph.id
            );
            let loops_back = hotspots.iter().any(|h| {
                matches!(&h.behavior, Behavior::GoToNode { node_id } if *node_id == graph.start_node)
            });
            assert!(loops_back, "{} has no loop to its start", graph.id);
        }
    }
}
