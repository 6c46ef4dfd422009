//! Decoding and validation of incoming viewer events.
//!
//! Events reach pathlens as request bodies of our batch API and as lines of
//! `pathlens import` files, in the native event format of docs/metrics.md. This
//! crate turns them into validated [`pathlens_model::Event`]s, ready for a
//! store, and says exactly why it refused the others.
//!
//! # Walk-through
//!
//! - [`decode_batch`] (module `batch`) takes one request body: it
//!   decompresses gzip within [`MAX_BODY_BYTES`], tells a JSON array from
//!   NDJSON by its first character, enforces [`MAX_EVENTS_PER_REQUEST`], and
//!   decodes each event. A body it cannot read at all is an [`IngestError`];
//!   a bad event is a [`Rejection`] and the other events are kept.
//! - [`decode_event`] (module `native`) decodes one event object. Module
//!   `raw` reads its fields in one pass over the JSON, borrowing strings from
//!   the input and converting each value to its field's type (module `value`
//!   holds the conversions, module `field` the names); `native` then checks
//!   the rules that span fields and fills what the request tells.
//! - [`user_agent`] derives device type, OS family and browser from the
//!   `User-Agent` header; [`referrer`] extracts the referrer domain from a
//!   URL, a bare domain or the Base64 that old players send.
//!
//! # Rules of the native format
//!
//! - Every field must be one of the names docs/metrics.md lists; any other name
//!   rejects the event, so a typo never silently loses data. A field given
//!   twice is rejected too.
//! - `partner_id`, `video_id`, `session_id`, `event_index` and `kind` are
//!   required; `partner_id` must be the partner of the request's key.
//! - `null`, an absent field and an empty string are the same: absent. So an
//!   empty `user_id` is an anonymous viewer, like a missing one.
//! - Strings hold at most [`MAX_TEXT_CHARS`] characters, `target_url`
//!   [`MAX_URL_CHARS`]. `position` and `play_time_sum` are finite numbers,
//!   zero or more. `quartile` is 25, 50, 75, 90 or 100; `playback_type` is
//!   `vod`, `live` or `dvr`; `country` is two letters, stored upper-case.
//! - `node_play` needs `node_id`; `node_switch` needs `from_node_id` and
//!   `to_node_id` (and takes `from_node_id` as its `node_id` when it has
//!   none); `hotspot_click` needs `hotspot_id`; `quartile` needs `quartile`.
//! - `ts` must be RFC 3339 when present, but it is the event's time only in
//!   an authenticated import ([`RequestContext::trusted_timestamps`]);
//!   otherwise the server's time is.
//! - Device, OS and browser missing from an event come from the
//!   `User-Agent`, a missing country from the trusted proxy's header; a
//!   `referrer_domain` is normalised by [`referrer::domain`] (and dropped, not
//!   rejected, when it names no domain, as `about:blank` does).
//! - The dedup key is [`pathlens_model::Event::native_dedup_key`].
//!
//! The per-event path builds no JSON tree and allocates nothing beyond the
//! event's own strings, except to describe a rejection.

mod batch;
mod country;
mod error;
mod field;
pub mod kava;
mod native;
mod raw;
pub mod recent;
pub mod referrer;
#[cfg(test)]
mod test_support;
pub mod user_agent;
mod value;
pub mod xapi;

use chrono::{DateTime, Utc};

pub use batch::{Decoded, decode_batch};
pub use country::country_code;
pub use error::{IngestError, IngestErrorKind, Rejection, Result};
pub use native::decode_event;

/// The most events one request may carry.
pub const MAX_EVENTS_PER_REQUEST: usize = 10_000;

/// The largest request body, in bytes; applies to the decompressed body too.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// The most characters a string field may hold, `target_url` excepted.
pub const MAX_TEXT_CHARS: usize = 256;

/// The most characters `target_url` may hold.
pub const MAX_URL_CHARS: usize = 2048;

/// The earliest time an imported event may carry: 2000-01-01T00:00:00Z.
pub const EARLIEST_EVENT_SECS: i64 = 946_684_800;

/// How far past the server's clock an imported event's time may lie.
pub const MAX_FUTURE_HOURS: i64 = 24;

/// The times an imported event may carry: from `earliest` to `max_future`
/// after the server's clock (clocks drift; years 1 and 9999 are typing
/// errors). Events without their own time get the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub earliest: DateTime<Utc>,
    pub max_future: chrono::Duration,
}

impl Default for TimeWindow {
    /// From [`EARLIEST_EVENT_SECS`] to [`MAX_FUTURE_HOURS`] hours ahead.
    fn default() -> TimeWindow {
        TimeWindow {
            earliest: DateTime::from_timestamp(EARLIEST_EVENT_SECS, 0).unwrap_or_default(),
            max_future: chrono::Duration::hours(MAX_FUTURE_HOURS),
        }
    }
}

impl TimeWindow {
    /// Why an event's own time `ts` is refused at `now`, if it is.
    pub fn problem(&self, ts: DateTime<Utc>, now: DateTime<Utc>) -> Option<String> {
        if ts < self.earliest {
            return Some(format!(
                "{} is before {}, the earliest time an event may carry (setting earliest_event_date)",
                ts.to_rfc3339(),
                self.earliest.to_rfc3339()
            ));
        }
        let latest = now + self.max_future;
        (ts > latest).then(|| {
            format!(
                "{} is more than {} hours after the server's time {} (setting max_future_hours)",
                ts.to_rfc3339(),
                self.max_future.num_hours(),
                now.to_rfc3339()
            )
        })
    }
}

/// Why an imported event's own time is refused under the default
/// [`TimeWindow`], if it is.
pub fn event_time_problem(ts: DateTime<Utc>, now: DateTime<Utc>) -> Option<String> {
    TimeWindow::default().problem(ts, now)
}

/// What the request tells about its events, beyond their own fields.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    /// The partner of the authenticated key; an event naming another partner
    /// is rejected, so a write key cannot write into another tenant.
    pub partner_id: u32,
    /// The server's time at arrival: the events' time, unless
    /// `trusted_timestamps` lets them carry their own.
    pub now: DateTime<Utc>,
    /// Set for an authenticated administrator's import, whose events keep the
    /// `ts` they carry (events without one get `now`).
    pub trusted_timestamps: bool,
    /// The request's `User-Agent`, from which device, OS and browser are
    /// derived for events that lack them.
    pub user_agent: Option<&'a str>,
    /// The viewer's country from a trusted proxy header, for events that lack
    /// one; ignored unless it is a two-letter code.
    pub country: Option<&'a str>,
    /// The times an imported event may carry.
    pub window: TimeWindow,
}
