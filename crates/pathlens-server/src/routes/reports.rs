//! `GET /api/v1/videos/{video}/reports/{kind}`: JSON, or CSV with
//! `format=csv`. A report that takes longer than `report_timeout` answers
//! 503 `deadline_exceeded`; then, or when its client goes away, its work in
//! the store is cancelled.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use pathlens_report::{ReportKind, ReportRequest};

use crate::AppState;
use crate::auth::{Caller, url_query};
use crate::error::ApiError;
use crate::routes::blocking;

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
    let mut request = ReportRequest::from_params(kind, &params)?;
    // When this handler is dropped — its client went away, or the deadline
    // below passed — the report's work in the store is cancelled (DuckDB
    // interrupts the running query).
    let cancel = pathlens_store::Cancel::new();
    request.cancel = cancel.clone();
    let _stop = CancelOnDrop(cancel);
    let partner = caller.partner_id();
    let deadline = state.config.report_timeout;
    let work = blocking(move || {
        let stored = state
            .store
            .video(partner, &video)?
            .ok_or_else(|| ApiError::not_found(format!("no video {video:?}")))?;
        Ok(pathlens_report::run(
            state.store.as_ref(),
            &stored,
            &request,
            state.now(),
        )?)
    });
    let report = tokio::time::timeout(deadline, work).await.map_err(|_| {
        ApiError::new(crate::error::ErrorCode::DeadlineExceeded,
            format!(
                "the report took longer than the server's {} s limit (report_timeout); narrow the range or the filters, or retry later",
                deadline.as_secs_f64()
            ),
        )
        .retry_after(5)
    })??;
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
    Ok(Json(report.to_json()).into_response())
}

/// Cancels a report's work when the request handling it ends.
struct CancelOnDrop(pathlens_store::Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}
