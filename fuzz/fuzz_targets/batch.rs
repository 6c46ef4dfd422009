//! The batch API's body decoder (`POST /api/v1/events`): JSON arrays, NDJSON
//! and gzip, as an authenticated writer or an administrator's import.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use pathlens_ingest::{RequestContext, decode_batch};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let ctx = RequestContext {
        window: pathlens_ingest::TimeWindow::default(),
        partner_id: 1,
        now: Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap(),
        trusted_timestamps: flags & 1 == 1,
        user_agent: (flags & 2 == 2)
            .then_some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"),
        country: (flags & 4 == 4).then_some("DE"),
    };
    if let Ok(decoded) = decode_batch(body, flags & 8 == 8, &ctx) {
        for event in &decoded.events {
            assert_eq!(
                event.partner_id, 1,
                "an event for another partner was accepted"
            );
        }
    }
});
