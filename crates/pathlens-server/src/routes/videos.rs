//! Interactive videos: list, create or replace, show.
//!
//! Bodies are our own graph JSON or Kaltura's Path JSON; a Kaltura path
//! carries no id or name, so `?id=` (and optionally `?name=`) supply them.
//! Replacing a graph keeps removed nodes and hotspots, flagged deleted.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use pathlens_model::kaltura::KalturaPath;
use pathlens_model::{Graph, GraphError};
use pathlens_report::{ReportKind, ReportRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::{AdminLookup, AdminRead, AdminWrite};
use crate::routes::blocking;
use crate::service::Video;

/// The id and name of a video whose body is a Kaltura path, which carries
/// neither.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Video id for a Kaltura path
    #[param(example = "example")]
    pub id: Option<String>,
    /// Video name for a Kaltura path
    #[param(example = "Example")]
    pub name: Option<String>,
}

/// A video's graph: our graph JSON, or Kaltura's Path JSON (a body with
/// `pathData`).
// Only a schema: the routes read the body themselves.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum GraphBody {
    Graph(Graph),
    Kaltura(KalturaPath),
}

/// The example body of the video routes: the demo's product tour, which
/// has hotspots of every behaviour, and a node and a hotspot removed.
fn example_graph() -> serde_json::Value {
    pathlens_sim::sample_graphs()
        .into_iter()
        .find(|graph| graph.id == EXAMPLE_VIDEO)
        .and_then(|graph| serde_json::to_value(graph).ok())
        .unwrap_or_default()
}

/// The id of the example video.
const EXAMPLE_VIDEO: &str = "product-tour";

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
#[utoipa::path(
    post,
    path = "/api/v1/videos",
    operation_id = "create_video",
    tag = "videos",
    summary = "Create or replace a video (our graph JSON, or Kaltura Path JSON with ?id= and ?name=)",
    params(ImportParams),
    request_body(
        description = "The graph: our graph JSON, or a Kaltura path",
        content = GraphBody,
        content_type = "application/json",
        example = example_graph,
    ),
    responses(
        (status = 200, description = "Replaced", body = Video),
        (status = 201, description = "Created", body = Video),
        AdminWrite,
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ImportParams>,
    body: Body,
) -> Result<(StatusCode, Json<Video>), ApiError> {
    let body = graph_text(body).await?;
    store_body(state, caller, &body, &params, None).await
}

/// The query of `PUT /api/v1/videos/{video}`: the path names the video.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ReplaceParams {
    /// Video name for a Kaltura path
    #[param(example = "Example")]
    name: Option<String>,
}

#[utoipa::path(
    put,
    path = "/api/v1/videos/{video}",
    operation_id = "replace_video",
    tag = "videos",
    summary = "Create or replace the video; removed nodes and hotspots are kept, flagged deleted",
    params(
        ("video" = String, Path, description = "Video id", example = "product-tour"),
        ReplaceParams,
    ),
    request_body(
        description = "The graph: our graph JSON, or a Kaltura path",
        content = GraphBody,
        content_type = "application/json",
        example = example_graph,
    ),
    responses(
        (status = 200, description = "Replaced", body = Video),
        (status = 201, description = "Created", body = Video),
        AdminWrite,
    ),
)]
pub async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(video): Path<String>,
    Query(params): Query<ImportParams>,
    body: Body,
) -> Result<(StatusCode, Json<Video>), ApiError> {
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
) -> Result<(StatusCode, Json<Video>), ApiError> {
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
    Ok((status, Json(Video::from(&stored))))
}

#[utoipa::path(
    get,
    path = "/api/v1/videos/{video}",
    operation_id = "show_video",
    tag = "videos",
    summary = "A video with levels and history",
    params(("video" = String, Path, description = "Video id", example = "product-tour")),
    responses(
        (status = 200, description = "Video", body = Video),
        AdminLookup,
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(video): Path<String>,
) -> Result<Json<Video>, ApiError> {
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
    Ok(Json(Video::from(&stored)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// IANA time zone of the local days (default UTC)
    #[param(example = "Europe/Paris")]
    pub tz: Option<String>,
}

/// The local days `plays_30d` counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaysPeriod {
    #[schema(format = Date)]
    pub from: String,
    #[schema(format = Date)]
    pub to: String,
    pub tz: String,
}

/// A video of the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoSummary {
    pub id: String,
    pub name: String,
    pub owner: String,
    /// Nodes not removed
    pub nodes: usize,
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub plays_30d: u64,
}

/// The partner's videos, with their plays over the last 30 local days.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoList {
    /// The local days plays_30d counts
    #[schema(inline)]
    pub plays_period: PlaysPeriod,
    #[schema(inline)]
    pub videos: Vec<VideoSummary>,
}

/// `GET /api/v1/videos`: every video of the partner with its plays over the
/// last 30 days — local days in `?tz=`, as the video's dashboard counts
/// them with the same preset — for the dashboard's list.
#[utoipa::path(
    get,
    path = "/api/v1/videos",
    operation_id = "list_videos",
    tag = "videos",
    summary = "List the partner's interactive videos with plays over the last 30 days",
    description = "plays_30d counts plays over the last_30_days preset: the 30 local days ending today in tz, exactly as a totals report with that range and zone; plays_period names those days.",
    params(ListParams),
    responses(
        (status = 200, description = "Videos", body = inline(VideoList)),
        AdminRead,
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<Json<VideoList>, ApiError> {
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
            rows.push(VideoSummary {
                id: video.graph.id.clone(),
                name: video.graph.name.clone(),
                owner: video.graph.owner.clone(),
                nodes: video.graph.live_nodes().count(),
                updated_at: video.updated_at.to_rfc3339(),
                plays_30d: totals.plays,
            });
        }
        let period = match period {
            Some(days) => days,
            None => request.days_at(now)?,
        };
        Ok((rows, period))
    })
    .await?;
    let plays_period = PlaysPeriod {
        from: period.from.to_string(),
        to: period.to.to_string(),
        tz: tz.name().to_string(),
    };
    Ok(Json(VideoList {
        plays_period,
        videos: rows,
    }))
}
