//! The OpenAPI document served at `/api/v1/openapi.json`, and the list of
//! routes it must describe (a test holds the router, this list and the
//! document to each other).

use axum::Json;
use serde_json::Value;

/// The document, kept beside the code as `openapi.json`.
pub const DOCUMENT: &str = include_str!("../openapi.json");

/// Every route of [`crate::router`]: method and OpenAPI path.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/events"),
    ("get", "/api/v1/videos"),
    ("post", "/api/v1/videos"),
    ("get", "/api/v1/videos/{video}"),
    ("put", "/api/v1/videos/{video}"),
    ("get", "/api/v1/videos/{video}/reports/{kind}"),
    ("get", "/api/v1/videos/{video}/values/{dimension}"),
    ("get", "/api/v1/keys"),
    ("post", "/api/v1/keys"),
    ("delete", "/api/v1/keys/{id}"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/api_v3/index.php"),
    ("post", "/api_v3/index.php"),
    ("get", "/api_v3/service/analytics/action/trackEvent"),
    ("post", "/api_v3/service/analytics/action/trackEvent"),
    ("post", "/xapi/statements"),
    ("put", "/xapi/statements"),
    ("get", "/pathlens.js"),
];

pub async fn document() -> Json<Value> {
    Json(serde_json::from_str(DOCUMENT).unwrap_or(Value::Null))
}
