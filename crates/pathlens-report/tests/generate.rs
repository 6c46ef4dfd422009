//! Random scenarios: a graph, a request and viewing sessions whose events
//! fall where the definitions are easy to get wrong — around local midnight
//! and DST changes, around the 24 h look-back of view increases, with
//! retried (duplicate) events, `play_time_sum` resets, views without it,
//! stale hotspot ids on automatic switches, loops and unknown nodes.
//!
//! Proptest draws a [`Scenario`] of plain choices (so it can shrink them);
//! [`Scenario::build`] turns them into events deterministically.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use pathlens_model::{Behavior, Context, Event, EventKind, Graph, Hotspot, Node, PlaybackType};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::reference::{Compare, Filters, Period, local_midnight};

pub const PARTNER: u32 = 1;
pub const OTHER_PARTNER: u32 = 2;
pub const USERS: [&str; 4] = ["u1", "u2", "u3", "u4"];
const COUNTRIES: [&str; 3] = ["FR", "US", "IN"];
const DEVICES: [&str; 2] = ["Desktop", "Smartphone"];
const OSES: [&str; 2] = ["Windows", "iOS"];
const BROWSERS: [&str; 2] = ["Chrome", "Safari"];
const REFERRERS: [&str; 2] = ["example.com", "t.co"];
const APPLICATIONS: [&str; 2] = ["web", "lms"];
const PLAYBACK: [PlaybackType; 3] = [PlaybackType::Vod, PlaybackType::Live, PlaybackType::Dvr];
/// A node id and a hotspot id that events use but no graph has.
pub const GHOST_NODE: &str = "ghost";
pub const GHOST_HOTSPOT: &str = "h-ghost";

/// Zones and the dates around which their periods are drawn: DST changes
/// of 2026, month, year and ISO-week boundaries, a half-hour offset.
const ZONES: [(&str, (i32, u32, u32)); 9] = [
    ("UTC", (2026, 1, 1)),
    ("UTC", (2026, 3, 1)),
    ("Asia/Kolkata", (2026, 2, 28)),
    ("Asia/Kolkata", (2026, 6, 30)),
    ("Europe/Paris", (2026, 3, 29)),
    ("Europe/Paris", (2026, 10, 25)),
    ("America/New_York", (2026, 3, 8)),
    ("America/New_York", (2026, 11, 1)),
    ("America/New_York", (2026, 1, 1)),
];

const INTERVALS: [&str; 4] = ["hour", "day", "week", "month"];

/// The request's side of a scenario.
#[derive(Debug, Clone)]
pub struct Setup {
    zone: usize,
    days_before_anchor: i64,
    days: i64,
    compare: CompareSpec,
    interval: usize,
    filters: FilterSpec,
    node: Index,
    hotspot: Index,
}

#[derive(Debug, Clone)]
enum CompareSpec {
    None,
    PreviousPeriod,
    PreviousYear,
    /// Starting this many days before the period (negative: after).
    Custom(i64),
}

#[derive(Debug, Clone)]
struct FilterSpec {
    countries: Vec<String>,
    devices: Vec<String>,
    os: Vec<String>,
    browsers: Vec<String>,
    referrers: Vec<String>,
    applications: Vec<String>,
    playback: Vec<PlaybackType>,
    users: Vec<String>,
    known: Option<bool>,
    nodes: Vec<Index>,
    hotspots: Vec<Index>,
    /// Pick the hotspots among ids that only uncounted switches carry.
    uncounted_hotspots: bool,
}

/// Where a session starts.
#[derive(Debug, Clone)]
enum Anchor {
    /// Some minutes from a local midnight near the period.
    Midnight { day: i64, minutes: i64 },
    /// A few µs from the period's start (0), end (1) or start − 24 h (2).
    Edge { which: usize, micros: i64 },
}

/// Indexes into the context pools; `None` leaves the field absent.
type ContextSpec = [Option<usize>; 7];

/// How `play_time_sum` of a view relates to the player's previous one.
#[derive(Debug, Clone)]
enum Pts {
    Add(i64),
    /// Adds this percent of the node's duration, so that a view at a whole
    /// percent starts on a bucket boundary.
    AddPercent(i64),
    Reset(i64),
    Same,
    Missing,
}

#[derive(Debug, Clone)]
enum Switch {
    /// Through a go-to-node hotspot of the current node (counted click).
    Hotspot(Index),
    /// Automatic, no hotspot id.
    Auto(Index),
    /// Automatic, carrying some hotspot id (stale, foreign or unknown).
    Stale { to: Index, hotspot: Index },
    /// Automatic, to where some go-to-node hotspot of any node leads, with
    /// that hotspot's id: counted only when it sits on the current node.
    Foreign(Index),
}

#[derive(Debug, Clone)]
enum Action {
    Impression,
    PlayRequest,
    Play,
    NodePlay {
        jump: Option<Index>,
    },
    /// A node_play of the current node and a view of it at the same instant
    /// with the same event index, sent in either order: only the rule
    /// "node_play before view" orders them.
    PlayWithView {
        pts: Pts,
        view_first: bool,
    },
    View {
        pts: Pts,
        nodeless: bool,
    },
    Click {
        hotspot: Index,
    },
    Switch {
        how: Switch,
        then_play: bool,
    },
    Other(usize),
}

#[derive(Debug, Clone)]
enum Gap {
    /// Forward by ms.
    Small(i64),
    /// Back in time by ms (events out of order).
    Back(i64),
    /// About a day later, ± minutes.
    Day(i64),
}

#[derive(Debug, Clone)]
struct Position {
    missing: bool,
    /// Percent of the node (views) or of the hotspot window (clicks).
    percent: i64,
    jitter_ms: i64,
    /// Round to 1, 10 or 100 ms.
    round: usize,
}

#[derive(Debug, Clone)]
struct Draft {
    action: Action,
    gap: Gap,
    reset_index: bool,
    /// 0: sent once; 1: retried at once; 2: retried in a later batch.
    dup: u8,
    user: Option<Option<usize>>,
    context: Option<ContextSpec>,
    position: Position,
    no_entry: bool,
    /// Views only: sent by a player with its own player session id (one of
    /// a few per session), as Kaltura's one-player-per-node sources do.
    player: Option<usize>,
}

#[derive(Debug, Clone)]
struct SessionSpec {
    other_period: bool,
    anchor: Anchor,
    user: Option<usize>,
    context: ContextSpec,
    prelude: bool,
    drafts: Vec<Draft>,
}

/// Everything proptest draws for one case.
#[derive(Debug, Clone)]
pub struct Scenario {
    graph: usize,
    setup: Setup,
    sessions: Vec<SessionSpec>,
}

/// A scenario made concrete.
pub struct World {
    pub graph: Graph,
    pub tz: Tz,
    pub period: Period,
    pub compare: Option<Compare>,
    pub interval: String,
    pub filters: Filters,
    pub node: String,
    pub hotspot: String,
    /// The events in the order they are appended, one `append` per batch.
    pub batches: Vec<Vec<Event>>,
}

fn subset<T: Clone + std::fmt::Debug + 'static>(pool: Vec<T>) -> impl Strategy<Value = Vec<T>> {
    let size = pool.len();
    prop_oneof![
        3 => Just(Vec::new()),
        1 => proptest::sample::subsequence(pool, 1..=size.min(3)),
    ]
}

fn with_unknown(pool: &[&str]) -> Vec<String> {
    let mut values: Vec<String> = pool.iter().map(|v| v.to_string()).collect();
    values.push("unknown".into());
    values
}

fn filter_spec() -> impl Strategy<Value = FilterSpec> {
    (
        (
            subset(with_unknown(&COUNTRIES)),
            subset(with_unknown(&DEVICES)),
            subset(with_unknown(&OSES)),
            subset(with_unknown(&BROWSERS)),
            subset(with_unknown(&REFERRERS)),
            subset(with_unknown(&APPLICATIONS)),
        ),
        subset(PLAYBACK.to_vec()),
        subset(vec![
            "u1".to_string(),
            "u2".into(),
            "u3".into(),
            "nobody".into(),
        ]),
        prop_oneof![6 => Just(None), 1 => Just(Some(true)), 1 => Just(Some(false))],
        prop_oneof![3 => Just(Vec::new()), 1 => proptest::collection::vec(any::<Index>(), 1..=2)],
        prop_oneof![2 => Just(Vec::new()), 1 => proptest::collection::vec(any::<Index>(), 1..=2)],
        proptest::bool::weighted(0.7),
    )
        .prop_map(
            |(
                (countries, devices, os, browsers, referrers, applications),
                playback,
                users,
                known,
                nodes,
                hotspots,
                uncounted_hotspots,
            )| FilterSpec {
                countries,
                devices,
                os,
                browsers,
                referrers,
                applications,
                playback,
                users,
                known,
                nodes,
                hotspots,
                uncounted_hotspots,
            },
        )
}

fn compare_spec() -> impl Strategy<Value = CompareSpec> {
    prop_oneof![
        2 => Just(CompareSpec::None),
        2 => Just(CompareSpec::PreviousPeriod),
        1 => Just(CompareSpec::PreviousYear),
        1 => (-10i64..=60).prop_map(CompareSpec::Custom),
    ]
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        0..ZONES.len(),
        0i64..=3,
        prop_oneof![4 => 1i64..=4, 1 => 5i64..=12],
        compare_spec(),
        0..INTERVALS.len(),
        filter_spec(),
        any::<Index>(),
        any::<Index>(),
    )
        .prop_map(
            |(zone, days_before_anchor, days, compare, interval, filters, node, hotspot)| Setup {
                zone,
                days_before_anchor,
                days,
                compare,
                interval,
                filters,
                node,
                hotspot,
            },
        )
}

fn context_spec() -> impl Strategy<Value = ContextSpec> {
    let field = |n: usize| proptest::option::weighted(0.8, 0..n);
    (
        field(COUNTRIES.len()),
        field(DEVICES.len()),
        field(OSES.len()),
        field(BROWSERS.len()),
        field(REFERRERS.len()),
        field(APPLICATIONS.len()),
        field(PLAYBACK.len()),
    )
        .prop_map(|(a, b, c, d, e, f, g)| [a, b, c, d, e, f, g])
}

fn anchor() -> impl Strategy<Value = Anchor> {
    prop_oneof![
        4 => (-2i64..=13, -200i64..=200).prop_map(|(day, minutes)| Anchor::Midnight { day, minutes }),
        1 => (0usize..3, -3i64..=3).prop_map(|(which, micros)| Anchor::Edge { which, micros }),
    ]
}

fn pts() -> impl Strategy<Value = Pts> {
    prop_oneof![
        6 => prop_oneof![0i64..=12_000, 9_990i64..=10_010, 25_000i64..=45_000].prop_map(Pts::Add),
        2 => (1i64..=40).prop_map(Pts::AddPercent),
        1 => (0i64..=15_000).prop_map(Pts::Reset),
        1 => Just(Pts::Same),
        1 => Just(Pts::Missing),
    ]
}

fn switch() -> impl Strategy<Value = Switch> {
    prop_oneof![
        3 => any::<Index>().prop_map(Switch::Hotspot),
        1 => any::<Index>().prop_map(Switch::Auto),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(to, hotspot)| Switch::Stale { to, hotspot }),
        3 => any::<Index>().prop_map(Switch::Foreign),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        2 => Just(Action::Impression),
        1 => Just(Action::PlayRequest),
        2 => Just(Action::Play),
        3 => proptest::option::weighted(0.2, any::<Index>()).prop_map(|jump| Action::NodePlay { jump }),
        8 => (pts(), proptest::bool::weighted(0.05))
            .prop_map(|(pts, nodeless)| Action::View { pts, nodeless }),
        2 => any::<Index>().prop_map(|hotspot| Action::Click { hotspot }),
        1 => (pts(), any::<bool>())
            .prop_map(|(pts, view_first)| Action::PlayWithView { pts, view_first }),
        3 => (switch(), proptest::bool::weighted(0.5))
            .prop_map(|(how, then_play)| Action::Switch { how, then_play }),
        2 => (0usize..6).prop_map(Action::Other),
    ]
}

fn gap() -> impl Strategy<Value = Gap> {
    prop_oneof![
        12 => (0i64..=900_000).prop_map(Gap::Small),
        1 => (1i64..=3_600_000).prop_map(Gap::Back),
        1 => (-90i64..=90).prop_map(Gap::Day),
    ]
}

fn position() -> impl Strategy<Value = Position> {
    (
        proptest::bool::weighted(0.05),
        -10i64..=115,
        prop_oneof![Just(0i64), -60i64..=60],
        0usize..3,
    )
        .prop_map(|(missing, percent, jitter_ms, round)| Position {
            missing,
            percent,
            jitter_ms,
            round,
        })
}

fn draft() -> impl Strategy<Value = Draft> {
    (
        action(),
        gap(),
        proptest::bool::weighted(0.08),
        prop_oneof![10 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
        proptest::option::weighted(0.05, proptest::option::of(0..USERS.len())),
        proptest::option::weighted(0.05, context_spec()),
        position(),
        proptest::bool::weighted(0.03),
        proptest::option::weighted(0.2, 0usize..3),
    )
        .prop_map(
            |(action, gap, reset_index, dup, user, context, position, no_entry, player)| Draft {
                action,
                gap,
                reset_index,
                dup,
                user,
                context,
                position,
                no_entry,
                player,
            },
        )
}

fn session() -> impl Strategy<Value = SessionSpec> {
    (
        proptest::bool::weighted(0.35),
        anchor(),
        proptest::option::weighted(0.7, 0..USERS.len()),
        context_spec(),
        proptest::bool::weighted(0.7),
        proptest::collection::vec(draft(), 0..24),
    )
        .prop_map(
            |(other_period, anchor, user, context, prelude, drafts)| SessionSpec {
                other_period,
                anchor,
                user,
                context,
                prelude,
                drafts,
            },
        )
}

pub fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop_oneof![3 => Just(0usize), 1 => 1usize..=3],
        setup(),
        proptest::collection::vec(session(), 1..12),
    )
        .prop_map(|(graph, setup, sessions)| Scenario {
            graph,
            setup,
            sessions,
        })
}

fn spot(id: &str, start_ms: u64, end_ms: u64, behavior: Behavior) -> Hotspot {
    Hotspot {
        id: id.into(),
        label: format!("label of {id}"),
        start_ms,
        end_ms,
        behavior,
        deleted_at: None,
    }
}

fn go(node: &str) -> Behavior {
    Behavior::GoToNode {
        node_id: node.into(),
    }
}

fn url(path: &str) -> Behavior {
    Behavior::GoToUrl {
        url: format!("https://example.com/{path}"),
    }
}

fn node(id: &str, duration_ms: u64, hotspots: Vec<Hotspot>) -> Node {
    Node {
        id: id.into(),
        name: format!("Node {id}"),
        entry_id: format!("entry-{id}"),
        duration_ms,
        hotspots,
        deleted_at: None,
    }
}

fn deleted_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 1, 12, 0, 0).unwrap()
}

/// A small graph with every feature the definitions care about: choices,
/// a loop back to the start, a self-loop, URL and pause hotspots, an end
/// node that has only a deleted go-to hotspot, a deleted node, an
/// unreachable node of unknown duration and a 7 s node.
pub fn maze() -> Graph {
    let mut old = spot("a-old", 0, 1_000, go("d"));
    old.deleted_at = Some(deleted_at());
    let mut e_back = spot("e-a", 0, 5_000, go("a"));
    e_back.deleted_at = Some(deleted_at());
    let mut gone = node("z", 5_000, vec![spot("z-a", 1_000, 4_000, go("a"))]);
    gone.deleted_at = Some(deleted_at());
    let graph = Graph {
        id: "maze".into(),
        name: "The maze".into(),
        owner: String::new(),
        start_node: "a".into(),
        nodes: vec![
            node(
                "a",
                10_000,
                vec![
                    spot("a-b", 2_000, 8_000, go("b")),
                    spot("a-c", 5_000, 10_000, go("c")),
                    spot("a-url", 0, 3_000, url("a")),
                    spot("a-pause", 1_000, 1_500, Behavior::Pause),
                    old,
                ],
            ),
            node(
                "b",
                7_000,
                vec![
                    spot("b-d", 3_000, 7_000, go("d")),
                    spot("b-a", 6_000, 7_000, go("a")),
                    spot("b-url", 500, 6_500, url("b")),
                ],
            ),
            node(
                "c",
                12_300,
                vec![
                    spot("c-c", 0, 12_300, go("c")),
                    spot("c-e", 1_000, 4_000, go("e")),
                ],
            ),
            node("d", 4_000, vec![spot("d-url", 0, 4_000, url("d"))]),
            node(
                "e",
                20_000,
                vec![e_back, spot("e-pause", 2_000, 3_000, Behavior::Pause)],
            ),
            gone,
            node("u", 0, vec![]),
        ],
    };
    graph.validate().expect("the maze is a valid graph");
    graph
}

pub fn graph(choice: usize) -> Graph {
    if choice == 0 {
        maze()
    } else {
        pathlens_sim::sample_graphs()[choice - 1].clone()
    }
}

fn context_of(spec: &ContextSpec) -> Context {
    let text = |pool: &[&str], choice: Option<usize>| choice.map(|i| pool[i].to_string());
    Context {
        country: text(&COUNTRIES, spec[0]),
        device: text(&DEVICES, spec[1]),
        os: text(&OSES, spec[2]),
        browser: text(&BROWSERS, spec[3]),
        referrer_domain: text(&REFERRERS, spec[4]),
        application: text(&APPLICATIONS, spec[5]),
        playback_type: spec[6].map(|i| PLAYBACK[i]),
    }
}

/// A position in whole ms: `percent` of a span from `base_ms`, jittered and
/// rounded, never negative.
fn place(spec: &Position, base_ms: i64, span_ms: i64) -> Option<f64> {
    if spec.missing {
        return None;
    }
    let raw = base_ms + span_ms * spec.percent / 100 + spec.jitter_ms;
    let step = [1, 10, 100][spec.round];
    let ms = (raw / step * step).max(0);
    Some(ms as f64 / 1000.0)
}

impl Scenario {
    /// Turns the choices into a graph, a request and events.
    pub fn build(&self) -> World {
        let graph = graph(self.graph);
        let setup = &self.setup;
        let (zone, (y, m, d)) = ZONES[setup.zone];
        let tz: Tz = zone.parse().expect("zone");
        let anchor = NaiveDate::from_ymd_opt(y, m, d).expect("anchor date");
        let from = anchor - Duration::days(setup.days_before_anchor);
        let period = Period {
            from,
            to: from + Duration::days(setup.days - 1),
        };
        let compare = match setup.compare {
            CompareSpec::None => None,
            CompareSpec::PreviousPeriod => Some(Compare::PreviousPeriod),
            CompareSpec::PreviousYear => Some(Compare::PreviousYear),
            CompareSpec::Custom(days) => Some(Compare::Custom(from - Duration::days(days))),
        };
        let node_ids: Vec<String> = graph.nodes.iter().map(|n| n.id.clone()).collect();
        let hotspot_ids: Vec<String> = graph
            .nodes
            .iter()
            .flat_map(|n| n.hotspots.iter().map(|h| h.id.clone()))
            .collect();
        let mut builder = Builder {
            graph: &graph,
            tz,
            next_key: 0,
            events: Vec::new(),
            late: Vec::new(),
        };
        for (number, session) in self.sessions.iter().enumerate() {
            let around = match (session.other_period, compare) {
                (true, Some(compare)) => compare.other(period),
                _ => period,
            };
            builder.session(number, session, around);
        }
        let Builder { events, late, .. } = builder;

        // Node and hotspot choices favour ids the events use, so that the
        // session filters and the drill-downs have something to bite on.
        let used = |ids: &[String], of: &dyn Fn(&Event) -> Vec<Option<String>>| -> Vec<String> {
            let seen: BTreeSet<String> = events.iter().flat_map(of).flatten().collect();
            let mut chosen: Vec<String> = ids
                .iter()
                .filter(|id| seen.contains(*id))
                .cloned()
                .collect();
            if chosen.is_empty() {
                chosen = ids.to_vec();
            }
            chosen
        };
        let mut all_hotspots = hotspot_ids.clone();
        all_hotspots.push(GHOST_HOTSPOT.into());
        let used_nodes = used(&node_ids, &|e| {
            vec![e.node_id.clone(), e.to_node_id.clone()]
        });
        let used_hotspots = used(&hotspot_ids, &|e| vec![e.hotspot_id.clone()]);
        let spec = &setup.filters;
        // (session, hotspot) of every counted click.
        let counted: BTreeSet<(String, String)> = events
            .iter()
            .filter_map(|e| {
                crate::reference::counted_click(&graph, e)
                    .map(|h| (e.session_id.clone(), h.to_string()))
            })
            .collect();
        let uncounted = used(&all_hotspots, &|e| {
            let day = e.ts.with_timezone(&tz).date_naive();
            let stale = (period.from..=period.to).contains(&day)
                && e.kind == EventKind::NodeSwitch
                && e.hotspot_id
                    .as_ref()
                    .is_some_and(|h| !counted.contains(&(e.session_id.clone(), h.clone())));
            vec![e.hotspot_id.clone().filter(|_| stale)]
        });
        let filter_hotspots = if spec.uncounted_hotspots {
            uncounted
        } else {
            used(&all_hotspots, &|e| vec![e.hotspot_id.clone()])
        };
        let filters = Filters {
            countries: spec.countries.clone(),
            devices: spec.devices.clone(),
            os: spec.os.clone(),
            browsers: spec.browsers.clone(),
            referrer_domains: spec.referrers.clone(),
            applications: spec.applications.clone(),
            playback_types: spec.playback.iter().map(|p| p.name().to_string()).collect(),
            user_ids: spec.users.clone(),
            known: spec.known,
            nodes: dedup_strings(spec.nodes.iter().map(|i| i.get(&used_nodes).clone())),
            hotspots: dedup_strings(
                spec.hotspots
                    .iter()
                    .map(|i| i.get(&filter_hotspots).clone()),
            ),
        };
        let mut batches: Vec<Vec<Event>> = events.chunks(13).map(<[Event]>::to_vec).collect();
        batches.push(late);
        World {
            node: setup.node.get(&used_nodes).clone(),
            hotspot: setup.hotspot.get(&used_hotspots).clone(),
            graph,
            tz,
            period,
            compare,
            interval: INTERVALS[setup.interval].to_string(),
            filters,
            batches,
        }
    }
}

fn dedup_strings(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    values.filter(|v| seen.insert(v.clone())).collect()
}

struct Builder<'g> {
    graph: &'g Graph,
    tz: Tz,
    next_key: u64,
    events: Vec<Event>,
    late: Vec<Event>,
}

impl Builder<'_> {
    fn key(&mut self) -> u64 {
        self.next_key += 1;
        self.next_key.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn session(&mut self, number: usize, spec: &SessionSpec, around: Period) {
        let graph = self.graph;
        let tz = self.tz;
        let session_id = format!("s{number}");
        let start = local_midnight(around.from, tz);
        let end = local_midnight(around.to + Duration::days(1), tz);
        let base = match spec.anchor {
            Anchor::Midnight { day, minutes } => {
                let day = day.min((around.to - around.from).num_days() + 2);
                local_midnight(around.from + Duration::days(day), tz) + Duration::minutes(minutes)
            }
            Anchor::Edge { which, micros } => {
                [start, end, start - Duration::hours(24)][which] + Duration::microseconds(micros)
            }
        };
        let mut node_ids: Vec<String> = graph.nodes.iter().map(|n| n.id.clone()).collect();
        node_ids.push(GHOST_NODE.into());
        let mut hotspot_ids: Vec<String> = graph
            .nodes
            .iter()
            .flat_map(|n| n.hotspots.iter().map(|h| h.id.clone()))
            .collect();
        hotspot_ids.push(GHOST_HOTSPOT.into());

        let mut drafts: Vec<Draft> = Vec::new();
        if spec.prelude {
            let plain = |action| Draft {
                action,
                gap: Gap::Small(1_500),
                reset_index: false,
                dup: 0,
                user: None,
                context: None,
                position: Position {
                    missing: false,
                    percent: 0,
                    jitter_ms: 0,
                    round: 0,
                },
                no_entry: false,
                player: None,
            };
            drafts.push(plain(Action::Impression));
            drafts.push(plain(Action::Play));
            drafts.push(plain(Action::NodePlay { jump: None }));
        }
        drafts.extend(spec.drafts.iter().cloned());

        let mut current = graph.start_node.clone();
        let mut ts = base;
        let mut used: BTreeSet<DateTime<Utc>> = BTreeSet::new();
        let mut last_at: Option<DateTime<Utc>> = None;
        let mut index = 0u32;
        // play_time_sum per player: its own player session id, else entry.
        let mut play_time: HashMap<(Option<String>, Option<String>), i64> = HashMap::new();
        let mut last_clicked: Option<String> = None;
        for draft in &drafts {
            ts += match draft.gap {
                Gap::Small(ms) => Duration::milliseconds(ms),
                Gap::Back(ms) => -Duration::milliseconds(ms),
                Gap::Day(minutes) => Duration::hours(24) + Duration::minutes(minutes),
            };
            let user = match draft.user {
                Some(user) => user,
                None => spec.user,
            };
            let context = context_of(draft.context.as_ref().unwrap_or(&spec.context));
            let mut events: Vec<Event> = Vec::new();
            let node_of = |id: &str| graph.nodes.iter().find(|n| n.id == id);
            let entry_of =
                |id: &str| node_of(id).map_or(format!("entry-{id}"), |n| n.entry_id.clone());
            let make = |kind: EventKind, node: Option<&str>| {
                let mut event = Event {
                    partner_id: PARTNER,
                    video_id: graph.id.clone(),
                    node_id: node.map(str::to_string),
                    entry_id: Some(node.map_or(graph.id.clone(), entry_of)),
                    session_id: session_id.clone(),
                    event_index: 0,
                    ts,
                    kind,
                    user_id: user.map(|u| USERS[u].to_string()),
                    position: None,
                    play_time_sum: None,
                    from_node_id: None,
                    to_node_id: None,
                    hotspot_id: None,
                    target_url: None,
                    quartile: None,
                    context: context.clone(),
                    player_session: None,
                    dedup_key: 0,
                };
                if draft.no_entry {
                    event.entry_id = None;
                }
                event
            };
            let duration = |id: &str| {
                node_of(id)
                    .map(|n| n.duration_ms as i64)
                    .filter(|d| *d > 0)
                    .unwrap_or(10_000)
            };
            // A view of `node` (the current node gives its span), with the
            // play_time_sum of its player.
            let view_of =
                |pts: &Pts,
                 node: Option<&str>,
                 current: &str,
                 play_time: &mut HashMap<(Option<String>, Option<String>), i64>| {
                    let mut event = make(EventKind::View, node);
                    event.player_session = draft.player.map(|p| format!("{session_id}:player-{p}"));
                    let player = match &event.player_session {
                        Some(own) => (Some(own.clone()), None),
                        None => (None, event.entry_id.clone()),
                    };
                    let sum = play_time.entry(player).or_insert(0);
                    event.play_time_sum = match pts {
                        Pts::Add(ms) => {
                            *sum += ms;
                            Some(*sum as f64 / 1000.0)
                        }
                        Pts::AddPercent(percent) => {
                            *sum += duration(current) * percent / 100;
                            Some(*sum as f64 / 1000.0)
                        }
                        Pts::Reset(ms) => {
                            *sum = *ms;
                            Some(*sum as f64 / 1000.0)
                        }
                        Pts::Same => Some(*sum as f64 / 1000.0),
                        Pts::Missing => None,
                    };
                    event.position = place(&draft.position, 0, duration(current));
                    event
                };
            let mut paired = false;
            match &draft.action {
                Action::Impression => events.push(make(EventKind::Impression, None)),
                Action::PlayRequest => events.push(make(EventKind::PlayRequest, None)),
                Action::Play => events.push(make(EventKind::Play, None)),
                Action::NodePlay { jump } => {
                    if let Some(jump) = jump {
                        current = jump.get(&node_ids).clone();
                    }
                    let mut event = make(EventKind::NodePlay, Some(&current));
                    event.position = Some(0.0);
                    events.push(event);
                }
                Action::View { pts, nodeless } => {
                    let node = (!nodeless).then_some(current.as_str());
                    events.push(view_of(pts, node, &current, &mut play_time));
                }
                Action::PlayWithView { pts, view_first } => {
                    let mut play = make(EventKind::NodePlay, Some(&current));
                    play.position = Some(0.0);
                    let view = view_of(pts, Some(&current), &current, &mut play_time);
                    if *view_first {
                        events.extend([view, play]);
                    } else {
                        events.extend([play, view]);
                    }
                    paired = true;
                }
                Action::Click { hotspot } => {
                    let id = hotspot.get(&hotspot_ids).clone();
                    let mut event = make(EventKind::HotspotClick, Some(&current));
                    let (start_ms, span_ms) = graph.hotspot(&id).map_or((0, 10_000), |(_, h)| {
                        (h.start_ms as i64, (h.end_ms - h.start_ms) as i64)
                    });
                    event.position = Some(
                        place(&draft.position, start_ms, span_ms)
                            .unwrap_or(start_ms as f64 / 1000.0),
                    );
                    if let Some((
                        _,
                        Hotspot {
                            behavior: Behavior::GoToUrl { url },
                            ..
                        },
                    )) = graph.hotspot(&id)
                    {
                        event.target_url = Some(url.clone());
                    }
                    event.hotspot_id = Some(id.clone());
                    last_clicked = Some(id);
                    events.push(event);
                }
                Action::Switch { how, then_play } => {
                    let from = current.clone();
                    let leads: Vec<&Hotspot> = node_of(&from)
                        .map(|n| {
                            n.hotspots
                                .iter()
                                .filter(|h| h.behavior.target_node().is_some())
                                .collect()
                        })
                        .unwrap_or_default();
                    let (to, hotspot, at) = match how {
                        Switch::Hotspot(pick) if !leads.is_empty() => {
                            let h = pick.get(&leads);
                            let window = (h.start_ms as i64, (h.end_ms - h.start_ms) as i64);
                            (
                                h.behavior.target_node().unwrap().to_string(),
                                Some(h.id.clone()),
                                window,
                            )
                        }
                        Switch::Hotspot(pick) | Switch::Auto(pick) => {
                            (pick.get(&node_ids).clone(), None, (0, duration(&from)))
                        }
                        Switch::Foreign(pick) => {
                            let spots: Vec<&Hotspot> = graph
                                .nodes
                                .iter()
                                .flat_map(|n| &n.hotspots)
                                .filter(|h| h.behavior.target_node().is_some())
                                .collect();
                            let h = pick.get(&spots);
                            let to = h.behavior.target_node().unwrap().to_string();
                            (to, Some(h.id.clone()), (0, duration(&from)))
                        }
                        Switch::Stale { to, hotspot } => {
                            // The session's last click, as real players
                            // send it; a third of the time (or before any
                            // click) any id, unknown ones included.
                            let any = hotspot.get(&hotspot_ids).clone();
                            let id = match &last_clicked {
                                Some(last) if hotspot.index(3) != 0 => last.clone(),
                                _ => any,
                            };
                            (to.get(&node_ids).clone(), Some(id), (0, duration(&from)))
                        }
                    };
                    let mut event = make(EventKind::NodeSwitch, Some(&from));
                    event.from_node_id = Some(from.clone());
                    event.to_node_id = Some(to.clone());
                    event.position =
                        Some(place(&draft.position, at.0, at.1).unwrap_or(at.0 as f64 / 1000.0));
                    if let Some(id) = &hotspot {
                        last_clicked = Some(id.clone());
                    }
                    event.hotspot_id = hotspot;
                    events.push(event);
                    current = to;
                    if *then_play {
                        let mut play = make(EventKind::NodePlay, Some(&current));
                        play.position = Some(0.0);
                        events.push(play);
                    }
                }
                Action::Other(which) => {
                    let kinds = [
                        EventKind::Quartile,
                        EventKind::Pause,
                        EventKind::Resume,
                        EventKind::Seek,
                        EventKind::Replay,
                        EventKind::Error,
                    ];
                    let mut event = make(kinds[*which], Some(&current));
                    if event.kind == EventKind::Quartile {
                        event.quartile = Some(
                            [25, 50, 75, 90, 100][draft.position.round
                                + 2 * (draft.position.percent.rem_euclid(2) as usize)],
                        );
                    }
                    event.position = place(&draft.position, 0, duration(&current));
                    events.push(event);
                }
            }
            for (number, mut event) in events.into_iter().enumerate() {
                // The pair of a PlayWithView shares its index and instant.
                let shares = paired && number > 0;
                if !shares {
                    index = if draft.reset_index { 1 } else { index + 1 };
                }
                event.event_index = index;
                // Otherwise one instant per event of a session keeps every
                // order of the definitions unambiguous.
                let mut at = event.ts;
                if shares {
                    at = last_at.expect("the pair's first instant");
                } else {
                    while used.contains(&at) {
                        at += Duration::microseconds(1);
                    }
                }
                used.insert(at);
                last_at = Some(at);
                event.ts = at;
                event.dedup_key = self.key();
                self.store(event, draft.dup);
            }
        }
    }

    /// Queues `event` (and its retry), and now and then a copy for another
    /// partner with the same dedup key and one for another video.
    fn store(&mut self, event: Event, dup: u8) {
        let serial = self.next_key;
        if serial.is_multiple_of(5) {
            let mut foreign = event.clone();
            foreign.partner_id = OTHER_PARTNER;
            self.events.push(foreign);
        }
        if serial.is_multiple_of(7) {
            let mut elsewhere = event.clone();
            elsewhere.video_id = "other-video".into();
            elsewhere.dedup_key = self.key();
            self.events.push(elsewhere);
        }
        match dup {
            1 => {
                self.events.push(event.clone());
                self.events.push(event);
            }
            2 => {
                self.late.push(event.clone());
                self.events.push(event);
            }
            _ => self.events.push(event),
        }
    }
}

/// Which situations of the definitions a built scenario holds, by name;
/// `sent` is everything appended, `events` the stored events of the video.
pub fn situations(world: &World, sent: &[Event], events: &[Event]) -> Vec<(&'static str, bool)> {
    let tz = world.tz;
    let date = |ts: DateTime<Utc>| ts.with_timezone(&tz).date_naive();
    let in_period = |e: &&Event| world.period.from <= date(e.ts) && date(e.ts) <= world.period.to;
    let period: Vec<&Event> = events.iter().filter(in_period).collect();
    let start = local_midnight(world.period.from, tz);
    let end_nodes = world.graph.end_nodes();
    let of = |kind: EventKind| period.iter().filter(move |e| e.kind == kind);
    let counted = |e: &Event| crate::reference::counted_click(&world.graph, e).is_some();
    let reaches_end = |session: &str| {
        period.iter().any(|e| {
            e.session_id == session
                && ((e.kind == EventKind::NodePlay
                    && e.node_id.as_ref().is_some_and(|n| end_nodes.contains(n)))
                    || (e.kind == EventKind::NodeSwitch
                        && e.to_node_id.as_ref().is_some_and(|n| end_nodes.contains(n))))
        })
    };
    let played: BTreeSet<&str> = of(EventKind::Play).map(|e| e.session_id.as_str()).collect();
    let same_player = |a: &Event, b: &Event| {
        a.session_id == b.session_id
            && a.player_session == b.player_session
            && (a.player_session.is_some() || a.entry_id == b.entry_id)
    };
    let views: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind == EventKind::View && e.play_time_sum.is_some())
        .collect();
    let previous_view = |view: &Event| {
        views
            .iter()
            .filter(|v| same_player(v, view) && (v.event_index, v.ts) < (view.event_index, view.ts))
            .max_by_key(|v| (v.event_index, v.ts))
            .copied()
    };
    let near_midnight = period.iter().any(|e| {
        let local = e.ts.with_timezone(&tz);
        let minutes = chrono::Timelike::hour(&local) * 60 + chrono::Timelike::minute(&local);
        !(60..23 * 60).contains(&minutes)
    });
    vec![
        ("retried events", dedup_count(sent) < sent.len()),
        (
            "impressions and plays",
            of(EventKind::Impression).count() > 0 && !played.is_empty(),
        ),
        (
            "a counted switch",
            of(EventKind::NodeSwitch).any(|e| counted(e)),
        ),
        (
            "a switch with an uncounted hotspot id",
            of(EventKind::NodeSwitch).any(|e| e.hotspot_id.is_some() && !counted(e)),
        ),
        ("a hotspot click", of(EventKind::HotspotClick).count() > 0),
        (
            "a played session reaching an end node",
            played.iter().any(|s| reaches_end(s)),
        ),
        (
            "a played session not reaching one",
            played.iter().any(|s| !reaches_end(s)),
        ),
        (
            "a node played twice in a session",
            of(EventKind::NodePlay).any(|a| {
                of(EventKind::NodePlay)
                    .any(|b| a.session_id == b.session_id && a.node_id == b.node_id && a.ts != b.ts)
            }),
        ),
        (
            "a view whose previous view is in the 24 h before the period",
            period
                .iter()
                .filter(|e| e.kind == EventKind::View && e.play_time_sum.is_some())
                .any(|v| {
                    previous_view(v)
                        .is_some_and(|p| p.ts < start && p.ts >= start - Duration::hours(24))
                }),
        ),
        (
            "a play_time_sum reset",
            period
                .iter()
                .filter(|e| e.kind == EventKind::View && e.play_time_sum.is_some())
                .any(|v| previous_view(v).is_some_and(|p| p.play_time_sum > v.play_time_sum)),
        ),
        (
            "a view without play_time_sum",
            of(EventKind::View).any(|e| e.play_time_sum.is_none()),
        ),
        (
            "a view with its own player session",
            of(EventKind::View).any(|e| e.player_session.is_some()),
        ),
        ("events within an hour of local midnight", near_midnight),
        (
            "events in the compared period",
            world.compare.is_some_and(|c| {
                let other = c.other(world.period);
                events
                    .iter()
                    .any(|e| other.from <= date(e.ts) && date(e.ts) <= other.to)
            }),
        ),
        (
            "a DST change in the period",
            (0..=(world.period.to - world.period.from).num_days()).any(|d| {
                let day = world.period.from + Duration::days(d);
                local_midnight(day + Duration::days(1), tz) - local_midnight(day, tz)
                    != Duration::hours(24)
            }),
        ),
        (
            "a session filter",
            !world.filters.nodes.is_empty() || !world.filters.hotspots.is_empty(),
        ),
        (
            "a filtered hotspot that a session carries only on uncounted switches",
            world.filters.hotspots.iter().any(|h| {
                period.iter().any(|e| {
                    e.kind == EventKind::NodeSwitch
                        && e.hotspot_id.as_ref() == Some(h)
                        && !counted(e)
                        && !period.iter().any(|c| {
                            c.session_id == e.session_id
                                && crate::reference::counted_click(&world.graph, c)
                                    == Some(h.as_str())
                        })
                })
            }),
        ),
    ]
}

fn dedup_count(sent: &[Event]) -> usize {
    sent.iter()
        .map(|e| (e.partner_id, e.dedup_key))
        .collect::<BTreeSet<_>>()
        .len()
}
