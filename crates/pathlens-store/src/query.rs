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
    /// Playback type names (`vod`, `live`, `dvr`, or `unknown`).
    pub playback_types: Vec<String>,
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

/// A context dimension that events carry and reports break figures down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    Country,
    Device,
    Os,
    Browser,
    ReferrerDomain,
    Application,
    PlaybackType,
}

impl Dimension {
    pub const ALL: [Dimension; 7] = [
        Dimension::Country,
        Dimension::Device,
        Dimension::Os,
        Dimension::Browser,
        Dimension::ReferrerDomain,
        Dimension::Application,
        Dimension::PlaybackType,
    ];

    /// The dimension's name in the API, which is also its column in the
    /// SQL backends.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Country => "country",
            Dimension::Device => "device",
            Dimension::Os => "os",
            Dimension::Browser => "browser",
            Dimension::ReferrerDomain => "referrer_domain",
            Dimension::Application => "application",
            Dimension::PlaybackType => "playback_type",
        }
    }

    /// The filter parameter that narrows reports to values of it.
    pub fn filter_param(self) -> &'static str {
        match self {
            Dimension::Country => "countries",
            Dimension::Device => "devices",
            Dimension::Os => "os",
            Dimension::Browser => "browsers",
            Dimension::ReferrerDomain => "referrer_domains",
            Dimension::Application => "applications",
            Dimension::PlaybackType => "playback_types",
        }
    }

    pub fn from_name(name: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The names of every dimension, for error messages.
    pub fn names() -> String {
        Dimension::ALL.map(Dimension::name).join(", ")
    }

    /// The value of this dimension in `context`; absent values are `None`.
    pub fn value_of(self, context: &pathlens_model::Context) -> Option<&str> {
        match self {
            Dimension::Country => context.country.as_deref(),
            Dimension::Device => context.device.as_deref(),
            Dimension::Os => context.os.as_deref(),
            Dimension::Browser => context.browser.as_deref(),
            Dimension::ReferrerDomain => context.referrer_domain.as_deref(),
            Dimension::Application => context.application.as_deref(),
            Dimension::PlaybackType => context.playback_type.map(PlaybackType::name),
        }
    }
}

/// The literal that stands for an absent value, in filters and in
/// [`DimensionValue::value`].
pub const UNKNOWN: &str = "unknown";

impl ContextFilter {
    /// The values this filter keeps of `dimension` (any when empty).
    pub fn values_of(&self, dimension: Dimension) -> &[String] {
        match dimension {
            Dimension::Country => &self.countries,
            Dimension::Device => &self.devices,
            Dimension::Os => &self.os,
            Dimension::Browser => &self.browsers,
            Dimension::ReferrerDomain => &self.referrer_domains,
            Dimension::Application => &self.applications,
            Dimension::PlaybackType => &self.playback_types,
        }
    }

    /// This filter, further narrowed to events whose `dimension` is `value`
    /// ([`UNKNOWN`] for absent); `None` when the filter already keeps only
    /// other values of that dimension, so that nothing would pass.
    pub fn narrowed(&self, dimension: Dimension, value: &str) -> Option<ContextFilter> {
        let kept = self.values_of(dimension);
        if !kept.is_empty() && !kept.iter().any(|v| v == value) {
            return None;
        }
        let mut narrowed = self.clone();
        let list = match dimension {
            Dimension::Country => &mut narrowed.countries,
            Dimension::Device => &mut narrowed.devices,
            Dimension::Os => &mut narrowed.os,
            Dimension::Browser => &mut narrowed.browsers,
            Dimension::ReferrerDomain => &mut narrowed.referrer_domains,
            Dimension::Application => &mut narrowed.applications,
            Dimension::PlaybackType => &mut narrowed.playback_types,
        };
        *list = vec![value.to_string()];
        Some(narrowed)
    }
}

/// The values of one dimension among the events of one video in `[start,
/// end)` that pass `filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuesRequest {
    pub partner_id: PartnerId,
    pub video_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub dimension: Dimension,
    pub filter: ContextFilter,
}

/// One value of a dimension and how many events carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DimensionValue {
    /// The value; [`UNKNOWN`] gathers the events without one (and any that
    /// carry the literal, which the `unknown` filter keeps alike).
    pub value: String,
    /// Play events with it.
    pub plays: u64,
    /// Events of any kind with it.
    pub events: u64,
}

/// Orders values as reports rank them: most plays first, then most events,
/// then by value.
pub fn rank_values(values: &mut [DimensionValue]) {
    values.sort_by(|a, b| {
        b.plays
            .cmp(&a.plays)
            .then(b.events.cmp(&a.events))
            .then_with(|| a.value.cmp(&b.value))
    });
}
