//! The query behind every report: one video's rows in a time range that
//! pass the row filters.
//!
//! The sorting key `(partner_id, video_id, ts_us)` narrows the read to the
//! video and the range; the `event_date` bounds let ClickHouse skip whole
//! monthly partitions. Each row comes with its `dedup_key`, and the store
//! keeps the first row of each key as it reads them: one row per event even
//! when two pathlens nodes stored the same retried event at the same instant
//! (the insert-side check makes that rare; see [`super::append`]). Doing it
//! while reading costs less than `LIMIT 1 BY dedup_key` in ClickHouse, which
//! added about half to the query's time on a 300,000-row scan.

use chrono::{DateTime, Duration, Utc};
use pathlens_store::query::UNKNOWN;
use pathlens_store::{ContextFilter, Dimension, ScanRequest, ValuesRequest, ViewerKind};

use super::{Tables, quote, quote_list};
use crate::codec::ROW_COLUMNS;

/// `(column IN (…))`, where the value `unknown` also matches NULL.
fn any_of(conditions: &mut Vec<String>, column: &str, values: &[String]) {
    if values.is_empty() {
        return;
    }
    let list = quote_list(values.iter().map(String::as_str));
    if values.iter().any(|v| v == UNKNOWN) {
        conditions.push(format!("({column} IN ({list}) OR {column} IS NULL)"));
    } else {
        conditions.push(format!("{column} IN ({list})"));
    }
}

/// The row filters as conditions.
pub fn filter_conditions(filter: &ContextFilter) -> Vec<String> {
    let mut conditions = Vec::new();
    // Each dimension's name is its column.
    for dimension in Dimension::ALL {
        any_of(
            &mut conditions,
            dimension.name(),
            filter.values_of(dimension),
        );
    }
    if !filter.user_ids.is_empty() {
        conditions.push(format!(
            "user_id IN ({})",
            quote_list(filter.user_ids.iter().map(String::as_str))
        ));
    }
    match filter.viewer {
        Some(ViewerKind::Known) => conditions.push("user_id IS NOT NULL".into()),
        Some(ViewerKind::Anonymous) => conditions.push("user_id IS NULL".into()),
        None => {}
    }
    conditions
}

/// Whether ClickHouse's `Date` can hold the UTC day of `instant`.
pub(crate) fn date_holds(instant: DateTime<Utc>) -> bool {
    let day = instant.date_naive();
    let first = chrono::NaiveDate::from_ymd_opt(1970, 1, 1);
    let last = chrono::NaiveDate::from_ymd_opt(2149, 6, 6);
    first.is_some_and(|f| day >= f) && last.is_some_and(|l| day <= l)
}

/// `toDate('…')` of the UTC day of `instant`.
pub(crate) fn utc_day(instant: DateTime<Utc>) -> String {
    format!("toDate('{}')", instant.date_naive().format("%Y-%m-%d"))
}

/// The events of one video of `partner` in `[start, end)`.
fn period_conditions(
    partner: u32,
    video: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<String> {
    let mut conditions = vec![
        format!("partner_id = {partner}"),
        format!("video_id = {}", quote(video)),
    ];
    // The partition key's day narrows the read; ClickHouse's `Date` holds
    // 1970-01-01 to 2149-06-06, so a bound beyond that is left to `ts_us`.
    let last = (end - Duration::microseconds(1)).max(start);
    if date_holds(start) {
        conditions.push(format!("event_date >= {}", utc_day(start)));
    }
    if date_holds(last) {
        conditions.push(format!("event_date <= {}", utc_day(last)));
    }
    conditions.push(format!(
        "ts_us >= {} AND ts_us < {}",
        start.timestamp_micros(),
        end.timestamp_micros()
    ));
    conditions
}

/// The values of a dimension with their play and event counts, answered
/// in `RowBinary` rows of (value, plays, events). A row stored twice has
/// one dedup key, so counting distinct keys counts it once; every shard
/// counts its own rows (rows are sharded by dedup key).
pub fn values(tables: &Tables, request: &ValuesRequest) -> String {
    let mut conditions = period_conditions(
        request.partner_id,
        &request.video_id,
        request.start,
        request.end,
    );
    conditions.extend(filter_conditions(&request.filter));
    format!(
        "SELECT ifNull({column}, {unknown}) AS value,\n  toUInt64(uniqExactIf(dedup_key, kind = {play})), toUInt64(uniqExact(dedup_key))\nFROM {events}\nWHERE {conditions}\nGROUP BY value\nFORMAT RowBinary",
        column = request.dimension.name(),
        unknown = quote(UNKNOWN),
        play = pathlens_model::EventKind::Play.code(),
        events = tables.events,
        conditions = conditions.join("\n  AND "),
    )
}

/// The scan of `request`, answered in `RowBinary` rows of `dedup_key`
/// followed by [`ROW_COLUMNS`].
pub fn scan(tables: &Tables, request: &ScanRequest) -> String {
    let mut conditions = period_conditions(
        request.partner_id,
        &request.video_id,
        request.start,
        request.end,
    );
    if !request.kinds.is_empty() {
        let codes: Vec<String> = request.kinds.iter().map(|k| k.code().to_string()).collect();
        conditions.push(format!("kind IN ({})", codes.join(", ")));
    }
    conditions.extend(filter_conditions(&request.filter));
    format!(
        "SELECT dedup_key, {columns}\nFROM {events}\nWHERE {conditions}\nFORMAT RowBinary",
        columns = ROW_COLUMNS.join(", "),
        events = tables.events,
        conditions = conditions.join("\n  AND "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use pathlens_model::EventKind;

    fn request() -> ScanRequest {
        ScanRequest {
            partner_id: 1,
            video_id: "onboarding".into(),
            start: Utc.with_ymd_and_hms(2025, 12, 31, 23, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2026, 1, 31, 0, 0, 0).unwrap(),
            kinds: Vec::new(),
            filter: ContextFilter::default(),
        }
    }

    #[test]
    fn plain_scan() {
        insta::assert_snapshot!(scan(&Tables::local("pathlens"), &request()));
    }

    #[test]
    fn scan_with_every_filter_on_a_cluster() {
        let request = ScanRequest {
            kinds: vec![EventKind::Play, EventKind::View],
            filter: ContextFilter {
                countries: vec!["FR".into(), "unknown".into()],
                devices: vec!["Desktop".into()],
                os: vec!["Linux".into()],
                browsers: vec!["Firefox".into()],
                referrer_domains: vec!["o'reilly.com".into()],
                applications: vec!["lms".into()],
                playback_types: vec!["live".into(), "dvr".into()],
                user_ids: vec!["alice".into()],
                viewer: Some(ViewerKind::Known),
            },
            ..request()
        };
        insta::assert_snapshot!(scan(&Tables::distributed("pathlens"), &request));
    }

    /// The reference reads a video's views of the whole history: days
    /// beyond what ClickHouse's `Date` holds bound only `ts_us`.
    #[test]
    fn a_scan_of_the_whole_history_has_no_day_bounds_beyond_dates() {
        let before = ScanRequest {
            start: DateTime::<Utc>::MIN_UTC,
            ..request()
        };
        let sql = scan(&Tables::local("pathlens"), &before);
        assert!(!sql.contains("event_date >="), "{sql}");
        assert!(sql.contains("event_date <= toDate('2026-01-30')"), "{sql}");
        let after = ScanRequest {
            end: DateTime::<Utc>::MAX_UTC,
            ..request()
        };
        let sql = scan(&Tables::local("pathlens"), &after);
        assert!(sql.contains("event_date >= toDate('2025-12-31')"), "{sql}");
        assert!(!sql.contains("event_date <="), "{sql}");
    }

    #[test]
    fn anonymous_viewers_are_rows_without_a_user() {
        let filter = ContextFilter {
            viewer: Some(ViewerKind::Anonymous),
            ..ContextFilter::default()
        };
        assert_eq!(filter_conditions(&filter), vec!["user_id IS NULL"]);
    }
}
