//! Kaltura KAVA beacons: `GET|POST /api_v3/index.php?service=analytics&action=trackEvent`
//! and `GET|POST /api_v3/service/analytics/action/trackEvent`.
//!
//! A beacon carries no key: its `partnerId` must name a partner with at
//! least one live key (403 otherwise), and when the configuration lists
//! origins for that partner (`[beacon_origins]`), the request's `Origin`
//! (or, without one, the origin of its `Referer`) must be one of them.
//! Decoding and session reassembly follow `pathlens_ingest::kava`; this
//! module adds the HTTP side: limits, the retry window, the partner and
//! origin checks, the per-address rate limit, bots, the store and the answer `{"time", "viewEventsEnabled"}`
//! that the player waits for.

use std::sync::Mutex;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method as HttpMethod};
use chrono::Duration;
use pathlens_ingest::kava::{
    self, BeaconContext, BeaconKind, BeaconRequest, KavaSessions, MAX_BEACON_BYTES, Method,
    RETRY_WINDOW_CAPACITY, RETRY_WINDOW_MINUTES,
};
use pathlens_ingest::recent::RecentMap;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::routes::blocking;

const SOURCE: &str = "kava";

/// What beacon decoding remembers between requests, in memory only.
pub struct BeaconMemory {
    /// Hashes of recently accepted requests, to answer retries.
    retries: Mutex<RecentMap<()>>,
    sessions: Mutex<KavaSessions>,
}

impl Default for BeaconMemory {
    fn default() -> BeaconMemory {
        BeaconMemory {
            retries: Mutex::new(RecentMap::new(
                RETRY_WINDOW_CAPACITY,
                Duration::minutes(RETRY_WINDOW_MINUTES),
            )),
            sessions: Mutex::new(KavaSessions::default()),
        }
    }
}

/// `/api_v3/index.php`: needs `service=analytics&action=trackEvent`.
pub async fn index_php(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    track(state, request, true).await
}

/// `/api_v3/service/analytics/action/trackEvent`.
pub async fn track_event(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    track(state, request, false).await
}

async fn track(
    state: AppState,
    request: Request,
    require_service_action: bool,
) -> Result<Json<Value>, ApiError> {
    let (parts, body) = request.into_parts();
    let client_ip = state.client_address(&parts);
    if let Err(error) = state.throttle.check_beacon(client_ip) {
        state.metrics.count_dropped_beacon("rate");
        return Err(error);
    }
    let method = if parts.method == HttpMethod::POST {
        Method::Post
    } else {
        Method::Get
    };
    let body = crate::error::read_body(body, MAX_BEACON_BYTES, "a beacon's body")
        .await
        .inspect_err(|_| state.metrics.count_events(SOURCE, 0, 0, 1))?;
    let request = BeaconRequest {
        method,
        query: parts.uri.query().unwrap_or_default(),
        body: &body,
        require_service_action,
    };
    let now = state.now();
    let answer = Json(json!({"time": now.timestamp(), "viewEventsEnabled": true}));
    let beacon = kava::decode(&request).map_err(|error| {
        state.metrics.count_events(SOURCE, 0, 0, 1);
        ApiError::new(crate::error::ErrorCode::InvalidBeacon, error.to_string())
    })?;
    if !state.keys.has_partner(beacon.partner_id) {
        state
            .metrics
            .beacons_unknown_partner
            .get_or_create(&crate::metrics::SourceLabels {
                source: SOURCE.to_string(),
            })
            .inc();
        state.metrics.count_events(SOURCE, 0, 0, 1);
        return Err(ApiError::forbidden(format!(
            "partnerId {}: unknown partner; beacons are accepted only for partners with a live API key (pathlens keys create --partner {})",
            beacon.partner_id, beacon.partner_id
        )));
    }
    if let Err(error) = check_origin(&state, beacon.partner_id, &parts.headers) {
        state.metrics.count_dropped_beacon("origin");
        return Err(error);
    }
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let user_agent = header("user-agent");
    if state.bots.is_bot(user_agent) {
        state.metrics.count_bots(SOURCE, 1);
        return Ok(answer);
    }
    let retry_hash = request.retry_hash();
    let first_time = state
        .beacons
        .retries
        .lock()
        .map_err(ApiError::internal)?
        .insert_if_absent(retry_hash, (), now);
    if !first_time {
        state.metrics.count_events(SOURCE, 0, 1, 0);
        return Ok(answer);
    }
    let fingerprint = kava::client_fingerprint(client_ip, user_agent);
    let assigned = state
        .beacons
        .sessions
        .lock()
        .map_err(ApiError::internal)?
        .assign(&beacon, fingerprint, now);
    if let BeaconKind::Ignored(reason) = beacon.kind {
        state
            .metrics
            .count_ignored(SOURCE, beacon.event_type, reason.label());
        return Ok(answer);
    }
    // A beacon is always live: it takes the proxy's country header, else
    // the country of the client's address.
    let country = state.fallback_country(&parts.headers, client_ip, true);
    let context = BeaconContext {
        now,
        user_agent,
        country: country.as_deref(),
    };
    let Some(event) = beacon.to_event(assigned, &context, kava::stored_dedup_key(retry_hash, now))
    else {
        return Ok(answer);
    };
    let store = state.store.clone();
    match blocking(move || Ok(store.append(vec![event])?)).await {
        Ok(outcome) => {
            state
                .metrics
                .count_events(SOURCE, outcome.accepted, outcome.duplicates, 0);
            Ok(answer)
        }
        Err(error) => {
            // Not stored: the player's retry must not be taken for a repeat.
            if let Ok(mut retries) = state.beacons.retries.lock() {
                retries.remove(retry_hash);
            }
            Err(error)
        }
    }
}

/// Refuses a beacon from an origin its partner did not list.
fn check_origin(state: &AppState, partner: u32, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(allowed) = state.config.beacon_origins.get(&partner) else {
        return Ok(());
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let origin = header("origin")
        .filter(|o| !o.is_empty() && *o != "null")
        .map(normalise_origin)
        .or_else(|| header("referer").and_then(origin_of));
    let Some(origin) = origin else {
        return Err(ApiError::forbidden(format!(
            "partner {partner} accepts beacons only from its listed origins, and this request names none (no Origin or Referer header)"
        )));
    };
    if allowed.iter().any(|a| normalise_origin(a) == origin) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "partner {partner} does not accept beacons from {origin}; add it to [beacon_origins] in the configuration"
        )))
    }
}

/// `scheme://host[:port]` of an origin as configured or sent, lower-cased,
/// without a trailing slash.
fn normalise_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// The origin (`scheme://host[:port]`) of a URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    (!scheme.is_empty() && !authority.is_empty())
        .then(|| normalise_origin(&format!("{scheme}://{authority}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_of_urls() {
        assert_eq!(
            origin_of("https://A.example/page?x#y").as_deref(),
            Some("https://a.example")
        );
        assert_eq!(
            origin_of("http://u:p@b.example:8080/").as_deref(),
            Some("http://b.example:8080")
        );
        assert_eq!(origin_of("not a url"), None);
        assert_eq!(
            normalise_origin(" https://A.example/ "),
            "https://a.example"
        );
    }
}
