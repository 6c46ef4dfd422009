//! API keys of the caller's partner: list, create, revoke; and `me`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use pathlens_store::KeyKind;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::blocking;

use crate::service::key_json;

pub async fn me(caller: Caller) -> Json<Value> {
    Json(key_json(&caller.key))
}

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let partner = caller.partner_id();
    let keys = blocking(move || Ok(crate::service::keys(state.store.as_ref(), partner)?)).await?;
    let keys: Vec<Value> = keys.iter().map(key_json).collect();
    Ok(Json(json!({"keys": keys})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: String,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
    let mut body = key_json(&key);
    body["token"] = json!(token);
    Ok((StatusCode::CREATED, Json(body)))
}

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
