//! Import of Kaltura's Path JSON (the shape is in DOMAIN.md).
//!
//! Kaltura names fields its own way (`startTime` in ms, `pathData.msDuration`,
//! `data.behavior.type` as `GoToNode`/`GoToUrl`/`Pause`) and keeps deleted
//! nodes and hotspots under `analyticsData`. A path carries no id or name of
//! its own: the caller supplies them.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::graph::{Behavior, Graph, GraphError, Hotspot, Node};

/// Converts a parsed Kaltura path into a validated [`Graph`].
///
/// # Errors
/// [`GraphError::Invalid`] listing every missing or malformed field and every
/// graph problem found.
pub fn import(path: &Value, id: &str, name: &str) -> Result<Graph, GraphError> {
    let mut problems = Vec::new();
    let start_node = text(
        path,
        "/pathData/startNodeId",
        "pathData.startNodeId",
        &mut problems,
    );
    let mut nodes = Vec::new();
    match path.get("nodes").and_then(Value::as_array) {
        Some(list) => {
            for (i, raw) in list.iter().enumerate() {
                nodes.push(node(raw, i, &mut problems));
            }
        }
        None => problems.push("nodes: missing or not an array".to_string()),
    }
    add_deleted_nodes(path, &mut nodes, &mut problems);
    add_deleted_hotspots(path, &mut nodes, &mut problems);
    if !problems.is_empty() {
        return Err(GraphError::Invalid(problems));
    }
    let graph = Graph {
        id: id.to_string(),
        name: name.to_string(),
        owner: String::new(),
        start_node,
        nodes,
    };
    graph.validate()?;
    Ok(graph)
}

fn text(value: &Value, pointer: &str, field: &str, problems: &mut Vec<String>) -> String {
    match value.pointer(pointer).and_then(Value::as_str) {
        Some(s) => s.to_string(),
        None => {
            problems.push(format!("{field}: missing or not a string"));
            String::new()
        }
    }
}

fn millis(value: &Value, pointer: &str, field: &str, problems: &mut Vec<String>) -> u64 {
    match value.pointer(pointer).and_then(Value::as_f64) {
        Some(ms) if ms >= 0.0 => ms.round() as u64,
        _ => {
            problems.push(format!("{field}: missing or not a non-negative number"));
            0
        }
    }
}

fn date(value: &Value, field: &str, problems: &mut Vec<String>) -> Option<DateTime<Utc>> {
    let raw = value.get("deleteDate")?;
    let parsed = match raw {
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.with_timezone(&Utc)),
        Value::Number(n) => n
            .as_i64()
            .and_then(|secs| DateTime::from_timestamp(secs, 0)),
        _ => None,
    };
    if parsed.is_none() {
        problems.push(format!(
            "{field}.deleteDate: not an RFC 3339 date or unix seconds"
        ));
    }
    parsed
}

fn node(raw: &Value, index: usize, problems: &mut Vec<String>) -> Node {
    let at = format!("nodes[{index}]");
    let hotspots = raw
        .get("interactions")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .enumerate()
                .map(|(j, h)| hotspot(h, &format!("{at}.interactions[{j}]"), problems))
                .collect()
        })
        .unwrap_or_default();
    Node {
        id: text(raw, "/id", &format!("{at}.id"), problems),
        name: text(raw, "/name", &format!("{at}.name"), problems),
        entry_id: raw
            .get("entryId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        duration_ms: millis(
            raw,
            "/pathData/msDuration",
            &format!("{at}.pathData.msDuration"),
            problems,
        ),
        hotspots,
        deleted_at: None,
    }
}

fn hotspot(raw: &Value, at: &str, problems: &mut Vec<String>) -> Hotspot {
    Hotspot {
        id: text(raw, "/id", &format!("{at}.id"), problems),
        label: raw
            .pointer("/data/text/label")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        start_ms: millis(raw, "/startTime", &format!("{at}.startTime"), problems),
        end_ms: millis(raw, "/endTime", &format!("{at}.endTime"), problems),
        behavior: behavior(
            raw.pointer("/data/behavior"),
            &format!("{at}.data.behavior"),
            problems,
        ),
        deleted_at: None,
    }
}

fn behavior(raw: Option<&Value>, at: &str, problems: &mut Vec<String>) -> Behavior {
    let Some(raw) = raw else {
        problems.push(format!("{at}: missing"));
        return Behavior::Pause;
    };
    match raw.get("type").and_then(Value::as_str) {
        Some("GoToNode") => Behavior::GoToNode {
            node_id: text(raw, "/nodeId", &format!("{at}.nodeId"), problems),
        },
        Some("GoToUrl") => Behavior::GoToUrl {
            url: text(raw, "/url", &format!("{at}.url"), problems),
        },
        Some("Pause") => Behavior::Pause,
        other => {
            problems.push(format!(
                "{at}.type: {other:?} is not one of GoToNode, GoToUrl, Pause"
            ));
            Behavior::Pause
        }
    }
}

fn add_deleted_nodes(path: &Value, nodes: &mut Vec<Node>, problems: &mut Vec<String>) {
    let Some(deleted) = path
        .pointer("/analyticsData/deletedNodes")
        .and_then(Value::as_object)
    else {
        return;
    };
    for (key, raw) in deleted {
        let at = format!("analyticsData.deletedNodes.{key}");
        let id = raw
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or(key)
            .to_string();
        let deleted_at = date(raw, &at, problems).or(Some(DateTime::UNIX_EPOCH));
        nodes.push(Node {
            name: raw
                .get("label")
                .and_then(Value::as_str)
                .unwrap_or(&id)
                .to_string(),
            entry_id: raw
                .get("entryId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            id,
            duration_ms: 0,
            hotspots: Vec::new(),
            deleted_at,
        });
    }
}

fn add_deleted_hotspots(path: &Value, nodes: &mut [Node], problems: &mut Vec<String>) {
    let Some(deleted) = path
        .pointer("/analyticsData/deletedHotspots")
        .and_then(Value::as_object)
    else {
        return;
    };
    for (key, raw) in deleted {
        let at = format!("analyticsData.deletedHotspots.{key}");
        let source = text(
            raw,
            "/sourceNodeId",
            &format!("{at}.sourceNodeId"),
            problems,
        );
        let hotspot = Hotspot {
            id: raw
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or(key)
                .to_string(),
            label: raw
                .get("label")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            start_ms: 0,
            end_ms: 0,
            behavior: behavior(raw.get("behavior"), &format!("{at}.behavior"), problems),
            deleted_at: date(raw, &at, problems).or(Some(DateTime::UNIX_EPOCH)),
        };
        match nodes.iter_mut().find(|n| n.id == source) {
            Some(node) => node.hotspots.push(hotspot),
            None => problems.push(format!(
                "{at}.sourceNodeId: {source:?} is not a node of the path"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../tests/fixtures/kaltura-path.json");

    #[test]
    fn sample_path_imports_with_the_expected_levels() {
        let value: Value = serde_json::from_str(SAMPLE).unwrap();
        let graph = import(&value, "demo", "Demo").unwrap();
        let levels = graph.levels();
        assert_eq!(levels["n-intro"], 1);
        assert_eq!(levels["n-sales"], 2);
        assert_eq!(levels["n-eng"], 2);
        assert_eq!(levels["n-end"], 3);
        assert_eq!(levels["n-deep"], 3);
        assert!(!levels.contains_key("n-orphan"));
        assert!(!levels.contains_key("n-old"));
        let old = graph.node("n-old").unwrap();
        assert_eq!(
            old.deleted_at.unwrap().to_rfc3339(),
            "2026-09-01T10:00:00+00:00"
        );
        let (source, pricing) = graph.hotspot("h-pricing").unwrap();
        assert_eq!(source.id, "n-sales");
        assert!(pricing.deleted_at.is_some());
        let (_, site) = graph.hotspot("h-site").unwrap();
        assert_eq!(
            site.behavior,
            Behavior::GoToUrl {
                url: "https://example.com/about".into()
            }
        );
    }

    #[test]
    fn missing_fields_are_all_named() {
        let value: Value = serde_json::json!({
            "pathData": {},
            "nodes": [{"id": "a", "interactions": [{"id": "h", "data": {"behavior": {"type": "Jump"}}}]}]
        });
        let Err(GraphError::Invalid(problems)) = import(&value, "x", "x") else {
            panic!("expected problems");
        };
        let joined = problems.join("\n");
        for needle in [
            "pathData.startNodeId",
            "nodes[0].name",
            "nodes[0].pathData.msDuration",
            "nodes[0].interactions[0].startTime",
            "nodes[0].interactions[0].data.behavior.type",
        ] {
            assert!(joined.contains(needle), "{needle} not in {joined}");
        }
    }
}
