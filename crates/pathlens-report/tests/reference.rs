//! A deliberately naive second reading of docs/metrics.md's metric definitions.
//!
//! Nothing here calls or mirrors `pathlens_report::engine` or
//! `pathlens_report::period`: local days come from converting each event's
//! time to the zone and reading its date, buckets from formatting that local
//! time, and every metric is a plain count over a filtered list of events.
//! Arithmetic on positions is exact (integer milliseconds) where the
//! definitions are exact. Speed does not matter; obviousness does.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use pathlens_model::{Behavior, Event, EventKind, Graph};
use pathlens_report::ReportKind;
use serde_json::{Map, Value, json};

/// The filters of a request, as the test draws them.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub countries: Vec<String>,
    pub devices: Vec<String>,
    pub os: Vec<String>,
    pub browsers: Vec<String>,
    pub referrer_domains: Vec<String>,
    pub applications: Vec<String>,
    /// Playback type names, `unknown` for events without one.
    pub playback_types: Vec<String>,
    pub user_ids: Vec<String>,
    /// `Some(true)`: known viewers only; `Some(false)`: anonymous only.
    pub known: Option<bool>,
    pub nodes: Vec<String>,
    pub hotspots: Vec<String>,
}

impl Filters {
    /// The query parameters naming these filters.
    pub fn params(&self) -> Vec<(String, String)> {
        let mut params = Vec::new();
        let mut list = |name: &str, values: Vec<String>| {
            if !values.is_empty() {
                params.push((name.to_string(), values.join(",")));
            }
        };
        list("countries", self.countries.clone());
        list("devices", self.devices.clone());
        list("os", self.os.clone());
        list("browsers", self.browsers.clone());
        list("referrer_domains", self.referrer_domains.clone());
        list("applications", self.applications.clone());
        list("playback_types", self.playback_types.clone());
        list("user_ids", self.user_ids.clone());
        list("nodes", self.nodes.clone());
        list("hotspots", self.hotspots.clone());
        match self.known {
            Some(true) => params.push(("viewer".into(), "known".into())),
            Some(false) => params.push(("viewer".into(), "anonymous".into())),
            None => {}
        }
        params
    }
}

/// Inclusive local days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// Number of days minus one.
    fn span(&self) -> Duration {
        self.to - self.from
    }
}

/// What a request compares with, as its `compare` parameter names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    PreviousPeriod,
    PreviousYear,
    Custom(NaiveDate),
}

impl Compare {
    pub fn param(&self) -> String {
        match self {
            Compare::PreviousPeriod => "previous_period".into(),
            Compare::PreviousYear => "previous_year".into(),
            Compare::Custom(date) => date.format("%Y-%m-%d").to_string(),
        }
    }

    /// The other period, from the words of docs/metrics.md: the same number of
    /// days just before, the same dates a year earlier, or the same number of
    /// days from a given date.
    pub fn other(&self, period: Period) -> Period {
        match self {
            Compare::PreviousPeriod => {
                let to = period.from - Duration::days(1);
                Period {
                    from: to - period.span(),
                    to,
                }
            }
            Compare::PreviousYear => Period {
                from: a_year_before(period.from),
                to: a_year_before(period.to),
            },
            Compare::Custom(from) => Period {
                from: *from,
                to: *from + period.span(),
            },
        }
    }
}

fn a_year_before(date: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(date.year() - 1, date.month(), date.day())
        .or_else(|| NaiveDate::from_ymd_opt(date.year() - 1, date.month(), date.day() - 1))
        .expect("a date a year earlier exists")
}

/// The instant a local day begins. The zones under test never skip or
/// repeat midnight, so there is exactly one.
pub fn local_midnight(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    tz.from_local_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("midnight exists exactly once in the zones under test")
        .with_timezone(&Utc)
}

fn local_date(ts: DateTime<Utc>, tz: Tz) -> NaiveDate {
    ts.with_timezone(&tz).date_naive()
}

/// The events that were stored: the first of each (partner, dedup key).
pub fn dedup(events: &[Event]) -> Vec<Event> {
    let mut seen = BTreeSet::new();
    let mut kept = Vec::new();
    for event in events {
        if seen.insert((event.partner_id, event.dedup_key)) {
            kept.push(event.clone());
        }
    }
    kept
}

fn list_keeps(list: &[String], value: Option<&str>) -> bool {
    if list.is_empty() {
        return true;
    }
    for wanted in list {
        if value == Some(wanted.as_str()) {
            return true;
        }
        if wanted == "unknown" && value.is_none() {
            return true;
        }
    }
    false
}

fn context_keeps(filters: &Filters, event: &Event) -> bool {
    let context = &event.context;
    let user_ok = filters.user_ids.is_empty()
        || match &event.user_id {
            Some(user) => filters.user_ids.contains(user),
            None => false,
        };
    let viewer_ok = match filters.known {
        Some(true) => event.user_id.is_some(),
        Some(false) => event.user_id.is_none(),
        None => true,
    };
    list_keeps(&filters.countries, context.country.as_deref())
        && list_keeps(&filters.devices, context.device.as_deref())
        && list_keeps(&filters.os, context.os.as_deref())
        && list_keeps(&filters.browsers, context.browser.as_deref())
        && list_keeps(
            &filters.referrer_domains,
            context.referrer_domain.as_deref(),
        )
        && list_keeps(&filters.applications, context.application.as_deref())
        && list_keeps(
            &filters.playback_types,
            context.playback_type.map(|p| p.name()),
        )
        && user_ok
        && viewer_ok
}

/// The hotspot an event counts as a click for, if any.
pub fn counted_click<'e>(graph: &Graph, event: &'e Event) -> Option<&'e str> {
    let hotspot = event.hotspot_id.as_deref()?;
    match event.kind {
        EventKind::HotspotClick => Some(hotspot),
        EventKind::NodeSwitch => {
            for node in &graph.nodes {
                for spot in &node.hotspots {
                    if spot.id != hotspot {
                        continue;
                    }
                    let from_ok = event.from_node_id.as_deref() == Some(node.id.as_str());
                    let to_ok = match &spot.behavior {
                        Behavior::GoToNode { node_id } => {
                            event.to_node_id.as_deref() == Some(node_id.as_str())
                        }
                        _ => false,
                    };
                    return (from_ok && to_ok).then_some(hotspot);
                }
            }
            None
        }
        _ => None,
    }
}

/// The player a view belongs to within its session.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Player {
    own: Option<String>,
    entry: Option<String>,
}

/// One in-period event that survived every filter, with the playback it
/// adds in ms.
pub struct Row<'a> {
    pub event: &'a Event,
    pub ms: i64,
}

/// The events of one period after every filter.
pub struct Prepared<'a> {
    graph: &'a Graph,
    tz: Tz,
    period: Period,
    rows: Vec<Row<'a>>,
    end_nodes: Vec<String>,
}

/// Applies the definitions' filters to `events` (the stored events of one
/// video of one partner).
pub fn prepare<'a>(
    graph: &'a Graph,
    events: &'a [Event],
    tz: Tz,
    period: Period,
    filters: &Filters,
) -> Prepared<'a> {
    let in_period = |e: &Event| {
        let date = local_date(e.ts, tz);
        period.from <= date && date <= period.to
    };
    // Every stored view: an increase is over the whole history of its
    // player session, whatever the period.
    let in_window = |_: &Event| true;
    let passing: Vec<&Event> = events
        .iter()
        .filter(|e| context_keeps(filters, e))
        .collect();

    // View contributions, per player session in (event index, time) order.
    // A player session is the event's own player session id when it has
    // one, else its media entry, within its session.
    let mut players: BTreeMap<(String, Player), Vec<&Event>> = BTreeMap::new();
    for event in &passing {
        if event.kind == EventKind::View && event.play_time_sum.is_some() && in_window(event) {
            // A player session is (session, player session id, entry): node
            // players that share a session id still chain views per entry.
            let player = Player {
                own: event.player_session.clone(),
                entry: event.entry_id.clone(),
            };
            players
                .entry((event.session_id.clone(), player))
                .or_default()
                .push(event);
        }
    }
    // Keyed by the event's address: each stored event is one value here.
    let mut contribution: BTreeMap<*const Event, i64> = BTreeMap::new();
    for views in players.values_mut() {
        views.sort_by_key(|v| (v.event_index, v.ts));
        let mut previous: Option<i64> = None;
        for view in views.iter() {
            let now = (view.play_time_sum.unwrap() * 1000.0).round() as i64;
            let added = match previous {
                Some(before) if now >= before => now - before,
                _ => now,
            };
            contribution.insert(*view as *const Event, added.min(30_000));
            previous = Some(now);
        }
    }
    let ms_of = |event: &Event| -> i64 {
        contribution
            .get(&(event as *const Event))
            .copied()
            .unwrap_or(0)
    };

    let period_events: Vec<&Event> = passing.into_iter().filter(|e| in_period(e)).collect();

    // Session filters, over the period's filtered events.
    let mut keep_sessions: BTreeSet<&str> = period_events
        .iter()
        .map(|e| e.session_id.as_str())
        .collect();
    if !filters.nodes.is_empty() {
        keep_sessions.retain(|session| {
            period_events.iter().any(|e| {
                e.session_id == *session
                    && (e
                        .node_id
                        .as_ref()
                        .is_some_and(|n| filters.nodes.contains(n))
                        || (e.kind == EventKind::NodeSwitch
                            && e.to_node_id
                                .as_ref()
                                .is_some_and(|n| filters.nodes.contains(n))))
            })
        });
    }
    if !filters.hotspots.is_empty() {
        keep_sessions.retain(|session| {
            period_events.iter().any(|e| {
                e.session_id == *session
                    && counted_click(graph, e)
                        .is_some_and(|h| filters.hotspots.iter().any(|f| f == h))
            })
        });
    }
    let rows = period_events
        .into_iter()
        .filter(|e| keep_sessions.contains(e.session_id.as_str()))
        .map(|event| Row {
            event,
            ms: ms_of(event),
        })
        .collect();
    Prepared {
        graph,
        tz,
        period,
        rows,
        end_nodes: graph.end_nodes(),
    }
}

/// What a report is about besides the period.
#[derive(Debug, Clone)]
pub struct Options {
    pub interval: String,
    pub node: String,
    pub hotspot: String,
    /// The dimension of the breakdown report.
    pub dimension: String,
}

/// The dimensions of breakdown reports, by their API names.
pub const DIMENSIONS: [&str; 7] = [
    "country",
    "device",
    "os",
    "browser",
    "referrer_domain",
    "application",
    "playback_type",
];

/// The value of `dimension` an event carries, `unknown` when it has none.
fn dimension_value(event: &Event, dimension: &str) -> String {
    let context = &event.context;
    let value = match dimension {
        "country" => context.country.clone(),
        "device" => context.device.clone(),
        "os" => context.os.clone(),
        "browser" => context.browser.clone(),
        "referrer_domain" => context.referrer_domain.clone(),
        "application" => context.application.clone(),
        "playback_type" => context.playback_type.map(|p| p.name().to_string()),
        other => panic!("no dimension {other}"),
    };
    value.unwrap_or_else(|| "unknown".to_string())
}

/// `filters` keeping only events whose `dimension` is `value`, or `None`
/// when the filters already keep only other values.
fn narrowed(filters: &Filters, dimension: &str, value: &str) -> Option<Filters> {
    let mut narrowed = filters.clone();
    let list = match dimension {
        "country" => &mut narrowed.countries,
        "device" => &mut narrowed.devices,
        "os" => &mut narrowed.os,
        "browser" => &mut narrowed.browsers,
        "referrer_domain" => &mut narrowed.referrer_domains,
        "application" => &mut narrowed.applications,
        "playback_type" => &mut narrowed.playback_types,
        other => panic!("no dimension {other}"),
    };
    if !list.is_empty() && !list.iter().any(|v| v == value) {
        return None;
    }
    *list = vec![value.to_string()];
    Some(narrowed)
}

/// The breakdown report's rows over `period`: every value of the dimension
/// among the period's events that pass the context filters, ranked by their
/// plays, then their events, then by value; or the values `keys` in that
/// order (a comparison period's rows). Each row holds the period's figures
/// with the filters narrowed to that value.
pub fn breakdown(
    graph: &Graph,
    events: &[Event],
    tz: Tz,
    period: Period,
    filters: &Filters,
    dimension: &str,
    keys: Option<&[String]>,
) -> Vec<Map<String, Value>> {
    let values: Vec<String> = match keys {
        Some(keys) => keys.to_vec(),
        None => {
            let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            for event in events {
                if !context_keeps(filters, event) || !within(event, tz, period) {
                    continue;
                }
                let entry = counts.entry(dimension_value(event, dimension)).or_default();
                entry.1 += 1;
                if event.kind == EventKind::Play {
                    entry.0 += 1;
                }
            }
            let mut ranked: Vec<(String, (u64, u64))> = counts.into_iter().collect();
            ranked.sort_by(|a, b| (b.1).cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            ranked.into_iter().map(|(value, _)| value).collect()
        }
    };
    let plays_of = |filters: &Filters| -> (u64, Vec<(&'static str, Value)>) {
        let prepared = prepare(graph, events, tz, period, filters);
        let all: Vec<&Row> = prepared.rows.iter().collect();
        let totals = prepared.totals_of(&all);
        let plays = totals
            .iter()
            .find(|(k, _)| *k == "plays")
            .and_then(|(_, v)| v.as_u64())
            .unwrap_or(0);
        (plays, totals)
    };
    let (whole, _) = plays_of(filters);
    values
        .into_iter()
        .map(|value| {
            let (plays, totals) = match narrowed(filters, dimension, &value) {
                Some(narrowed) => plays_of(&narrowed),
                None => (0, Vec::new()),
            };
            let figure = |key: &str| {
                totals
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map_or(json!(0), |(_, v)| v.clone())
            };
            row(vec![
                ("value", json!(value)),
                ("plays", json!(plays)),
                ("share_of_plays", share(plays, whole)),
                ("unique_viewers", figure("unique_viewers")),
                ("minutes_viewed", figure("minutes_viewed")),
            ])
        })
        .collect()
}

fn within(event: &Event, tz: Tz, period: Period) -> bool {
    let date = local_date(event.ts, tz);
    period.from <= date && date <= period.to
}

fn minutes(ms: i64) -> f64 {
    ms as f64 / 60_000.0
}

fn share(part: u64, whole: u64) -> Value {
    if whole == 0 {
        Value::Null
    } else {
        json!(part as f64 / whole as f64)
    }
}

fn row(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// One watched stretch of a node play.
struct NodePlay {
    node: String,
    watched: BTreeSet<u64>,
}

impl<'a> Prepared<'a> {
    fn node_duration(&self, id: &str) -> u64 {
        self.graph
            .nodes
            .iter()
            .find(|n| n.id == id)
            .map_or(0, |n| n.duration_ms)
    }

    fn reaches_end(&self, event: &Event) -> bool {
        let target = match event.kind {
            EventKind::NodePlay => event.node_id.as_ref(),
            EventKind::NodeSwitch => event.to_node_id.as_ref(),
            _ => None,
        };
        target.is_some_and(|n| self.end_nodes.contains(n))
    }

    fn completed_sessions(&self) -> BTreeSet<&str> {
        self.rows
            .iter()
            .filter(|r| self.reaches_end(r.event))
            .map(|r| r.event.session_id.as_str())
            .collect()
    }

    fn totals_of(&self, rows: &[&Row]) -> Vec<(&'static str, Value)> {
        let completed = self.completed_sessions();
        let impressions = rows
            .iter()
            .filter(|r| r.event.kind == EventKind::Impression)
            .count() as u64;
        let plays: Vec<&&Row> = rows
            .iter()
            .filter(|r| r.event.kind == EventKind::Play)
            .collect();
        let viewers: BTreeSet<Option<&str>> =
            plays.iter().map(|r| r.event.user_id.as_deref()).collect();
        let played: BTreeSet<&str> = plays.iter().map(|r| r.event.session_id.as_str()).collect();
        let finished = played.iter().filter(|s| completed.contains(*s)).count() as u64;
        let ms: i64 = rows.iter().map(|r| r.ms).sum();
        let avg = if plays.is_empty() {
            Value::Null
        } else {
            json!(minutes(ms) / plays.len() as f64)
        };
        vec![
            ("impressions", json!(impressions)),
            ("plays", json!(plays.len() as u64)),
            ("unique_viewers", json!(viewers.len() as u64)),
            ("minutes_viewed", json!(minutes(ms))),
            ("avg_view_time", avg),
            ("path_completion_rate", share(finished, played.len() as u64)),
        ]
    }

    /// Every node play, with the 1 % buckets its views covered.
    fn node_plays(&self) -> Vec<NodePlay> {
        let sessions: BTreeSet<&str> = self
            .rows
            .iter()
            .map(|r| r.event.session_id.as_str())
            .collect();
        let mut plays = Vec::new();
        for session in sessions {
            let mut items: Vec<&Row> = self
                .rows
                .iter()
                .filter(|r| r.event.session_id == session && r.event.node_id.is_some())
                .filter(|r| matches!(r.event.kind, EventKind::NodePlay | EventKind::View))
                .collect();
            items.sort_by_key(|r| {
                (
                    r.event.ts,
                    r.event.event_index,
                    if r.event.kind == EventKind::NodePlay {
                        0
                    } else {
                        1
                    },
                )
            });
            let mut latest: BTreeMap<String, usize> = BTreeMap::new();
            for item in items {
                let node = item.event.node_id.clone().unwrap();
                if item.event.kind == EventKind::NodePlay {
                    latest.insert(node.clone(), plays.len());
                    plays.push(NodePlay {
                        node,
                        watched: BTreeSet::new(),
                    });
                } else if let Some(&play) = latest.get(&node) {
                    let buckets = watched(item.event.position, item.ms, self.node_duration(&node));
                    plays[play].watched.extend(buckets);
                }
            }
        }
        plays
    }

    fn node_figures(&self, id: &str) -> Vec<(&'static str, Value)> {
        let of_node: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.event.node_id.as_deref() == Some(id))
            .collect();
        let plays = of_node
            .iter()
            .filter(|r| r.event.kind == EventKind::NodePlay)
            .count() as u64;
        let viewers: BTreeSet<Option<&str>> =
            of_node.iter().map(|r| r.event.user_id.as_deref()).collect();
        let ms: i64 = of_node
            .iter()
            .filter(|r| r.event.kind == EventKind::View)
            .map(|r| r.ms)
            .sum();
        let watched: u64 = self
            .node_plays()
            .iter()
            .filter(|p| p.node == id)
            .map(|p| p.watched.len() as u64)
            .sum();
        let completed = self.completed_sessions();
        let mut dropoffs = 0u64;
        let sessions: BTreeSet<&str> = self
            .rows
            .iter()
            .map(|r| r.event.session_id.as_str())
            .collect();
        for session in sessions {
            let last = self
                .rows
                .iter()
                .filter(|r| r.event.session_id == session && r.event.kind == EventKind::NodePlay)
                .filter(|r| r.event.node_id.is_some())
                .max_by_key(|r| (r.event.ts, r.event.event_index));
            if let Some(last) = last
                && last.event.node_id.as_deref() == Some(id)
                && !completed.contains(session)
            {
                dropoffs += 1;
            }
        }
        vec![
            ("plays", json!(plays)),
            ("unique_viewers", json!(viewers.len() as u64)),
            ("minutes_viewed", json!(minutes(ms))),
            ("completion_rate", share(watched, plays * 100)),
            ("dropoffs", json!(dropoffs)),
        ]
    }

    fn clicks_of(&self, hotspot: &str) -> Vec<&Row<'a>> {
        self.rows
            .iter()
            .filter(|r| counted_click(self.graph, r.event) == Some(hotspot))
            .collect()
    }

    /// The report's rows, before any comparison.
    pub fn report(&self, kind: ReportKind, options: &Options) -> Vec<Map<String, Value>> {
        match kind {
            ReportKind::Totals => {
                let all: Vec<&Row> = self.rows.iter().collect();
                vec![row(self.totals_of(&all))]
            }
            ReportKind::Timeseries => self.timeseries(&options.interval),
            ReportKind::Nodes => self.nodes(),
            ReportKind::Node => self.node(&options.node),
            ReportKind::Curve => self.curve(&options.node),
            ReportKind::Heatmap => self.heatmap(&options.hotspot),
            ReportKind::Transitions => self.transitions(),
            ReportKind::Viewers => self.viewers(),
            // Each value of a breakdown is its own filtered period.
            ReportKind::Breakdown => panic!("a breakdown is computed by `breakdown`"),
        }
    }

    /// The figures the node and curve reports give in `details.node`.
    pub fn node_details(&self, id: &str) -> Map<String, Value> {
        row(self.node_figures(id))
    }

    fn timeseries(&self, interval: &str) -> Vec<Map<String, Value>> {
        let tz = self.tz;
        let mut rows = Vec::new();
        for (label, start) in bucket_list(tz, self.period, interval) {
            let inside: Vec<&Row> = self
                .rows
                .iter()
                .filter(|r| bucket_label(r.event.ts, tz, interval) == label)
                .collect();
            let mut pairs = vec![
                ("bucket", json!(label)),
                ("start", json!(start.to_rfc3339())),
            ];
            pairs.extend(self.totals_of(&inside));
            rows.push(row(pairs));
        }
        rows
    }

    fn nodes(&self) -> Vec<Map<String, Value>> {
        let levels = self.graph.levels();
        self.graph
            .nodes
            .iter()
            .map(|node| {
                let mut pairs = vec![
                    ("node_id", json!(node.id)),
                    (
                        "level",
                        levels.get(&node.id).map_or(Value::Null, |l| json!(l)),
                    ),
                    ("start_node", json!(node.id == self.graph.start_node)),
                    ("name", json!(node.name)),
                    (
                        "deleted_at",
                        node.deleted_at
                            .map_or(Value::Null, |d| json!(d.to_rfc3339())),
                    ),
                ];
                pairs.extend(self.node_figures(&node.id));
                row(pairs)
            })
            .collect()
    }

    fn node(&self, id: &str) -> Vec<Map<String, Value>> {
        let node = self.graph.nodes.iter().find(|n| n.id == id).expect("node");
        let level = self.graph.levels().get(id).copied();
        let plays = self
            .rows
            .iter()
            .filter(|r| {
                r.event.kind == EventKind::NodePlay && r.event.node_id.as_deref() == Some(id)
            })
            .count() as u64;
        node.hotspots
            .iter()
            .map(|spot| {
                let clicks = self.clicks_of(&spot.id).len() as u64;
                let destination = match &spot.behavior {
                    Behavior::GoToNode { node_id } => self
                        .graph
                        .nodes
                        .iter()
                        .find(|n| &n.id == node_id)
                        .map_or(node_id.clone(), |n| n.name.clone()),
                    Behavior::GoToUrl { url } => url.clone(),
                    Behavior::Pause => String::new(),
                };
                row(vec![
                    ("hotspot_id", json!(spot.id)),
                    ("label", json!(spot.label)),
                    ("behavior", json!(spot.behavior.name())),
                    ("destination", json!(destination)),
                    ("level", level.map_or(Value::Null, |l| json!(l))),
                    ("clicks", json!(clicks)),
                    ("click_through_rate", share(clicks, plays)),
                    (
                        "deleted_at",
                        spot.deleted_at
                            .map_or(Value::Null, |d| json!(d.to_rfc3339())),
                    ),
                ])
            })
            .collect()
    }

    fn curve(&self, id: &str) -> Vec<Map<String, Value>> {
        let duration = self.node_duration(id);
        let plays: Vec<NodePlay> = self
            .node_plays()
            .into_iter()
            .filter(|p| p.node == id)
            .collect();
        (0..100u64)
            .map(|percent| {
                let viewers = plays
                    .iter()
                    .filter(|p| p.watched.contains(&percent))
                    .count() as u64;
                row(vec![
                    ("percent", json!(percent)),
                    ("offset_ms", json!(duration * percent / 100)),
                    ("viewers", json!(viewers)),
                    ("share", share(viewers, plays.len() as u64)),
                ])
            })
            .collect()
    }

    fn heatmap(&self, id: &str) -> Vec<Map<String, Value>> {
        let spot = self
            .graph
            .nodes
            .iter()
            .flat_map(|n| &n.hotspots)
            .find(|h| h.id == id)
            .expect("hotspot");
        let window = spot.end_ms as i64 - spot.start_ms as i64;
        let mut counts = [0u64; 100];
        for click in self.clicks_of(id) {
            let at_ms = exact_ms(click.event.position.expect("clicks carry a position"));
            let bucket = if window > 0 {
                (100 * (at_ms - spot.start_ms as i64)).div_euclid(window)
            } else {
                0
            };
            counts[bucket.clamp(0, 99) as usize] += 1;
        }
        (0..100usize)
            .map(|bucket| {
                row(vec![
                    ("bucket", json!(bucket)),
                    (
                        "offset_ms",
                        json!(spot.start_ms + window as u64 * bucket as u64 / 100),
                    ),
                    ("clicks", json!(counts[bucket])),
                ])
            })
            .collect()
    }

    fn transitions(&self) -> Vec<Map<String, Value>> {
        let mut counts: BTreeMap<(String, String, Option<String>), u64> = BTreeMap::new();
        for r in &self.rows {
            if r.event.kind != EventKind::NodeSwitch {
                continue;
            }
            let (Some(from), Some(to)) = (&r.event.from_node_id, &r.event.to_node_id) else {
                continue;
            };
            let cause = counted_click(self.graph, r.event).map(str::to_string);
            *counts.entry((from.clone(), to.clone(), cause)).or_default() += 1;
        }
        let name = |id: &str| {
            self.graph
                .nodes
                .iter()
                .find(|n| n.id == id)
                .map_or(id.to_string(), |n| n.name.clone())
        };
        counts
            .into_iter()
            .map(|((from, to, hotspot), count)| {
                let label = hotspot.as_ref().and_then(|h| {
                    self.graph
                        .nodes
                        .iter()
                        .flat_map(|n| &n.hotspots)
                        .find(|s| &s.id == h)
                        .map(|s| s.label.clone())
                });
                row(vec![
                    (
                        "key",
                        json!(format!(
                            "{from}>{to}>{}",
                            hotspot.as_deref().unwrap_or("auto")
                        )),
                    ),
                    ("from_node_id", json!(from)),
                    ("from_name", json!(name(&from))),
                    ("to_node_id", json!(to)),
                    ("to_name", json!(name(&to))),
                    (
                        "cause",
                        json!(if hotspot.is_some() {
                            "hotspot"
                        } else {
                            "automatic"
                        }),
                    ),
                    ("hotspot_id", json!(hotspot)),
                    ("hotspot_label", json!(label)),
                    ("count", json!(count)),
                ])
            })
            .collect()
    }

    fn viewers(&self) -> Vec<Map<String, Value>> {
        let users: BTreeSet<Option<&str>> = self
            .rows
            .iter()
            .map(|r| r.event.user_id.as_deref())
            .collect();
        let mut rows = Vec::new();
        for user in users {
            let mine: Vec<&Row> = self
                .rows
                .iter()
                .filter(|r| r.event.user_id.as_deref() == user)
                .collect();
            let impressions = mine
                .iter()
                .filter(|r| r.event.kind == EventKind::Impression)
                .count() as u64;
            let plays = mine
                .iter()
                .filter(|r| r.event.kind == EventKind::Play)
                .count() as u64;
            let ms: i64 = mine.iter().map(|r| r.ms).sum();
            // A viewer is listed when there is something to list.
            if impressions == 0 && plays == 0 && ms == 0 {
                continue;
            }
            let avg = if plays == 0 {
                Value::Null
            } else {
                json!(minutes(ms) / plays as f64)
            };
            rows.push(row(vec![
                ("user_id", json!(user.unwrap_or("(anonymous)"))),
                (
                    "viewer",
                    json!(if user.is_some() { "known" } else { "anonymous" }),
                ),
                ("impressions", json!(impressions)),
                ("plays", json!(plays)),
                ("minutes_viewed", json!(minutes(ms))),
                ("avg_view_time", avg),
            ]));
        }
        rows
    }
}

/// A position in whole milliseconds; every generated position is one.
fn exact_ms(position: f64) -> i64 {
    let ms = (position * 1000.0).round();
    assert!(
        (position * 1000.0 - ms).abs() < 1e-6,
        "test data positions are whole milliseconds, got {position}"
    );
    ms as i64
}

/// The 1 % buckets of a node of `duration_ms` that a view adding `played_ms`
/// and ending at `position` covers, in exact integer arithmetic.
fn watched(position: Option<f64>, played_ms: i64, duration_ms: u64) -> Vec<u64> {
    let Some(position) = position else {
        return Vec::new();
    };
    if played_ms <= 0 || duration_ms == 0 {
        return Vec::new();
    }
    let duration = duration_ms as i64;
    let end = exact_ms(position);
    let start = (end - played_ms).max(0);
    // floor(start / (D/100)) and ceil(end / (D/100)) − 1, exactly.
    let first = ((100 * start).div_euclid(duration)).clamp(0, 99);
    let last = ((100 * end + duration - 1).div_euclid(duration) - 1).clamp(0, 99);
    (first..=last.max(first)).map(|b| b as u64).collect()
}

/// The label of the bucket holding `ts`, read off its local time.
fn bucket_label(ts: DateTime<Utc>, tz: Tz, interval: &str) -> String {
    let local = ts.with_timezone(&tz);
    match interval {
        "hour" => local.format("%Y-%m-%dT%H:00%:z").to_string(),
        "day" => local.format("%Y-%m-%d").to_string(),
        "week" => {
            let week = local.iso_week();
            format!("{}-W{:02}", week.year(), week.week())
        }
        "month" => local.format("%Y-%m").to_string(),
        other => panic!("unknown interval {other}"),
    }
}

/// Every bucket of the period, in order, with the instant it starts.
fn bucket_list(tz: Tz, period: Period, interval: &str) -> Vec<(String, DateTime<Utc>)> {
    let mut buckets: Vec<(String, DateTime<Utc>)> = Vec::new();
    let mut day = period.from;
    while day <= period.to {
        let midnight = local_midnight(day, tz);
        if interval == "hour" {
            // Every instant of the day at which the local clock reads HH:00.
            let mut instant = midnight;
            while local_date(instant, tz) == day {
                let local = instant.with_timezone(&tz);
                if local.minute() == 0 && local.second() == 0 {
                    buckets.push((bucket_label(instant, tz, interval), instant));
                }
                instant += Duration::minutes(15);
            }
        } else {
            let label = bucket_label(midnight, tz, interval);
            if buckets.last().is_none_or(|(last, _)| *last != label) {
                buckets.push((label, midnight));
            }
        }
        day += Duration::days(1);
    }
    buckets
}

/// The metric columns a comparison repeats, per report kind.
pub fn compared_columns(kind: ReportKind) -> &'static [&'static str] {
    match kind {
        ReportKind::Totals | ReportKind::Timeseries => &[
            "impressions",
            "plays",
            "unique_viewers",
            "minutes_viewed",
            "avg_view_time",
            "path_completion_rate",
        ],
        ReportKind::Nodes => &[
            "plays",
            "unique_viewers",
            "minutes_viewed",
            "completion_rate",
            "dropoffs",
        ],
        ReportKind::Node => &["clicks", "click_through_rate"],
        ReportKind::Curve => &["viewers", "share"],
        ReportKind::Heatmap => &["clicks"],
        ReportKind::Transitions => &["count"],
        ReportKind::Viewers => &["impressions", "plays", "minutes_viewed", "avg_view_time"],
        ReportKind::Breakdown => &[
            "plays",
            "share_of_plays",
            "unique_viewers",
            "minutes_viewed",
        ],
    }
}

/// The column that identifies a row, or `None` when rows are matched by
/// position (time buckets, the single totals row).
pub fn key_column(kind: ReportKind) -> Option<&'static str> {
    match kind {
        ReportKind::Totals | ReportKind::Timeseries => None,
        ReportKind::Nodes => Some("node_id"),
        ReportKind::Node => Some("hotspot_id"),
        ReportKind::Curve => Some("percent"),
        ReportKind::Heatmap => Some("bucket"),
        ReportKind::Transitions => Some("key"),
        ReportKind::Viewers => Some("user_id"),
        ReportKind::Breakdown => Some("value"),
    }
}

/// The relative change from `previous` to `current`: null when either is
/// null, or when only the previous value is 0; 0 when both are 0.
fn change(current: &Value, previous: &Value) -> Value {
    let (Some(now), Some(before)) = (current.as_f64(), previous.as_f64()) else {
        return Value::Null;
    };
    if before != 0.0 {
        json!((now - before) / before)
    } else if now == 0.0 {
        json!(0.0)
    } else {
        Value::Null
    }
}

/// The rows of a compared report: each metric followed by its value over
/// the other period and the change. A row matches the other period's row at
/// the same position (time buckets, totals) or with the same key; a keyed
/// row missing from the other period had nothing there, shown as 0.
pub fn with_previous(
    kind: ReportKind,
    current: Vec<Map<String, Value>>,
    previous: &[Map<String, Value>],
) -> Vec<Map<String, Value>> {
    let key = key_column(kind);
    current
        .into_iter()
        .enumerate()
        .map(|(position, mut row)| {
            let other = match key {
                None => previous.get(position),
                Some(key) => previous.iter().find(|p| p[key] == row[key]),
            };
            for metric in compared_columns(kind) {
                let before = match (other, key) {
                    (Some(other), _) => other[*metric].clone(),
                    (None, Some(_)) => json!(0),
                    (None, None) => Value::Null,
                };
                let delta = change(&row[*metric], &before);
                row.insert(format!("{metric}_previous"), before);
                row.insert(format!("{metric}_change"), delta);
            }
            row
        })
        .collect()
}
