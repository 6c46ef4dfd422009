//! API keys of the caller's partner: list, create, revoke; and `me`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use pathlens_store::KeyKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::blocking;

use crate::openapi::{AdminLookup, AdminRead, AdminWrite, AnyKey};
use crate::service::{Key, KeyKindName};

#[utoipa::path(
    get,
    path = "/api/v1/me",
    operation_id = "me",
    tag = "keys",
    summary = "The key making the request",
    responses(
        (status = 200, description = "Key", body = Key),
        AnyKey,
    ),
)]
pub async fn me(caller: Caller) -> Json<Key> {
    Json(Key::from(&caller.key))
}

/// The partner's keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<Key>,
}

#[utoipa::path(
    get,
    path = "/api/v1/keys",
    operation_id = "list_keys",
    tag = "keys",
    summary = "The partner's API keys",
    responses(
        (status = 200, description = "Keys", body = inline(KeyList)),
        AdminRead,
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<KeyList>, ApiError> {
    caller.require_admin()?;
    let partner = caller.partner_id();
    let keys = blocking(move || Ok(crate::service::keys(state.store.as_ref(), partner)?)).await?;
    let keys = keys.iter().map(Key::from).collect();
    Ok(Json(KeyList { keys }))
}

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "write", "name": "player on www.example.com"}))]
pub struct NewKey {
    /// admin or write
    #[schema(value_type = KeyKindName)]
    pub kind: String,
    /// A name to tell the key by
    #[serde(default)]
    pub name: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/keys",
    operation_id = "create_key",
    tag = "keys",
    summary = "Create a key; the token is shown once",
    request_body(content = inline(NewKey), content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = Key),
        AdminWrite,
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: String,
) -> Result<(StatusCode, Json<Key>), ApiError> {
    caller.require_admin()?;
    let request: NewKey = serde_json::from_str(&body)
        .map_err(|e| ApiError::new(crate::error::ErrorCode::InvalidJson, format!("body: {e}")))?;
    let kind = KeyKind::from_name(&request.kind).ok_or_else(|| {
        ApiError::new(
            crate::error::ErrorCode::InvalidParameter,
            format!("kind: {:?} is not admin or write", request.kind),
        )
    })?;
    let partner = caller.partner_id();
    let (key, token) = blocking(move || {
        let (key, token) = crate::service::create_key(
            state.store.as_ref(),
            partner,
            kind,
            &request.name,
            state.now(),
        )?;
        state.keys.remember(key.clone());
        Ok((key, token))
    })
    .await?;
    let body = Key {
        token: Some(token),
        ..Key::from(&key)
    };
    Ok((StatusCode::CREATED, Json(body)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/keys/{id}",
    operation_id = "revoke_key",
    tag = "keys",
    summary = "Revoke a key",
    params(("id" = String, Path, description = "Key id", example = "key_4f2a9c")),
    responses(
        (status = 204, description = "Revoked"),
        AdminLookup,
    ),
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let partner = caller.partner_id();
    blocking(move || {
        let now = state.now();
        crate::service::revoke_key(state.store.as_ref(), partner, &id, now)?;
        state.keys.forget(&id, now);
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
