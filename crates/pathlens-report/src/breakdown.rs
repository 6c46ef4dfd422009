//! Breakdown reports: the figures of each value of one context dimension
//! (country, device, …).
//!
//! The store lists the dimension's values with their plays
//! ([`Store::values`]); the values are ranked by plays, and each value of the
//! page gets the headline figures of the period with the filter narrowed to
//! it ([`Store::breakdown`]) — exactly what the totals report shows once the
//! user filters by that value. So a breakdown row never disagrees with the dashboard filtered by
//! it, and the work of one report is bounded by its page size.

use pathlens_store::query::{UNKNOWN, rank_values};
use pathlens_store::{DimensionValue, Store, StoredVideo, ValuesRequest};
use serde_json::json;

use crate::build::{minutes, ratio};
use crate::period::DateRange;
use crate::request::ReportRequest;
use crate::table::{Column, ColumnType, Table};
use crate::{Built, ReportError};

/// The most values one breakdown page shows.
pub const MAX_BREAKDOWN_PAGE: usize = 100;

/// The values of the request's dimension in `period`, ranked as a
/// breakdown ranks them (most plays first, then most events, then by value).
///
/// # Errors
/// As the store fails.
pub fn values(
    store: &dyn Store,
    video: &StoredVideo,
    request: &ReportRequest,
    period: DateRange,
) -> Result<Vec<DimensionValue>, ReportError> {
    let (start, end) = period.instants(request.tz);
    let mut values = store.values(&ValuesRequest {
        partner_id: video.partner_id,
        video_id: video.graph.id.clone(),
        start,
        end,
        dimension: request.dimension,
        filter: request.filter.clone(),
    })?;
    rank_values(&mut values);
    Ok(values)
}

/// The breakdown table of `period`: the page's values ranked by plays, or,
/// for a comparison period, the values `keys` (those of the current page) in
/// that order.
pub(crate) fn table(
    store: &dyn Store,
    video: &StoredVideo,
    request: &ReportRequest,
    period: DateRange,
    keys: Option<&[String]>,
) -> Result<Built, ReportError> {
    // The period's plays under the same filters (the share's denominator).
    // Every event has one value of the dimension (`unknown` when it has
    // none), so without session filters they are the values' plays added
    // up, and the totals need not be asked for.
    let mut period_plays = None;
    let (page, total): (Vec<String>, usize) = match keys {
        Some(keys) => (keys.to_vec(), keys.len()),
        None => {
            let ranked = values(store, video, request, period)?;
            if request.sessions.is_empty() {
                period_plays = Some(ranked.iter().map(|v| v.plays).sum::<u64>());
            }
            let total = ranked.len();
            let page = ranked
                .into_iter()
                .skip((request.page - 1).saturating_mul(request.page_size))
                .take(request.page_size)
                .map(|v| v.value)
                .collect();
            (page, total)
        }
    };
    let question = crate::whole_period(video, request, period);
    let whole_plays = match period_plays {
        Some(plays) => plays,
        None => store
            .aggregate(&question)?
            .totals
            .first()
            .map_or(0, |totals| totals.plays),
    };
    let figures = if page.is_empty() {
        Vec::new()
    } else {
        store.breakdown(&question, request.dimension, &page)?
    };
    let rows = page
        .iter()
        .zip(figures)
        .map(|(value, figures)| {
            vec![
                json!(value),
                json!(figures.plays),
                ratio(figures.plays, whole_plays),
                json!(figures.unique_viewers),
                json!(minutes(figures.view_ms)),
            ]
        })
        .collect();
    Ok(Built {
        table: Table {
            columns: columns(),
            rows,
        },
        details: json!({
            "dimension": request.dimension.name(),
            "filter": request.dimension.filter_param(),
            "unknown": UNKNOWN,
        }),
        total_rows: Some(total),
    })
}

fn columns() -> Vec<Column> {
    vec![
        Column::text("value", "Value"),
        Column::metric("plays", "Plays", ColumnType::Integer),
        Column::metric("share_of_plays", "Share of Plays", ColumnType::Ratio),
        Column::metric("unique_viewers", "Unique Viewers", ColumnType::Integer),
        Column::metric("minutes_viewed", "Minutes Viewed", ColumnType::Number),
    ]
}
