//! What a viewer decides to do on one visit of a node, drawn before playing.
//!
//! A plan holds the way the visit ends (drop out, click a choice, let the
//! player switch automatically at the end, or stop at the end) and the
//! actions taken on the way (URL clicks, pauses, seeks), each at a position
//! in the node. Only live hotspots are considered. How popular a hotspot is
//! depends on its id alone, so the same choices win in every run.

use pathlens_model::{Behavior, Hotspot, Node};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::context::pick_weighted;

/// Share of visits on which the viewer clicks one of the offered choices.
const CHOICE_SHARE: f64 = 0.7;
/// Share of unchosen node ends on which the player moves on by itself.
const AUTO_SWITCH_SHARE: f64 = 0.55;
/// Share of visits on which a pause hotspot is clicked, when it shows.
const PAUSE_HOTSPOT_SHARE: f64 = 0.35;
/// Share of visits with a pause unrelated to any hotspot.
const RANDOM_PAUSE_SHARE: f64 = 0.07;
/// Share of visits with a seek.
const SEEK_SHARE: f64 = 0.05;

/// How a visit of a node ends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Exit<'a> {
    /// The viewer leaves mid-node; the session ends.
    Drop,
    /// The viewer clicks this node hotspot.
    Click(&'a Hotspot),
    /// The node plays to its end and the player follows this hotspot's
    /// destination without a click.
    AutoSwitch(&'a Hotspot),
    /// The node plays to its end and the session ends there.
    End,
}

/// Something the viewer does while the node plays.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Action<'a> {
    UrlClick(&'a Hotspot),
    Pause { hold_ms: u64 },
    Seek { to_ms: u64 },
}

/// One visit, decided in advance: actions in position order, then the exit.
pub(crate) struct VisitPlan<'a> {
    pub actions: Vec<(u64, Action<'a>)>,
    pub exit_ms: u64,
    pub exit: Exit<'a>,
}

/// Draws the plan of a visit of `node`. Without `may_continue` (the session
/// reached its node cap) the visit ends the session whatever happens.
pub(crate) fn plan_visit<'a>(
    rng: &mut ChaCha8Rng,
    node: &'a Node,
    may_continue: bool,
) -> VisitPlan<'a> {
    let (exit_ms, exit) = plan_exit(rng, node, may_continue);
    let mut actions = Vec::new();
    for hotspot in node.live_hotspots() {
        if let Some(action) = plan_hotspot_action(rng, node, hotspot, exit_ms) {
            actions.push(action);
        }
    }
    if exit_ms > 0 && rng.random_bool(RANDOM_PAUSE_SHARE) {
        let hold_ms = rng.random_range(2_000..90_000);
        actions.push((rng.random_range(0..exit_ms), Action::Pause { hold_ms }));
    }
    if exit_ms > 0 && rng.random_bool(SEEK_SHARE) {
        actions.extend(plan_seek(rng, exit_ms));
    }
    actions.sort_by_key(|(at_ms, _)| *at_ms);
    VisitPlan {
        actions,
        exit_ms,
        exit,
    }
}

/// A node hotspot and the part of its window that can be clicked.
type Clickable<'a> = (&'a Hotspot, (u64, u64));

fn plan_exit<'a>(rng: &mut ChaCha8Rng, node: &'a Node, may_continue: bool) -> (u64, Exit<'a>) {
    let duration_ms = node.duration_ms;
    if rng.random_bool(drop_share(duration_ms)) {
        return (rng.random_range(0..duration_ms.max(1)), Exit::Drop);
    }
    let routes: Vec<(&Hotspot, u32)> = node
        .live_hotspots()
        .filter(|h| h.behavior.target_node().is_some())
        .map(|h| (h, popularity(&h.id)))
        .collect();
    if !may_continue || routes.is_empty() {
        return (duration_ms, Exit::End);
    }
    let clickable: Vec<(Clickable, u32)> = routes
        .iter()
        .filter_map(|&(h, weight)| Some(((h, window(node, h)?), weight)))
        .collect();
    if !clickable.is_empty() && rng.random_bool(CHOICE_SHARE) {
        let (hotspot, (from_ms, until_ms)) = pick_weighted(rng, &clickable);
        return (rng.random_range(from_ms..until_ms), Exit::Click(hotspot));
    }
    if rng.random_bool(AUTO_SWITCH_SHARE) {
        return (duration_ms, Exit::AutoSwitch(pick_weighted(rng, &routes)));
    }
    (duration_ms, Exit::End)
}

/// Drop-out chance of one visit: 10 % for short nodes, up to 25 % for nodes
/// of three minutes or more.
fn drop_share(duration_ms: u64) -> f64 {
    0.10 + 0.15 * (duration_ms as f64 / 180_000.0).min(1.0)
}

fn plan_hotspot_action<'a>(
    rng: &mut ChaCha8Rng,
    node: &Node,
    hotspot: &'a Hotspot,
    exit_ms: u64,
) -> Option<(u64, Action<'a>)> {
    let share = match hotspot.behavior {
        Behavior::GoToUrl { .. } => 0.03 * f64::from(popularity(&hotspot.id)),
        Behavior::Pause => PAUSE_HOTSPOT_SHARE,
        Behavior::GoToNode { .. } => return None,
    };
    let (from_ms, until_ms) = window(node, hotspot)?;
    let until_ms = until_ms.min(exit_ms);
    if from_ms >= until_ms || !rng.random_bool(share) {
        return None;
    }
    let at_ms = rng.random_range(from_ms..until_ms);
    let action = match hotspot.behavior {
        Behavior::Pause => Action::Pause {
            hold_ms: rng.random_range(2_000..25_000),
        },
        _ => Action::UrlClick(hotspot),
    };
    Some((at_ms, action))
}

/// A seek somewhere before the exit: forward (never past the exit, so the
/// planned exit is still reached by playing) or back a little.
fn plan_seek<'a>(rng: &mut ChaCha8Rng, exit_ms: u64) -> Option<(u64, Action<'a>)> {
    let at_ms = rng.random_range(0..exit_ms);
    let to_ms = if rng.random_bool(0.6) {
        (at_ms + rng.random_range(5_000..30_000)).min(exit_ms - 1)
    } else {
        at_ms.saturating_sub(rng.random_range(5_000..20_000))
    };
    (to_ms != at_ms).then_some((at_ms, Action::Seek { to_ms }))
}

/// The part of a hotspot's window that lies within its node, as a half-open
/// range of positions in ms; `None` when it can never be clicked.
pub(crate) fn window(node: &Node, hotspot: &Hotspot) -> Option<(u64, u64)> {
    let until_ms = hotspot.end_ms.min(node.duration_ms);
    (hotspot.start_ms < until_ms).then_some((hotspot.start_ms, until_ms))
}

/// How popular a hotspot is, from 2 to 8, fixed by its id (the top byte of
/// its FNV-1a hash): a node's choices are picked in proportion to it, so some
/// are clearly more popular than others, and URL hotspots are clicked more
/// often the higher it is.
fn popularity(hotspot_id: &str) -> u32 {
    let hash = hotspot_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    2 + ((hash >> 56) % 7) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn plans_stay_inside_the_node_and_its_windows() {
        let graphs = crate::sample_graphs();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for node in graphs.iter().flat_map(|g| g.live_nodes()) {
            for _ in 0..200 {
                let plan = plan_visit(&mut rng, node, true);
                assert!(plan.exit_ms <= node.duration_ms);
                if let Exit::Click(hotspot) = plan.exit {
                    let (from_ms, until_ms) = window(node, hotspot).unwrap();
                    assert!((from_ms..until_ms).contains(&plan.exit_ms));
                }
                assert!(plan.actions.windows(2).all(|w| w[0].0 <= w[1].0));
                assert!(plan.actions.iter().all(|(at_ms, _)| *at_ms < plan.exit_ms));
            }
        }
    }

    #[test]
    fn a_capped_visit_never_continues() {
        let graphs = crate::sample_graphs();
        let start = graphs[0].node("n-intro").unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for _ in 0..200 {
            let exit = plan_visit(&mut rng, start, false).exit;
            assert!(matches!(exit, Exit::Drop | Exit::End), "{exit:?}");
        }
    }
}
