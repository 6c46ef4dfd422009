//! What reports ask of a store.
//!
//! A store answers one question: the events of one video of one partner in
//! a UTC time range that pass the row filters. Everything that depends on the
//! graph or on whole sessions (levels, completion, drop-offs, node and
//! hotspot filters, view-time deltas) is computed above the store, so every
//! backend gives the same numbers by construction.

use chrono::{DateTime, Utc};
use pathlens_model::{EventKind, PlaybackType};

use crate::PartnerId;

/// Known (with a user id) or anonymous viewers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewerKind {
    Known,
    Anonymous,
}

/// Filters that apply to single events. An empty list means "any value";
/// a non-empty list keeps events whose value is in it. The literal value
/// `unknown` in a context list also matches events where it is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextFilter {
    pub countries: Vec<String>,
    pub devices: Vec<String>,
    pub os: Vec<String>,
    pub browsers: Vec<String>,
    pub referrer_domains: Vec<String>,
    pub applications: Vec<String>,
    pub playback_types: Vec<PlaybackType>,
    pub user_ids: Vec<String>,
    pub viewer: Option<ViewerKind>,
}

/// The events of one video in `[start, end)` that pass `filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRequest {
    pub partner_id: PartnerId,
    pub video_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Only these kinds; all kinds when empty.
    pub kinds: Vec<EventKind>,
    pub filter: ContextFilter,
}

/// The part of an event reports need.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// Microseconds since the Unix epoch, UTC.
    pub ts_us: i64,
    pub kind: EventKind,
    pub session_id: String,
    pub entry_id: Option<String>,
    pub node_id: Option<String>,
    pub event_index: u32,
    pub user_id: Option<String>,
    pub position: Option<f64>,
    pub play_time_sum: Option<f64>,
    pub from_node_id: Option<String>,
    pub to_node_id: Option<String>,
    pub hotspot_id: Option<String>,
    pub quartile: Option<u8>,
    /// See [`pathlens_model::Event::player_session`].
    pub player_session: Option<String>,
}

impl ContextFilter {
    /// True when the filter keeps everything.
    pub fn is_empty(&self) -> bool {
        *self == ContextFilter::default()
    }
}
