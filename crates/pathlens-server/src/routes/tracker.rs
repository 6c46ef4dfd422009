//! `GET /pathlens.js`: the tracker for custom HTML5 players (source in
//! `tracker/pathlens.js`, documented in the README), embedded in the binary.

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The script, as shipped.
pub const SCRIPT: &str = include_str!("../../../../tracker/pathlens.js");

/// A strong validator of the script: its hash.
static ETAG: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(SCRIPT.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
});

/// Serves the script; a page that has it answers `If-None-Match` with 304.
#[utoipa::path(
    get,
    path = "/pathlens.js",
    operation_id = "tracker_script",
    tag = "operations",
    summary = "The JS tracker for custom HTML5 players",
    description = "A dependency-free script (see the README, 'The JS tracker'); cacheable, with an ETag.",
    security(),
    responses(
        (status = 200, description = "The script", body = String, content_type = "text/javascript"),
        (status = 304, description = "Not modified"),
    ),
)]
pub async fn script(headers: HeaderMap) -> Response {
    let etag = HeaderValue::from_str(&ETAG).unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    let cache = HeaderValue::from_static("public, max-age=3600");
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == ETAG.as_str()));
    if unchanged {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, cache)],
        )
            .into_response();
    }
    let content_type = HeaderValue::from_static("text/javascript; charset=utf-8");
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache),
        ],
        SCRIPT,
    )
        .into_response()
}
