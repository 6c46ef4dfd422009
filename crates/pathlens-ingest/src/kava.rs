//! Kaltura KAVA beacons: what the real players send to
//! `/api_v3/index.php?service=analytics&action=trackEvent` (or the path form
//! `/api_v3/service/analytics/action/trackEvent`), decoded into
//! [`Event`]s.
//!
//! Decoding ([`decode`]) is pure. What must be remembered between beacons —
//! the retry window, the player sessions and the node plays that old players'
//! beacons are joined to — lives in [`KavaSessions`] and
//! [`RecentMap`](crate::recent::RecentMap), which the server holds in
//! memory, bounded in size and age. A restart forgets them (see "Session
//! reassembly" for what that costs).
//!
//! # The request
//!
//! - **GET**: every parameter in the query string, form-encoded (`+` is a
//!   space, `%XX` a byte); nested names arrive already flattened as `a:b`.
//! - **POST**: `eventType`, `partnerId`, `entryId` and `sessionId` in the
//!   query string, the rest in the body: a JSON object (nested objects are
//!   flattened into `a:b` names, arrays into `a:0`, `a:1`, …) or a
//!   form-encoded string. The body's form is told by its first non-blank
//!   byte (`{` is JSON), not by `Content-Type`, because players send JSON as
//!   `text/plain` to avoid a CORS preflight.
//! - A parameter given twice: the first non-empty value counts, query string
//!   before body. An empty value is the same as an absent one.
//! - On `/api_v3/index.php`, `service=analytics` and `action=trackEvent` are
//!   required (any case).
//!
//! # Validation (each failure names the parameter; the server answers 400)
//!
//! - Required: `eventType`, `partnerId`, `entryId`, `sessionId`,
//!   `eventIndex`. Integers are whole numbers from 0 to 2³²−1 (`3` and `3.0`
//!   are both 3).
//! - `position`, `playTimeSum`: finite decimal numbers. A negative
//!   `playTimeSum` is refused; a negative `position` is a live stream's
//!   offset from the live edge and is stored as absent.
//! - Ids (`entryId`, `rootEntryId`, `sessionId`, `nodeId`, `fromNodeId`,
//!   `toNodeId`, `hotspotId`, `userId`, `application`) hold at most
//!   [`MAX_TEXT_CHARS`] characters, `target` [`MAX_URL_CHARS`].
//! - Kind-specific: 44 needs `nodeId`; 47 needs `hotspotId`; 48 needs
//!   `fromNodeId` and `toNodeId`; a 10002 hotspot click needs a hotspot id.
//! - `playbackType` other than `vod`, `live`, `dvr` (any case) is stored as
//!   absent, not refused.
//!
//! # Event types
//!
//! | `eventType` | stored as |
//! |---|---|
//! | 1, 2, 3 | impression, play_request, play — unless sent by a node's player (below) |
//! | 4, 33, 35, 34 | resume, pause, seek, replay |
//! | 11, 12, 13, 15, 14 | quartile 25, 50, 75, 90, 100 |
//! | 99 | view (`playTimeSum` → play_time_sum; a 99 without it, as 100 % arrives, adds no time; the 99 with `playTimeSum` 0 right after play is kept) |
//! | 44 | node_play |
//! | 47 | hotspot_click (URL hotspot; `target` → target_url) |
//! | 48 | node_switch (`fromNodeId`, `toNodeId`, `hotspotId` kept as sent, even when stale: the report engine counts it only when that hotspot sits on the from-node and leads to the to-node); node_id is `fromNodeId` |
//! | 98 | error |
//! | 10002 (BUTTON_CLICKED) | hotspot_click when its `feature` names a hotspot: the value contains `hotspot` in any case (`hotspot`, `hotspots`, `Hotspots plugin`). The hotspot id is `hotspotId`, else `buttonValue`, else `buttonName`; `target` → target_url. Other features are ignored. |
//! | anything else | ignored: answered like any beacon, stored nowhere, counted in `/metrics` |
//!
//! Impression, play request and play are path-level: the interactive player
//! sends them once per path, with `entryId` the path. The same types from a
//! node's own player (`nodeId` set and `rootEntryId` set and different from
//! `entryId`) would count the path again, so they are ignored (and
//! counted).
//!
//! # Fields
//!
//! - video_id = `rootEntryId`, else `entryId`; entry_id = `entryId`;
//!   node_id = `nodeId` (`fromNodeId` for 48); event_index = `eventIndex`.
//! - ts = the server's arrival time (beacons carry no time of their own).
//! - `userId` → user_id (absent or empty = anonymous); `application` →
//!   application; `playbackType` → playback_type; `referrer` (the raw page
//!   URL of current players, or its Base64 from players older than 2018) →
//!   referrer_domain via [`referrer::domain`]; the
//!   `Referer` header is not used (it names the player's iframe host, not
//!   the page). Device, OS and browser come from the `User-Agent`, the
//!   country from the trusted proxy header, as for native events.
//!
//! # Session reassembly
//!
//! Each node plays in its own player, with its own `sessionId`,
//! `eventIndex` and `playTimeSum`; one viewing of the path is reassembled
//! from them ([`KavaSessions::assign`]):
//!
//! 1. **player_session** = the beacon's `sessionId`: view increases are
//!    computed per player. After the player's *n*-th reset — a beacon other
//!    than 44/47/48 arrives with `eventIndex` 1 after the same `sessionId`
//!    has sent a higher index — it is `sessionId#n`, so that the restarted
//!    `eventIndex` and `playTimeSum` form a new player session instead of
//!    interleaving with the old one (the engine orders a player's views by
//!    event index). 44, 47 and 48 are copies of the impression and always
//!    carry `eventIndex` 1; they never count as a reset.
//! 2. **session_id** (the viewing of the path). A `sessionId`'s *key* is
//!    its page guid when it has the form `<page guid>:<player guid>`, else
//!    the whole id. The form does not tell the generation: players ≥ v3.17
//!    give every player on a page the same page guid, but older players
//!    send ids of the same form with both halves fresh per player. So the
//!    key alone never joins two players; the rules, in order:
//!    - A path-level beacon (1, 2, 3, 44, 47, 48, but not a node player's
//!      own 1/2/3) carries the first player's `sessionId`: its key is the
//!      session, and it *announces* that key for the (partner, video).
//!    - Any other beacon whose key was announced for its video belongs to
//!      that session: the node players of current players (same page
//!      guid) and the first player's own beacons, in both generations.
//!    - A node-level beacon whose key was not announced (`rootEntryId` set
//!      and different from `entryId`; `nodeId` set) comes from an old
//!      player: it is joined to the session whose latest 44 for the same
//!      (partner, video, node) came from the same client — the fingerprint
//!      of client IP and `User-Agent`. Once joined, a player stays in that
//!      session for the rest of its life, even if another 44 for that node
//!      arrives from the same client.
//!    - A node-level beacon that cannot be joined (it arrived before its
//!      44, the 44 came from another client fingerprint, or the server
//!      restarted in between) keeps its own key as session: its playing
//!      time and node viewers still count, but it does not add to the
//!      path's node plays, completion or drop-offs. Two tabs of the same
//!      browser playing the same node of the same path at the same moment
//!      cannot be told apart; the latest 44 wins.
//!    - Any other beacon (a plain, non-interactive player): its own key.
//! 3. The memory behind these rules (per player: the highest index seen,
//!    its reset count and its joined session; per node: the latest 44's
//!    session; per video: the announced keys) holds at most [`SESSION_CAPACITY`] entries of each kind, for
//!    [`SESSION_TTL_HOURS`] hours after their last beacon, and is lost on
//!    restart: a player that resets after a restart starts a new player
//!    session only at its next reset, and node beacons whose announcement
//!    and 44 both arrived before the restart stay unjoined (a current
//!    player's then still lands in its page guid's session).
//!
//! # Retries
//!
//! A network retry is a byte-identical repeat of a request. The server keeps
//! the hash of (method, raw query, raw body) of every accepted beacon for
//! [`RETRY_WINDOW_MINUTES`] minutes (at most [`RETRY_WINDOW_CAPACITY`]
//! beacons, oldest forgotten first) and answers a repeat as a duplicate
//! without storing it. Two beacons that differ in any byte are both kept,
//! whatever their (`sessionId`, `eventIndex`). The stored dedup key hashes
//! the request together with its arrival time, so the store never merges two
//! accepted beacons.

mod params;
mod session;

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use pathlens_model::{Context, Event, EventKind, PlaybackType};

use crate::country::CountryCode;
use crate::user_agent::{self, Agent};
use crate::{MAX_TEXT_CHARS, MAX_URL_CHARS, referrer};
use params::Params;

pub use session::{Assigned, KavaSessions, SessionRule};

/// The largest beacon body accepted, in bytes (real ones are under 2 KiB).
pub const MAX_BEACON_BYTES: usize = 64 * 1024;

/// How long a beacon's hash is kept to recognise its retries.
pub const RETRY_WINDOW_MINUTES: i64 = 10;

/// The most beacon hashes the retry window holds.
pub const RETRY_WINDOW_CAPACITY: usize = 500_000;

/// The most players, and the most node plays, session reassembly remembers.
pub const SESSION_CAPACITY: usize = 200_000;

/// How long session reassembly remembers a player or a node play.
pub const SESSION_TTL_HOURS: i64 = 6;

/// The HTTP method of a beacon; part of its identity for retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// One beacon request as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct BeaconRequest<'a> {
    pub method: Method,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// The raw body (empty for GET).
    pub body: &'a [u8],
    /// Set for `/api_v3/index.php`, which must name the service and action.
    pub require_service_action: bool,
}

impl BeaconRequest<'_> {
    /// The hash of (method, raw query, raw body) that identifies a network
    /// retry.
    pub fn retry_hash(&self) -> u64 {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(match self.method {
            Method::Get => b"GET\xff",
            Method::Post => b"PST\xff",
        });
        hasher.update(&(self.query.len() as u64).to_le_bytes());
        hasher.update(self.query.as_bytes());
        hasher.update(self.body);
        hasher.digest()
    }
}

/// The stored dedup key of an accepted beacon: its retry hash with its
/// arrival time, unique per accepted beacon.
pub fn stored_dedup_key(retry_hash: u64, arrival: DateTime<Utc>) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(b"kava\xff");
    hasher.update(&retry_hash.to_le_bytes());
    hasher.update(&arrival.timestamp_micros().to_le_bytes());
    hasher.digest()
}

/// The client fingerprint session reassembly joins old players by: a hash
/// of the client's IP address and `User-Agent`.
pub fn client_fingerprint(ip: Option<IpAddr>, user_agent: Option<&str>) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    match ip {
        Some(IpAddr::V4(v4)) => hasher.update(&v4.octets()),
        Some(IpAddr::V6(v6)) => hasher.update(&v6.octets()),
        None => hasher.update(b"-"),
    }
    hasher.update(b"\xff");
    hasher.update(user_agent.unwrap_or_default().as_bytes());
    hasher.digest()
}

/// A beacon that cannot be decoded; the server answers 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct KavaError {
    /// The parameter at fault (`(body)` for an unreadable body, `service`
    /// for a request to another Kaltura service).
    pub field: String,
    pub reason: String,
}

impl KavaError {
    fn new(field: &str, reason: impl Into<String>) -> KavaError {
        KavaError {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    fn body(reason: impl Into<String>) -> KavaError {
        KavaError::new("(body)", reason)
    }
}

/// Why a well-formed beacon is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// An `eventType` pathlens does not store (buffering, bitrate, captions,
    /// …).
    UnknownType,
    /// Impression, play request or play sent by a node's own player: the
    /// path player already reported it for the path.
    NodePlayerRepeat,
    /// A BUTTON_CLICKED (10002) whose feature is not a hotspot.
    NotAHotspot,
}

impl Ignored {
    /// A short label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Ignored::UnknownType => "unknown_type",
            Ignored::NodePlayerRepeat => "node_player_repeat",
            Ignored::NotAHotspot => "not_a_hotspot",
        }
    }
}

/// What a beacon is, once its type is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeaconKind {
    /// Stored as an event of this kind (with the quartile for quartiles).
    Event(EventKind, Option<u8>),
    Ignored(Ignored),
}

/// A decoded, validated beacon.
#[derive(Debug, Clone, PartialEq)]
pub struct Beacon {
    pub event_type: u32,
    pub kind: BeaconKind,
    pub partner_id: u32,
    pub entry_id: String,
    pub root_entry_id: Option<String>,
    pub session_id: String,
    pub event_index: u32,
    pub node_id: Option<String>,
    pub from_node_id: Option<String>,
    pub to_node_id: Option<String>,
    pub hotspot_id: Option<String>,
    pub target_url: Option<String>,
    pub position: Option<f64>,
    pub play_time_sum: Option<f64>,
    pub user_id: Option<String>,
    pub referrer: Option<String>,
    pub application: Option<String>,
    pub playback_type: Option<PlaybackType>,
}

/// What the request tells beyond the beacon's parameters.
#[derive(Debug, Clone, Copy)]
pub struct BeaconContext<'a> {
    /// The arrival time: the event's time.
    pub now: DateTime<Utc>,
    pub user_agent: Option<&'a str>,
    /// The trusted proxy's country header, if configured and present.
    pub country: Option<&'a str>,
}

/// Decodes and validates one beacon.
///
/// # Errors
/// A [`KavaError`] naming the first parameter that breaks a rule of the
/// module documentation.
pub fn decode(request: &BeaconRequest<'_>) -> Result<Beacon, KavaError> {
    let params = Params::read(request.query, request.body)?;
    if request.require_service_action {
        let is = |name: &str, expected: &str| {
            params
                .get(name)
                .is_some_and(|value| value.eq_ignore_ascii_case(expected))
        };
        if !is("service", "analytics") || !is("action", "trackEvent") {
            return Err(KavaError::new(
                "service",
                "only service=analytics&action=trackEvent is served here",
            ));
        }
    }
    let event_type = required(&params, "eventType", integer)?;
    let partner_id = required(&params, "partnerId", integer)?;
    let entry_id = required(&params, "entryId", id)?;
    let session_id = required(&params, "sessionId", id)?;
    let event_index = required(&params, "eventIndex", integer)?;
    let mut beacon = Beacon {
        event_type,
        kind: BeaconKind::Ignored(Ignored::UnknownType),
        partner_id,
        entry_id,
        root_entry_id: optional(&params, "rootEntryId", id)?,
        session_id,
        event_index,
        node_id: optional(&params, "nodeId", id)?,
        from_node_id: optional(&params, "fromNodeId", id)?,
        to_node_id: optional(&params, "toNodeId", id)?,
        hotspot_id: optional(&params, "hotspotId", id)?,
        target_url: optional(&params, "target", url)?,
        position: optional(&params, "position", position)?.flatten(),
        play_time_sum: optional(&params, "playTimeSum", amount)?,
        user_id: optional(&params, "userId", id)?,
        referrer: params.get("referrer").map(str::to_owned),
        application: optional(&params, "application", id)?,
        playback_type: params.get("playbackType").and_then(playback_type),
    };
    beacon.kind = classify(&mut beacon, &params)?;
    Ok(beacon)
}

/// Reads the type and checks what that type requires.
fn classify(beacon: &mut Beacon, params: &Params) -> Result<BeaconKind, KavaError> {
    let need = |present: bool, name: &str, event_type: u32| {
        if present {
            Ok(())
        } else {
            Err(KavaError::new(
                name,
                format!("required for eventType {event_type}"),
            ))
        }
    };
    let event = |kind| Ok(BeaconKind::Event(kind, None));
    let quartile = |value| Ok(BeaconKind::Event(EventKind::Quartile, Some(value)));
    let event_type = beacon.event_type;
    match event_type {
        1..=3 if beacon.is_node_player_repeat() => {
            Ok(BeaconKind::Ignored(Ignored::NodePlayerRepeat))
        }
        1 => event(EventKind::Impression),
        2 => event(EventKind::PlayRequest),
        3 => event(EventKind::Play),
        4 => event(EventKind::Resume),
        33 => event(EventKind::Pause),
        34 => event(EventKind::Replay),
        35 => event(EventKind::Seek),
        11 => quartile(25),
        12 => quartile(50),
        13 => quartile(75),
        15 => quartile(90),
        14 => quartile(100),
        99 => event(EventKind::View),
        98 => event(EventKind::Error),
        44 => {
            need(beacon.node_id.is_some(), "nodeId", event_type)?;
            event(EventKind::NodePlay)
        }
        47 => {
            need(beacon.hotspot_id.is_some(), "hotspotId", event_type)?;
            event(EventKind::HotspotClick)
        }
        48 => {
            need(beacon.from_node_id.is_some(), "fromNodeId", event_type)?;
            need(beacon.to_node_id.is_some(), "toNodeId", event_type)?;
            event(EventKind::NodeSwitch)
        }
        10002 => {
            let is_hotspot = params
                .get("feature")
                .is_some_and(|feature| feature.to_ascii_lowercase().contains("hotspot"));
            if !is_hotspot {
                return Ok(BeaconKind::Ignored(Ignored::NotAHotspot));
            }
            if beacon.hotspot_id.is_none() {
                beacon.hotspot_id = match optional(params, "buttonValue", id)? {
                    Some(value) => Some(value),
                    None => optional(params, "buttonName", id)?,
                };
            }
            need(
                beacon.hotspot_id.is_some(),
                "hotspotId (or buttonValue, buttonName)",
                event_type,
            )?;
            event(EventKind::HotspotClick)
        }
        _ => Ok(BeaconKind::Ignored(Ignored::UnknownType)),
    }
}

impl Beacon {
    /// The interactive video: `rootEntryId`, else `entryId`.
    pub fn video_id(&self) -> &str {
        self.root_entry_id.as_deref().unwrap_or(&self.entry_id)
    }

    /// Path-level beacons (types 1, 2, 3, 44, 47, 48, but not a node
    /// player's own 1/2/3) carry the first player's session id.
    pub fn is_path_level(&self) -> bool {
        matches!(self.event_type, 1 | 2 | 3 | 44 | 47 | 48) && !self.is_node_player_repeat()
    }

    /// Whether the beacon comes from a node's own player: `nodeId` set and
    /// `rootEntryId` set and different from `entryId`.
    pub fn is_node_level(&self) -> bool {
        self.node_id.is_some()
            && self
                .root_entry_id
                .as_deref()
                .is_some_and(|root| root != self.entry_id)
    }

    /// Impression, play request or play from a node's own player: a repeat
    /// of what the path player reported, not a path-level beacon.
    pub fn is_node_player_repeat(&self) -> bool {
        matches!(self.event_type, 1..=3) && self.is_node_level()
    }

    /// The stored event, once the session is assigned; `None` for an
    /// ignored beacon.
    pub fn to_event(
        &self,
        assigned: Assigned,
        ctx: &BeaconContext<'_>,
        dedup_key: u64,
    ) -> Option<Event> {
        let BeaconKind::Event(kind, quartile) = self.kind else {
            return None;
        };
        // Path-level impression, play request and play may carry the start
        // node's `nodeId`; they are whole-video events all the same, so a
        // viewer who only loaded the player is no viewer of the start node.
        let node_id = match kind {
            EventKind::NodeSwitch => self.from_node_id.clone(),
            EventKind::Impression | EventKind::PlayRequest | EventKind::Play => None,
            _ => self.node_id.clone(),
        };
        let agent = ctx.user_agent.map(user_agent::parse).unwrap_or_default();
        let Agent {
            device,
            os,
            browser,
        } = agent;
        Some(Event {
            partner_id: self.partner_id,
            video_id: self.video_id().to_owned(),
            node_id,
            entry_id: Some(self.entry_id.clone()),
            session_id: assigned.session_id,
            event_index: self.event_index,
            ts: ctx.now,
            kind,
            user_id: self.user_id.clone(),
            position: self.position,
            play_time_sum: self.play_time_sum,
            from_node_id: self.from_node_id.clone(),
            to_node_id: self.to_node_id.clone(),
            hotspot_id: self.hotspot_id.clone(),
            target_url: self.target_url.clone(),
            quartile,
            context: Context {
                country: ctx
                    .country
                    .and_then(CountryCode::parse)
                    .map(CountryCode::to_owned_string),
                device,
                os,
                browser,
                referrer_domain: self.referrer.as_deref().and_then(referrer::domain),
                application: self.application.clone(),
                playback_type: self.playback_type,
            },
            player_session: Some(assigned.player_session),
            dedup_key,
        })
    }
}

type Parse<T> = fn(&str) -> Result<T, String>;

fn required<T>(params: &Params, name: &str, parse: Parse<T>) -> Result<T, KavaError> {
    optional(params, name, parse)?
        .ok_or_else(|| KavaError::new(name, "required, but absent or empty"))
}

fn optional<T>(params: &Params, name: &str, parse: Parse<T>) -> Result<Option<T>, KavaError> {
    if params.get(name).is_none()
        && let Some(shape) = params.nested(name)
    {
        return Err(KavaError::new(
            name,
            format!("expected a string or a number, got {shape}"),
        ));
    }
    params
        .get(name)
        .map(|raw| parse(raw).map_err(|reason| KavaError::new(name, reason)))
        .transpose()
}

fn integer(raw: &str) -> Result<u32, String> {
    let raw = raw.trim();
    if let Ok(value) = raw.parse::<u32>() {
        return Ok(value);
    }
    match raw.parse::<f64>() {
        Ok(value) if value.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&value) => {
            Ok(value as u32)
        }
        _ => Err(format!(
            "expected a whole number from 0 to {}, got {}",
            u32::MAX,
            crate::value::quoted(raw)
        )),
    }
}

fn number(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        _ => Err(format!(
            "expected a decimal number, got {}",
            crate::value::quoted(raw)
        )),
    }
}

fn position(raw: &str) -> Result<Option<f64>, String> {
    number(raw).map(|value| (value >= 0.0).then_some(value))
}

fn amount(raw: &str) -> Result<f64, String> {
    match number(raw)? {
        value if value >= 0.0 => Ok(value),
        value => Err(format!("expected 0 or more, got {value}")),
    }
}

fn text(raw: &str, max_chars: usize) -> Result<String, String> {
    let raw = raw.trim();
    if raw.len() > max_chars && raw.chars().count() > max_chars {
        return Err(format!("longer than {max_chars} characters"));
    }
    Ok(raw.to_owned())
}

fn id(raw: &str) -> Result<String, String> {
    text(raw, MAX_TEXT_CHARS)
}

fn url(raw: &str) -> Result<String, String> {
    text(raw, MAX_URL_CHARS)
}

fn playback_type(raw: &str) -> Option<PlaybackType> {
    PlaybackType::from_name(&raw.trim().to_ascii_lowercase())
}

#[cfg(test)]
mod tests;
