//! KAVA beacons (`/api_v3/index.php` and `/api_v3/service/analytics/...`):
//! the query string and the form body are the attacker's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pathlens_ingest::kava::{BeaconRequest, Method, decode};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    // The query is the text before the first NUL byte, the body what follows.
    let (query, body) = match rest.iter().position(|&b| b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let request = BeaconRequest {
        method: if flags & 1 == 1 {
            Method::Post
        } else {
            Method::Get
        },
        query,
        body: if flags & 1 == 1 { body } else { &[] },
        require_service_action: flags & 2 == 2,
    };
    let _ = request.retry_hash();
    let _ = decode(&request);
});
