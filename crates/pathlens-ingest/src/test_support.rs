//! Requests and events shared by the unit tests of several modules.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use crate::RequestContext;

pub(crate) const PARTNER: u32 = 101;

pub(crate) const CHROME_ON_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) \
     AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

/// The server's clock in every test.
pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 8, 30, 0).unwrap()
}

/// A player's request: untrusted times, no header context.
pub(crate) fn player_request() -> RequestContext<'static> {
    RequestContext {
        window: crate::TimeWindow::default(),
        partner_id: PARTNER,
        now: now(),
        trusted_timestamps: false,
        user_agent: None,
        country: None,
    }
}

/// A minimal valid event of `kind`, with what that kind requires.
pub(crate) fn minimal_event(kind: &str, event_index: u32) -> Value {
    let mut event = json!({
        "partner_id": PARTNER,
        "video_id": "1_path",
        "session_id": "page:player",
        "event_index": event_index,
        "kind": kind,
    });
    let extra = match kind {
        "node_play" => json!({"node_id": "n1"}),
        "node_switch" => json!({"from_node_id": "n1", "to_node_id": "n2"}),
        "hotspot_click" => json!({"hotspot_id": "h1"}),
        "quartile" => json!({"quartile": 50}),
        _ => json!({}),
    };
    if let (Some(fields), Value::Object(extra)) = (event.as_object_mut(), extra) {
        fields.extend(extra);
    }
    event
}

/// `events` as NDJSON text.
pub(crate) fn ndjson(events: &[Value]) -> String {
    events.iter().map(|event| format!("{event}\n")).collect()
}
