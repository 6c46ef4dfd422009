//! What reports ask of a store: figures aggregated inside it.
//!
//! A report names a video, a period, filters, and the figures it needs
//! ([`Parts`]); the store answers with the aggregated figures
//! ([`Aggregates`]), never with raw rows. Everything that needs the graph
//! for presentation (levels, names, zero rows, deleted flags), ratios,
//! comparisons and tables stays above the store, in `pathlens-report`.
//!
//! The figures follow docs/metrics.md. Every backend must give exactly the
//! answer of [`crate::reference::aggregate`], the row-by-row reading of the
//! definitions that [`Store::aggregate`](crate::Store::aggregate) falls back
//! to; the conformance suite and the report crate's property test hold them
//! to it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use pathlens_model::Graph;

use crate::{ContextFilter, PartnerId};

/// Sessions to keep: those that reached one of `nodes` and clicked one of
/// `hotspots` within the period (each condition ignored when its list is
/// empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub nodes: Vec<String>,
    pub hotspots: Vec<String>,
}

impl SessionFilter {
    /// True when the filter keeps every session.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.hotspots.is_empty()
    }
}

/// The figures a report needs; a store computes only these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parts {
    /// Headline totals per time bucket: each `[start, end)` in µs, ascending
    /// and not overlapping, within the period. Empty: no totals.
    pub buckets: Vec<(i64, i64)>,
    /// Per-node figures over the period.
    pub nodes: bool,
    /// With `nodes`: the figures of this node only (a drill-down), so a
    /// store need not work out every node's.
    pub only_node: Option<String>,
    /// Clicks per hotspot over the period.
    pub clicks: bool,
    /// Node-to-node moves over the period.
    pub transitions: bool,
    /// Per-viewer figures over the period.
    pub viewers: bool,
    /// The viewing curve of this node.
    pub curve: Option<String>,
    /// The click heat map of this hotspot.
    pub heatmap: Option<String>,
}

/// One question to a store: figures of one video in `[start, end)`.
#[derive(Debug, Clone)]
pub struct AggregateRequest<'g> {
    pub partner_id: PartnerId,
    /// The video's graph as stored: its id names the video; its hotspots,
    /// durations and end nodes decide counted clicks, watched buckets and
    /// completion.
    pub graph: &'g Graph,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Row filters: an event that fails them does not exist for the report,
    /// in the period or before it.
    pub filter: ContextFilter,
    pub sessions: SessionFilter,
    pub parts: Parts,
    /// Stops the work when cancelled; backends check it and may interrupt
    /// a query in progress.
    pub cancel: crate::Cancel,
}

impl AggregateRequest<'_> {
    /// Zero figures for every node of the graph, or for the one node of a
    /// drill-down: the keys an answer's `nodes` start from.
    pub fn empty_nodes(&self) -> HashMap<String, NodeStats> {
        match self.parts.only_node.as_deref() {
            Some(node) => HashMap::from([(node.to_string(), NodeStats::default())]),
            None => self
                .graph
                .nodes
                .iter()
                .map(|n| (n.id.clone(), NodeStats::default()))
                .collect(),
        }
    }
}

/// Headline metrics of one bucket (or of the whole period).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub impressions: u64,
    pub plays: u64,
    /// Distinct user ids among the bucket's plays, anonymous plays counting
    /// as one viewer.
    pub unique_viewers: u64,
    pub view_ms: i64,
    /// Sessions with a play in the bucket.
    pub sessions_played: u64,
    /// Of those, the sessions that reached an end node in the period.
    pub sessions_completed: u64,
}

/// Per-node figures of the videos overview.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeStats {
    pub plays: u64,
    /// Distinct user ids among the node's events (anonymous as one).
    pub unique_viewers: u64,
    pub view_ms: i64,
    /// Σ over the node's plays of the 1 % buckets watched.
    pub watched_buckets: u64,
    pub dropoffs: u64,
}

/// One node-to-node move, split by the hotspot that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Transition {
    pub from: String,
    pub to: String,
    /// `None` for an automatic switch (or a stale hotspot id).
    pub hotspot: Option<String>,
}

/// Per-viewer figures; `user_id` `None` is every anonymous viewer together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewerStats {
    pub impressions: u64,
    pub plays: u64,
    pub view_ms: i64,
}

/// The viewing curve of one node: for each 1 % of its duration, how many
/// of its plays watched it; and the number of plays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Curve {
    /// 100 counts (empty when no curve was asked for).
    pub watched: Vec<u64>,
    pub plays: u64,
}

/// The answer to an [`AggregateRequest`]: the parts asked for, the others
/// left empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aggregates {
    /// One per requested bucket, in order.
    pub totals: Vec<Totals>,
    /// Keyed by node id: every node of the graph (zero figures when it had
    /// no events) and any other node id events named; only
    /// [`Parts::only_node`] when that is set.
    pub nodes: HashMap<String, NodeStats>,
    pub clicks: HashMap<String, u64>,
    pub transitions: HashMap<Transition, u64>,
    /// The `None` key holds every anonymous viewer together.
    pub viewers: HashMap<Option<String>, ViewerStats>,
    pub curve: Curve,
    /// Clicks on the hotspot spread over its time window in 100 buckets
    /// (empty when no heat map was asked for).
    pub heatmap: Vec<u64>,
}

/// [`Store::breakdown`](crate::Store::breakdown) answered one value at a
/// time through [`Store::aggregate`](crate::Store::aggregate): the
/// definition of a breakdown, and the default of every backend.
///
/// # Errors
/// As the store fails.
pub fn breakdown_by_value<S: crate::Store + ?Sized>(
    store: &S,
    request: &AggregateRequest,
    dimension: crate::Dimension,
    values: &[String],
) -> crate::Result<Vec<Totals>> {
    let whole = Parts {
        buckets: request.parts.buckets.first().copied().into_iter().collect(),
        ..Parts::default()
    };
    values
        .iter()
        .map(|value| {
            let Some(filter) = request.filter.narrowed(dimension, value) else {
                return Ok(Totals::default());
            };
            request.cancel.check()?;
            let figures = store.aggregate(&AggregateRequest {
                filter,
                parts: whole.clone(),
                ..request.clone()
            })?;
            Ok(figures.totals.first().copied().unwrap_or_default())
        })
        .collect()
}
