//! The `User-Agent` parser and the referrer-domain extraction, both fed by
//! request headers and event fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pathlens_ingest::{referrer, user_agent};

fuzz_target!(|text: &str| {
    let _ = user_agent::parse(text);
    if let Some(domain) = referrer::domain(text) {
        assert!(!domain.is_empty(), "an empty referrer domain from {text:?}");
    }
});
