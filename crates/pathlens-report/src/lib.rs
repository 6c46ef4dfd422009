//! Reports: from a request to exact figures.
//!
//! A report request names a video, a period of local days in an IANA time
//! zone, filters, and optionally a period to compare with. This crate turns
//! it into one aggregate request per period (the store computes
//! docs/metrics.md's figures inside it) and shapes the figures as a table
//! that renders to JSON or CSV with the same columns.
//!
//! - [`request`]: parsing parameters shared by the HTTP API and the CLI;
//! - [`period`]: local days, presets, comparison periods, time buckets;
//! - [`build`]: one table per report kind;
//! - [`breakdown`]: the figures of each value of a dimension (country, …);
//! - [`table`]: columns, comparison columns, sorting, CSV.

pub mod breakdown;
pub mod build;
pub mod period;
pub mod request;
pub mod table;

use chrono::{DateTime, Utc};
use pathlens_store::{AggregateRequest, Store, StoreError, StoredVideo};
use serde_json::{Map, Value};

pub use request::{ReportKind, ReportRequest};
pub use table::Table;

use crate::period::DateRange;
use crate::table::Match;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A parameter is wrong: the caller's mistake.
    #[error("{param}: {reason}")]
    InvalidParam { param: String, reason: String },
    /// The node or hotspot the request names is not in the video.
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReportError {
    pub fn invalid(param: &str, reason: impl Into<String>) -> ReportError {
        ReportError::InvalidParam {
            param: param.to_string(),
            reason: reason.into(),
        }
    }
}

/// The note shown wherever the playback-type filter is.
pub const PLAYBACK_TYPE_NOTE: &str = "pathlens counts every playback type (vod, live, dvr) unless the playback_types filter narrows it; Kaltura counts only vod when no playback type is filtered.";

/// A finished report.
#[derive(Debug, Clone)]
pub struct Report {
    pub kind: ReportKind,
    pub video_id: String,
    pub video_name: String,
    pub tz: String,
    pub period: DateRange,
    pub comparison: Option<DateRange>,
    pub table: Table,
    /// Rows before pagination.
    pub total_rows: usize,
    pub page: usize,
    pub page_size: usize,
    /// Kind-specific facts (the node a drill-down is about, the interval).
    pub details: Value,
}

/// A period of local days as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Days {
    /// First local day
    #[schema(format = Date, example = "2025-01-01")]
    pub from: String,
    /// Last local day, inclusive
    #[schema(format = Date, example = "2025-01-30")]
    pub to: String,
    #[schema(minimum = 1, example = 30)]
    pub days: i64,
}

impl From<&DateRange> for Days {
    fn from(range: &DateRange) -> Days {
        Days {
            from: range.from.to_string(),
            to: range.to.to_string(),
            days: range.days(),
        }
    }
}

/// A report as the API answers it: the same envelope for every kind, with
/// rows whose keys are the `columns` of that kind.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Report)]
pub struct ReportBody {
    /// The report's kind
    #[schema(example = "totals")]
    pub report: String,
    pub video_id: String,
    pub video_name: String,
    /// The IANA time zone of the days and buckets
    #[schema(example = "UTC")]
    pub tz: String,
    /// The local days reported
    #[schema(inline)]
    pub period: Days,
    /// The comparison period's days, or null without compare
    #[schema(inline, required = true)]
    pub comparison: Option<Days>,
    pub columns: Vec<table::Column>,
    /// One object per row, keyed by the columns' keys
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<Map<String, Value>>,
    #[schema(minimum = 0)]
    pub total_rows: usize,
    #[schema(minimum = 1)]
    pub page: usize,
    #[schema(minimum = 1)]
    pub page_size: usize,
    /// Kind-specific facts (the hotspot of a heatmap, the node of a node report, the interval of a series, the dimension of a breakdown), or null
    pub details: Value,
    pub notes: Vec<String>,
}

impl Report {
    /// The report as the API answers it.
    pub fn body(&self) -> ReportBody {
        ReportBody {
            report: self.kind.name().to_string(),
            video_id: self.video_id.clone(),
            video_name: self.video_name.clone(),
            tz: self.tz.clone(),
            period: Days::from(&self.period),
            comparison: self.comparison.as_ref().map(Days::from),
            columns: self.table.columns.clone(),
            rows: self.table.json_rows(),
            total_rows: self.total_rows,
            page: self.page,
            page_size: self.page_size,
            details: self.details.clone(),
            notes: vec![PLAYBACK_TYPE_NOTE.to_string()],
        }
    }

    /// The report's body as a JSON value.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.body()).unwrap_or(Value::Null)
    }

    /// The report's table as CSV.
    pub fn to_csv(&self) -> String {
        self.table.to_csv()
    }
}

/// Runs `request` on `video`, with `now` as the current time.
///
/// # Errors
/// [`ReportError::InvalidParam`] for a bad preset or sort column,
/// [`ReportError::NotFound`] for an unknown node or hotspot, and store
/// failures.
pub fn run(
    store: &dyn Store,
    video: &StoredVideo,
    request: &ReportRequest,
    now: DateTime<Utc>,
) -> Result<Report, ReportError> {
    let period = request.days_at(now)?;
    let current = table_for(store, video, request, period, None)?;
    let comparison = request.compare.map(|compare| period.compared(compare));
    // A breakdown compares the values of its page, whatever the other
    // period's ranking.
    let keys: Option<Vec<String>> = (request.kind == ReportKind::Breakdown).then(|| {
        current
            .table
            .rows
            .iter()
            .filter_map(|row| row.first().and_then(Value::as_str).map(str::to_string))
            .collect()
    });
    let mut table = match comparison {
        Some(other) => {
            let previous = table_for(store, video, request, other, keys.as_deref())?;
            // Time buckets, and the single row of totals, match by position:
            // the first column of totals is a metric, not a key.
            let matching = if matches!(request.kind, ReportKind::Timeseries | ReportKind::Totals) {
                Match::Position
            } else {
                Match::FirstColumn
            };
            current.table.with_comparison(&previous.table, matching)
        }
        None => current.table,
    };
    let total_rows = current.total_rows.unwrap_or(table.rows.len());
    if matches!(
        request.kind,
        ReportKind::Nodes | ReportKind::Viewers | ReportKind::Transitions
    ) {
        let default_sort = if request.kind == ReportKind::Viewers {
            "minutes_viewed"
        } else if request.kind == ReportKind::Nodes {
            "plays"
        } else {
            "count"
        };
        let sort = request.sort.as_deref().unwrap_or(default_sort);
        let column = table.column_index(sort).ok_or_else(|| {
            let keys: Vec<&str> = table.columns.iter().map(|c| c.key.as_str()).collect();
            ReportError::invalid(
                "sort",
                format!("{sort:?} is not a column; columns are {}", keys.join(", ")),
            )
        })?;
        table.sort_and_page(column, request.descending, request.page, request.page_size);
    }
    Ok(Report {
        kind: request.kind,
        video_id: video.graph.id.clone(),
        video_name: video.graph.name.clone(),
        tz: request.tz.name().to_string(),
        period,
        comparison,
        table,
        total_rows,
        page: request.page,
        page_size: request.page_size,
        details: current.details,
    })
}

/// The headline totals of `request`'s period (its kind aside): the numbers
/// a totals report shows, for callers that need the figures themselves
/// (the video list's plays).
///
/// # Errors
/// As [`run`].
pub fn period_totals(
    store: &dyn Store,
    video: &StoredVideo,
    request: &ReportRequest,
    now: DateTime<Utc>,
) -> Result<(DateRange, pathlens_store::Totals), ReportError> {
    let period = request.days_at(now)?;
    let figures = store.aggregate(&whole_period(video, request, period))?;
    Ok((period, figures.totals.first().copied().unwrap_or_default()))
}

/// The question to the store for `parts` of `request` over `period`.
fn question<'v>(
    video: &'v StoredVideo,
    request: &ReportRequest,
    period: DateRange,
    parts: pathlens_store::Parts,
) -> AggregateRequest<'v> {
    let (start, end) = period.instants(request.tz);
    AggregateRequest {
        partner_id: video.partner_id,
        graph: &video.graph,
        start,
        end,
        filter: request.filter.clone(),
        sessions: request.sessions.clone(),
        parts,
        cancel: request.cancel.clone(),
    }
}

/// The question for the headline totals of the whole `period`.
fn whole_period<'v>(
    video: &'v StoredVideo,
    request: &ReportRequest,
    period: DateRange,
) -> AggregateRequest<'v> {
    let (start, end) = period.instants(request.tz);
    let parts = pathlens_store::Parts {
        buckets: vec![(start.timestamp_micros(), end.timestamp_micros())],
        ..pathlens_store::Parts::default()
    };
    question(video, request, period, parts)
}

struct Built {
    table: Table,
    details: Value,
    /// Rows before pagination, when the table is already one page.
    total_rows: Option<usize>,
}

/// The table of `request` over `period`; for a breakdown, of the values
/// `keys` when given (a comparison period's).
fn table_for(
    store: &dyn Store,
    video: &StoredVideo,
    request: &ReportRequest,
    period: DateRange,
    keys: Option<&[String]>,
) -> Result<Built, ReportError> {
    if request.kind == ReportKind::Breakdown {
        return breakdown::table(store, video, request, period, keys);
    }
    let (start, end) = period.instants(request.tz);
    let figures = store.aggregate(&question(
        video,
        request,
        period,
        build::parts(request, start, end),
    ))?;
    build::table(&figures, &video.graph, request, start, end)
}

/// The values of `request.dimension` present in its period under its row
/// filters, ranked by plays (for filter suggestions), with the period.
///
/// # Errors
/// As [`run`].
pub fn dimension_values(
    store: &dyn Store,
    video: &StoredVideo,
    request: &ReportRequest,
    now: DateTime<Utc>,
) -> Result<(DateRange, Vec<pathlens_store::DimensionValue>), ReportError> {
    let period = request.days_at(now)?;
    Ok((period, breakdown::values(store, video, request, period)?))
}
