//! One viewer event, as stored.
//!
//! Every source (our batch API, KAVA beacons, xAPI) is decoded into this one
//! shape before it reaches a store, so reports never care where an event came
//! from.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The longest stretch of playback one view event may add, in seconds: three
/// view intervals of 10 s (docs/metrics.md, Minutes Viewed).
pub const MAX_VIEW_CONTRIBUTION_SECS: f64 = 30.0;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Impression,
    PlayRequest,
    Play,
    View,
    NodePlay,
    NodeSwitch,
    HotspotClick,
    Quartile,
    Pause,
    Resume,
    Seek,
    Replay,
    Error,
}

impl EventKind {
    /// Every kind, in the order of their stored codes.
    pub const ALL: [EventKind; 13] = [
        EventKind::Impression,
        EventKind::PlayRequest,
        EventKind::Play,
        EventKind::View,
        EventKind::NodePlay,
        EventKind::NodeSwitch,
        EventKind::HotspotClick,
        EventKind::Quartile,
        EventKind::Pause,
        EventKind::Resume,
        EventKind::Seek,
        EventKind::Replay,
        EventKind::Error,
    ];

    /// The compact code stores keep; stable across versions (on-disk format).
    pub fn code(self) -> u8 {
        match self {
            EventKind::Impression => 1,
            EventKind::PlayRequest => 2,
            EventKind::Play => 3,
            EventKind::View => 4,
            EventKind::NodePlay => 5,
            EventKind::NodeSwitch => 6,
            EventKind::HotspotClick => 7,
            EventKind::Quartile => 8,
            EventKind::Pause => 9,
            EventKind::Resume => 10,
            EventKind::Seek => 11,
            EventKind::Replay => 12,
            EventKind::Error => 13,
        }
    }

    /// The kind stored under `code`, if any.
    pub fn from_code(code: u8) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.code() == code)
    }

    /// The snake_case name of the native format.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Impression => "impression",
            EventKind::PlayRequest => "play_request",
            EventKind::Play => "play",
            EventKind::View => "view",
            EventKind::NodePlay => "node_play",
            EventKind::NodeSwitch => "node_switch",
            EventKind::HotspotClick => "hotspot_click",
            EventKind::Quartile => "quartile",
            EventKind::Pause => "pause",
            EventKind::Resume => "resume",
            EventKind::Seek => "seek",
            EventKind::Replay => "replay",
            EventKind::Error => "error",
        }
    }

    /// The kind named `name` in the native format.
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// How the content was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaybackType {
    Vod,
    Live,
    Dvr,
}

impl PlaybackType {
    pub fn name(self) -> &'static str {
        match self {
            PlaybackType::Vod => "vod",
            PlaybackType::Live => "live",
            PlaybackType::Dvr => "dvr",
        }
    }

    pub fn from_name(name: &str) -> Option<PlaybackType> {
        match name {
            "vod" => Some(PlaybackType::Vod),
            "live" => Some(PlaybackType::Live),
            "dvr" => Some(PlaybackType::Dvr),
            _ => None,
        }
    }
}

/// The viewer's context, derived from the request or sent with the event.
/// Absent values are stored as absent and reported as "unknown".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    pub country: Option<String>,
    pub device: Option<String>,
    pub os: Option<String>,
    pub browser: Option<String>,
    pub referrer_domain: Option<String>,
    pub application: Option<String>,
    pub playback_type: Option<PlaybackType>,
}

/// One viewer event, validated and ready to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The tenant that owns the event; no report crosses partners.
    pub partner_id: u32,
    /// The interactive video (Kaltura's `rootEntryId`).
    pub video_id: String,
    /// The node being played; absent for whole-video events.
    pub node_id: Option<String>,
    /// The media entry that played; with `session_id` it names one player
    /// session, over which `play_time_sum` runs.
    pub entry_id: Option<String>,
    pub session_id: String,
    /// Order of the event within its player session.
    pub event_index: u32,
    /// When the event happened (server arrival time unless an authenticated
    /// import supplied it).
    pub ts: DateTime<Utc>,
    pub kind: EventKind,
    /// Absent for anonymous viewers.
    pub user_id: Option<String>,
    /// Position in the node, seconds.
    pub position: Option<f64>,
    /// Cumulative seconds played by this player session (view events).
    pub play_time_sum: Option<f64>,
    pub from_node_id: Option<String>,
    pub to_node_id: Option<String>,
    pub hotspot_id: Option<String>,
    pub target_url: Option<String>,
    /// 25, 50, 75, 90 or 100 on quartile events.
    pub quartile: Option<u8>,
    pub context: Context,
    /// The player session over which `play_time_sum` and `event_index` run,
    /// when it differs from `session_id`: Kaltura plays each node in its own
    /// player, with its own session id, inside one viewing session of the
    /// path. `None` means the player session is (`session_id`, `entry_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub player_session: Option<String>,
    /// Identity for deduplication: equal keys within a partner are one event.
    /// Native events hash (video, session id, event index); beacons hash
    /// their full parameter set.
    pub dedup_key: u64,
}

impl Event {
    /// The dedup key of a native event: our clients keep (session id, event
    /// index) unique within a video, so a retried batch hashes the same.
    pub fn native_dedup_key(video_id: &str, session_id: &str, event_index: u32) -> u64 {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(video_id.as_bytes());
        hasher.update(&[0xff]);
        hasher.update(session_id.as_bytes());
        hasher.update(&[0xff]);
        hasher.update(&event_index.to_le_bytes());
        hasher.digest()
    }

    /// The event in the native wire format (one NDJSON line of an import).
    pub fn to_native(&self) -> NativeEvent {
        NativeEvent {
            partner_id: self.partner_id,
            video_id: self.video_id.clone(),
            node_id: self.node_id.clone(),
            entry_id: self.entry_id.clone(),
            session_id: self.session_id.clone(),
            event_index: self.event_index,
            ts: Some(self.ts),
            kind: self.kind,
            user_id: self.user_id.clone(),
            position: self.position,
            play_time_sum: self.play_time_sum,
            from_node_id: self.from_node_id.clone(),
            to_node_id: self.to_node_id.clone(),
            hotspot_id: self.hotspot_id.clone(),
            target_url: self.target_url.clone(),
            quartile: self.quartile,
            country: self.context.country.clone(),
            device: self.context.device.clone(),
            os: self.context.os.clone(),
            browser: self.context.browser.clone(),
            referrer_domain: self.context.referrer_domain.clone(),
            application: self.context.application.clone(),
            playback_type: self.context.playback_type,
        }
    }
}

/// The native wire format of one event (batch API, `import` files), as
/// docs/metrics.md names its fields. Decoding with validation lives in
/// `pathlens-ingest`; this type is what our own tools write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeEvent {
    pub partner_id: u32,
    pub video_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
    pub session_id: String,
    pub event_index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<DateTime<Utc>>,
    pub kind: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play_time_sum: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_node_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_node_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hotspot_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quartile: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playback_type: Option<PlaybackType>,
}
