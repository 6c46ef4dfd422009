//! Import of Kaltura's Path JSON (the shape is in docs/metrics.md).
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
    add_deleted_nodes(path, &mut nodes);
    add_deleted_hotspots(path, &mut nodes);
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

/// A non-negative number of ms at `pointer`, if there is one.
fn optional_millis(value: &Value, pointer: &str) -> Option<u64> {
    value
        .pointer(pointer)
        .and_then(Value::as_f64)
        .filter(|ms| *ms >= 0.0)
        .map(|ms| ms.round() as u64)
}

fn millis(value: &Value, pointer: &str, field: &str, problems: &mut Vec<String>) -> u64 {
    match optional_millis(value, pointer) {
        Some(ms) => ms,
        None => {
            problems.push(format!("{field}: missing or not a non-negative number"));
            0
        }
    }
}

/// The deletion date of a deleted node or hotspot: `deleteDate` or
/// `deletedAt`, RFC 3339 or unix seconds. History is kept whatever it
/// carries, so an absent or unreadable date is the epoch, never an error.
fn deletion_date(value: &Value) -> DateTime<Utc> {
    let raw = value.get("deleteDate").or_else(|| value.get("deletedAt"));
    let parsed = match raw {
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.with_timezone(&Utc)),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|secs| DateTime::from_timestamp(secs, 0)),
        _ => None,
    };
    parsed.unwrap_or(DateTime::UNIX_EPOCH)
}

/// The first of `names` that `raw` holds as a string.
fn first_text<'v>(raw: &'v Value, names: &[&str]) -> Option<&'v str> {
    names
        .iter()
        .find_map(|name| raw.pointer(name).and_then(Value::as_str))
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

// Deleted nodes and hotspots are history: whatever they carry is kept and
// nothing about them refuses a graph (live-graph validation stays strict).
// Kaltura has written them in two shapes: `sourceNodeId` / `behavior` /
// `deleteDate`, and `nodeId` / `data.behavior` / `deletedAt`.

fn has_hotspot(nodes: &[Node], id: &str) -> bool {
    nodes
        .iter()
        .any(|node| node.hotspots.iter().any(|h| h.id == id))
}

/// `hotspot` as deleted history: flagged, and with a window that is never
/// inverted, whatever the record carried.
fn as_deleted(hotspot: Hotspot, deleted_at: Option<DateTime<Utc>>) -> Hotspot {
    Hotspot {
        end_ms: hotspot.end_ms.max(hotspot.start_ms),
        deleted_at,
        ..hotspot
    }
}

fn add_deleted_nodes(path: &Value, nodes: &mut Vec<Node>) {
    let Some(deleted) = path
        .pointer("/analyticsData/deletedNodes")
        .and_then(Value::as_object)
    else {
        return;
    };
    for (key, raw) in deleted {
        let id = first_text(raw, &["/id"]).unwrap_or(key).to_string();
        if id.trim().is_empty() || nodes.iter().any(|n| n.id == id) {
            // The live node of that id (or an earlier record) is the one kept.
            continue;
        }
        let deleted_at = Some(deletion_date(raw));
        let mut ignored = Vec::new();
        let hotspots = raw
            .get("interactions")
            .and_then(Value::as_array)
            .map(|list| {
                let mut kept: Vec<Hotspot> = Vec::new();
                for raw_hotspot in list {
                    let parsed = hotspot(raw_hotspot, "", &mut ignored);
                    let known =
                        has_hotspot(nodes, &parsed.id) || kept.iter().any(|h| h.id == parsed.id);
                    if !known && !parsed.id.trim().is_empty() {
                        kept.push(as_deleted(parsed, deleted_at));
                    }
                }
                kept
            })
            .unwrap_or_default();
        nodes.push(Node {
            name: first_text(raw, &["/name", "/label"])
                .unwrap_or(&id)
                .to_string(),
            entry_id: first_text(raw, &["/entryId"])
                .unwrap_or_default()
                .to_string(),
            duration_ms: optional_millis(raw, "/pathData/msDuration").unwrap_or(0),
            id,
            hotspots,
            deleted_at,
        });
    }
}

fn add_deleted_hotspots(path: &Value, nodes: &mut Vec<Node>) {
    let Some(deleted) = path
        .pointer("/analyticsData/deletedHotspots")
        .and_then(Value::as_object)
    else {
        return;
    };
    for (key, raw) in deleted {
        let deleted_at = Some(deletion_date(raw));
        let mut ignored = Vec::new();
        let behavior_value = raw
            .get("behavior")
            .or_else(|| raw.pointer("/data/behavior"));
        let behavior = behavior_value.map_or(Behavior::Pause, |value| {
            behavior(Some(value), "", &mut ignored)
        });
        let hotspot = as_deleted(
            Hotspot {
                id: first_text(raw, &["/id"]).unwrap_or(key).to_string(),
                label: first_text(raw, &["/label", "/data/text/label"])
                    .unwrap_or_default()
                    .to_string(),
                start_ms: optional_millis(raw, "/startTime").unwrap_or(0),
                end_ms: optional_millis(raw, "/endTime").unwrap_or(0),
                behavior,
                deleted_at,
            },
            deleted_at,
        );
        // A hotspot names the node it sat on; with no node at all there is
        // nothing to attach its history to.
        let Some(source) = first_text(raw, &["/sourceNodeId", "/nodeId"]) else {
            continue;
        };
        if hotspot.id.trim().is_empty() || has_hotspot(nodes, &hotspot.id) {
            continue;
        }
        if let Some(node) = nodes.iter_mut().find(|n| n.id == source) {
            node.hotspots.push(hotspot);
            continue;
        }
        // Its node is gone without a trace: keep both as deleted history.
        nodes.push(Node {
            id: source.to_string(),
            name: source.to_string(),
            entry_id: String::new(),
            duration_ms: 0,
            hotspots: vec![hotspot],
            deleted_at,
        });
    }
}

/// Kaltura's Path JSON as the API's document describes it: what
/// [`import`] requires of a path, the rest (hotspots, deleted history) in
/// words. Only a schema: the routes read the path as a `Value`.
pub struct KalturaPath;

/// An object schema with `description` and the `required` properties.
fn object(
    description: &str,
    required: &[(&str, utoipa::openapi::RefOr<utoipa::openapi::Schema>)],
) -> utoipa::openapi::ObjectBuilder {
    let mut object = utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::Object)
        .description(Some(description));
    for (name, schema) in required {
        object = object.property(*name, schema.clone()).required(*name);
    }
    object
}

fn string() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .into()
}

impl utoipa::PartialSchema for KalturaPath {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        use utoipa::openapi::{ArrayBuilder, ObjectBuilder, Type};
        let milliseconds = ObjectBuilder::new()
            .schema_type(Type::Number)
            .minimum(Some(0))
            .into();
        let node_data = object("The node's playback", &[("msDuration", milliseconds)]);
        let node = object(
            "A node: `entryId` names its video; `interactions` lists its hotspots, each with `id`, `startTime` and `endTime` in ms, `data.text.label`, and `data.behavior` with `type` GoToNode (and `nodeId`), GoToUrl (and `url`) or Pause",
            &[
                ("id", string()),
                ("name", string()),
                ("pathData", node_data.into()),
            ],
        );
        let path_data = object("The path's start", &[("startNodeId", string())]);
        object(
            "Kaltura's Path JSON, read as such when the body has `pathData`. It names no video: ?id= (POST) or the URL (PUT) gives its id, and ?name= its name. Nodes and hotspots it deleted, under `analyticsData.deletedNodes` and `analyticsData.deletedHotspots`, are kept as deleted history",
            &[
                ("pathData", path_data.into()),
                (
                    "nodes",
                    ArrayBuilder::new().items(node).min_items(Some(1)).into(),
                ),
            ],
        )
        .into()
    }
}

impl utoipa::ToSchema for KalturaPath {}

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

    /// Regression: deleted hotspots written as `nodeId` / `data.behavior` /
    /// `deletedAt` refused the whole graph, and a deleted node lost its own
    /// hotspots.
    #[test]
    fn deleted_history_in_either_shape_is_kept() {
        let value: Value = serde_json::json!({
            "pathData": {"startNodeId": "a"},
            "nodes": [{"id": "a", "name": "A", "entryId": "0_a", "pathData": {"msDuration": 1000},
                       "interactions": []}],
            "analyticsData": {
                "deletedNodes": {
                    "old": {"id": "old", "name": "Old", "deletedAt": "2026-05-01T00:00:00Z",
                            "interactions": [{"id": "h-own", "startTime": 0, "endTime": 500,
                                              "data": {"behavior": {"type": "GoToNode", "nodeId": "a"}}}]}
                },
                "deletedHotspots": {
                    "h-new": {"id": "h-new", "nodeId": "a", "deletedAt": 1767225600,
                              "data": {"behavior": {"type": "GoToUrl", "url": "https://example.com"}}},
                    "h-bare": {"sourceNodeId": "a"},
                    "h-lost": {"id": "h-lost", "nodeId": "gone"},
                    "h-nowhere": {"id": "h-nowhere"}
                }
            }
        });
        let graph = import(&value, "x", "x").unwrap();
        let old = graph.node("old").unwrap();
        assert_eq!(
            old.deleted_at.unwrap().to_rfc3339(),
            "2026-05-01T00:00:00+00:00"
        );
        let (owner, own) = graph.hotspot("h-own").unwrap();
        assert_eq!(owner.id, "old");
        assert!(own.deleted_at.is_some());
        let (owner, spot) = graph.hotspot("h-new").unwrap();
        assert_eq!(owner.id, "a");
        assert_eq!(
            spot.behavior,
            Behavior::GoToUrl {
                url: "https://example.com".into()
            }
        );
        assert_eq!(
            spot.deleted_at.unwrap().to_rfc3339(),
            "2026-01-01T00:00:00+00:00"
        );
        assert_eq!(graph.hotspot("h-bare").unwrap().1.behavior, Behavior::Pause);
        let (lost_owner, _) = graph.hotspot("h-lost").unwrap();
        assert_eq!(lost_owner.id, "gone");
        assert!(lost_owner.deleted_at.is_some());
        assert!(graph.hotspot("h-nowhere").is_none());
        assert!(graph.node("a").unwrap().deleted_at.is_none());
    }
}
