//! Random viewing sessions rendered twice — as the beacons a Kaltura Path
//! player sends and as native events — must give the same reports. Both
//! player generations (current players' shared page guid; old players'
//! unrelated ids, plain or of the `<guid>:<guid>` form), resets after a
//! long pause, byte-identical retries, stale hotspot ids on automatic
//! switches, URL clicks and node players that share one `sessionId`, with
//! several sessions from different browsers interleaved.

use proptest::prelude::*;

use super::*;

/// Which player sends the session.
#[derive(Debug, Clone, Copy)]
enum Generation {
    /// ≥ v3.17: `<page>:<player>` ids sharing the page guid.
    Current,
    /// Older: a fresh plain id per player.
    OldPlain,
    /// Older, with ids that look like current ones: both halves fresh.
    OldPairs,
}

/// How a node is left.
#[derive(Debug, Clone, Copy)]
enum Exit {
    /// The viewer closes the page.
    Leave,
    /// A click on the hotspot leading to the `n`-th next node.
    Click(usize),
    /// The node ends and the player moves on by itself, keeping the last
    /// clicked hotspot id.
    Automatic(usize),
}

#[derive(Debug, Clone)]
struct NodeVisit {
    /// Seconds of playback added by each view.
    views: Vec<u8>,
    /// Pause long enough to reset the player after this many views.
    reset_after: Option<usize>,
    /// Retry the last view beacon byte for byte.
    retry: bool,
    /// Click the shop link (a URL hotspot) on n1.
    shop: bool,
    exit: Exit,
}

#[derive(Debug, Clone)]
struct SessionPlan {
    generation: Generation,
    form: usize,
    user: Option<usize>,
    /// Current players: node players reuse the path player's id.
    shared_ids: bool,
    /// The node player repeats the path's play (ignored).
    node_play_repeat: bool,
    visits: Vec<NodeVisit>,
}

fn visit() -> impl Strategy<Value = NodeVisit> {
    (
        prop::collection::vec(0u8..=12, 1..5),
        prop::option::of(1usize..4),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![
            Just(Exit::Leave),
            (0usize..2).prop_map(Exit::Click),
            (0usize..2).prop_map(Exit::Automatic),
        ],
    )
        .prop_map(|(views, reset_after, retry, shop, exit)| NodeVisit {
            views,
            reset_after,
            retry,
            shop,
            exit,
        })
}

fn session() -> impl Strategy<Value = SessionPlan> {
    (
        prop_oneof![
            Just(Generation::Current),
            Just(Generation::OldPlain),
            Just(Generation::OldPairs)
        ],
        0usize..3,
        prop::option::of(0usize..2),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(visit(), 3),
    )
        .prop_map(
            |(generation, form, user, shared_ids, node_play_repeat, visits)| SessionPlan {
                generation,
                form,
                user,
                shared_ids,
                node_play_repeat,
                visits,
            },
        )
}

/// The nodes each node leads to, by hotspot.
fn next(node: &str) -> &'static [(&'static str, &'static str)] {
    match node {
        "n1" => &[("n2", "h-left"), ("n3", "h-right")],
        "n2" => &[("n4", "h-more")],
        _ => &[],
    }
}

const CLIENTS: [Client; 3] = [ADA, ANONYMOUS, BOB];
const USERS: [&str; 2] = ["ada", "bob"];

/// Leaks a string for the `&'static str` fields of the fixture's players.
fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// The beacons of session number `number`.
fn render(number: usize, plan: &SessionPlan) -> Vec<Step> {
    let form = [Form::Get, Form::PostJson, Form::PostUrlencoded][plan.form];
    let client = CLIENTS[number];
    let id = |player: &str| -> &'static str {
        match plan.generation {
            Generation::Current => leak(format!("page{number}:{player}")),
            Generation::OldPlain => leak(format!("S{number}{player}")),
            Generation::OldPairs => leak(format!("S{number}{player}a:S{number}{player}b")),
        }
    };
    let path_id = id("p0");
    let viewing: &'static str = match plan.generation {
        Generation::Current => leak(format!("page{number}")),
        Generation::OldPlain => path_id,
        Generation::OldPairs => leak(format!("S{number}p0a")),
    };
    let common = common(
        plan.user.map(|u| USERS[u]),
        "https://www.school.example/lesson",
    );
    let player = |session_id, entry_id, node_id| Player {
        form,
        client,
        viewing,
        session_id,
        entry_id,
        node_id,
        index: 0,
        common: common.clone(),
        native_referrer: None,
    };
    let mut path = player(path_id, "1_path", None);
    let mut steps = vec![
        path.beacon(1, &[]),
        path.beacon(2, &[]),
        path.beacon(3, &[("position", "0")]),
    ];
    let mut node = "n1";
    let mut last_click: Option<&str> = None;
    for (depth, visit) in plan.visits.iter().enumerate() {
        steps.push(path.beacon(44, &[("nodeId", node)]));
        let shared = matches!(plan.generation, Generation::Current) && plan.shared_ids;
        let player_id = if shared {
            path_id
        } else {
            id(&format!("n{depth}"))
        };
        let entry = leak(format!("0_{node}"));
        let mut own = player(player_id, entry, Some(node));
        if plan.node_play_repeat && !shared {
            steps.push(own.ignored(3, &[]));
        }
        let mut sum = 0u32;
        let mut position = 0u32;
        for (i, added) in visit.views.iter().enumerate() {
            // After a reset the first view must come out lower than the last
            // one, or native events (one chain per entry) could not tell it.
            if visit.reset_after == Some(i) && sum > 12 {
                own.reset();
                steps.push(own.beacon(4, &[("position", &position.to_string())]));
                sum = 0;
            }
            sum += u32::from(*added);
            position += u32::from(*added);
            steps.push(own.beacon(
                99,
                &[
                    ("playTimeSum", &sum.to_string()),
                    ("position", &position.to_string()),
                ],
            ));
        }
        if visit.retry {
            let last = steps.last().unwrap().clone();
            steps.push(Step {
                expect: Expect::Retry,
                ..last
            });
        }
        if visit.shop && node == "n1" {
            steps.push(path.beacon(
                47,
                &[
                    ("nodeId", "n1"),
                    ("hotspotId", "h-shop"),
                    ("target", "https://shop.example.com"),
                    ("position", &position.to_string()),
                ],
            ));
            last_click = Some("h-shop");
        }
        let targets = next(node);
        let (to, hotspot) = match visit.exit {
            Exit::Leave => break,
            _ if targets.is_empty() => break,
            Exit::Click(choice) => {
                let (to, hotspot) = targets[choice % targets.len()];
                last_click = Some(hotspot);
                (to, Some(hotspot))
            }
            Exit::Automatic(choice) => (targets[choice % targets.len()].0, last_click),
        };
        let mut params = vec![
            ("fromNodeId", node),
            ("toNodeId", to),
            ("position", leak(position.to_string())),
        ];
        if let Some(hotspot) = hotspot {
            params.push(("hotspotId", hotspot));
        }
        steps.push(path.beacon(48, &params));
        node = to;
    }
    steps
}

/// Interleaves the sessions' beacons one by one.
fn interleave(sessions: Vec<Vec<Step>>) -> Vec<Step> {
    let longest = sessions.iter().map(Vec::len).max().unwrap_or(0);
    let mut steps = Vec::new();
    for i in 0..longest {
        for session in &sessions {
            steps.extend(session.get(i).cloned());
        }
    }
    steps
}

async fn replay(steps: &[Step]) -> (Clocked, Clocked) {
    let kava = Clocked::with_path(config()).await;
    let native = Clocked::with_path(config()).await;
    let mut indexes: std::collections::HashMap<&str, u32> = Default::default();
    for (i, step) in steps.iter().enumerate() {
        let time = start() + Duration::seconds(5 * i as i64);
        kava.set_time(time);
        let answer = kava.app.call(beacon_request(step)).await;
        assert_eq!(answer.status, StatusCode::OK, "step {i}: {}", answer.text);
        if let Expect::Stored(session) = &step.expect {
            mirror(&native, step, session, &mut indexes, time).await;
        }
    }
    let report_time = start() + Duration::hours(6);
    kava.set_time(report_time);
    native.set_time(report_time);
    (kava, native)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_sessions_as_beacons_report_like_native_events(
        plans in prop::collection::vec(session(), 1..=3)
    ) {
        let steps = interleave(
            plans.iter().enumerate().map(|(n, plan)| render(n, plan)).collect(),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (kava, native) = replay(&steps).await;
            let stored = native.app.store.event_count().unwrap();
            assert!(stored > 0);
            assert_eq!(kava.app.store.event_count().unwrap(), stored);
            for kind in REPORTS {
                let (ours, theirs) = (report(&kava.app, kind).await, report(&native.app, kind).await);
                assert_eq!(ours, theirs, "report {kind} of {plans:?}");
            }
        });
    }
}
