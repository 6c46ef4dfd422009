//! The events of one viewing session, numbered and stamped as they are made.
//!
//! A [`SessionRecorder`] owns the session's clock and its event counter: the
//! walk tells it how much time passed and what happened, and it fills in the
//! fields every event shares (partner, video, session, viewer, context,
//! index, time, dedup key). Client retries are added once the session is
//! complete, by [`with_retries`].

use chrono::{DateTime, Duration, Utc};
use pathlens_model::{Context, Event, EventKind, Node};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// What every event of a session shares.
pub(crate) struct SessionHeader {
    pub partner_id: u32,
    pub video_id: String,
    pub session_id: String,
    pub user_id: Option<String>,
    pub context: Context,
    /// When the player loaded; the session clock counts from here.
    pub start: DateTime<Utc>,
}

/// Collects a session's events in order, numbering them 1, 2, 3…
pub(crate) struct SessionRecorder {
    header: SessionHeader,
    /// Milliseconds since `header.start`; only ever moves forward, so event
    /// times never go back within a session.
    clock_ms: u64,
    last_index: u32,
    events: Vec<Event>,
}

impl SessionRecorder {
    /// Starts an empty session at `header.start`.
    pub fn new(header: SessionHeader) -> SessionRecorder {
        SessionRecorder {
            header,
            clock_ms: 0,
            last_index: 0,
            events: Vec::with_capacity(64),
        }
    }

    /// Moves the session clock forward by `ms`.
    pub fn wait(&mut self, ms: u64) {
        self.clock_ms += ms;
    }

    /// Records a whole-video event: no node, the video id as entry id.
    pub fn record_video(&mut self, kind: EventKind) -> &mut Event {
        let entry_id = self.header.video_id.clone();
        self.record(kind, None, entry_id)
    }

    /// Records an event of `node`, at `position_ms` into it, and returns it
    /// so the caller can fill in the fields its kind needs.
    pub fn record_node(&mut self, kind: EventKind, node: &Node, position_ms: u64) -> &mut Event {
        let event = self.record(kind, Some(node.id.clone()), node.entry_id.clone());
        event.position = Some(seconds(position_ms));
        event
    }

    fn record(&mut self, kind: EventKind, node_id: Option<String>, entry_id: String) -> &mut Event {
        self.last_index += 1;
        let header = &self.header;
        let dedup_key =
            Event::native_dedup_key(&header.video_id, &header.session_id, self.last_index);
        self.events.push(Event {
            partner_id: header.partner_id,
            video_id: header.video_id.clone(),
            node_id,
            entry_id: Some(entry_id),
            session_id: header.session_id.clone(),
            event_index: self.last_index,
            ts: header.start + Duration::milliseconds(self.clock_ms as i64),
            kind,
            user_id: header.user_id.clone(),
            position: None,
            play_time_sum: None,
            from_node_id: None,
            to_node_id: None,
            hotspot_id: None,
            target_url: None,
            quartile: None,
            context: header.context.clone(),
            player_session: None,
            dedup_key,
        });
        let last = self.events.len() - 1;
        &mut self.events[last]
    }

    /// The session's events, in the order they were recorded.
    pub fn into_events(self) -> Vec<Event> {
        self.events
    }
}

/// Converts milliseconds to the seconds events carry.
pub(crate) fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// Share of a retried session's events that are sent twice.
const RETRIED_EVENT_SHARE: f64 = 0.2;

/// Models client retries: each event is repeated, identically and right
/// after itself, with probability [`RETRIED_EVENT_SHARE`], and at least one
/// event of the session is.
pub(crate) fn with_retries(events: Vec<Event>, rng: &mut ChaCha8Rng) -> Vec<Event> {
    if events.is_empty() {
        return events;
    }
    let forced = rng.random_range(0..events.len());
    let mut out = Vec::with_capacity(events.len() + events.len() / 4 + 1);
    for (position, event) in events.into_iter().enumerate() {
        let repeat = position == forced || rng.random_bool(RETRIED_EVENT_SHARE);
        if repeat {
            out.push(event.clone());
        }
        out.push(event);
    }
    out
}
