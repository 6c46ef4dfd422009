//! The routes pages on other origins call — beacons, events, xAPI, the
//! tracker script and `me` (which the tracker asks for its partner) — behind
//! a CORS layer that answers preflight requests and lets any origin post.
//!
//! Which origins may report for a partner is decided by the handlers (KAVA
//! beacons check `[beacon_origins]`; the others need a key), not here:
//! pathlens sets no cookies, so allowing credentials grants nothing.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Method, header};
use axum::routing::{get, post};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::AppState;
use crate::routes::{events, kava, keys, tracker, xapi};

/// The cross-origin routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events", post(events::ingest))
        .route("/api/v1/me", get(keys::me))
        .route(
            "/api_v3/index.php",
            get(kava::index_php_get).post(kava::index_php_post),
        )
        .route(
            "/api_v3/service/analytics/action/trackEvent",
            get(kava::track_event_get).post(kava::track_event_post),
        )
        .route("/xapi/statements", post(xapi::post).put(xapi::put))
        .route("/pathlens.js", get(tracker::script))
        .layer(layer())
}

/// Any origin, the methods and headers players and xAPI clients send; a
/// preflight is cached for a day.
pub fn layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
            HeaderName::from_static("x-pathlens-key"),
            HeaderName::from_static("x-experience-api-version"),
        ])
        .expose_headers([HeaderName::from_static("x-experience-api-version")])
        .max_age(Duration::from_secs(24 * 3600))
}
