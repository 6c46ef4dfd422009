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
use serde::Serialize;
use utoipa::ToSchema;

/// The one state `/healthz` answers 200 with.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Healthy {
    Ok,
}

/// `/healthz`'s answer: the process and its store work.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(inline)]
    pub status: Healthy,
    #[schema(inline)]
    pub store: Healthy,
}

/// `GET /healthz`: 200 when the process answers and its store works; 503
/// `storage_unavailable` (with `Retry-After`) while the store cannot be
/// used, `storage_full` while its disk is full, so a load balancer stops
/// sending traffic here.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "health",
    tag = "operations",
    summary = "Health: the process answers and its store works",
    description = "503 storage_unavailable, with Retry-After, while the store cannot be used.",
    security(),
    responses(
        (status = 200, description = "ok", body = inline(Health)),
        crate::openapi::Health,
    ),
)]
pub async fn health(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
) -> Result<Json<Health>, crate::error::ApiError> {
    let store = state.store.clone();
    let healthy = tokio::task::spawn_blocking(move || store.health()).await?;
    state.metrics.store_up.set(i64::from(healthy.is_ok()));
    match healthy {
        Ok(()) => Ok(Json(Health {
            status: Healthy::Ok,
            store: Healthy::Ok,
        })),
        Err(error) => {
            tracing::error!(%error, "health check: the store cannot be used");
            Err(match error.kind() {
                pathlens_store::StoreErrorKind::Full => error.into(),
                _ => crate::error::ApiError::new(
                    crate::error::ErrorCode::StorageUnavailable,
                    "the store cannot be used now; retry later",
                )
                .retry_after(5),
            })
        }
    }
}

/// Stores `events` and waits for them to be durable: without holding a
/// thread when the store can call back once they are (the embedded
/// store's writer), else on a blocking thread.
pub(crate) async fn append(
    store: std::sync::Arc<dyn pathlens_store::Store>,
    events: Vec<pathlens_model::Event>,
) -> Result<pathlens_store::AppendOutcome, crate::error::ApiError> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let done: pathlens_store::AppendDone = Box::new(move |outcome| {
        // The request may have gone meanwhile; what is stored stays stored.
        let _ = sender.send(outcome);
    });
    match store.append_later(events, done) {
        Ok(()) => match receiver.await {
            Ok(outcome) => Ok(outcome?),
            Err(_) => Err(pathlens_store::StoreError::new(
                pathlens_store::StoreErrorKind::Unavailable,
                "the store stopped before answering",
            )
            .into()),
        },
        Err((events, _)) => blocking(move || Ok(store.append(events)?)).await,
    }
}

/// Runs blocking store work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, crate::error::ApiError> + Send + 'static,
) -> Result<T, crate::error::ApiError> {
    tokio::task::spawn_blocking(work).await?
}
