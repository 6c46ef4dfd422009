//! API handlers, one module per resource.

pub mod cors;
pub mod events;
pub mod kava;
pub mod keys;
pub mod reports;
pub mod tracker;
pub mod videos;
pub mod xapi;

use axum::Json;
use serde_json::{Value, json};

/// `GET /healthz`: the process answers.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Runs blocking store work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, crate::error::ApiError> + Send + 'static,
) -> Result<T, crate::error::ApiError> {
    tokio::task::spawn_blocking(work).await?
}
