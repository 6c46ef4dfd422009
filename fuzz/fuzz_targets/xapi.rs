//! xAPI statements (`POST /xapi/statements`) and their ISO 8601 durations.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use pathlens_ingest::RequestContext;
use pathlens_ingest::xapi::{XapiContext, decode_statements, iso_duration_seconds};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    if let Ok(text) = std::str::from_utf8(body) {
        if let Some(seconds) = iso_duration_seconds(text) {
            assert!(
                seconds.is_finite() && seconds >= 0.0,
                "{text:?} gave {seconds}"
            );
        }
    }
    let ctx = XapiContext {
        request: RequestContext {
            window: pathlens_ingest::TimeWindow::default(),
            partner_id: 1,
            now: Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap(),
            trusted_timestamps: flags & 1 == 1,
            user_agent: None,
            country: None,
        },
        video: (flags & 2 == 2).then_some("video-1"),
    };
    let _ = decode_statements(body, &ctx);
});
