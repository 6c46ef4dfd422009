//! The API's operations over a store, without HTTP: the routes call them
//! inside their handlers, and the command line calls them on a data
//! directory, so both answer alike. Each takes the store, the partner it
//! acts for and, where it writes, the current time; the answers are the
//! API's JSON shapes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pathlens_model::Graph;
use pathlens_report::{Report, ReportRequest};
use pathlens_store::{ApiKey, KeyKind, Store, StoredVideo};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;

/// Why an operation failed; the HTTP layer turns it into the API's error
/// (see [`ApiError`]'s conversions), the command line prints it whole.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The video or key named is not the partner's.
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] pathlens_store::StoreError),
    #[error(transparent)]
    Report(#[from] pathlens_report::ReportError),
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> ApiError {
        match error {
            ServiceError::NotFound(message) => ApiError::not_found(message),
            ServiceError::Store(error) => error.into(),
            ServiceError::Report(error) => error.into(),
        }
    }
}

/// The result of an operation.
pub type Result<T> = std::result::Result<T, ServiceError>;

/// A video as the API shows it: the graph plus levels and dates.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Video {
    #[schema(example = "product-tour")]
    pub id: String,
    pub name: String,
    pub owner: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub start_node: String,
    pub end_nodes: Vec<String>,
    #[schema(schema_with = levels_schema)]
    pub levels: BTreeMap<String, u32>,
    /// The graph as stored: nodes and hotspots, those removed by a later version flagged with `deleted_at`
    pub graph: Graph,
}

fn levels_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::Object)
        .description(Some(
            "Each node's level: its distance from the start node, which is level 1",
        ))
        .additional_properties(Some(
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::Type::Integer)
                .minimum(Some(1)),
        ))
        .build()
}

impl From<&StoredVideo> for Video {
    fn from(video: &StoredVideo) -> Video {
        Video {
            id: video.graph.id.clone(),
            name: video.graph.name.clone(),
            owner: video.graph.owner.clone(),
            created_at: video.created_at.to_rfc3339(),
            updated_at: video.updated_at.to_rfc3339(),
            start_node: video.graph.start_node.clone(),
            end_nodes: video.graph.end_nodes(),
            levels: video.graph.levels().into_iter().collect(),
            graph: video.graph.clone(),
        }
    }
}

/// Which keys may do what: admin tokens read and manage their partner's
/// data, write keys only send events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyKindName {
    Admin,
    Write,
}

impl From<KeyKind> for KeyKindName {
    fn from(kind: KeyKind) -> KeyKindName {
        match kind {
            KeyKind::Admin => KeyKindName::Admin,
            KeyKind::Write => KeyKindName::Write,
        }
    }
}

/// An API key as the API shows it; its token only in the answer that
/// created it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Key {
    #[schema(example = "key_4f2a9c")]
    pub id: String,
    pub partner_id: u32,
    pub kind: KeyKindName,
    pub name: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime, required = true)]
    pub revoked_at: Option<String>,
    /// The token, shown only in the answer that created the key
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub token: Option<String>,
}

impl From<&ApiKey> for Key {
    fn from(key: &ApiKey) -> Key {
        Key {
            id: key.id.clone(),
            partner_id: key.partner_id,
            kind: key.kind.into(),
            name: key.name.clone(),
            created_at: key.created_at.to_rfc3339(),
            revoked_at: key.revoked_at.map(|t| t.to_rfc3339()),
            token: None,
        }
    }
}

/// Stores `graph` for `partner`: a new video, or a new version of one
/// (removed nodes and hotspots kept, flagged with `now`). Returns the video
/// as stored and whether it is new.
///
/// # Errors
/// As the store fails.
pub fn save_video(
    store: &dyn Store,
    partner: u32,
    graph: Graph,
    now: DateTime<Utc>,
) -> Result<(StoredVideo, bool)> {
    let previous = store.video(partner, &graph.id)?;
    let created = previous.is_none();
    let merged = match previous {
        Some(old) => old.graph.replaced_by(graph, now),
        None => graph,
    };
    store.put_video(partner, &merged, now)?;
    let stored = store.video(partner, &merged.id)?.ok_or_else(|| {
        pathlens_store::StoreError::internal("the video vanished after it was stored")
    })?;
    Ok((stored, created))
}

/// The video `id` of `partner`.
///
/// # Errors
/// 404 `not_found` when there is none; store failures.
pub fn video(store: &dyn Store, partner: u32, id: &str) -> Result<StoredVideo> {
    store
        .video(partner, id)?
        .ok_or_else(|| ServiceError::NotFound(format!("no video {id:?}")))
}

/// Runs `request` on the video `id` of `partner`.
///
/// # Errors
/// As [`video`] and [`pathlens_report::run`].
pub fn report(
    store: &dyn Store,
    partner: u32,
    id: &str,
    request: &ReportRequest,
    now: DateTime<Utc>,
) -> Result<Report> {
    let stored = video(store, partner, id)?;
    Ok(pathlens_report::run(store, &stored, request, now)?)
}

/// The keys of `partner`, revoked ones included.
///
/// # Errors
/// As the store fails.
pub fn keys(store: &dyn Store, partner: u32) -> Result<Vec<ApiKey>> {
    Ok(store
        .keys()?
        .into_iter()
        .filter(|k| k.partner_id == partner)
        .collect())
}

/// A new key of `kind` for `partner` and its token, shown only now.
///
/// # Errors
/// As the store fails.
pub fn create_key(
    store: &dyn Store,
    partner: u32,
    kind: KeyKind,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(ApiKey, String)> {
    Ok(crate::auth::issue_key(store, partner, kind, name, now)?)
}

/// Revokes the key `id` of `partner`.
///
/// # Errors
/// 404 `not_found` when `partner` has no such key; store failures.
pub fn revoke_key(store: &dyn Store, partner: u32, id: &str, now: DateTime<Utc>) -> Result<()> {
    let owned = store
        .keys()?
        .into_iter()
        .any(|k| k.id == id && k.partner_id == partner);
    if !owned || !store.revoke_key(id, now)? {
        return Err(ServiceError::NotFound(format!("no key {id:?}")));
    }
    Ok(())
}
