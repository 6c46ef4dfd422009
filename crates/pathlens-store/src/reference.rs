//! The reference reading of docs/metrics.md: every figure of an
//! [`AggregateRequest`] computed row by row from scanned events.
//!
//! A [`Dataset`] holds the events of one video in one period after every
//! filter, with the playback time each view event contributes already
//! worked out over the whole history before it. Its methods answer one part
//! each. The computations follow the definitions literally; it is what
//! [`Store::aggregate`] does unless a backend aggregates inside its
//! database, and the yardstick every backend is compared with (the report
//! crate's property test checks it against a second, deliberately naive
//! implementation).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use pathlens_model::{EventKind, Graph, event::MAX_VIEW_CONTRIBUTION_SECS};

use crate::aggregate::{
    AggregateRequest, Aggregates, Curve, NodeStats, SessionFilter, Totals, Transition, ViewerStats,
};
use crate::{EventRow, Result, ScanRequest, Store};

/// Answers `request` from `store`'s rows: the period's events, and the view
/// events of the whole history around it (for view increases).
///
/// # Errors
/// As the store's scans fail.
pub fn aggregate<S: Store + ?Sized>(store: &S, request: &AggregateRequest) -> Result<Aggregates> {
    let scan = |start, end, kinds| ScanRequest {
        partner_id: request.partner_id,
        video_id: request.graph.id.clone(),
        start,
        end,
        kinds,
        filter: request.filter.clone(),
    };
    request.cancel.check()?;
    let mut rows = store.scan(&scan(request.start, request.end, Vec::new()))?;
    request.cancel.check()?;
    // A view's previous view is looked up over the player session's whole
    // stored history, wherever in time it lies.
    rows.extend(store.scan(&scan(
        DateTime::<Utc>::MIN_UTC,
        request.start,
        vec![EventKind::View],
    ))?);
    rows.extend(store.scan(&scan(
        request.end,
        DateTime::<Utc>::MAX_UTC,
        vec![EventKind::View],
    ))?);
    request.cancel.check()?;
    let dataset = Dataset::new(
        request.graph,
        rows,
        request.start.timestamp_micros(),
        request.end.timestamp_micros(),
        &request.sessions,
    );
    Ok(dataset.aggregates(&request.parts))
}

/// Another store with its `aggregate` answered by a function of the request
/// (every other method goes to the store itself): benchmarks use it to time
/// the row-by-row engine, [`aggregate`], on a backend's own data, or to
/// record what the reports ask.
pub struct Rerouted<'s> {
    pub store: &'s dyn Store,
    pub aggregate: &'s (dyn Fn(&dyn Store, &AggregateRequest) -> Result<Aggregates> + Sync),
}

impl Rerouted<'_> {
    /// `store` with reports computed row by row from its rows.
    pub fn rows(store: &dyn Store) -> Rerouted<'_> {
        Rerouted {
            store,
            aggregate: &|store, request| aggregate(store, request),
        }
    }
}

impl Store for Rerouted<'_> {
    fn put_video(
        &self,
        partner: crate::PartnerId,
        graph: &Graph,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.store.put_video(partner, graph, now)
    }
    fn video(&self, partner: crate::PartnerId, id: &str) -> Result<Option<crate::StoredVideo>> {
        self.store.video(partner, id)
    }
    fn videos(&self, partner: crate::PartnerId) -> Result<Vec<crate::StoredVideo>> {
        self.store.videos(partner)
    }
    fn put_key(&self, key: &crate::ApiKey) -> Result<()> {
        self.store.put_key(key)
    }
    fn keys(&self) -> Result<Vec<crate::ApiKey>> {
        self.store.keys()
    }
    fn revoke_key(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        self.store.revoke_key(id, now)
    }
    fn append(&self, events: Vec<pathlens_model::Event>) -> Result<crate::AppendOutcome> {
        self.store.append(events)
    }
    fn scan(&self, request: &ScanRequest) -> Result<Vec<EventRow>> {
        self.store.scan(request)
    }
    fn values(&self, request: &crate::ValuesRequest) -> Result<Vec<crate::DimensionValue>> {
        self.store.values(request)
    }
    fn aggregate(&self, request: &AggregateRequest) -> Result<Aggregates> {
        (self.aggregate)(self.store, request)
    }
    fn export(
        &self,
        partner: Option<crate::PartnerId>,
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

const MAX_VIEW_CONTRIBUTION_MS: i64 = (MAX_VIEW_CONTRIBUTION_SECS * 1000.0) as i64;

/// The rows of one period after filtering, ready to report on.
pub struct Dataset<'g> {
    graph: &'g Graph,
    rows: Vec<EventRow>,
    /// Playback each row adds, in ms (non-zero only for view rows).
    view_ms: Vec<i64>,
    end_nodes: HashSet<String>,
    /// Node-leading hotspots (deleted ones too): id → (its node, its target),
    /// so each row's click check is one lookup rather than a graph walk.
    hotspot_edges: HashMap<&'g str, (&'g str, &'g str)>,
    /// Node durations in ms, for the watched buckets of view rows.
    durations: HashMap<&'g str, u64>,
}

impl<'g> Dataset<'g> {
    /// Builds the dataset of `[start_us, end_us)` from `rows`, which may also
    /// hold earlier events (used only to work out view increases).
    pub fn new(
        graph: &'g Graph,
        mut rows: Vec<EventRow>,
        start_us: i64,
        end_us: i64,
        filter: &SessionFilter,
    ) -> Dataset<'g> {
        let contributions = view_contributions(&rows);
        let mut view_ms = Vec::with_capacity(rows.len());
        let mut kept = 0;
        for index in 0..rows.len() {
            if (start_us..end_us).contains(&rows[index].ts_us) {
                rows.swap(kept, index);
                view_ms.push(contributions[index]);
                kept += 1;
            }
        }
        rows.truncate(kept);
        let end_nodes = graph.end_nodes().into_iter().collect();
        let mut hotspot_edges = HashMap::new();
        for node in &graph.nodes {
            for hotspot in &node.hotspots {
                if let Some(target) = hotspot.behavior.target_node() {
                    hotspot_edges
                        .entry(hotspot.id.as_str())
                        .or_insert((node.id.as_str(), target));
                }
            }
        }
        let mut durations = HashMap::new();
        for node in &graph.nodes {
            durations
                .entry(node.id.as_str())
                .or_insert(node.duration_ms);
        }
        let mut dataset = Dataset {
            graph,
            rows,
            view_ms,
            end_nodes,
            hotspot_edges,
            durations,
        };
        dataset.keep_sessions(filter);
        dataset
    }

    fn keep_sessions(&mut self, filter: &SessionFilter) {
        if filter.nodes.is_empty() && filter.hotspots.is_empty() {
            return;
        }
        let mut reached: HashSet<&str> = HashSet::new();
        let mut clicked: HashSet<&str> = HashSet::new();
        for row in &self.rows {
            let touches_node = row
                .node_id
                .iter()
                .chain(&row.to_node_id)
                .any(|n| filter.nodes.contains(n));
            if touches_node {
                reached.insert(&row.session_id);
            }
            if let Some(hotspot) = self.counted_hotspot(row)
                && filter.hotspots.iter().any(|h| h == hotspot)
            {
                clicked.insert(&row.session_id);
            }
        }
        let keep: Vec<bool> = self
            .rows
            .iter()
            .map(|row| {
                (filter.nodes.is_empty() || reached.contains(row.session_id.as_str()))
                    && (filter.hotspots.is_empty() || clicked.contains(row.session_id.as_str()))
            })
            .collect();
        let mut flags = keep.iter();
        self.rows.retain(|_| *flags.next().unwrap_or(&false));
        let mut flags = keep.iter();
        self.view_ms.retain(|_| *flags.next().unwrap_or(&false));
    }

    /// Number of rows left after filtering.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn reaches_end(&self, row: &EventRow) -> bool {
        match row.kind {
            EventKind::NodePlay => row
                .node_id
                .as_ref()
                .is_some_and(|n| self.end_nodes.contains(n)),
            EventKind::NodeSwitch => row
                .to_node_id
                .as_ref()
                .is_some_and(|n| self.end_nodes.contains(n)),
            _ => false,
        }
    }

    fn completed_sessions(&self) -> HashSet<&str> {
        self.rows
            .iter()
            .filter(|row| self.reaches_end(row))
            .map(|row| row.session_id.as_str())
            .collect()
    }

    /// Every part `parts` asks for.
    pub fn aggregates(&self, parts: &crate::aggregate::Parts) -> Aggregates {
        Aggregates {
            totals: self.totals(&parts.buckets),
            nodes: match (parts.nodes, &parts.only_node) {
                (false, _) => HashMap::new(),
                (true, None) => self.nodes(),
                (true, Some(node)) => {
                    let stats = self.nodes().remove(node).unwrap_or_default();
                    HashMap::from([(node.clone(), stats)])
                }
            },
            clicks: if parts.clicks {
                self.hotspot_clicks()
            } else {
                HashMap::new()
            },
            transitions: if parts.transitions {
                self.transitions()
            } else {
                HashMap::new()
            },
            viewers: if parts.viewers {
                self.viewers()
            } else {
                HashMap::new()
            },
            curve: parts
                .curve
                .as_deref()
                .map(|node| self.curve(node))
                .unwrap_or_default(),
            heatmap: parts
                .heatmap
                .as_deref()
                .map(|hotspot| self.heatmap(hotspot).to_vec())
                .unwrap_or_default(),
        }
    }

    /// Headline metrics per bucket (`[start, end)` in µs, ascending).
    pub fn totals(&self, buckets: &[(i64, i64)]) -> Vec<Totals> {
        let completed = self.completed_sessions();
        let mut totals = vec![Totals::default(); buckets.len()];
        let mut viewers: Vec<HashSet<Option<&str>>> = vec![HashSet::new(); buckets.len()];
        let mut played: Vec<HashSet<&str>> = vec![HashSet::new(); buckets.len()];
        for (row, view_ms) in self.rows.iter().zip(&self.view_ms) {
            let Some(bucket) = bucket_of(buckets, row.ts_us) else {
                continue;
            };
            let total = &mut totals[bucket];
            total.view_ms += view_ms;
            match row.kind {
                EventKind::Impression => total.impressions += 1,
                EventKind::Play => {
                    total.plays += 1;
                    viewers[bucket].insert(row.user_id.as_deref());
                    played[bucket].insert(&row.session_id);
                }
                _ => {}
            }
        }
        for (bucket, total) in totals.iter_mut().enumerate() {
            total.unique_viewers = viewers[bucket].len() as u64;
            total.sessions_played = played[bucket].len() as u64;
            total.sessions_completed = played[bucket]
                .iter()
                .filter(|s| completed.contains(*s))
                .count() as u64;
        }
        totals
    }

    /// Figures of every node of the graph, keyed by node id (nodes without
    /// events have default figures; ids not in the graph are kept too).
    pub fn nodes(&self) -> HashMap<String, NodeStats> {
        let mut stats: HashMap<String, NodeStats> = self
            .graph
            .nodes
            .iter()
            .map(|n| (n.id.clone(), NodeStats::default()))
            .collect();
        let mut viewers: HashMap<&str, HashSet<Option<&str>>> = HashMap::new();
        for (row, view_ms) in self.rows.iter().zip(&self.view_ms) {
            let Some(node) = row.node_id.as_deref() else {
                continue;
            };
            let entry = stats.entry(node.to_string()).or_default();
            entry.view_ms += view_ms;
            if row.kind == EventKind::NodePlay {
                entry.plays += 1;
            }
            viewers
                .entry(node)
                .or_default()
                .insert(row.user_id.as_deref());
        }
        for (node, users) in viewers {
            if let Some(entry) = stats.get_mut(node) {
                entry.unique_viewers = users.len() as u64;
            }
        }
        for instance in self.node_plays() {
            if let Some(entry) = stats.get_mut(instance.node) {
                entry.watched_buckets += u64::from(instance.watched.count_ones());
            }
        }
        let completed = self.completed_sessions();
        for (session, node) in self.last_nodes() {
            if !completed.contains(session)
                && let Some(entry) = stats.get_mut(node)
            {
                entry.dropoffs += 1;
            }
        }
        stats
    }

    /// The node each session played last (by time, then event index).
    fn last_nodes(&self) -> HashMap<&str, &str> {
        let mut last: HashMap<&str, (i64, u32, &str)> = HashMap::new();
        for row in self.rows.iter().filter(|r| r.kind == EventKind::NodePlay) {
            let Some(node) = row.node_id.as_deref() else {
                continue;
            };
            let candidate = (row.ts_us, row.event_index, node);
            let slot = last.entry(&row.session_id).or_insert(candidate);
            if (candidate.0, candidate.1) >= (slot.0, slot.1) {
                *slot = candidate;
            }
        }
        last.into_iter()
            .map(|(session, (_, _, node))| (session, node))
            .collect()
    }

    /// Every node play (one per node_play event) with the 1 % buckets of the
    /// node its viewer watched, from the view events that followed it.
    fn node_plays(&self) -> Vec<NodePlay<'_>> {
        let mut by_session: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, row) in self.rows.iter().enumerate() {
            if matches!(row.kind, EventKind::NodePlay | EventKind::View) && row.node_id.is_some() {
                by_session.entry(&row.session_id).or_default().push(index);
            }
        }
        let mut plays = Vec::new();
        for mut indexes in by_session.into_values() {
            indexes.sort_by_key(|&i| {
                (
                    self.rows[i].ts_us,
                    self.rows[i].event_index,
                    self.rows[i].kind == EventKind::View,
                )
            });
            let mut latest: HashMap<&str, usize> = HashMap::new();
            for index in indexes {
                let row = &self.rows[index];
                let node = row.node_id.as_deref().unwrap_or_default();
                if row.kind == EventKind::NodePlay {
                    latest.insert(node, plays.len());
                    plays.push(NodePlay { node, watched: 0 });
                } else if let Some(&play) = latest.get(node) {
                    let duration_ms = self.durations.get(node).copied().unwrap_or(0);
                    plays[play].watched |=
                        watched_buckets(row.position, self.view_ms[index], duration_ms);
                }
            }
        }
        plays
    }

    /// Viewing curve of `node`: for each 1 % of its duration, how many of its
    /// plays watched it; and the number of plays.
    pub fn curve(&self, node: &str) -> Curve {
        let mut curve = [0u64; 100];
        let mut plays = 0;
        for play in self.node_plays().into_iter().filter(|p| p.node == node) {
            plays += 1;
            for (bucket, count) in curve.iter_mut().enumerate() {
                if play.watched & (1u128 << bucket) != 0 {
                    *count += 1;
                }
            }
        }
        Curve {
            watched: curve.to_vec(),
            plays,
        }
    }

    /// Clicks per hotspot id: URL clicks plus the node switches it caused.
    pub fn hotspot_clicks(&self) -> HashMap<String, u64> {
        let mut clicks = HashMap::new();
        for row in &self.rows {
            if let Some(hotspot) = self.counted_hotspot(row) {
                *clicks.entry(hotspot.to_string()).or_insert(0) += 1;
            }
        }
        clicks
    }

    /// Clicks on `hotspot` spread over its time window in 100 buckets.
    pub fn heatmap(&self, hotspot: &str) -> [u64; 100] {
        let mut buckets = [0u64; 100];
        let Some((_, spot)) = self.graph.hotspot(hotspot) else {
            return buckets;
        };
        let window = spot.end_ms.saturating_sub(spot.start_ms) as f64;
        for row in &self.rows {
            if self.counted_hotspot(row) != Some(hotspot) {
                continue;
            }
            let position_ms = row.position.unwrap_or(0.0) * 1000.0;
            let percent = if window > 0.0 {
                (position_ms - spot.start_ms as f64) * 100.0 / window
            } else {
                0.0
            };
            let bucket = floor_tolerant(percent).clamp(0.0, 99.0) as usize;
            buckets[bucket] += 1;
        }
        buckets
    }

    /// Node switches counted by (from, to, causing hotspot).
    pub fn transitions(&self) -> HashMap<Transition, u64> {
        let mut counts = HashMap::new();
        for row in self.rows.iter().filter(|r| r.kind == EventKind::NodeSwitch) {
            let (Some(from), Some(to)) = (&row.from_node_id, &row.to_node_id) else {
                continue;
            };
            let transition = Transition {
                from: from.clone(),
                to: to.clone(),
                hotspot: self.counted_hotspot(row).map(str::to_string),
            };
            *counts.entry(transition).or_insert(0) += 1;
        }
        counts
    }

    /// Figures per viewer; the `None` key holds every anonymous viewer.
    pub fn viewers(&self) -> HashMap<Option<String>, ViewerStats> {
        let mut stats: HashMap<Option<String>, ViewerStats> = HashMap::new();
        for (row, view_ms) in self.rows.iter().zip(&self.view_ms) {
            if !matches!(row.kind, EventKind::Impression | EventKind::Play) && *view_ms == 0 {
                continue;
            }
            let entry = stats.entry(row.user_id.clone()).or_default();
            entry.view_ms += view_ms;
            match row.kind {
                EventKind::Impression => entry.impressions += 1,
                EventKind::Play => entry.plays += 1,
                _ => {}
            }
        }
        stats
    }
}

struct NodePlay<'a> {
    node: &'a str,
    /// Bit b set when the b-th 1 % of the node was watched.
    watched: u128,
}

impl Dataset<'_> {
    /// The hotspot a row counts as a click for: a URL hotspot click, or a
    /// node switch whose hotspot sits on the from-node and leads to the
    /// to-node (a stale id left by an earlier click does not count).
    pub fn counted_hotspot<'r>(&self, row: &'r EventRow) -> Option<&'r str> {
        let hotspot = row.hotspot_id.as_deref()?;
        match row.kind {
            EventKind::HotspotClick => Some(hotspot),
            EventKind::NodeSwitch => {
                let (from, to) = self.hotspot_edges.get(hotspot)?;
                let leads = row.from_node_id.as_deref() == Some(*from)
                    && row.to_node_id.as_deref() == Some(*to);
                leads.then_some(hotspot)
            }
            _ => None,
        }
    }
}

/// Positions are decimal seconds held in binary floating point, so a value
/// that is exactly on a bucket boundary (a click at 33.48 s, 29 % into a
/// 30–42 s window) can come out a hair below it (28.999999999999996). Bucket
/// indexes round such values to the boundary: anything within a millionth
/// of a bucket of it counts as on it.
const BUCKET_TOLERANCE: f64 = 1e-6;

/// `floor(x)`, with `x` a hair below an integer taken as that integer.
fn floor_tolerant(x: f64) -> f64 {
    (x + BUCKET_TOLERANCE).floor()
}

/// `ceil(x)`, with `x` a hair above an integer taken as that integer.
fn ceil_tolerant(x: f64) -> f64 {
    (x - BUCKET_TOLERANCE).ceil()
}

/// The 1 % buckets of a node of `duration_ms` covered by playback of
/// `played_ms` ending at `position` seconds.
fn watched_buckets(position: Option<f64>, played_ms: i64, duration_ms: u64) -> u128 {
    let Some(position) = position else { return 0 };
    if played_ms <= 0 || duration_ms == 0 {
        return 0;
    }
    let end_ms = position * 1000.0;
    let start_ms = (end_ms - played_ms as f64).max(0.0);
    let duration_ms = duration_ms as f64;
    let first = floor_tolerant(start_ms * 100.0 / duration_ms).clamp(0.0, 99.0) as u32;
    let last = (ceil_tolerant(end_ms * 100.0 / duration_ms) - 1.0).clamp(0.0, 99.0) as u32;
    (first..=last.max(first)).fold(0u128, |bits, b| bits | (1u128 << b))
}

/// Playback each row adds, in ms, following docs/metrics.md: per player
/// session (session id, the player session id when the source has one, and
/// the entry id) in event-index order, the increase of
/// `play_time_sum` since the previous view; the first view and the first
/// after a reset add their own value; a view without it adds nothing; each
/// contribution is capped at 30 s.
pub fn view_contributions(rows: &[EventRow]) -> Vec<i64> {
    // Keyed by (session, player session, entry): two node players may share
    // one player session id, and each entry's `play_time_sum` runs on its own.
    type PlayerKey<'r> = (&'r str, Option<&'r str>, Option<&'r str>);
    let mut players: HashMap<PlayerKey<'_>, Vec<usize>> = HashMap::new();
    for (index, row) in rows.iter().enumerate() {
        if row.kind == EventKind::View && row.play_time_sum.is_some() {
            players
                .entry((
                    &row.session_id,
                    row.player_session.as_deref(),
                    row.entry_id.as_deref(),
                ))
                .or_default()
                .push(index);
        }
    }
    let mut contributions = vec![0i64; rows.len()];
    for mut indexes in players.into_values() {
        indexes.sort_by_key(|&i| (rows[i].event_index, rows[i].ts_us));
        let mut previous_ms: Option<i64> = None;
        for index in indexes {
            let current_ms = (rows[index].play_time_sum.unwrap_or(0.0) * 1000.0).round() as i64;
            let increase = match previous_ms {
                Some(previous) if current_ms >= previous => current_ms - previous,
                _ => current_ms,
            };
            contributions[index] = increase.min(MAX_VIEW_CONTRIBUTION_MS);
            previous_ms = Some(current_ms);
        }
    }
    contributions
}

/// The bucket of `buckets` (ascending `[start, end)` pairs) holding `ts_us`.
fn bucket_of(buckets: &[(i64, i64)], ts_us: i64) -> Option<usize> {
    let index = buckets.partition_point(|b| b.0 <= ts_us);
    let candidate = index.checked_sub(1)?;
    (ts_us < buckets[candidate].1).then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(session: &str, entry: &str, index: u32, sum: Option<f64>) -> EventRow {
        EventRow {
            ts_us: i64::from(index),
            kind: EventKind::View,
            session_id: session.into(),
            entry_id: Some(entry.into()),
            node_id: Some("n".into()),
            event_index: index,
            user_id: None,
            position: None,
            play_time_sum: sum,
            from_node_id: None,
            to_node_id: None,
            hotspot_id: None,
            quartile: None,
            player_session: None,
        }
    }

    #[test]
    fn view_increases_follow_the_definition() {
        let rows = vec![
            view("s", "e", 3, Some(20.0)),
            view("s", "e", 1, Some(0.0)),
            view("s", "e", 2, Some(10.0)),
            view("s", "e", 4, None),
            view("s", "e", 5, Some(70.0)),
            view("s", "e", 6, Some(5.0)),
            view("s", "other", 1, Some(12.5)),
        ];
        assert_eq!(
            view_contributions(&rows),
            vec![10_000, 0, 10_000, 0, 30_000, 5_000, 12_500]
        );
    }

    #[test]
    fn watched_buckets_cover_the_played_stretch() {
        // 10 s node: 1 % = 100 ms. Played 2 s ending at 5 s: buckets 30..=49.
        let bits = watched_buckets(Some(5.0), 2_000, 10_000);
        assert_eq!(bits.count_ones(), 20);
        assert!(bits & (1 << 30) != 0 && bits & (1 << 49) != 0 && bits & (1 << 50) == 0);
        assert_eq!(watched_buckets(Some(50.0), 30_000, 10_000).count_ones(), 1);
        assert_eq!(watched_buckets(None, 1_000, 10_000), 0);
    }
}
