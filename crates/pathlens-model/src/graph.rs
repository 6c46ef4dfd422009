//! The graph of an interactive video: nodes, hotspots, levels and history.
//!
//! Graphs change after launch. A replaced graph keeps the nodes and hotspots
//! the new version no longer has, flagged with the date they were removed, so
//! reports over older events can still name them.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A graph that failed validation: every problem found, not only the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("invalid interactive video: {}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("unreadable interactive video: {0}")]
    Unreadable(String),
}

/// The most characters of an id (video, node, hotspot).
pub const MAX_ID_CHARS: usize = 256;

/// The most characters of a name or label.
pub const MAX_NAME_CHARS: usize = 512;

/// Characters that reorder or hide text (bidi controls, zero-width marks):
/// in a name or id they make one thing look like another.
const INVISIBLE: &[(char, char)] = &[
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2069}'),
    ('\u{FEFF}', '\u{FEFF}'),
];

/// The control characters (`char::is_control`, category Cc), for the
/// document's patterns; a test holds them to the standard library.
const CONTROL: &[(char, char)] = &[('\u{0}', '\u{1F}'), ('\u{7F}', '\u{9F}')];

/// The white space characters (`char::is_whitespace`), for the document's
/// patterns; a test holds them to the standard library.
const WHITESPACE: &[(char, char)] = &[
    ('\u{9}', '\u{D}'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{A0}', '\u{A0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200A}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202F}', '\u{202F}'),
    ('\u{205F}', '\u{205F}'),
    ('\u{3000}', '\u{3000}'),
];

/// The punctuation an id may not hold: it would end or escape a URL's path.
const ID_PUNCTUATION: &[(char, char)] = &[('/', '/'), ('?', '?'), ('#', '#'), ('%', '%')];

fn is_invisible(c: char) -> bool {
    INVISIBLE
        .iter()
        .any(|&(first, last)| (first..=last).contains(&c))
}

/// Why `id` is not a usable id, if it is not: ids appear in URLs, CSV and
/// the dashboard, so they hold no spaces, control or invisible characters
/// and none of `/ ? # %`, and at most [`MAX_ID_CHARS`] characters.
pub fn id_problem(id: &str) -> Option<String> {
    if id.chars().count() > MAX_ID_CHARS {
        return Some(format!("is longer than {MAX_ID_CHARS} characters"));
    }
    let bad = id.chars().find(|&c| {
        c.is_whitespace() || c.is_control() || is_invisible(c) || matches!(c, '/' | '?' | '#' | '%')
    })?;
    Some(format!(
        "holds {:?} (U+{:04X}); ids hold no spaces, control or invisible characters, nor / ? # %",
        bad, bad as u32
    ))
}

/// Why `text` (a session or user id, a name) is not usable, if it is not:
/// it holds a control or invisible character.
pub fn text_problem(text: &str) -> Option<String> {
    let bad = text.chars().find(|&c| c.is_control() || is_invisible(c))?;
    Some(format!(
        "holds the control or invisible character U+{:04X}",
        bad as u32
    ))
}

/// Why `name` is not a usable name, if it is not.
fn name_problem(name: &str) -> Option<String> {
    if name.chars().count() > MAX_NAME_CHARS {
        return Some(format!("is longer than {MAX_NAME_CHARS} characters"));
    }
    let bad = name.chars().find(|&c| c.is_control() || is_invisible(c))?;
    Some(format!(
        "holds the control or invisible character U+{:04X}",
        bad as u32
    ))
}

/// A regular expression's character class holding `ranges`, written as
/// `\uXXXX` escapes (every character here is in the Basic Multilingual
/// Plane), which ECMA-262 and Python's `re` read alike.
fn class(ranges: &[&[(char, char)]]) -> String {
    use std::fmt::Write;
    let mut class = String::new();
    for &(first, last) in ranges.iter().copied().flatten() {
        let _ = write!(class, "\\u{:04X}", u32::from(first));
        if last != first {
            let _ = write!(class, "-\\u{:04X}", u32::from(last));
        }
    }
    class
}

/// The pattern of an id that [`id_problem`] takes and that is not empty.
fn id_pattern() -> String {
    format!(
        "^[^{}]+$",
        class(&[WHITESPACE, CONTROL, INVISIBLE, ID_PUNCTUATION])
    )
}

/// The pattern of a name that [`name_problem`] takes (its length aside).
fn name_pattern() -> String {
    format!("^[^{}]*$", class(&[CONTROL, INVISIBLE]))
}

/// The pattern of a text that is not blank: it holds a character that is
/// not white space.
fn not_blank_pattern() -> String {
    format!("[^{}]", class(&[WHITESPACE]))
}

/// The document's schema of a string described by `description`, with
/// `pattern` and at most `max_length` characters.
fn text_schema(
    description: &str,
    pattern: String,
    min_length: usize,
    max_length: Option<usize>,
) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .description(Some(description))
        .min_length((min_length > 0).then_some(min_length))
        .max_length(max_length)
        .pattern(Some(pattern))
        .build()
}

/// The document's schema of an id that the validation takes.
fn id_schema(description: &str) -> utoipa::openapi::Object {
    text_schema(description, id_pattern(), 1, Some(MAX_ID_CHARS))
}

fn graph_id_schema() -> utoipa::openapi::Object {
    id_schema(
        "The video's id: at most 256 characters, with no spaces, control or invisible characters, nor / ? # %. In PUT /api/v1/videos/{video}, the id the URL names",
    )
}

fn graph_name_schema() -> utoipa::openapi::Object {
    text_schema(
        "The video's name: at most 512 characters, with no control or invisible characters",
        name_pattern(),
        0,
        Some(MAX_NAME_CHARS),
    )
}

fn start_node_schema() -> utoipa::openapi::Object {
    id_schema("The id of the node viewers start on, a node of the graph that is not deleted")
}

fn node_id_schema() -> utoipa::openapi::Object {
    text_schema(
        "Unique among the graph's nodes, deleted or not, and not blank. A node that is not deleted has an id of at most 256 characters, with no spaces, control or invisible characters, nor / ? # %; a deleted node keeps the id it had",
        not_blank_pattern(),
        1,
        None,
    )
}

/// The start of a long id, for messages.
fn short(id: &str) -> String {
    if id.chars().count() <= 40 {
        id.to_string()
    } else {
        format!("{}…", id.chars().take(40).collect::<String>())
    }
}

/// A whole number of milliseconds, written `1500` or `1500.0`: JSON
/// Schema's `integer`, the document's type, holds both, and some clients
/// write every number with a fraction. Fractions, negative numbers and
/// floats beyond 2^53 (past which they are not exact) are refused.
fn whole_ms<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    let number = serde_json::Number::deserialize(deserializer)?;
    if let Some(ms) = number.as_u64() {
        return Ok(ms);
    }
    match number.as_f64() {
        Some(ms) if ms.fract() == 0.0 && (0.0..=EXACT).contains(&ms) => Ok(ms as u64),
        _ => Err(serde::de::Error::invalid_value(
            serde::de::Unexpected::Other(&number.to_string()),
            &"a whole number of milliseconds, 0 or more",
        )),
    }
}

/// What clicking a hotspot does, named by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Behavior {
    /// Play another node.
    GoToNode {
        /// The node played next: on a hotspot (and node) that is not
        /// deleted, a node of the graph that is not deleted.
        node_id: String,
    },
    /// Open a web page.
    GoToUrl { url: String },
    /// Pause the video.
    Pause,
}

impl Behavior {
    /// The name shown in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Behavior::GoToNode { .. } => "go_to_node",
            Behavior::GoToUrl { .. } => "go_to_url",
            Behavior::Pause => "pause",
        }
    }

    /// The destination node, for hotspots that lead to one.
    pub fn target_node(&self) -> Option<&str> {
        match self {
            Behavior::GoToNode { node_id } => Some(node_id),
            _ => None,
        }
    }
}

/// An on-screen choice shown on a node for a time window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Hotspot {
    /// Unique among the graph's hotspots, deleted or not. On a hotspot
    /// that is not deleted, of a node that is not deleted: at most 256
    /// characters, with no spaces, control or invisible characters, nor
    /// / ? # %.
    pub id: String,
    /// The text shown. On a hotspot that is not deleted, of a node that is
    /// not deleted: at most 512 characters, with no control or invisible
    /// characters.
    pub label: String,
    /// When the hotspot appears, in ms from the start of its node.
    #[serde(deserialize_with = "whole_ms")]
    pub start_ms: u64,
    /// When it disappears, in ms from the start of its node; not before
    /// `start_ms`.
    #[serde(deserialize_with = "whole_ms")]
    pub end_ms: u64,
    pub behavior: Behavior,
    /// Set when a later version of the graph removed this hotspot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// One short video of the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Node {
    #[schema(schema_with = node_id_schema)]
    pub id: String,
    /// The node's name. On a node that is not deleted: at most 512
    /// characters, with no control or invisible characters.
    pub name: String,
    /// The node's video in the player's platform (a Kaltura entry id);
    /// empty when none.
    #[serde(default)]
    pub entry_id: String,
    /// Duration in milliseconds; 0 when unknown (deleted Kaltura nodes).
    #[serde(deserialize_with = "whole_ms")]
    pub duration_ms: u64,
    /// The node's hotspots, those removed by a later version flagged with
    /// `deleted_at`.
    #[serde(default)]
    pub hotspots: Vec<Hotspot>,
    /// Set when a later version of the graph removed this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Node {
    /// Hotspots still present in the current version.
    pub fn live_hotspots(&self) -> impl Iterator<Item = &Hotspot> {
        self.hotspots.iter().filter(|h| h.deleted_at.is_none())
    }
}

/// An interactive video: a graph of nodes with a start node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Graph {
    #[schema(schema_with = graph_id_schema)]
    pub id: String,
    #[schema(schema_with = graph_name_schema)]
    pub name: String,
    /// Who the video belongs to, as the partner names it; empty when none.
    #[serde(default)]
    pub owner: String,
    #[schema(schema_with = start_node_schema)]
    pub start_node: String,
    /// The nodes, those removed by a later version flagged with
    /// `deleted_at`.
    #[schema(min_items = 1)]
    pub nodes: Vec<Node>,
}

impl Graph {
    /// Reads our own JSON format, then validates it.
    ///
    /// # Errors
    /// [`GraphError::Unreadable`] when the JSON does not parse,
    /// [`GraphError::Invalid`] listing every problem otherwise.
    pub fn from_json(text: &str) -> Result<Graph, GraphError> {
        let graph: Graph =
            serde_json::from_str(text).map_err(|e| GraphError::Unreadable(e.to_string()))?;
        graph.validate()?;
        Ok(graph)
    }

    /// Reads either our own format or Kaltura's Path JSON, chosen by shape.
    /// `id` and `name` name a Kaltura path, which carries neither.
    ///
    /// # Errors
    /// As [`Graph::from_json`].
    pub fn from_any_json(text: &str, id: &str, name: &str) -> Result<Graph, GraphError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| GraphError::Unreadable(e.to_string()))?;
        if value.get("pathData").is_some() {
            crate::kaltura::import(&value, id, name)
        } else {
            Graph::from_json(text)
        }
    }

    /// Checks the graph, reporting every problem at once.
    ///
    /// # Errors
    /// [`GraphError::Invalid`] with one message per problem.
    pub fn validate(&self) -> Result<(), GraphError> {
        let mut problems = Vec::new();
        if self.id.trim().is_empty() {
            problems.push("id: must not be empty".to_string());
        } else if let Some(problem) = id_problem(&self.id) {
            problems.push(format!("id: {problem}"));
        }
        if let Some(problem) = name_problem(&self.name) {
            problems.push(format!("name: {problem}"));
        }
        // Live items follow the id and name rules; deleted history is kept
        // as it came.
        for node in self.live_nodes() {
            if let Some(problem) = id_problem(&node.id) {
                problems.push(format!("node {:?}: id {problem}", short(&node.id)));
            }
            if let Some(problem) = name_problem(&node.name) {
                problems.push(format!("node {}: name {problem}", short(&node.id)));
            }
            for hotspot in node.live_hotspots() {
                if let Some(problem) = id_problem(&hotspot.id) {
                    problems.push(format!("hotspot {:?}: id {problem}", short(&hotspot.id)));
                }
                if let Some(problem) = name_problem(&hotspot.label) {
                    problems.push(format!("hotspot {}: label {problem}", short(&hotspot.id)));
                }
            }
        }
        let mut node_ids = HashSet::new();
        let mut hotspot_ids = HashSet::new();
        for node in &self.nodes {
            if node.id.trim().is_empty() {
                problems.push(format!("node {:?}: id must not be empty", node.name));
            }
            if !node_ids.insert(node.id.as_str()) {
                problems.push(format!("node {}: duplicate node id", node.id));
            }
            for hotspot in &node.hotspots {
                if !hotspot_ids.insert(hotspot.id.as_str()) {
                    problems.push(format!("hotspot {}: duplicate hotspot id", hotspot.id));
                }
                if hotspot.end_ms < hotspot.start_ms {
                    problems.push(format!(
                        "hotspot {}: end_ms {} is before start_ms {}",
                        hotspot.id, hotspot.end_ms, hotspot.start_ms
                    ));
                }
            }
        }
        let live: HashSet<&str> = self.live_nodes().map(|n| n.id.as_str()).collect();
        if !live.contains(self.start_node.as_str()) {
            problems.push(format!(
                "start_node: {:?} is not a node of the graph",
                self.start_node
            ));
        }
        for node in self.live_nodes() {
            for hotspot in node.live_hotspots() {
                if let Some(target) = hotspot.behavior.target_node()
                    && !live.contains(target)
                {
                    problems.push(format!(
                        "hotspot {} on node {}: leads to {:?}, which is not a node of the graph",
                        hotspot.id, node.id, target
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(GraphError::Invalid(problems))
        }
    }

    /// Nodes present in the current version.
    pub fn live_nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.deleted_at.is_none())
    }

    /// The node with this id, deleted or not.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The hotspot with this id and the node it sits on, deleted or not.
    pub fn hotspot(&self, id: &str) -> Option<(&Node, &Hotspot)> {
        self.nodes
            .iter()
            .find_map(|n| n.hotspots.iter().find(|h| h.id == id).map(|h| (n, h)))
    }

    /// Breadth-first depth from the start node over live node-to-node edges,
    /// the start node being level 1. Unreachable and deleted nodes are absent.
    pub fn levels(&self) -> HashMap<String, u32> {
        let edges = self.edges();
        let mut levels = HashMap::new();
        if self.live_nodes().all(|n| n.id != self.start_node) {
            return levels;
        }
        let mut queue = VecDeque::from([(self.start_node.as_str(), 1u32)]);
        levels.insert(self.start_node.clone(), 1);
        while let Some((node, level)) = queue.pop_front() {
            for next in edges.get(node).into_iter().flatten() {
                if !levels.contains_key(*next) {
                    levels.insert((*next).to_string(), level + 1);
                    queue.push_back((next, level + 1));
                }
            }
        }
        levels
    }

    /// Live node-to-node edges: node id → destination node ids.
    fn edges(&self) -> BTreeMap<&str, Vec<&str>> {
        self.live_nodes()
            .map(|n| {
                let targets = n
                    .live_hotspots()
                    .filter_map(|h| h.behavior.target_node())
                    .collect();
                (n.id.as_str(), targets)
            })
            .collect()
    }

    /// Live nodes with no outgoing node edge: reaching one completes the path.
    pub fn end_nodes(&self) -> Vec<String> {
        self.edges()
            .into_iter()
            .filter(|(_, targets)| targets.is_empty())
            .map(|(node, _)| node.to_string())
            .collect()
    }

    /// The new version `next` of this graph, carrying over as deleted (dated
    /// `now`) every node and hotspot that `next` no longer has. Items already
    /// deleted keep their original date.
    pub fn replaced_by(&self, mut next: Graph, now: DateTime<Utc>) -> Graph {
        let mut carried_nodes = Vec::new();
        for old in &self.nodes {
            match next.nodes.iter_mut().find(|n| n.id == old.id) {
                Some(new) => carry_hotspots(old, new, now),
                None => {
                    let mut gone = old.clone();
                    gone.deleted_at.get_or_insert(now);
                    carried_nodes.push(gone);
                }
            }
        }
        next.nodes.extend(carried_nodes);
        next
    }
}

fn carry_hotspots(old: &Node, new: &mut Node, now: DateTime<Utc>) {
    for hotspot in &old.hotspots {
        if new.hotspots.iter().all(|h| h.id != hotspot.id) {
            let mut gone = hotspot.clone();
            gone.deleted_at.get_or_insert(now);
            new.hotspots.push(gone);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hotspot(id: &str, to: &str) -> Hotspot {
        Hotspot {
            id: id.into(),
            label: id.into(),
            start_ms: 0,
            end_ms: 1000,
            behavior: Behavior::GoToNode { node_id: to.into() },
            deleted_at: None,
        }
    }

    fn node(id: &str, hotspots: Vec<Hotspot>) -> Node {
        Node {
            id: id.into(),
            name: id.into(),
            entry_id: format!("e-{id}"),
            duration_ms: 10_000,
            hotspots,
            deleted_at: None,
        }
    }

    fn diamond() -> Graph {
        Graph {
            id: "g".into(),
            name: "g".into(),
            owner: String::new(),
            start_node: "a".into(),
            nodes: vec![
                node("a", vec![hotspot("ab", "b"), hotspot("ac", "c")]),
                node("b", vec![hotspot("bd", "d")]),
                node("c", vec![hotspot("cd", "d"), hotspot("ca", "a")]),
                node("d", vec![]),
                node("x", vec![]),
            ],
        }
    }

    #[test]
    fn levels_take_the_shortest_route_and_skip_unreachable_nodes() {
        let levels = diamond().levels();
        assert_eq!(levels["a"], 1);
        assert_eq!(levels["b"], 2);
        assert_eq!(levels["c"], 2);
        assert_eq!(levels["d"], 3);
        assert!(!levels.contains_key("x"));
    }

    #[test]
    fn end_nodes_have_no_outgoing_node_edge() {
        assert_eq!(
            diamond().end_nodes(),
            vec!["d".to_string(), "x".to_string()]
        );
    }

    #[test]
    fn validation_lists_every_problem() {
        let mut graph = diamond();
        graph.start_node = "nope".into();
        graph.nodes.push(node("b", vec![hotspot("ab", "zz")]));
        let Err(GraphError::Invalid(problems)) = graph.validate() else {
            panic!("expected invalid graph");
        };
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("duplicate node id")));
        assert!(problems.iter().any(|p| p.contains("duplicate hotspot id")));
        assert!(problems.iter().any(|p| p.starts_with("start_node")));
        assert!(problems.iter().any(|p| p.contains("\"zz\"")));
    }

    /// Ids travel in URLs and names are shown to people: an id with `/` or
    /// a bidi override, a megabyte of name, are refused naming the item.
    #[test]
    fn ids_and_names_follow_their_rules() {
        let problems = |change: &dyn Fn(&mut Graph)| {
            let mut graph = diamond();
            change(&mut graph);
            match graph.validate() {
                Err(GraphError::Invalid(problems)) => problems,
                other => panic!("expected invalid, got {other:?}"),
            }
        };
        let found = problems(&|g| g.id = "a/b".into());
        assert!(
            found[0].starts_with("id:") && found[0].contains("'/'"),
            "{found:?}"
        );
        let found = problems(&|g| g.id = "x".repeat(MAX_ID_CHARS + 1));
        assert!(found[0].contains("longer than 256"), "{found:?}");
        let found = problems(&|g| g.name = "n".repeat(1 << 20));
        assert!(found[0].starts_with("name:"), "{found:?}");
        let found = problems(&|g| g.nodes[1].name = "evil\u{202E}gpj.exe".into());
        assert!(
            found[0].contains("node b: name") && found[0].contains("U+202E"),
            "{found:?}"
        );
        let found = problems(&|g| g.nodes[0].hotspots[0].label = "tab\there".into());
        assert!(found[0].contains("hotspot ab: label"), "{found:?}");
        let found = problems(&|g| g.nodes[3].id = "d d".into());
        assert!(
            found.iter().any(|p| p.contains("node \"d d\": id")),
            "{found:?}"
        );
        // Deleted history is kept as it came.
        let mut graph = diamond();
        graph.nodes[4].id = "old/node".into();
        graph.nodes[4].deleted_at = Some(Utc::now());
        assert!(graph.validate().is_ok());
        // Ordinary ids and names from real graphs pass.
        let mut graph = diamond();
        graph.id = "1_abc:D.e-f_g~".into();
        graph.name = "Onboarding — Café (v2)".into();
        assert!(graph.validate().is_ok());
    }

    /// Milliseconds are whole numbers, with or without a fraction of 0.
    #[test]
    fn milliseconds_may_be_written_as_floats_when_whole() {
        let with = |ms: &str| {
            let text = serde_json::to_string(&diamond())
                .unwrap()
                .replace("\"duration_ms\":10000", &format!("\"duration_ms\":{ms}"));
            Graph::from_json(&text).map(|g| g.nodes[0].duration_ms)
        };
        assert_eq!(with("10000"), Ok(10000));
        assert_eq!(with("1500.0"), Ok(1500));
        assert_eq!(with("1e3"), Ok(1000));
        assert_eq!(with("18446744073709551615"), Ok(u64::MAX));
        for refused in [
            "1.5",
            "-1",
            "-1.0",
            "1e300",
            "18446744073709551616",
            "\"5\"",
        ] {
            assert!(
                matches!(with(refused), Err(GraphError::Unreadable(_))),
                "{refused}"
            );
        }
    }

    /// The document's patterns are written from ranges of characters:
    /// they are exactly those the validation refuses.
    #[test]
    fn the_documents_character_ranges_are_the_validations() {
        let within = |ranges: &[&[(char, char)]], c: char| {
            ranges
                .iter()
                .copied()
                .flatten()
                .any(|&(first, last)| (first..=last).contains(&c))
        };
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(within(&[WHITESPACE], c), c.is_whitespace(), "{c:?}");
            assert_eq!(within(&[CONTROL], c), c.is_control(), "{c:?}");
            let text = c.to_string();
            assert_eq!(
                within(&[WHITESPACE, CONTROL, INVISIBLE, ID_PUNCTUATION], c),
                id_problem(&text).is_some(),
                "{c:?}"
            );
            assert_eq!(
                within(&[CONTROL, INVISIBLE], c),
                name_problem(&text).is_some(),
                "{c:?}"
            );
        }
        assert_eq!(class(&[ID_PUNCTUATION]), "\\u002F\\u003F\\u0023\\u0025");
        assert_eq!(class(&[CONTROL]), "\\u0000-\\u001F\\u007F-\\u009F");
    }

    /// Each object of the document's graph requires exactly the fields
    /// serde requires, and only the graph itself refuses other fields.
    #[test]
    fn the_schema_requires_what_serde_requires() {
        use utoipa::PartialSchema;
        let mut graph = diamond();
        graph.owner = "team".into();
        // Only serde reads it: a deleted start node does not matter here.
        graph.nodes[0].deleted_at = Some(Utc::now());
        graph.nodes[0].hotspots[0].deleted_at = Some(Utc::now());
        let whole = serde_json::to_value(&graph).unwrap();
        // Each schema, and where an object of its kind sits in `whole`.
        let objects = [
            (Graph::schema(), ""),
            (Node::schema(), "/nodes/0"),
            (Hotspot::schema(), "/nodes/0/hotspots/0"),
        ];
        for (schema, at) in objects {
            let schema = serde_json::to_value(schema).unwrap();
            let required = schema["required"].as_array().unwrap();
            let properties = schema["properties"].as_object().unwrap();
            let present = whole.pointer(at).unwrap().as_object().unwrap();
            let mut names: Vec<&String> = present.keys().collect();
            names.sort();
            let mut documented: Vec<&String> = properties.keys().collect();
            documented.sort();
            assert_eq!(names, documented, "{at}");
            // Whether the graph still parses with the object at `at` changed.
            let parses = |change: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
                let mut changed = whole.clone();
                change(changed.pointer_mut(at).unwrap().as_object_mut().unwrap());
                serde_json::from_value::<Graph>(changed).is_ok()
            };
            for name in properties.keys() {
                assert_eq!(
                    parses(&|object| {
                        object.remove(name);
                    }),
                    !required.contains(&name.as_str().into()),
                    "{at}/{name}"
                );
            }
            let closed = schema.get("additionalProperties") == Some(&false.into());
            assert_eq!(
                parses(&|object| {
                    object.insert("unknown".into(), 1.into());
                }),
                !closed,
                "{at}"
            );
        }
    }

    #[test]
    fn replacing_keeps_removed_nodes_and_hotspots_as_deleted() {
        let old = diamond();
        let mut next = diamond();
        next.nodes.retain(|n| n.id != "x");
        next.nodes[0].hotspots.pop();
        let now = Utc::now();
        let merged = old.replaced_by(next, now);
        assert_eq!(merged.node("x").unwrap().deleted_at, Some(now));
        assert_eq!(merged.hotspot("ac").unwrap().1.deleted_at, Some(now));
        assert!(merged.validate().is_ok());
        // Without the hotspot a→c, c is reached only through nothing.
        assert!(!merged.levels().contains_key("c"));
    }
}
