//! Session reassembly: which viewing of the path a beacon belongs to, and
//! which player session its views run in. The rules are listed in the
//! module documentation of [`crate::kava`].

use chrono::{DateTime, Duration, Utc};

use super::{Beacon, SESSION_CAPACITY, SESSION_TTL_HOURS};
use crate::recent::RecentMap;

/// Which rule gave a beacon its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRule {
    /// A path-level beacon (1, 2, 3, 44, 47, 48): the session key of its
    /// `sessionId` (the page guid of `<page guid>:<player guid>`, else the
    /// whole id), which it announces for the video.
    PathLevel,
    /// Any other beacon whose session key a path-level beacon of the same
    /// video announced: the node players of players ≥ v3.17, which share
    /// the page guid, and the first player of any generation.
    Announced,
    /// An old node player's beacon, joined to the session of the latest 44
    /// for its node from the same client.
    Joined,
    /// An old node player's beacon with no 44 to join: its own `sessionId`.
    Unjoined,
    /// Any other beacon (a plain, non-interactive player): its own
    /// `sessionId`.
    Own,
}

/// The session a beacon was assigned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    /// The viewing of the path (the stored `session_id`).
    pub session_id: String,
    /// The player session over which the beacon's `eventIndex` and
    /// `playTimeSum` run: `sessionId`, or `sessionId#n` after n resets.
    pub player_session: String,
    pub rule: SessionRule,
}

/// What is remembered of one player (one `sessionId` of one partner).
#[derive(Debug, Clone, Default)]
struct Player {
    /// The highest `eventIndex` seen since the last reset.
    max_index: u32,
    /// How many times the player restarted its `eventIndex` at 1.
    resets: u32,
    /// The session an old node player was joined to.
    joined: Option<String>,
}

/// The memory of session reassembly, bounded in size and age; lost on
/// restart.
#[derive(Debug)]
pub struct KavaSessions {
    players: RecentMap<Player>,
    /// Latest 44's session per (partner, video, node, client).
    node_plays: RecentMap<String>,
    /// Session keys announced by path-level beacons, per (partner, video).
    paths: RecentMap<()>,
}

impl Default for KavaSessions {
    fn default() -> KavaSessions {
        KavaSessions::new(SESSION_CAPACITY, Duration::hours(SESSION_TTL_HOURS))
    }
}

impl KavaSessions {
    /// A memory of at most `capacity` players and `capacity` node plays,
    /// each kept for `ttl` after its last beacon.
    pub fn new(capacity: usize, ttl: Duration) -> KavaSessions {
        KavaSessions {
            players: RecentMap::new(capacity, ttl),
            node_plays: RecentMap::new(capacity, ttl),
            paths: RecentMap::new(capacity, ttl),
        }
    }

    /// Assigns `beacon`, arrived at `now` from the client with fingerprint
    /// `client`, to its session, and remembers what later beacons need.
    /// Call it for every accepted beacon, ignored types included (their
    /// `eventIndex` tells resets too), but never for a retry.
    pub fn assign(&mut self, beacon: &Beacon, client: u64, now: DateTime<Utc>) -> Assigned {
        let player_key = key(&[
            &beacon.partner_id.to_le_bytes(),
            beacon.session_id.as_bytes(),
        ]);
        let own = session_key(&beacon.session_id);
        let path_key = key(&[
            &beacon.partner_id.to_le_bytes(),
            beacon.video_id().as_bytes(),
            own.as_bytes(),
        ]);
        let node_key = beacon.node_id.as_deref().map(|node| {
            key(&[
                &beacon.partner_id.to_le_bytes(),
                beacon.video_id().as_bytes(),
                node.as_bytes(),
                &client.to_le_bytes(),
            ])
        });
        let (session_id, rule) = if beacon.is_path_level() {
            self.paths.insert(path_key, (), now);
            (own.to_owned(), SessionRule::PathLevel)
        } else if self.paths.get(path_key, now).is_some() {
            (own.to_owned(), SessionRule::Announced)
        } else if beacon.is_node_level() {
            let joined = self
                .players
                .get(player_key, now)
                .and_then(|player| player.joined.clone())
                .or_else(|| {
                    node_key.and_then(|node_key| self.node_plays.get(node_key, now).cloned())
                });
            match joined {
                Some(session) => (session, SessionRule::Joined),
                None => (own.to_owned(), SessionRule::Unjoined),
            }
        } else {
            (own.to_owned(), SessionRule::Own)
        };
        // 44, 47 and 48 are copies of the impression with its eventIndex.
        let frozen_index = matches!(beacon.event_type, 44 | 47 | 48);
        let joined = (rule == SessionRule::Joined).then(|| session_id.clone());
        let index = beacon.event_index;
        let player = self.players.upsert(player_key, now, |old| {
            let mut player = old.unwrap_or_default();
            if !frozen_index {
                if index == 1 && player.max_index > 1 {
                    player.resets += 1;
                    player.max_index = 1;
                } else {
                    player.max_index = player.max_index.max(index);
                }
            }
            if player.joined.is_none() {
                player.joined = joined;
            }
            player
        });
        let player_session = match player.resets {
            0 => beacon.session_id.clone(),
            resets => format!("{}#{resets}", beacon.session_id),
        };
        if beacon.event_type == 44
            && let Some(node_key) = node_key
        {
            self.node_plays.insert(node_key, session_id.clone(), now);
        }
        Assigned {
            session_id,
            player_session,
            rule,
        }
    }
}

/// The session a `sessionId` names on its own: the page guid of
/// `<page guid>:<player guid>`, else the whole id. Old players send ids of
/// the same shape with both halves fresh per player, so the key alone never
/// joins two players: only an announcement by a path-level beacon does.
fn session_key(session_id: &str) -> &str {
    match session_id.split_once(':') {
        Some((page, player)) if !page.is_empty() && !player.is_empty() => page,
        _ => session_id,
    }
}

fn key(parts: &[&[u8]]) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.digest()
}
