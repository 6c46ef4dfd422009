//! A viewer's walk through the graph, played out into events.
//!
//! The session opens with the whole-video events (impression, then
//! play_request and play when the viewer plays). The walk then starts at the
//! start node and, node after node, follows a [`plan`](crate::plan): a
//! node_play, view events every 10 s of playback, quartiles as the position
//! passes them, the planned actions, and a node_switch when it moves on.
//!
//! Each node plays in its own player, so `play_time_sum` runs per (session,
//! entry): a node visited again in the same session continues its entry's
//! sum rather than starting over, and the sum never goes down.

use std::collections::HashMap;

use pathlens_model::{EventKind, Graph, Hotspot, Node};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::plan::{Action, Exit, plan_visit};
use crate::session::{SessionRecorder, seconds};

/// Share of sessions in which the viewer presses play after the impression.
const PLAY_SHARE: f64 = 0.8;
/// Share of automatic switches that still carry the last clicked hotspot's
/// id, as real players do; reports must ignore it.
const STALE_HOTSPOT_SHARE: f64 = 0.2;
/// Playback between two view events.
const VIEW_INTERVAL_MS: u64 = 10_000;
const QUARTILES: [u8; 5] = [25, 50, 75, 90, 100];
/// Node visits per session at most, so loops end.
const MAX_NODE_VISITS: usize = 12;

/// Records one session of `graph`: whole-video events, then the walk.
pub(crate) fn play_session(graph: &Graph, recorder: &mut SessionRecorder, rng: &mut ChaCha8Rng) {
    recorder.record_video(EventKind::Impression);
    if !rng.random_bool(PLAY_SHARE) {
        return;
    }
    recorder.wait(rng.random_range(800..6_000));
    recorder.record_video(EventKind::PlayRequest);
    recorder.wait(rng.random_range(200..1_500));
    recorder.record_video(EventKind::Play);
    let Some(start) = live_node(graph, &graph.start_node) else {
        return;
    };
    let walk = Walk {
        graph,
        recorder,
        rng,
        played_ms: HashMap::new(),
        last_clicked: None,
    };
    walk.run(start);
}

fn live_node<'a>(graph: &'a Graph, id: &str) -> Option<&'a Node> {
    graph.node(id).filter(|node| node.deleted_at.is_none())
}

struct Walk<'a> {
    graph: &'a Graph,
    recorder: &'a mut SessionRecorder,
    rng: &'a mut ChaCha8Rng,
    /// Milliseconds played so far per entry id: the `play_time_sum` of each
    /// player session, carried over when a node is visited again.
    played_ms: HashMap<&'a str, u64>,
    /// The last hotspot clicked in the session, which real players keep
    /// sending on later automatic switches.
    last_clicked: Option<&'a str>,
}

/// Where playback of one visit stands.
struct Playback {
    duration_ms: u64,
    position_ms: u64,
    /// The entry's `play_time_sum`, in ms.
    played_ms: u64,
    /// Playback since the last view event of this visit.
    since_view_ms: u64,
    /// How many of [`QUARTILES`] this visit already reported.
    quartiles_sent: usize,
}

impl Playback {
    /// The position at which the next quartile is due, if any is left.
    /// Never 0, so nothing is due before playback starts.
    fn next_quartile_ms(&self) -> Option<u64> {
        let share = *QUARTILES.get(self.quartiles_sent)?;
        Some((self.duration_ms * u64::from(share) / 100).max(1))
    }
}

impl<'a> Walk<'a> {
    fn run(mut self, start: &'a Node) {
        let mut node = start;
        for visit in 1..=MAX_NODE_VISITS {
            let Some(next) = self.visit(node, visit < MAX_NODE_VISITS) else {
                return;
            };
            self.recorder.wait(self.rng.random_range(200..1_200));
            node = next;
        }
    }

    /// Plays one visit of `node`; returns the next node when the walk goes on.
    fn visit(&mut self, node: &'a Node, may_continue: bool) -> Option<&'a Node> {
        let plan = plan_visit(self.rng, node, may_continue);
        self.recorder.record_node(EventKind::NodePlay, node, 0);
        let carried_ms = self.played_ms.get(node.entry_id.as_str()).copied();
        let mut playback = Playback {
            duration_ms: node.duration_ms,
            position_ms: 0,
            played_ms: carried_ms.unwrap_or(0),
            since_view_ms: 0,
            quartiles_sent: 0,
        };
        if carried_ms.is_none() {
            self.record_view(node, &mut playback);
        }
        for (at_ms, action) in &plan.actions {
            if *at_ms < playback.position_ms {
                continue; // a forward seek skipped it
            }
            self.play_until(node, &mut playback, *at_ms);
            self.perform(node, &mut playback, action);
        }
        self.play_until(node, &mut playback, plan.exit_ms);
        if playback.since_view_ms > 0 {
            self.record_view(node, &mut playback);
        }
        self.played_ms.insert(&node.entry_id, playback.played_ms);
        self.leave(node, plan.exit, plan.exit_ms)
    }

    /// Plays from the current position up to `to_ms`, sending the view and
    /// quartile events that fall on the way.
    fn play_until(&mut self, node: &Node, playback: &mut Playback, to_ms: u64) {
        self.send_due_quartiles(node, playback);
        while playback.position_ms < to_ms {
            let view_due_ms = playback.position_ms + VIEW_INTERVAL_MS - playback.since_view_ms;
            let quartile_due_ms = playback.next_quartile_ms().unwrap_or(u64::MAX);
            let step_to_ms = to_ms.min(view_due_ms).min(quartile_due_ms);
            let step_ms = step_to_ms - playback.position_ms;
            self.recorder.wait(step_ms);
            playback.position_ms = step_to_ms;
            playback.played_ms += step_ms;
            playback.since_view_ms += step_ms;
            if playback.since_view_ms >= VIEW_INTERVAL_MS {
                self.record_view(node, playback);
            }
            self.send_due_quartiles(node, playback);
        }
    }

    fn send_due_quartiles(&mut self, node: &Node, playback: &mut Playback) {
        while let Some(due_ms) = playback.next_quartile_ms() {
            if due_ms > playback.position_ms {
                return;
            }
            let event = self
                .recorder
                .record_node(EventKind::Quartile, node, playback.position_ms);
            event.quartile = Some(QUARTILES[playback.quartiles_sent]);
            playback.quartiles_sent += 1;
        }
    }

    fn record_view(&mut self, node: &Node, playback: &mut Playback) {
        let event = self
            .recorder
            .record_node(EventKind::View, node, playback.position_ms);
        event.play_time_sum = Some(seconds(playback.played_ms));
        playback.since_view_ms = 0;
    }

    fn perform(&mut self, node: &Node, playback: &mut Playback, action: &Action<'a>) {
        let at_ms = playback.position_ms;
        match *action {
            Action::UrlClick(hotspot) => {
                let event = self
                    .recorder
                    .record_node(EventKind::HotspotClick, node, at_ms);
                event.hotspot_id = Some(hotspot.id.clone());
                event.target_url = target_url(hotspot);
                self.last_clicked = Some(&hotspot.id);
            }
            Action::Pause { hold_ms } => {
                self.recorder.record_node(EventKind::Pause, node, at_ms);
                self.recorder.wait(hold_ms);
                self.recorder.record_node(EventKind::Resume, node, at_ms);
            }
            Action::Seek { to_ms } => {
                // The event carries the position playback resumes from.
                self.recorder.record_node(EventKind::Seek, node, to_ms);
                self.recorder.wait(self.rng.random_range(100..800));
                playback.position_ms = to_ms;
            }
        }
    }

    /// Sends the node_switch of a visit that moves on, and returns the node
    /// the walk continues at.
    fn leave(&mut self, node: &'a Node, exit: Exit<'a>, exit_ms: u64) -> Option<&'a Node> {
        let (hotspot, hotspot_id) = match exit {
            Exit::Drop | Exit::End => return None,
            Exit::Click(hotspot) => {
                self.last_clicked = Some(&hotspot.id);
                (hotspot, Some(hotspot.id.as_str()))
            }
            Exit::AutoSwitch(hotspot) => (hotspot, self.stale_hotspot(node)),
        };
        let target = live_node(self.graph, hotspot.behavior.target_node()?)?;
        let event = self
            .recorder
            .record_node(EventKind::NodeSwitch, node, exit_ms);
        event.from_node_id = Some(node.id.clone());
        event.to_node_id = Some(target.id.clone());
        event.hotspot_id = hotspot_id.map(str::to_string);
        Some(target)
    }

    /// The hotspot id an automatic switch from `node` carries: usually none,
    /// sometimes the last one clicked elsewhere in the session.
    fn stale_hotspot(&mut self, node: &Node) -> Option<&'a str> {
        let last = self.last_clicked?;
        let foreign = node.hotspots.iter().all(|h| h.id != last);
        (foreign && self.rng.random_bool(STALE_HOTSPOT_SHARE)).then_some(last)
    }
}

fn target_url(hotspot: &Hotspot) -> Option<String> {
    match &hotspot.behavior {
        pathlens_model::Behavior::GoToUrl { url } => Some(url.clone()),
        _ => None,
    }
}
