//! `GET /api/v1/videos/{video}/reports/{kind}`: JSON, or CSV with
//! `format=csv`. A report that takes longer than `report_timeout` answers
//! 503 `deadline_exceeded`; then, or when its client goes away, its work in
//! the store is cancelled.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use pathlens_report::{Days, ReportBody, ReportKind, ReportRequest};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{Caller, url_query};
use crate::error::ApiError;
use crate::openapi::{
    AdminLookup, FilterParams, LimitParams, PeriodParams, ReportParams, ReportPath, ValuesPath,
};
use crate::routes::blocking;

#[utoipa::path(
    get,
    path = "/api/v1/videos/{video}/reports/{kind}",
    operation_id = "report",
    tag = "reports",
    summary = "A report",
    params(ReportPath, PeriodParams, FilterParams, ReportParams),
    responses(
        (status = 200, description = "The report", content(
            (ReportBody = "application/json"),
            (String = "text/csv"),
        )),
        AdminLookup,
    ),
)]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Path((video, kind)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let kind = ReportKind::parse(&kind)?;
    let mut params = url_query(query.as_deref().unwrap_or_default());
    let format = params
        .iter()
        .rev()
        .find(|(k, _)| k == "format")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "json".into());
    params.retain(|(k, _)| k != "format");
    if format != "json" && format != "csv" {
        return Err(ApiError::new(
            crate::error::ErrorCode::InvalidParameter,
            format!("format: {format:?} is not json or csv"),
        ));
    }
    let request = ReportRequest::from_params(kind, &params)?;
    let report = on_video(
        state,
        caller.partner_id(),
        video,
        request,
        pathlens_report::run,
    )
    .await?;
    if format == "csv" {
        let filename = format!(
            "attachment; filename=\"{}-{}.csv\"",
            report.video_id.replace('"', ""),
            report.kind.name()
        );
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, filename),
            ],
            report.to_csv(),
        )
            .into_response());
    }
    Ok(Json(report.body()).into_response())
}

/// The most values `GET …/values/{dimension}` lists.
pub const MAX_VALUES: usize = 1_000;

/// `GET /api/v1/videos/{video}/values/{dimension}`: the values of a context
/// dimension present in the period under the other filters, ranked by
/// plays, at most `limit` of them (100 unless asked; filter inputs suggest
/// them).
#[utoipa::path(
    get,
    path = "/api/v1/videos/{video}/values/{dimension}",
    operation_id = "dimension_values",
    tag = "reports",
    summary = "The values of a dimension present in a period",
    description = "The values of a context dimension among the video's events in the period that pass the other row filters, ranked by plays, then events, then value; for filter suggestions. Events without a value are counted under unknown.",
    params(ValuesPath, PeriodParams, FilterParams, LimitParams),
    responses(
        (status = 200, description = "The values", body = DimensionValues),
        AdminLookup,
    ),
)]
pub async fn values(
    State(state): State<AppState>,
    caller: Caller,
    Path((video, dimension)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<DimensionValues>, ApiError> {
    caller.require_admin()?;
    let mut params = url_query(query.as_deref().unwrap_or_default());
    let mut limit = 100;
    if let Some((_, value)) = params.iter().rev().find(|(k, _)| k == "limit") {
        limit = match value.parse::<usize>() {
            Ok(n) if (1..=MAX_VALUES).contains(&n) => n,
            _ => {
                return Err(ApiError::new(
                    crate::error::ErrorCode::InvalidParameter,
                    format!("limit: {value:?} is not a whole number from 1 to {MAX_VALUES}"),
                ));
            }
        };
    }
    params.retain(|(k, _)| k != "limit");
    params.push(("dimension".into(), dimension));
    let request = ReportRequest::from_params(ReportKind::Breakdown, &params)?;
    let dimension = request.dimension;
    let (period, values) = on_video(
        state,
        caller.partner_id(),
        video,
        request,
        pathlens_report::dimension_values,
    )
    .await?;
    let total = values.len();
    let values = values
        .into_iter()
        .take(limit)
        .map(|v| ValueFigures {
            value: v.value,
            plays: v.plays,
            events: v.events,
        })
        .collect();
    Ok(Json(DimensionValues {
        dimension: dimension.name().to_string(),
        filter: dimension.filter_param().to_string(),
        period: Days::from(&period),
        values,
        total,
    }))
}

/// One value of a dimension with its figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValueFigures {
    pub value: String,
    pub plays: u64,
    pub events: u64,
}

/// The values of a dimension present in a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct DimensionValues {
    #[schema(example = "country")]
    pub dimension: String,
    /// The filter parameter that narrows reports to these values
    #[schema(example = "countries")]
    pub filter: String,
    #[schema(inline)]
    pub period: Days,
    #[schema(inline)]
    pub values: Vec<ValueFigures>,
    /// How many values there are in all
    pub total: usize,
}

/// What a report route asks of the report crate: a function of the store,
/// the video, the request and the current time.
type ReportWork<T> = fn(
    &dyn pathlens_store::Store,
    &pathlens_store::StoredVideo,
    &ReportRequest,
    chrono::DateTime<chrono::Utc>,
) -> Result<T, pathlens_report::ReportError>;

/// Runs `work` over the caller's `video` on a blocking thread, within the
/// server's `report_timeout`. When the handler is dropped — its client went
/// away, or the deadline passed — the request's work in the store is
/// cancelled (DuckDB interrupts the running query).
async fn on_video<T: Send + 'static>(
    state: AppState,
    partner: u32,
    video: String,
    mut request: ReportRequest,
    work: ReportWork<T>,
) -> Result<T, ApiError> {
    let cancel = pathlens_store::Cancel::new();
    request.cancel = cancel.clone();
    let _stop = CancelOnDrop(cancel);
    let deadline = state.config.report_timeout;
    let running = blocking(move || {
        let stored = crate::service::video(state.store.as_ref(), partner, &video)?;
        Ok(work(state.store.as_ref(), &stored, &request, state.now())?)
    });
    tokio::time::timeout(deadline, running).await.map_err(|_| {
        ApiError::new(crate::error::ErrorCode::DeadlineExceeded,
            format!(
                "the report took longer than the server's {} s limit (report_timeout); narrow the range or the filters, or retry later",
                deadline.as_secs_f64()
            ),
        )
        .retry_after(5)
    })?
}

/// Cancels a report's work when the request handling it ends.
struct CancelOnDrop(pathlens_store::Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}
