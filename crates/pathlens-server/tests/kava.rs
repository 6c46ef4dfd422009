//! KAVA beacons through the endpoint, written from the protocol as the real
//! players send it, must give the same reports as the same viewing sessions
//! sent as native events; malformed beacons get clear errors and never stop
//! the good ones; CORS and origins.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Duration, TimeZone, Utc};
use pathlens_server::auth::issue_key;
use pathlens_server::{AppState, ServerConfig, router};
use pathlens_store::memory::MemoryStore;
use pathlens_store::{KeyKind, Store};
use serde_json::{Map, Value, json};

use crate::support::{Answer, App};

mod random;

/// The interactive video of these tests, in our graph format.
///
/// `n1` leads to `n2` and `n3` and links to a shop; `n2` leads to `n4`;
/// `n3` and `n4` are end nodes.
pub const PATH: &str = r#"{"id":"1_path","name":"Path","start_node":"n1","nodes":[
  {"id":"n1","name":"Intro","entry_id":"0_n1","duration_ms":40000,"hotspots":[
    {"id":"h-left","label":"Left","start_ms":5000,"end_ms":35000,"behavior":{"type":"go_to_node","node_id":"n2"}},
    {"id":"h-right","label":"Right","start_ms":5000,"end_ms":35000,"behavior":{"type":"go_to_node","node_id":"n3"}},
    {"id":"h-shop","label":"Shop","start_ms":0,"end_ms":40000,"behavior":{"type":"go_to_url","url":"https://shop.example.com"}}]},
  {"id":"n2","name":"Left","entry_id":"0_n2","duration_ms":10000,"hotspots":[
    {"id":"h-more","label":"More","start_ms":2000,"end_ms":8000,"behavior":{"type":"go_to_node","node_id":"n4"}}]},
  {"id":"n3","name":"Right","entry_id":"0_n3","duration_ms":10000},
  {"id":"n4","name":"Deep","entry_id":"0_n4","duration_ms":10000}]}"#;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 15, 12, 0, 0).unwrap()
}

/// An application whose clock the test sets: beacons carry no time, so a
/// replay needs the server's arrival time under control.
pub struct Clocked {
    pub app: App,
    clock: Arc<AtomicI64>,
}

impl Clocked {
    pub fn new(config: ServerConfig) -> Clocked {
        let store = Arc::new(MemoryStore::new());
        let (_, admin) = issue_key(store.as_ref(), 1, KeyKind::Admin, "admin", start()).unwrap();
        let (_, write) = issue_key(store.as_ref(), 1, KeyKind::Write, "player", start()).unwrap();
        let (_, other_admin) =
            issue_key(store.as_ref(), 2, KeyKind::Admin, "other", start()).unwrap();
        let clock = Arc::new(AtomicI64::new(start().timestamp_micros()));
        let reading = clock.clone();
        let shared: Arc<dyn Store> = store.clone();
        let state = AppState::new(
            shared,
            config,
            Arc::new(move || {
                Utc.timestamp_micros(reading.load(Ordering::SeqCst))
                    .unwrap()
            }),
        )
        .unwrap();
        Clocked {
            app: App {
                router: router(state),
                store,
                admin,
                write,
                other_admin,
            },
            clock,
        }
    }

    pub fn set_time(&self, time: DateTime<Utc>) {
        self.clock.store(time.timestamp_micros(), Ordering::SeqCst);
    }

    pub async fn with_path(config: ServerConfig) -> Clocked {
        let clocked = Clocked::new(config);
        let answer = clocked
            .app
            .send("POST", "/api/v1/videos", &clocked.app.admin, PATH)
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        clocked
    }
}

fn config() -> ServerConfig {
    ServerConfig {
        country_header: Some("x-country".into()),
        ..ServerConfig::default()
    }
}

/// A browser: where its requests come from.
#[derive(Clone, Copy)]
struct Client {
    ip: [u8; 4],
    user_agent: &'static str,
    country: &'static str,
}

const ADA: Client = Client {
    ip: [198, 51, 100, 1],
    user_agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    country: "FR",
};
const ANONYMOUS: Client = Client {
    ip: [198, 51, 100, 2],
    user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    country: "DE",
};
const BOB: Client = Client {
    ip: [198, 51, 100, 3],
    user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    country: "US",
};

/// How a beacon travels, as the players send it.
#[derive(Clone, Copy, Debug)]
enum Form {
    /// Older players: every parameter in the query string of a GET.
    Get,
    /// Current players: the four basic parameters in the query string, the
    /// rest as a JSON body (sent as text/plain to avoid a preflight).
    PostJson,
    /// The same with a form-encoded body.
    PostUrlencoded,
}

/// What the endpoint must do with a beacon.
#[derive(Clone, Debug, PartialEq)]
enum Expect {
    /// Stored in the viewing session named here.
    Stored(&'static str),
    /// Answered, not stored (a type pathlens ignores).
    Ignored,
    /// A byte-identical retry of the previous beacon.
    Retry,
    /// Refused with this status and a message naming this text.
    Refused(u16, &'static str),
}

#[derive(Clone, Debug)]
struct Step {
    form: Form,
    /// Alternate between the two endpoint forms.
    path_form: bool,
    client: Client,
    params: Vec<(String, String)>,
    expect: Expect,
    /// The referrer as native events carry it (old players send Base64).
    native_referrer: Option<&'static str>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.ip)
    }
}

/// One player instance: its session id, entry, and eventIndex counter.
struct Player {
    form: Form,
    client: Client,
    /// The viewing session its beacons belong to.
    viewing: &'static str,
    session_id: &'static str,
    entry_id: &'static str,
    node_id: Option<&'static str>,
    index: u32,
    common: Vec<(&'static str, String)>,
    native_referrer: Option<&'static str>,
}

impl Player {
    fn beacon(&mut self, event_type: u32, extra: &[(&str, &str)]) -> Step {
        // 44, 47 and 48 are copies of the impression: index 1, no increment.
        let index = if matches!(event_type, 44 | 47 | 48) {
            1
        } else {
            self.index += 1;
            self.index
        };
        let mut params: Vec<(String, String)> = vec![
            ("eventType".into(), event_type.to_string()),
            ("partnerId".into(), "1".into()),
            ("entryId".into(), self.entry_id.into()),
            ("sessionId".into(), self.session_id.into()),
            ("eventIndex".into(), index.to_string()),
        ];
        if self.entry_id != "1_path" {
            params.push(("rootEntryId".into(), "1_path".into()));
        }
        if let Some(node) = self.node_id {
            params.push(("nodeId".into(), node.into()));
        }
        params.extend(self.common.iter().map(|(k, v)| (k.to_string(), v.clone())));
        for (name, value) in extra {
            params.retain(|(k, _)| k != name);
            params.push((name.to_string(), value.to_string()));
        }
        Step {
            form: self.form,
            path_form: false,
            client: self.client,
            params,
            expect: Expect::Stored(self.viewing),
            native_referrer: self.native_referrer,
        }
    }

    fn ignored(&mut self, event_type: u32, extra: &[(&str, &str)]) -> Step {
        Step {
            expect: Expect::Ignored,
            ..self.beacon(event_type, extra)
        }
    }

    /// Paused for 30 s or an error: eventIndex restarts at 1.
    fn reset(&mut self) {
        self.index = 0;
    }
}

fn common(user: Option<&str>, referrer: &str) -> Vec<(&'static str, String)> {
    let mut params = vec![
        ("referrer", referrer.to_string()),
        ("playbackType", "vod".to_string()),
        ("clientVer", "3.12.4".to_string()),
    ];
    if let Some(user) = user {
        params.push(("userId", user.to_string()));
    }
    params
}

/// Session A: a current player (≥ v3.17, `<page>:<player>` session ids),
/// POST with JSON bodies, a known user. n1 → (click) n2 → (automatic, stale
/// hotspot id) n4, the end.
fn session_a() -> Vec<Step> {
    let common = || {
        let mut params = common(Some("ada"), "https://www.school.example/lesson/4?lang=en");
        params.push(("application", "School Portal".into()));
        params
    };
    let player = |session_id, entry_id, node_id| Player {
        form: Form::PostJson,
        client: ADA,
        viewing: "pageA",
        session_id,
        entry_id,
        node_id,
        index: 0,
        common: common(),
        native_referrer: None,
    };
    let mut path = player("pageA:p0", "1_path", None);
    let mut n1 = player("pageA:p1", "0_n1", Some("n1"));
    let mut n2 = player("pageA:p2", "0_n2", Some("n2"));
    let mut n4 = player("pageA:p4", "0_n4", Some("n4"));
    vec![
        path.beacon(1, &[]),
        path.beacon(2, &[]),
        path.beacon(3, &[("position", "0")]),
        path.beacon(44, &[("nodeId", "n1")]),
        n1.beacon(99, &[("playTimeSum", "0"), ("position", "0")]),
        n1.ignored(45, &[("position", "1")]),
        n1.beacon(11, &[("position", "10")]),
        n1.beacon(99, &[("playTimeSum", "10"), ("position", "10")]),
        n1.beacon(99, &[("playTimeSum", "20"), ("position", "20")]),
        n1.beacon(12, &[("position", "20")]),
        n1.beacon(35, &[("position", "20"), ("targetPosition", "24")]),
        n1.beacon(99, &[("playTimeSum", "26.5"), ("position", "30.5")]),
        path.beacon(
            48,
            &[
                ("fromNodeId", "n1"),
                ("toNodeId", "n2"),
                ("hotspotId", "h-left"),
                ("position", "30.5"),
            ],
        ),
        path.beacon(44, &[("nodeId", "n2")]),
        n2.beacon(99, &[("playTimeSum", "0"), ("position", "0")]),
        n2.beacon(99, &[("playTimeSum", "9.5"), ("position", "9.5")]),
        n2.beacon(14, &[("position", "10")]),
        // 100 % arrives as a 99 without playTimeSum.
        n2.beacon(99, &[("position", "10")]),
        // Automatic switch at the end of n2: the last click's id stays.
        path.beacon(
            48,
            &[
                ("fromNodeId", "n2"),
                ("toNodeId", "n4"),
                ("hotspotId", "h-left"),
                ("position", "10"),
            ],
        ),
        path.beacon(44, &[("nodeId", "n4")]),
        n4.beacon(99, &[("playTimeSum", "0"), ("position", "0")]),
        n4.beacon(99, &[("playTimeSum", "10"), ("position", "10")]),
        n4.beacon(14, &[("position", "10")]),
    ]
}

/// Session B: an old player (GET, unrelated session ids, Base64 referrer),
/// anonymous. n1 with a pause long enough to reset the player, a retried
/// beacon, a URL hotspot click, then n3 (an end node). Its node players
/// are joined to the path player's session by client fingerprint.
fn session_b() -> Vec<Step> {
    let page = "https://lms.example.edu/course/view.php?id=7&section=2";
    let base64 = "aHR0cHM6Ly9sbXMuZXhhbXBsZS5lZHUvY291cnNlL3ZpZXcucGhwP2lkPTcmc2VjdGlvbj0y";
    let player = |session_id, entry_id, node_id| Player {
        form: Form::Get,
        client: ANONYMOUS,
        viewing: "B0GUID",
        session_id,
        entry_id,
        node_id,
        index: 0,
        common: common(None, base64),
        native_referrer: Some(page),
    };
    let mut path = player("B0GUID", "1_path", None);
    let mut n1 = player("B1GUID", "0_n1", Some("n1"));
    let mut n3 = player("B3GUID", "0_n3", Some("n3"));
    let n1_first_view = n1.beacon(99, &[("playTimeSum", "0"), ("position", "0")]);
    let mut steps = vec![
        path.beacon(1, &[]),
        path.beacon(2, &[]),
        path.beacon(3, &[]),
        path.beacon(
            44,
            &[
                ("nodeId", "n1"),
                ("entryId", "0_n1"),
                ("rootEntryId", "1_path"),
            ],
        ),
        // The node's own player repeats the path's play: ignored.
        n1.ignored(3, &[]),
        n1_first_view,
        n1.beacon(99, &[("playTimeSum", "10"), ("position", "10")]),
        n1.beacon(99, &[("playTimeSum", "20"), ("position", "20")]),
    ];
    let retried = steps.last().unwrap().clone();
    steps.push(Step {
        expect: Expect::Retry,
        ..retried
    });
    steps.extend([n1.beacon(33, &[("position", "20")])]);
    n1.reset();
    steps.extend([
        n1.beacon(4, &[("position", "20")]),
        n1.beacon(99, &[("playTimeSum", "10"), ("position", "30")]),
        path.beacon(
            47,
            &[
                ("nodeId", "n1"),
                ("hotspotId", "h-shop"),
                ("target", "https://shop.example.com/item?id=9"),
                ("position", "31"),
            ],
        ),
        n1.beacon(98, &[("position", "31"), ("errorCode", "7000")]),
        path.beacon(
            48,
            &[
                ("fromNodeId", "n1"),
                ("toNodeId", "n3"),
                ("hotspotId", "h-right"),
                ("position", "32"),
            ],
        ),
        path.beacon(44, &[("nodeId", "n3")]),
        n3.beacon(99, &[("playTimeSum", "0"), ("position", "0")]),
        n3.beacon(11, &[("position", "3")]),
        n3.beacon(34, &[("position", "5")]),
        n3.beacon(99, &[("playTimeSum", "10"), ("position", "10")]),
        n3.beacon(15, &[("position", "9")]),
        n3.beacon(14, &[("position", "10")]),
        n3.beacon(99, &[("position", "10")]),
    ]);
    steps
}

/// Session C: an old player on another client, interleaved with B on the
/// same nodes; POST with form bodies, raw referrer, user bob. Its ids have
/// the `<guid>:<guid>` form of current players with both halves fresh per
/// player, so only the node plays join them. A button click on a hotspot
/// (10002), then n2, where bob leaves.
fn session_c() -> Vec<Step> {
    let player = |session_id, entry_id, node_id| Player {
        form: Form::PostUrlencoded,
        client: BOB,
        viewing: "C0A",
        session_id,
        entry_id,
        node_id,
        index: 0,
        common: common(Some("bob"), "http://intranet.example.org/videos?x=1"),
        native_referrer: None,
    };
    let mut path = player("C0A:C0B", "1_path", None);
    let mut n1 = player("C1A:C1B", "0_n1", Some("n1"));
    let mut n2 = player("C2A:C2B", "0_n2", Some("n2"));
    vec![
        path.beacon(1, &[]),
        path.beacon(2, &[]),
        path.beacon(3, &[]),
        path.beacon(44, &[("nodeId", "n1")]),
        n1.beacon(99, &[("playTimeSum", "0"), ("position", "0")]),
        n1.beacon(4, &[("position", "1")]),
        n1.beacon(99, &[("playTimeSum", "10"), ("position", "10")]),
        n1.beacon(
            10002,
            &[
                ("feature", "hotspots"),
                ("buttonName", "Shop"),
                ("buttonType", "25"),
                ("buttonValue", "h-shop"),
                ("position", "11"),
            ],
        ),
        n1.ignored(10002, &[("feature", "share"), ("buttonName", "Share")]),
        n1.beacon(13, &[("position", "12")]),
        path.beacon(
            48,
            &[
                ("fromNodeId", "n1"),
                ("toNodeId", "n2"),
                ("hotspotId", "h-left"),
                ("position", "12"),
            ],
        ),
        path.beacon(44, &[("nodeId", "n2")]),
        n2.beacon(99, &[("playTimeSum", "0"), ("position", "0")]),
        n2.beacon(99, &[("playTimeSum", "5"), ("position", "5")]),
    ]
}

/// Broken beacons, sent between the good ones.
fn malformed() -> Vec<Step> {
    let step = |params: &[(&str, &str)], expect| Step {
        form: Form::Get,
        path_form: false,
        client: BOB,
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        expect,
        native_referrer: None,
    };
    vec![
        step(
            &[
                ("eventType", "99"),
                ("entryId", "0_n1"),
                ("sessionId", "X"),
                ("eventIndex", "1"),
            ],
            Expect::Refused(400, "partnerId"),
        ),
        step(
            &[
                ("eventType", "99"),
                ("partnerId", "1"),
                ("entryId", "0_n1"),
                ("sessionId", "X"),
                ("eventIndex", "two"),
            ],
            Expect::Refused(400, "eventIndex"),
        ),
        step(
            &[
                ("eventType", "99"),
                ("partnerId", "1"),
                ("entryId", "0_n1"),
                ("sessionId", "X"),
                ("eventIndex", "2"),
                ("playTimeSum", "NaN"),
            ],
            Expect::Refused(400, "playTimeSum"),
        ),
        step(
            &[
                ("eventType", "1"),
                ("partnerId", "999"),
                ("entryId", "1_path"),
                ("sessionId", "X"),
                ("eventIndex", "1"),
            ],
            Expect::Refused(403, "unknown partner"),
        ),
        step(
            &[
                ("eventType", "44"),
                ("partnerId", "1"),
                ("entryId", "1_path"),
                ("sessionId", "X"),
                ("eventIndex", "1"),
            ],
            Expect::Refused(400, "nodeId"),
        ),
    ]
}

/// The whole replay: A alone, then B, C and the broken beacons interleaved
/// (B and C play n1 at the same time from different clients).
fn fixture() -> Vec<Step> {
    let mut steps = session_a();
    let (b, c, bad) = (session_b(), session_c(), malformed());
    let longest = b.len().max(c.len());
    for i in 0..longest {
        steps.extend(b.get(i).cloned());
        steps.extend(c.get(i).cloned());
        if i % 4 == 1 {
            steps.extend(bad.get(i / 4).cloned());
        }
    }
    let mut sent: Vec<(Vec<(String, String)>, bool)> = Vec::new();
    for (i, step) in steps.iter_mut().enumerate() {
        step.path_form = i % 3 == 0;
        // A retry repeats the very request: same endpoint form, same bytes.
        if step.expect == Expect::Retry {
            step.path_form = sent
                .iter()
                .rev()
                .find(|(params, _)| *params == step.params)
                .unwrap()
                .1;
        }
        sent.push((step.params.clone(), step.path_form));
    }
    steps
}

/// The four parameters current players put in the query string of a POST.
const QUERY_PARAMS: [&str; 4] = ["eventType", "partnerId", "entryId", "sessionId"];

fn encode(pairs: &[(String, String)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

fn is_number(name: &str) -> bool {
    matches!(
        name,
        "eventIndex" | "position" | "playTimeSum" | "targetPosition" | "errorCode" | "buttonType"
    )
}

fn beacon_request(step: &Step) -> Request<Body> {
    let (uri_base, mut query) = if step.path_form {
        (
            "/api_v3/service/analytics/action/trackEvent".to_string(),
            Vec::new(),
        )
    } else {
        (
            "/api_v3/index.php".to_string(),
            vec![
                ("service".to_string(), "analytics".to_string()),
                ("action".to_string(), "trackEvent".to_string()),
            ],
        )
    };
    let (in_query, in_body): (Vec<_>, Vec<_>) = match step.form {
        Form::Get => (step.params.clone(), Vec::new()),
        Form::PostJson | Form::PostUrlencoded => step
            .params
            .iter()
            .cloned()
            .partition(|(k, _)| QUERY_PARAMS.contains(&k.as_str())),
    };
    query.extend(in_query);
    let uri = format!("{uri_base}?{}", encode(&query));
    let builder = match step.form {
        Form::Get => Request::get(uri),
        _ => Request::post(uri),
    };
    let body = match step.form {
        Form::Get => String::new(),
        Form::PostUrlencoded => encode(&in_body),
        Form::PostJson => {
            let mut object = Map::new();
            for (name, value) in in_body {
                let value = if is_number(&name) {
                    json!(value.parse::<f64>().unwrap())
                } else {
                    json!(value)
                };
                object.insert(name, value);
            }
            // Nested objects arrive flattened as `outer:inner`.
            object.insert(
                "playerInfo".into(),
                json!({"version": "3.17.2", "plugins": {"kava": true}}),
            );
            Value::Object(object).to_string()
        }
    };
    let mut request = builder
        .header("user-agent", step.client.user_agent)
        .header("x-country", step.client.country)
        .header("content-type", "text/plain;charset=UTF-8")
        .header("origin", "https://www.school.example")
        .body(Body::from(body))
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((step.client.ip, 40_000))));
    request
}

/// The native event for a stored beacon, written from the protocol's
/// meaning, not from the decoder.
fn native_event(step: &Step, session: &str, index: u32) -> Value {
    let get = |name: &str| {
        step.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let number = |name: &str| get(name).map(|v| json!(v.parse::<f64>().unwrap()));
    let event_type: u32 = get("eventType").unwrap().parse().unwrap();
    let (kind, quartile) = match event_type {
        1 => ("impression", None),
        2 => ("play_request", None),
        3 => ("play", None),
        4 => ("resume", None),
        33 => ("pause", None),
        34 => ("replay", None),
        35 => ("seek", None),
        11 => ("quartile", Some(25)),
        12 => ("quartile", Some(50)),
        13 => ("quartile", Some(75)),
        15 => ("quartile", Some(90)),
        14 => ("quartile", Some(100)),
        99 => ("view", None),
        44 => ("node_play", None),
        47 | 10002 => ("hotspot_click", None),
        48 => ("node_switch", None),
        98 => ("error", None),
        other => panic!("no native kind for {other}"),
    };
    // Path-level 1/2/3 are whole-video events even when they carry the
    // start node's id.
    let node = match event_type {
        48 => get("fromNodeId"),
        1..=3 => None,
        _ => get("nodeId"),
    };
    let hotspot = if event_type == 10002 {
        get("buttonValue")
    } else {
        get("hotspotId")
    };
    let referrer = step.native_referrer.or(get("referrer"));
    let mut event = json!({
        "partner_id": 1, "video_id": "1_path", "session_id": session, "event_index": index, "kind": kind,
        "entry_id": get("entryId"), "node_id": node, "user_id": get("userId"),
        "position": number("position"), "play_time_sum": number("playTimeSum"),
        "from_node_id": get("fromNodeId"), "to_node_id": get("toNodeId"), "hotspot_id": hotspot,
        "target_url": get("target"), "quartile": quartile, "referrer_domain": referrer,
        "playback_type": get("playbackType"), "application": get("application"),
    });
    event.as_object_mut().unwrap().retain(|_, v| !v.is_null());
    event
}

/// Sends `step`'s native counterpart to `native` at `time`, numbered in its
/// viewing session `session`.
async fn mirror(
    native: &Clocked,
    step: &Step,
    session: &'static str,
    indexes: &mut std::collections::HashMap<&'static str, u32>,
    time: DateTime<Utc>,
) {
    let index = indexes.entry(session).or_default();
    *index += 1;
    native.set_time(time);
    let event = native_event(step, session, *index);
    let sent = send_native(&native.app, &event, step.client).await;
    assert_eq!(sent.json()["accepted"], 1, "{event}: {}", sent.text);
}

async fn send_native(app: &App, event: &Value, client: Client) -> Answer {
    let request = Request::post("/api/v1/events")
        .header("authorization", format!("Bearer {}", app.write))
        .header("user-agent", client.user_agent)
        .header("x-country", client.country)
        .body(Body::from(event.to_string()))
        .unwrap();
    app.call(request).await
}

const REPORTS: [&str; 12] = [
    "totals",
    "timeseries?interval=hour",
    "nodes",
    "node?node=n1",
    "node?node=n2",
    "node?node=n3",
    "curve?node=n1",
    "curve?node=n3",
    "heatmap?hotspot=h-left",
    "heatmap?hotspot=h-shop",
    "transitions",
    "viewers",
];

async fn report(app: &App, kind: &str) -> Value {
    let separator = if kind.contains('?') { '&' } else { '?' };
    let answer = app
        .get(
            &format!(
                "/api/v1/videos/1_path/reports/{kind}{separator}from=2026-03-15&to=2026-03-15"
            ),
            &app.admin,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{kind}: {}", answer.text);
    answer.json()
}

#[tokio::test]
async fn beacons_report_exactly_like_native_events() {
    let kava = Clocked::with_path(config()).await;
    let native = Clocked::with_path(config()).await;
    let mut indexes: std::collections::HashMap<&str, u32> = Default::default();
    let steps = fixture();
    let (mut stored, mut ignored, mut retries, mut refused) = (0, 0, 0, 0);
    for (i, step) in steps.iter().enumerate() {
        let time = start() + Duration::seconds(5 * i as i64);
        kava.set_time(time);
        let answer = kava.app.call(beacon_request(step)).await;
        match &step.expect {
            Expect::Stored(session) => {
                assert_eq!(
                    answer.status,
                    StatusCode::OK,
                    "step {i} {step:?}: {}",
                    answer.text
                );
                assert_eq!(
                    answer.json(),
                    json!({"time": time.timestamp(), "viewEventsEnabled": true})
                );
                mirror(&native, step, session, &mut indexes, time).await;
                stored += 1;
            }
            Expect::Ignored | Expect::Retry => {
                assert_eq!(
                    answer.status,
                    StatusCode::OK,
                    "step {i} {step:?}: {}",
                    answer.text
                );
                if step.expect == Expect::Retry {
                    retries += 1;
                } else {
                    ignored += 1;
                }
            }
            Expect::Refused(status, needle) => {
                assert_eq!(
                    answer.status.as_u16(),
                    *status,
                    "step {i} {step:?}: {}",
                    answer.text
                );
                let message = answer.json()["message"].as_str().unwrap().to_string();
                assert!(
                    message.contains(needle),
                    "step {i}: {message:?} should name {needle:?}"
                );
                refused += 1;
            }
        }
        // CORS: a page on another origin may read the answer.
        assert_eq!(
            answer.headers["access-control-allow-origin"], "https://www.school.example",
            "step {i}"
        );
    }
    assert_eq!((ignored, retries, refused), (3, 1, 5));
    assert_eq!(kava.app.store.event_count().unwrap(), stored);
    assert_eq!(native.app.store.event_count().unwrap(), stored);
    let metrics = kava
        .app
        .call(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .text;
    for line in [
        format!("pathlens_events_accepted_total{{source=\"kava\"}} {stored}"),
        "pathlens_events_duplicate_total{source=\"kava\"} 1".to_string(),
        "pathlens_events_rejected_total{source=\"kava\"} 5".to_string(),
        "pathlens_beacons_unknown_partner_total{source=\"kava\"} 1".to_string(),
        "pathlens_beacons_ignored_total{source=\"kava\",event_type=\"45\",reason=\"unknown_type\"} 1".to_string(),
        "pathlens_beacons_ignored_total{source=\"kava\",event_type=\"3\",reason=\"node_player_repeat\"} 1".to_string(),
        "pathlens_beacons_ignored_total{source=\"kava\",event_type=\"10002\",reason=\"not_a_hotspot\"} 1".to_string(),
    ] {
        assert!(metrics.contains(&line), "{line} missing from\n{metrics}");
    }
    let report_time = start() + Duration::hours(1);
    kava.set_time(report_time);
    native.set_time(report_time);
    for kind in REPORTS {
        assert_eq!(
            report(&kava.app, kind).await,
            report(&native.app, kind).await,
            "report {kind}"
        );
    }
    // The equal reports are the right ones, not two empty ones.
    let totals = report(&kava.app, "totals").await["rows"][0].clone();
    assert_eq!(totals["impressions"], 3);
    assert_eq!(totals["plays"], 3);
    assert_eq!(
        totals["unique_viewers"], 3,
        "ada, bob, and the anonymous viewers as one"
    );
    // A: 26.5 + 9.5 + 10; B: 20 before the reset + 10 after + 10; C: 10 + 5.
    let seconds = 26.5 + 9.5 + 10.0 + 20.0 + 10.0 + 10.0 + 10.0 + 5.0;
    let minutes = totals["minutes_viewed"].as_f64().unwrap();
    assert!(
        (minutes - seconds / 60.0).abs() < 0.01,
        "{minutes} minutes, expected {}",
        seconds / 60.0
    );
    assert_eq!(totals["path_completion_rate"].as_f64().unwrap(), 2.0 / 3.0);
    let nodes = report(&kava.app, "nodes").await;
    let node = |id: &str| {
        nodes["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["node_id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(
        (
            node("n1")["plays"].clone(),
            node("n2")["plays"].clone(),
            node("n3")["plays"].clone(),
            node("n4")["plays"].clone()
        ),
        (json!(3), json!(2), json!(1), json!(1))
    );
    assert_eq!(node("n2")["dropoffs"], 1, "bob left at n2");
    let n1 = report(&kava.app, "node?node=n1").await;
    let clicks = |id: &str| {
        n1["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["hotspot_id"] == id)
            .unwrap()["clicks"]
            .clone()
    };
    assert_eq!(
        (clicks("h-left"), clicks("h-right"), clicks("h-shop")),
        (json!(2), json!(1), json!(2))
    );
    let transitions = report(&kava.app, "transitions").await;
    let automatic = transitions["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["from_node_id"] == "n2")
        .unwrap()
        .clone();
    assert_eq!(
        automatic["cause"], "automatic",
        "the stale h-left on n2 → n4 is no click: {automatic}"
    );
    // Context made it through: Base64 and raw referrers, devices.
    let stored_events = kava.app.store.export(Some(1), 0, 1000).unwrap();
    let domains: std::collections::BTreeSet<_> = stored_events
        .iter()
        .filter_map(|e| e.context.referrer_domain.clone())
        .collect();
    assert_eq!(
        domains.into_iter().collect::<Vec<_>>(),
        ["intranet.example.org", "lms.example.edu", "school.example"]
    );
    assert!(
        stored_events
            .iter()
            .all(|e| e.context.country.is_some() && e.context.browser.is_some())
    );
    assert!(
        stored_events
            .iter()
            .filter(|e| e.session_id == "pageA")
            .all(|e| e.context.application.as_deref() == Some("School Portal"))
    );
}

#[tokio::test]
async fn a_retry_is_answered_but_two_beacons_sharing_an_index_are_both_kept() {
    let kava = Clocked::with_path(config()).await;
    let mut path = Player {
        form: Form::Get,
        client: ANONYMOUS,
        viewing: "S",
        session_id: "S",
        entry_id: "1_path",
        node_id: None,
        index: 0,
        common: vec![],
        native_referrer: None,
    };
    let impression = path.beacon(1, &[]);
    let node_play = path.beacon(44, &[("nodeId", "n1")]);
    let switch = path.beacon(48, &[("fromNodeId", "n1"), ("toNodeId", "n2")]);
    // 1, 44 and 48 all carry (S, eventIndex 1); each is kept once.
    for (step, seconds) in [
        (&impression, 0),
        (&node_play, 1),
        (&impression, 2),
        (&switch, 3),
        (&switch, 4),
    ] {
        kava.set_time(start() + Duration::seconds(seconds));
        assert_eq!(
            kava.app.call(beacon_request(step)).await.status,
            StatusCode::OK
        );
    }
    let kinds: Vec<_> = kava
        .app
        .store
        .export(Some(1), 0, 10)
        .unwrap()
        .iter()
        .map(|e| (e.kind.name(), e.event_index))
        .collect();
    assert_eq!(
        kinds,
        [("impression", 1), ("node_play", 1), ("node_switch", 1)]
    );
    // After the retry window, the same bytes are a new beacon.
    kava.set_time(start() + Duration::minutes(11));
    kava.app.call(beacon_request(&impression)).await;
    assert_eq!(kava.app.store.event_count().unwrap(), 4);
}

#[tokio::test]
async fn oversized_and_unserved_beacons_get_clear_errors() {
    let kava = Clocked::with_path(config()).await;
    let huge = format!(
        "{{\"eventIndex\": 1, \"pad\": \"{}\"}}",
        "x".repeat(70 * 1024)
    );
    let request = Request::post("/api_v3/index.php?service=analytics&action=trackEvent&eventType=1&partnerId=1&entryId=1_path&sessionId=S").body(Body::from(huge)).unwrap();
    let answer = kava.app.call(request).await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.text
    );
    assert_eq!(answer.json()["code"], "too_large");
    let other_service = kava.app.call(Request::get("/api_v3/index.php?service=media&action=list&eventType=1&partnerId=1&entryId=e&sessionId=s&eventIndex=1").body(Body::empty()).unwrap()).await;
    assert_eq!(other_service.status, StatusCode::BAD_REQUEST);
    assert!(
        other_service.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("service:"),
        "{}",
        other_service.text
    );
    let broken_json = kava.app.call(Request::post("/api_v3/service/analytics/action/trackEvent?eventType=1&partnerId=1&entryId=e&sessionId=s").body(Body::from("{\"eventIndex\":")).unwrap()).await;
    assert_eq!(broken_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(broken_json.json()["code"], "invalid_beacon");
    // A good beacon right after is stored.
    let good = kava.app.call(Request::get("/api_v3/service/analytics/action/trackEvent?eventType=1&partnerId=1&entryId=1_path&sessionId=s&eventIndex=1").body(Body::empty()).unwrap()).await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.text);
    assert_eq!(kava.app.store.event_count().unwrap(), 1);
}

#[tokio::test]
async fn a_revoked_partner_is_unknown() {
    let kava = Clocked::with_path(config()).await;
    let beacon = "/api_v3/service/analytics/action/trackEvent?eventType=1&partnerId=2&entryId=1_path&sessionId=s&eventIndex=1";
    assert_eq!(
        kava.app
            .call(Request::get(beacon).body(Body::empty()).unwrap())
            .await
            .status,
        StatusCode::OK
    );
    let keys = kava
        .app
        .get("/api/v1/keys", &kava.app.other_admin)
        .await
        .json();
    let id = keys["keys"][0]["id"].as_str().unwrap().to_string();
    kava.app
        .send(
            "DELETE",
            &format!("/api/v1/keys/{id}"),
            &kava.app.other_admin,
            "",
        )
        .await;
    let refused = kava
        .app
        .call(
            Request::get(beacon.replace("sessionId=s", "sessionId=t"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json()["code"], "forbidden");
}

#[tokio::test]
async fn cors_preflight_is_answered_for_every_player_route() {
    let kava = Clocked::with_path(config()).await;
    for path in [
        "/api_v3/index.php?service=analytics&action=trackEvent&eventType=3",
        "/api_v3/service/analytics/action/trackEvent",
        "/api/v1/events?key=x",
        "/xapi/statements",
    ] {
        let preflight = Request::builder()
            .method("OPTIONS")
            .uri(path)
            .header("origin", "https://player.example.net")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, authorization, x-experience-api-version",
            )
            .body(Body::empty())
            .unwrap();
        let answer = kava.app.call(preflight).await;
        assert!(answer.status.is_success(), "{path}: {}", answer.status);
        let header = |name: &str| {
            answer
                .headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_ascii_lowercase())
                .unwrap_or_default()
        };
        assert_eq!(
            header("access-control-allow-origin"),
            "https://player.example.net",
            "{path}"
        );
        assert!(
            header("access-control-allow-methods").contains("post"),
            "{path}"
        );
        assert!(
            header("access-control-allow-headers").contains("content-type"),
            "{path}"
        );
        assert!(
            header("access-control-allow-headers").contains("authorization"),
            "{path}"
        );
    }
    // The admin API stays same-origin.
    let admin = Request::get("/api/v1/videos")
        .header("origin", "https://player.example.net")
        .header("authorization", format!("Bearer {}", kava.app.admin))
        .body(Body::empty())
        .unwrap();
    assert!(
        kava.app
            .call(admin)
            .await
            .headers
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn a_partner_can_restrict_the_origins_that_report_for_it() {
    let mut config = config();
    config.beacon_origins.insert(
        1,
        vec![
            "https://www.school.example".into(),
            "http://localhost:8000/".into(),
        ],
    );
    let kava = Clocked::with_path(config).await;
    let beacon = |index: u32, header: Option<(&str, &str)>| {
        let mut builder = Request::get(format!(
            "/api_v3/service/analytics/action/trackEvent?eventType=99&partnerId=1&entryId=1_path&sessionId=s&eventIndex={index}"
        ));
        if let Some((name, value)) = header {
            builder = builder.header(name, value);
        }
        builder.body(Body::empty()).unwrap()
    };
    let cases = [
        (
            Some(("origin", "https://www.school.example")),
            StatusCode::OK,
        ),
        (Some(("origin", "HTTP://LOCALHOST:8000")), StatusCode::OK),
        (
            Some(("referer", "https://www.school.example/lesson/4")),
            StatusCode::OK,
        ),
        (
            Some(("origin", "https://evil.example")),
            StatusCode::FORBIDDEN,
        ),
        (
            Some(("referer", "https://evil.example/www.school.example")),
            StatusCode::FORBIDDEN,
        ),
        (None, StatusCode::FORBIDDEN),
    ];
    for (index, (header, status)) in cases.into_iter().enumerate() {
        let answer = kava.app.call(beacon(index as u32 + 1, header)).await;
        assert_eq!(answer.status, status, "{header:?}: {}", answer.text);
    }
    assert_eq!(kava.app.store.event_count().unwrap(), 3);
    // Another partner, not listed, accepts any origin.
    let other = Request::get("/api_v3/service/analytics/action/trackEvent?eventType=1&partnerId=2&entryId=v&sessionId=s&eventIndex=1").header("origin", "https://evil.example").body(Body::empty()).unwrap();
    assert_eq!(kava.app.call(other).await.status, StatusCode::OK);
}
