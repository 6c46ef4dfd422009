//! Calendar periods in the viewer's time zone.
//!
//! A report covers whole local days: `[start of from, start of to + 1 day)`
//! in the requested IANA zone. Every IANA offset is a multiple of 15 minutes,
//! so local hours, days, weeks and months all begin on a 15-minute UTC slot;
//! buckets are found by walking those slots and starting a new bucket where
//! the local calendar key changes. DST days of 23 or 25 hours and half-hour
//! zones come out right by construction.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::ReportError;

/// Inclusive range of local calendar days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DateRange {
    /// A range of whole days.
    ///
    /// # Errors
    /// [`ReportError::InvalidParam`] on `to` when it is before `from`.
    pub fn try_new(from: NaiveDate, to: NaiveDate) -> Result<DateRange, ReportError> {
        if to < from {
            return Err(ReportError::invalid(
                "to",
                format!("{to} is before from {from}"),
            ));
        }
        Ok(DateRange { from, to })
    }

    /// Number of days, both ends included.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The UTC instants `[start, end)` the range covers in `tz`.
    pub fn instants(&self, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let next = self.to.succ_opt().unwrap_or(self.to);
        (local_day_start(self.from, tz), local_day_start(next, tz))
    }

    /// The period to compare with.
    pub fn compared(&self, compare: Compare) -> DateRange {
        let length = Duration::days(self.days() - 1);
        match compare {
            Compare::PreviousPeriod => {
                let to = self.from - Duration::days(1);
                DateRange {
                    from: to - length,
                    to,
                }
            }
            Compare::PreviousYear => DateRange {
                from: minus_year(self.from),
                to: minus_year(self.to),
            },
            Compare::Custom(from) => DateRange {
                from,
                to: from + length,
            },
        }
    }
}

fn minus_year(date: NaiveDate) -> NaiveDate {
    date.checked_sub_months(Months::new(12)).unwrap_or(date)
}

/// What to compare the period with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// The same number of days just before.
    PreviousPeriod,
    /// The same dates one year earlier (29 February becomes 28 February).
    PreviousYear,
    /// The same number of days from this date.
    Custom(NaiveDate),
}

impl Compare {
    /// Parses `previous_period`, `previous_year` or a `YYYY-MM-DD` start date.
    ///
    /// # Errors
    /// [`ReportError::InvalidParam`] on `compare`.
    pub fn parse(text: &str) -> Result<Compare, ReportError> {
        match text {
            "previous_period" => Ok(Compare::PreviousPeriod),
            "previous_year" => Ok(Compare::PreviousYear),
            other => NaiveDate::parse_from_str(other, "%Y-%m-%d")
                .map(Compare::Custom)
                .map_err(|_| {
                    ReportError::invalid(
                        "compare",
                        format!(
                            "{other:?} is not previous_period, previous_year or a YYYY-MM-DD date"
                        ),
                    )
                }),
        }
    }
}

/// Named ranges of docs/metrics.md, relative to "today" in the report's zone.
pub const PRESETS: [&str; 9] = [
    "last_7_days",
    "last_30_days",
    "last_90_days",
    "last_12_months",
    "this_week",
    "this_month",
    "this_quarter",
    "this_year",
    "previous_month",
];

/// The range a preset names, given today's local date. "Last N days" ends
/// today; "this …" runs from its first day to today.
///
/// # Errors
/// [`ReportError::InvalidParam`] on `range` for an unknown preset.
pub fn preset(name: &str, today: NaiveDate) -> Result<DateRange, ReportError> {
    let first_of_month = today.with_day(1).unwrap_or(today);
    let from = match name {
        "last_7_days" => today - Duration::days(6),
        "last_30_days" => today - Duration::days(29),
        "last_90_days" => today - Duration::days(89),
        "last_12_months" => (today - Months::new(12)) + Duration::days(1),
        "this_week" => today - Duration::days(i64::from(today.weekday().num_days_from_monday())),
        "this_month" => first_of_month,
        "this_quarter" => {
            let month = (today.month0() / 3) * 3 + 1;
            NaiveDate::from_ymd_opt(today.year(), month, 1).unwrap_or(today)
        }
        "this_year" => NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today),
        "previous_month" => {
            let to = first_of_month - Duration::days(1);
            return Ok(DateRange {
                from: to.with_day(1).unwrap_or(to),
                to,
            });
        }
        other => {
            return Err(ReportError::invalid(
                "range",
                format!("{other:?} is not one of {}", PRESETS.join(", ")),
            ));
        }
    };
    Ok(DateRange { from, to: today })
}

/// The first instant of a local date. Where midnight does not exist (a DST
/// gap at midnight), the day starts at the first local time that does.
pub fn local_day_start(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    let mut local = midnight;
    for _ in 0..16 {
        if let Some(instant) = tz.from_local_datetime(&local).earliest() {
            return instant.with_timezone(&Utc);
        }
        local += Duration::minutes(15);
    }
    Utc.from_utc_datetime(&midnight)
}

/// Size of the time buckets of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Hour,
    Day,
    Week,
    Month,
}

impl Interval {
    pub const ALL: [Interval; 4] = [
        Interval::Hour,
        Interval::Day,
        Interval::Week,
        Interval::Month,
    ];

    /// # Errors
    /// [`ReportError::InvalidParam`] on `interval`.
    pub fn parse(text: &str) -> Result<Interval, ReportError> {
        match text {
            "hour" => Ok(Interval::Hour),
            "day" => Ok(Interval::Day),
            "week" => Ok(Interval::Week),
            "month" => Ok(Interval::Month),
            other => Err(ReportError::invalid(
                "interval",
                format!("{other:?} is not one of hour, day, week, month"),
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Interval::Hour => "hour",
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
        }
    }

    /// The calendar key that stays the same within one bucket.
    /// The offset is part of an hour's key: the hour repeated when clocks go
    /// back is two buckets.
    fn key(self, local: &DateTime<Tz>) -> (i32, u32, u32, i32) {
        match self {
            Interval::Hour => {
                let offset = local.offset().fix().local_minus_utc();
                (local.year(), local.ordinal(), local.hour(), offset)
            }
            Interval::Day => (local.year(), local.ordinal(), 0, 0),
            Interval::Week => {
                let week = local.iso_week();
                (week.year(), week.week(), 0, 0)
            }
            Interval::Month => (local.year(), local.month(), 0, 0),
        }
    }

    fn label(self, local: &DateTime<Tz>) -> String {
        match self {
            Interval::Hour => local.format("%Y-%m-%dT%H:%M%:z").to_string(),
            Interval::Day => local.format("%Y-%m-%d").to_string(),
            Interval::Week => {
                let week = local.iso_week();
                format!("{}-W{:02}", week.year(), week.week())
            }
            Interval::Month => local.format("%Y-%m").to_string(),
        }
    }
}

/// One bucket of a series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Local label: `2026-03-29`, `2026-03`, `2026-W13` or an hour with offset.
    pub label: String,
}

const SLOT: Duration = Duration::minutes(15);

/// The buckets of `[start, end)` in `tz`, every one present; the first and
/// last may be partial when the range does not align with the interval.
pub fn buckets(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    tz: Tz,
    interval: Interval,
) -> Vec<Bucket> {
    let mut result: Vec<Bucket> = Vec::new();
    let mut slot = start;
    let mut current_key = None;
    while slot < end {
        let local = slot.with_timezone(&tz);
        let key = interval.key(&local);
        if current_key != Some(key) {
            if let Some(last) = result.last_mut() {
                last.end = slot;
            }
            result.push(Bucket {
                start: slot,
                end,
                label: interval.label(&local),
            });
            current_key = Some(key);
        }
        slot += SLOT;
    }
    result
}

/// Index of the bucket holding `ts_us`, for sorted contiguous buckets.
pub fn bucket_of(buckets: &[Bucket], ts_us: i64) -> Option<usize> {
    let index = buckets.partition_point(|b| b.start.timestamp_micros() <= ts_us);
    let candidate = index.checked_sub(1)?;
    (ts_us < buckets[candidate].end.timestamp_micros()).then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn kolkata_days_start_at_half_past_six_utc() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        let range = DateRange::try_new(date("2026-03-01"), date("2026-03-02")).unwrap();
        let (start, end) = range.instants(tz);
        assert_eq!(start.to_rfc3339(), "2026-02-28T18:30:00+00:00");
        let days = buckets(start, end, tz, Interval::Day);
        assert_eq!(days.len(), 2);
        assert_eq!(days[1].start.to_rfc3339(), "2026-03-01T18:30:00+00:00");
        assert_eq!(days[1].label, "2026-03-02");
    }

    #[test]
    fn dst_days_are_23_and_25_hours_long() {
        let tz: Tz = "Europe/Paris".parse().unwrap();
        let spring = DateRange::try_new(date("2026-03-29"), date("2026-03-29")).unwrap();
        let (start, end) = spring.instants(tz);
        assert_eq!((end - start).num_hours(), 23);
        assert_eq!(buckets(start, end, tz, Interval::Hour).len(), 23);
        let autumn = DateRange::try_new(date("2026-10-25"), date("2026-10-25")).unwrap();
        let (start, end) = autumn.instants(tz);
        assert_eq!((end - start).num_hours(), 25);
        let hours = buckets(start, end, tz, Interval::Hour);
        assert_eq!(hours.len(), 25);
        assert_eq!(hours[2].label, "2026-10-25T02:00+02:00");
        assert_eq!(hours[3].label, "2026-10-25T02:00+01:00");
    }

    #[test]
    fn months_and_weeks_follow_the_local_calendar() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let range = DateRange::try_new(date("2026-01-15"), date("2026-03-10")).unwrap();
        let (start, end) = range.instants(tz);
        let months: Vec<String> = buckets(start, end, tz, Interval::Month)
            .into_iter()
            .map(|b| b.label)
            .collect();
        assert_eq!(months, vec!["2026-01", "2026-02", "2026-03"]);
        let weeks = buckets(start, end, tz, Interval::Week);
        assert_eq!(weeks[0].label, "2026-W03");
        assert_eq!(
            weeks[1].start.with_timezone(&tz).weekday(),
            chrono::Weekday::Mon
        );
    }

    #[test]
    fn bucket_lookup_respects_bounds() {
        let tz: Tz = "UTC".parse().unwrap();
        let range = DateRange::try_new(date("2026-01-01"), date("2026-01-03")).unwrap();
        let (start, end) = range.instants(tz);
        let days = buckets(start, end, tz, Interval::Day);
        assert_eq!(bucket_of(&days, start.timestamp_micros()), Some(0));
        assert_eq!(bucket_of(&days, end.timestamp_micros() - 1), Some(2));
        assert_eq!(bucket_of(&days, end.timestamp_micros()), None);
        assert_eq!(bucket_of(&days, start.timestamp_micros() - 1), None);
    }

    #[test]
    fn comparisons_keep_the_length() {
        let range = DateRange::try_new(date("2026-03-01"), date("2026-03-31")).unwrap();
        let previous = range.compared(Compare::PreviousPeriod);
        assert_eq!(
            (previous.from, previous.to),
            (date("2026-01-29"), date("2026-02-28"))
        );
        let leap = DateRange::try_new(date("2028-02-29"), date("2028-02-29")).unwrap();
        assert_eq!(
            leap.compared(Compare::PreviousYear).from,
            date("2027-02-28")
        );
        let custom = range.compared(Compare::Custom(date("2025-01-01")));
        assert_eq!(custom.days(), 31);
    }

    #[test]
    fn presets_end_today() {
        let today = date("2026-05-14");
        assert_eq!(
            preset("last_7_days", today).unwrap().from,
            date("2026-05-08")
        );
        assert_eq!(
            preset("this_quarter", today).unwrap().from,
            date("2026-04-01")
        );
        let previous = preset("previous_month", today).unwrap();
        assert_eq!(
            (previous.from, previous.to),
            (date("2026-04-01"), date("2026-04-30"))
        );
        assert!(preset("someday", today).is_err());
    }
}
