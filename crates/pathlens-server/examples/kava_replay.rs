//! Replays simulated Kaltura Path viewing sessions twice — as the KAVA
//! beacons the players send (one player per node, path-level beacons from
//! the first player) and as the same sessions in native events — into two
//! in-memory servers, and prints the headline and per-node figures of both
//! side by side. Equal columns mean the beacon decoder and session
//! reassembly lose nothing; a difference names the metric a defect moves.
//!
//! The sessions mix the player generations: current players (≥ v3.17,
//! `<page>:<player>` ids sharing the page guid; in half of them the first
//! node players reuse the path player's id), old players with plain ids and
//! old players whose ids have the `<guid>:<guid>` form with both halves
//! fresh. Viewers pause long enough to reset their player now and then.
//!
//! ```sh
//! cargo run --profile dev -p pathlens-server --example kava_replay -- --sessions 300 --seed 7
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use chrono::{DateTime, Duration, TimeZone, Utc};
use http_body_util::BodyExt;
use pathlens_server::auth::issue_key;
use pathlens_server::{AppState, ServerConfig, router};
use pathlens_store::memory::MemoryStore;
use pathlens_store::{KeyKind, Store};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tower::ServiceExt;

const PATH: &str = r#"{"id":"1_path","name":"Path","start_node":"n1","nodes":[
  {"id":"n1","name":"Intro","entry_id":"0_n1","duration_ms":40000,"hotspots":[
    {"id":"h-left","label":"Left","start_ms":5000,"end_ms":35000,"behavior":{"type":"go_to_node","node_id":"n2"}},
    {"id":"h-right","label":"Right","start_ms":5000,"end_ms":35000,"behavior":{"type":"go_to_node","node_id":"n3"}}]},
  {"id":"n2","name":"Left","entry_id":"0_n2","duration_ms":30000,"hotspots":[
    {"id":"h-more","label":"More","start_ms":2000,"end_ms":8000,"behavior":{"type":"go_to_node","node_id":"n4"}}]},
  {"id":"n3","name":"Right","entry_id":"0_n3","duration_ms":30000},
  {"id":"n4","name":"Deep","entry_id":"0_n4","duration_ms":30000}]}"#;

const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

fn day() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 15, 0, 0, 0).unwrap()
}

/// One in-memory server whose clock the replay sets.
struct Server {
    router: axum::Router,
    clock: Arc<AtomicI64>,
    admin: String,
    write: String,
}

impl Server {
    async fn new() -> Server {
        let store = Arc::new(MemoryStore::new());
        let (_, admin) = issue_key(store.as_ref(), 1, KeyKind::Admin, "admin", day()).unwrap();
        let (_, write) = issue_key(store.as_ref(), 1, KeyKind::Write, "player", day()).unwrap();
        let clock = Arc::new(AtomicI64::new(day().timestamp_micros()));
        let reading = clock.clone();
        let shared: Arc<dyn Store> = store;
        let state = AppState::new(
            shared,
            ServerConfig::default(),
            Arc::new(move || {
                Utc.timestamp_micros(reading.load(Ordering::SeqCst))
                    .unwrap()
            }),
        )
        .unwrap();
        let server = Server {
            router: router(state),
            clock,
            admin,
            write,
        };
        let request = Request::post("/api/v1/videos")
            .header("authorization", format!("Bearer {}", server.admin))
            .body(Body::from(PATH))
            .unwrap();
        let (status, text) = server.call(request, [127, 0, 0, 1]).await;
        assert!(status < 300, "creating the video: {text}");
        server
    }

    async fn call(&self, mut request: Request<Body>, ip: [u8; 4]) -> (u16, String) {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((ip, 40_000))));
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn set_time(&self, time: DateTime<Utc>) {
        self.clock.store(time.timestamp_micros(), Ordering::SeqCst);
    }

    async fn report(&self, kind: &str) -> Value {
        let request = Request::get(format!(
            "/api/v1/videos/1_path/reports/{kind}?from=2026-03-15&to=2026-03-15&tz=UTC"
        ))
        .header("authorization", format!("Bearer {}", self.admin))
        .body(Body::empty())
        .unwrap();
        let (status, text) = self.call(request, [127, 0, 0, 1]).await;
        assert_eq!(status, 200, "{kind}: {text}");
        serde_json::from_str(&text).unwrap()
    }
}

/// One beacon and the native event that means the same.
struct Beacon {
    params: Vec<(String, String)>,
    ip: [u8; 4],
    native: Option<Value>,
}

/// A player instance: its `sessionId`, entry and `eventIndex` counter.
struct Player {
    session_id: String,
    entry: String,
    node: Option<String>,
    index: u32,
}

struct Session<'a> {
    beacons: &'a mut Vec<Beacon>,
    /// The viewing session as native events name it.
    viewing: String,
    user: Option<String>,
    ip: [u8; 4],
    native_index: &'a mut HashMap<String, u32>,
}

impl Session<'_> {
    fn send(&mut self, player: &mut Player, event_type: u32, extra: &[(&str, String)]) {
        let frozen = matches!(event_type, 44 | 47 | 48);
        if !frozen {
            player.index += 1;
        }
        let index = if frozen { 1 } else { player.index };
        let mut params = vec![
            ("eventType".to_string(), event_type.to_string()),
            ("partnerId".to_string(), "1".to_string()),
            ("entryId".to_string(), player.entry.clone()),
            ("sessionId".to_string(), player.session_id.clone()),
            ("eventIndex".to_string(), index.to_string()),
        ];
        if player.entry != "1_path" {
            params.push(("rootEntryId".into(), "1_path".into()));
        }
        if let Some(node) = &player.node {
            params.push(("nodeId".into(), node.clone()));
        }
        if let Some(user) = &self.user {
            params.push(("userId".into(), user.clone()));
        }
        for (name, value) in extra {
            params.retain(|(k, _)| k != name);
            params.push((name.to_string(), value.clone()));
        }
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let number = |name: &str| get(name).map(|v| json!(v.parse::<f64>().unwrap()));
        let kind = match event_type {
            1 => "impression",
            2 => "play_request",
            3 => "play",
            4 => "resume",
            33 => "pause",
            99 => "view",
            44 => "node_play",
            48 => "node_switch",
            other => unreachable!("no native kind for {other}"),
        };
        let node = match event_type {
            48 => get("fromNodeId"),
            1..=3 => None,
            _ => get("nodeId"),
        };
        let counter = self.native_index.entry(self.viewing.clone()).or_default();
        *counter += 1;
        let mut native = json!({
            "partner_id": 1, "video_id": "1_path", "session_id": self.viewing,
            "event_index": *counter, "kind": kind, "entry_id": get("entryId"),
            "node_id": node, "user_id": get("userId"), "position": number("position"),
            "play_time_sum": number("playTimeSum"), "from_node_id": get("fromNodeId"),
            "to_node_id": get("toNodeId"), "hotspot_id": get("hotspotId"),
        });
        native.as_object_mut().unwrap().retain(|_, v| !v.is_null());
        self.beacons.push(Beacon {
            params,
            ip: self.ip,
            native: Some(native),
        });
    }
}

#[derive(Clone, Copy, Debug)]
enum Generation {
    Current,
    OldPlain,
    OldPairs,
}

fn simulate(sessions: usize, seed: u64) -> Vec<Vec<Beacon>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut all = Vec::new();
    let mut native_index = HashMap::new();
    for number in 0..sessions {
        let generation = [
            Generation::Current,
            Generation::OldPlain,
            Generation::OldPairs,
        ][number % 3];
        let id = |player: &str| match generation {
            Generation::Current => format!("page{number}:{player}"),
            Generation::OldPlain => format!("S{number}{player}"),
            Generation::OldPairs => format!("S{number}{player}a:S{number}{player}b"),
        };
        let viewing = match generation {
            Generation::Current => format!("page{number}"),
            Generation::OldPlain => id("p0"),
            Generation::OldPairs => format!("S{number}p0a"),
        };
        let shared = matches!(generation, Generation::Current) && rng.random_bool(0.5);
        let mut beacons = Vec::new();
        let ip = [10, (number / 250) as u8, (number % 250) as u8, 1];
        let user = (!rng.random_bool(0.3)).then(|| format!("u{}", rng.random_range(0..60)));
        let mut session = Session {
            beacons: &mut beacons,
            viewing,
            user,
            ip,
            native_index: &mut native_index,
        };
        let mut path = Player {
            session_id: id("p0"),
            entry: "1_path".into(),
            node: None,
            index: 0,
        };
        // The path player's 1/2/3 carry the start node's id.
        let start = [("nodeId", "n1".to_string())];
        session.send(&mut path, 1, &start);
        // Some viewers only load the player.
        if rng.random_bool(0.2) {
            all.push(beacons);
            continue;
        }
        session.send(&mut path, 2, &start);
        session.send(&mut path, 3, &start);
        let mut node = "n1".to_string();
        for depth in 0.. {
            session.send(&mut path, 44, &[("nodeId", node.clone())]);
            let player_id = if shared && depth < 2 {
                id("p0")
            } else {
                id(&format!("n{depth}"))
            };
            let mut player = Player {
                session_id: player_id,
                entry: format!("0_{node}"),
                node: Some(node.clone()),
                index: 0,
            };
            let views = rng.random_range(1..=3);
            let mut sum = 0.0f64;
            let mut position = 0.0f64;
            for view in 0..views {
                if view > 0 && sum >= 15.0 && rng.random_bool(0.15) {
                    // Paused for 30 s: the player restarts its index and sum.
                    session.send(&mut player, 33, &[("position", position.to_string())]);
                    player.index = 0;
                    session.send(&mut player, 4, &[("position", position.to_string())]);
                    sum = 0.0;
                }
                let added = f64::from(rng.random_range(5..=10));
                sum += added;
                position += added;
                session.send(
                    &mut player,
                    99,
                    &[
                        ("playTimeSum", sum.to_string()),
                        ("position", position.to_string()),
                    ],
                );
            }
            let next: &[(&str, &str)] = match node.as_str() {
                "n1" => &[("n2", "h-left"), ("n3", "h-right")],
                "n2" => &[("n4", "h-more")],
                _ => &[],
            };
            if next.is_empty() || rng.random_bool(0.2) {
                break;
            }
            let (to, hotspot) = next[rng.random_range(0..next.len())];
            session.send(
                &mut path,
                48,
                &[
                    ("fromNodeId", node.clone()),
                    ("toNodeId", to.to_string()),
                    ("hotspotId", hotspot.to_string()),
                    ("position", position.to_string()),
                ],
            );
            node = to.to_string();
        }
        all.push(beacons);
    }
    all
}

fn encode(pairs: &[(String, String)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

fn figure(report: &Value, row: usize, key: &str) -> f64 {
    report["rows"][row][key].as_f64().unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut sessions = 300;
    let mut seed = 7;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        match arg.as_str() {
            "--sessions" => sessions = value.parse().expect("--sessions takes a number"),
            "--seed" => seed = value.parse().expect("--seed takes a number"),
            other => panic!("unknown option {other}: use --sessions N --seed S"),
        }
    }
    let kava = Server::new().await;
    let native = Server::new().await;
    // Interleave the sessions: several viewers at once, from their own IPs.
    let simulated = simulate(sessions, seed);
    let longest = simulated.iter().map(Vec::len).max().unwrap_or(0);
    let mut step = 0i64;
    let mut sent = 0;
    for i in 0..longest {
        for beacons in &simulated {
            let Some(beacon) = beacons.get(i) else {
                continue;
            };
            let time = day() + Duration::hours(8) + Duration::milliseconds(200 * step);
            step += 1;
            kava.set_time(time);
            native.set_time(time);
            let request = Request::get(format!(
                "/api_v3/index.php?service=analytics&action=trackEvent&{}",
                encode(&beacon.params)
            ))
            .header("user-agent", USER_AGENT)
            .body(Body::empty())
            .unwrap();
            let (status, text) = kava.call(request, beacon.ip).await;
            assert_eq!(status, 200, "beacon {:?}: {text}", beacon.params);
            if let Some(event) = &beacon.native {
                let request = Request::post("/api/v1/events")
                    .header("authorization", format!("Bearer {}", native.write))
                    .header("user-agent", USER_AGENT)
                    .body(Body::from(event.to_string()))
                    .unwrap();
                let (status, text) = native.call(request, beacon.ip).await;
                assert_eq!(status, 200, "native event {event}: {text}");
                sent += 1;
            }
        }
    }
    let end = day() + Duration::hours(23);
    kava.set_time(end);
    native.set_time(end);
    println!("{sessions} sessions (seed {seed}), {sent} beacons stored");
    println!();
    println!("| figure | from beacons | native | difference |");
    println!("|---|---:|---:|---:|");
    let line = |name: &str, ours: f64, theirs: f64| {
        println!(
            "| {name} | {ours:.3} | {theirs:.3} | {:+.3} |",
            ours - theirs
        );
    };
    let (ours, theirs) = (kava.report("totals").await, native.report("totals").await);
    for key in [
        "impressions",
        "plays",
        "unique_viewers",
        "minutes_viewed",
        "path_completion_rate",
    ] {
        line(key, figure(&ours, 0, key), figure(&theirs, 0, key));
    }
    let (ours, theirs) = (kava.report("nodes").await, native.report("nodes").await);
    let rows = |report: &Value| {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| (row["node_id"].as_str().unwrap().to_string(), row.clone()))
            .collect::<HashMap<_, _>>()
    };
    let (ours, theirs) = (rows(&ours), rows(&theirs));
    let mut nodes: Vec<&String> = theirs.keys().collect();
    nodes.sort();
    for node in nodes {
        for key in [
            "plays",
            "unique_viewers",
            "minutes_viewed",
            "completion_rate",
            "dropoffs",
        ] {
            let value = |rows: &HashMap<String, Value>| {
                rows.get(node)
                    .and_then(|row| row[key].as_f64())
                    .unwrap_or(f64::NAN)
            };
            line(&format!("{node} {key}"), value(&ours), value(&theirs));
        }
    }
}
