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
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::ApiError;
use crate::openapi::{Beacon, BeaconWithBody};

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

/// What the beacon routes' documents say.
const BEACON: &str = "A Kaltura KAVA analytics beacon, as the player sends it: GET with every parameter in the query string, or POST with eventType, partnerId, entryId and sessionId in the query string and the rest in a JSON (nested objects as a:b) or form-encoded body. Also: rootEntryId, nodeId, fromNodeId, toNodeId, hotspotId, target, position, playTimeSum, userId, referrer (URL or Base64), playbackType, application. Needs no key; the partner must exist and, when [beacon_origins] lists origins for it, the request's Origin (or Referer) must be one of them. A byte-identical retry within 10 minutes is answered without being stored. CORS: any origin.";

const INDEX_PHP: &str = "A Kaltura KAVA analytics beacon, as the player sends it: GET with every parameter in the query string, or POST with eventType, partnerId, entryId and sessionId in the query string and the rest in a JSON (nested objects as a:b) or form-encoded body. Also: rootEntryId, nodeId, fromNodeId, toNodeId, hotspotId, target, position, playTimeSum, userId, referrer (URL or Base64), playbackType, application. Needs no key; the partner must exist and, when [beacon_origins] lists origins for it, the request's Origin (or Referer) must be one of them. A byte-identical retry within 10 minutes is answered without being stored. CORS: any origin. This form needs service=analytics&action=trackEvent in the query string.";

/// The answer the player waits for.
#[derive(Debug, Serialize, ToSchema)]
pub struct BeaconAnswer {
    /// The server's time, unix seconds
    pub time: i64,
    #[serde(rename = "viewEventsEnabled")]
    pub view_events_enabled: bool,
}

/// What every beacon carries in its query string.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)]
pub struct BeaconParams {
    /// KAVA event type: 1 impression, 2 play request, 3 play, 4 resume, 33 pause, 35 seek, 34 replay, 11/12/13/15/14 quartile 25/50/75/90/100, 99 view, 44 node play, 47 URL hotspot click, 48 node switch, 98 error, 10002 button click (a hotspot when feature names one); other types are answered and ignored
    #[param(example = 1)]
    event_type: i64,
    /// The partner; it must have a live API key
    #[param(example = 1)]
    partner_id: i64,
    /// The media entry played (the path for path-level beacons)
    #[param(example = "1_intro")]
    entry_id: String,
    /// The player's session; `<page guid>:<player guid>` since player v3.17
    #[param(example = "0f1e2d3c-aaaa-4bbb-8ccc-123456789abc:5a6b7c8d-1111-4222-8333-444455556666")]
    session_id: String,
    /// The player's event counter (in the query for GET, in the body for POST)
    #[param(example = 1)]
    event_index: Option<i64>,
}

crate::openapi::string_enum!(
    /// The one service beacons name.
    AnalyticsService => ["analytics"]
);
crate::openapi::string_enum!(
    /// The one action beacons name.
    TrackEventAction => ["trackEvent"]
);

/// The service and action `/api_v3/index.php` needs.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ServiceAction {
    /// analytics
    #[param(inline)]
    service: AnalyticsService,
    /// trackEvent
    #[param(inline)]
    action: TrackEventAction,
}

fn example_body() -> Value {
    json!({"eventIndex": 2, "rootEntryId": "example", "position": 3.5})
}

fn example_text() -> String {
    example_body().to_string()
}

fn example_form() -> Value {
    json!({"eventIndex": 2, "rootEntryId": "example"})
}

/// A beacon route: its documentation, and a handler that decodes the beacon
/// (`needs_service_action` for `/api_v3/index.php`).
macro_rules! beacon_route {
    // The GET form: every parameter in the query.
    (
        $(#[$doc:meta])*
        $name:ident: get $path:tt as $id:tt, $description:ident,
        params($($params:ident),*),
        needs_service_action: $require:tt
    ) => {
        beacon_route!(@route $(#[$doc])* $name: get $path as $id,
            "KAVA beacon (GET form)", $description, params($($params),*),
            needs_service_action: $require, errors: Beacon);
    };
    // The POST form: the rest of the parameters in the body.
    (
        $(#[$doc:meta])*
        $name:ident: post $path:tt as $id:tt, $description:ident,
        params($($params:ident),*),
        needs_service_action: $require:tt
    ) => {
        beacon_route!(@route $(#[$doc])* $name: post $path as $id,
            "KAVA beacon (POST form)", $description, params($($params),*),
            needs_service_action: $require, errors: BeaconWithBody,
            body: (
                description = "The beacon's other parameters: a JSON object, the same as text (players avoid a CORS preflight), or a form",
                content(
                    (Object = "application/json", example = example_body),
                    (String = "text/plain", example = example_text),
                    (Object = "application/x-www-form-urlencoded", example = example_form),
                ),
            ));
    };
    (
        @route
        $(#[$doc:meta])*
        $name:ident: $method:ident $path:tt as $id:tt,
        $summary:tt, $description:ident,
        params($($params:ident),*),
        needs_service_action: $require:tt,
        errors: $errors:ident
        $(, body: $body:tt)?
    ) => {
        $(#[$doc])*
        #[utoipa::path(
            $method,
            path = $path,
            operation_id = $id,
            tag = "kaltura",
            summary = $summary,
            description = $description,
            security(),
            params($($params),*),
            $(request_body $body,)?
            responses(
                (status = 200, description = "Accepted, a retry, or an ignored type", body = BeaconAnswer),
                $errors,
            ),
        )]
        pub async fn $name(
            State(state): State<AppState>,
            request: Request,
        ) -> Result<Json<BeaconAnswer>, ApiError> {
            track(state, request, $require).await
        }
    };
}

beacon_route!(
    /// `GET /api_v3/index.php`: needs `service=analytics&action=trackEvent`.
    index_php_get: get "/api_v3/index.php" as "kava_index_php_get", INDEX_PHP,
    params(ServiceAction, BeaconParams),
    needs_service_action: true
);

beacon_route!(
    /// `POST /api_v3/index.php`: as the GET form, the rest in the body.
    index_php_post: post "/api_v3/index.php" as "kava_index_php_post", INDEX_PHP,
    params(ServiceAction, BeaconParams),
    needs_service_action: true
);

beacon_route!(
    /// `GET /api_v3/service/analytics/action/trackEvent`.
    track_event_get: get "/api_v3/service/analytics/action/trackEvent" as "kava_track_event_get", BEACON,
    params(BeaconParams),
    needs_service_action: false
);

beacon_route!(
    /// `POST /api_v3/service/analytics/action/trackEvent`.
    track_event_post: post "/api_v3/service/analytics/action/trackEvent" as "kava_track_event_post", BEACON,
    params(BeaconParams),
    needs_service_action: false
);

async fn track(
    state: AppState,
    request: Request,
    require_service_action: bool,
) -> Result<Json<BeaconAnswer>, ApiError> {
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
    let answer = Json(BeaconAnswer {
        time: now.timestamp(),
        view_events_enabled: true,
    });
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
    match crate::routes::append(store, vec![event]).await {
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
