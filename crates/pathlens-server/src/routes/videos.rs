//! Interactive videos: list, create or replace, show.
//!
//! Bodies are our own graph JSON or Kaltura's Path JSON; a Kaltura path
//! carries no id or name, so `?id=` (and optionally `?name=`) supply them.
//! Replacing a graph keeps removed nodes and hotspots, flagged deleted.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use pathlens_model::{Graph, GraphError};
use pathlens_report::{ReportKind, ReportRequest};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::blocking;

#[derive(Debug, Deserialize)]
pub struct ImportParams {
    pub id: Option<String>,
    pub name: Option<String>,
}

pub use crate::service::video_json;

fn parse_graph(
    body: &str,
    params: &ImportParams,
    path_id: Option<&str>,
) -> Result<Graph, ApiError> {
    let id = path_id.or(params.id.as_deref()).unwrap_or_default();
    let name = params.name.as_deref().unwrap_or(id);
    let mut graph = Graph::from_any_json(body, id, name).map_err(|error| match error {
        GraphError::Invalid(problems) => ApiError::new(
            crate::error::ErrorCode::InvalidVideo,
            format!("invalid interactive video: {}", problems.join("; ")),
        ),
        GraphError::Unreadable(reason) => ApiError::new(
            crate::error::ErrorCode::InvalidJson,
            format!("the body is not a graph: {reason}"),
        ),
    })?;
    if let Some(path_id) = path_id {
        if !graph.id.is_empty() && graph.id != path_id {
            return Err(ApiError::new(
                crate::error::ErrorCode::InvalidVideo,
                format!(
                    "id: the body names {:?} but the URL names {path_id:?}",
                    graph.id
                ),
            ));
        }
        graph.id = path_id.to_string();
    }
    if graph.id.is_empty() {
        return Err(ApiError::new(
            crate::error::ErrorCode::InvalidVideo,
            "id: a Kaltura path needs ?id= to name the video",
        ));
    }
    Ok(graph)
}

/// Stores `graph` for the caller's partner, merging the history of the
/// version it replaces.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ImportParams>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = graph_text(body).await?;
    store_body(state, caller, &body, &params, None).await
}

pub async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(video): Path<String>,
    Query(params): Query<ImportParams>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = graph_text(body).await?;
    store_body(state, caller, &body, &params, Some(&video)).await
}

/// The largest graph body, in bytes.
pub const MAX_GRAPH_BYTES: usize = pathlens_ingest::MAX_BODY_BYTES;

/// A graph's body as text, with the API's JSON errors for one too large or
/// not UTF-8.
async fn graph_text(body: Body) -> Result<String, ApiError> {
    let bytes = crate::error::read_body(body, MAX_GRAPH_BYTES, "the body").await?;
    String::from_utf8(bytes.to_vec()).map_err(|error| {
        ApiError::new(
            crate::error::ErrorCode::InvalidJson,
            format!(
                "the body is not UTF-8 (invalid bytes at offset {})",
                error.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Parses and stores a graph: 201 when the video is new, 200 when replaced.
async fn store_body(
    state: AppState,
    caller: Caller,
    body: &str,
    params: &ImportParams,
    path_id: Option<&str>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_admin()?;
    let graph = parse_graph(body, params, path_id)?;
    let (stored, created) = blocking(move || {
        Ok(crate::service::save_video(
            state.store.as_ref(),
            caller.partner_id(),
            graph,
            state.now(),
        )?)
    })
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(video_json(&stored))))
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(video): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let partner = caller.partner_id();
    let stored = blocking(move || {
        Ok(crate::service::video(
            state.store.as_ref(),
            partner,
            &video,
        )?)
    })
    .await?;
    Ok(Json(video_json(&stored)))
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    /// The IANA zone whose local days "the last 30 days" are (default UTC).
    pub tz: Option<String>,
}

/// `GET /api/v1/videos`: every video of the partner with its plays over the
/// last 30 days — local days in `?tz=`, as the video's dashboard counts
/// them with the same preset — for the dashboard's list.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let partner = caller.partner_id();
    let mut report_params = vec![("range".to_string(), "last_30_days".to_string())];
    if let Some(tz) = params.tz {
        report_params.push(("tz".to_string(), tz));
    }
    let request = ReportRequest::from_params(ReportKind::Totals, &report_params)?;
    let tz = request.tz;
    let (rows, period) = blocking(move || {
        let now = state.now();
        let mut rows = Vec::new();
        let mut period = None;
        for video in state.store.videos(partner)? {
            let (days, totals) =
                pathlens_report::period_totals(state.store.as_ref(), &video, &request, now)?;
            period = Some(days);
            rows.push(json!({
                "id": video.graph.id,
                "name": video.graph.name,
                "owner": video.graph.owner,
                "nodes": video.graph.live_nodes().count(),
                "updated_at": video.updated_at.to_rfc3339(),
                "plays_30d": totals.plays,
            }));
        }
        let period = match period {
            Some(days) => days,
            None => request.days_at(now)?,
        };
        Ok((rows, period))
    })
    .await?;
    let plays_period =
        json!({"from": period.from.to_string(), "to": period.to.to_string(), "tz": tz.name()});
    Ok(Json(json!({"videos": rows, "plays_period": plays_period})))
}
