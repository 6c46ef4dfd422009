//! A report request, parsed from query parameters (the HTTP API) or the
//! CLI's flags, which use the same names.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use pathlens_model::PlaybackType;
use pathlens_store::{ContextFilter, Dimension, ViewerKind, query::UNKNOWN};

use crate::ReportError;
use crate::period::{Compare, DateRange, Interval, preset};
use pathlens_store::SessionFilter;

/// The reports pathlens answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    Totals,
    Timeseries,
    Nodes,
    Node,
    Curve,
    Heatmap,
    Transitions,
    Viewers,
    Breakdown,
}

impl ReportKind {
    pub const ALL: [ReportKind; 9] = [
        ReportKind::Totals,
        ReportKind::Timeseries,
        ReportKind::Nodes,
        ReportKind::Node,
        ReportKind::Curve,
        ReportKind::Heatmap,
        ReportKind::Transitions,
        ReportKind::Viewers,
        ReportKind::Breakdown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ReportKind::Totals => "totals",
            ReportKind::Timeseries => "timeseries",
            ReportKind::Nodes => "nodes",
            ReportKind::Node => "node",
            ReportKind::Curve => "curve",
            ReportKind::Heatmap => "heatmap",
            ReportKind::Transitions => "transitions",
            ReportKind::Viewers => "viewers",
            ReportKind::Breakdown => "breakdown",
        }
    }

    /// # Errors
    /// [`ReportError::InvalidParam`] on `kind`.
    pub fn parse(name: &str) -> Result<ReportKind, ReportError> {
        ReportKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = ReportKind::ALL.iter().map(|k| k.name()).collect();
                ReportError::invalid(
                    "kind",
                    format!("{name:?} is not one of {}", names.join(", ")),
                )
            })
    }
}

/// The period a request names: explicit days, or a preset resolved against
/// today's date in the request's zone when the report runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeSpec {
    Days(DateRange),
    Preset(String),
}

/// Everything a report needs to know besides the video.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRequest {
    pub kind: ReportKind,
    pub range: RangeSpec,
    pub tz: Tz,
    pub interval: Interval,
    pub compare: Option<Compare>,
    pub filter: ContextFilter,
    pub sessions: SessionFilter,
    /// The node of `node` and `curve` reports.
    pub node: Option<String>,
    /// The hotspot of `heatmap` reports.
    pub hotspot: Option<String>,
    /// The dimension a `breakdown` report (or a list of values) is about.
    pub dimension: Dimension,
    pub sort: Option<String>,
    pub descending: bool,
    pub page: usize,
    pub page_size: usize,
    /// Cancelling it stops the report's work in the store (the server does
    /// when the client goes away or the deadline passes).
    pub cancel: pathlens_store::Cancel,
}

/// The largest page a paginated report returns.
pub const MAX_PAGE_SIZE: usize = 10_000;

/// Parameter names a request understands (besides `format`, which the
/// caller handles).
pub const PARAMS: [&str; 24] = [
    "range",
    "from",
    "to",
    "tz",
    "interval",
    "compare",
    "countries",
    "devices",
    "os",
    "browsers",
    "referrer_domains",
    "applications",
    "playback_types",
    "user_ids",
    "viewer",
    "nodes",
    "hotspots",
    "node",
    "hotspot",
    "dimension",
    "sort",
    "order",
    "page",
    "page_size",
];

impl ReportRequest {
    /// A request with every default: last 30 days, UTC, daily, no filter.
    pub fn new(kind: ReportKind) -> ReportRequest {
        ReportRequest {
            kind,
            range: RangeSpec::Preset("last_30_days".into()),
            tz: Tz::UTC,
            interval: Interval::Day,
            compare: None,
            filter: ContextFilter::default(),
            sessions: SessionFilter::default(),
            node: None,
            hotspot: None,
            dimension: Dimension::Country,
            sort: None,
            descending: true,
            page: 1,
            // A breakdown answers one aggregate per value, so its pages
            // are short.
            page_size: if kind == ReportKind::Breakdown {
                10
            } else {
                50
            },
            cancel: pathlens_store::Cancel::default(),
        }
    }

    /// Parses query parameters. Lists are comma-separated and may also be
    /// repeated (`countries=FR,DE` or `countries=FR&countries=DE`).
    ///
    /// # Errors
    /// [`ReportError::InvalidParam`] naming the first bad parameter.
    pub fn from_params(
        kind: ReportKind,
        params: &[(String, String)],
    ) -> Result<ReportRequest, ReportError> {
        let mut request = ReportRequest::new(kind);
        let mut from = None;
        let mut to = None;
        for (name, value) in params {
            let list = || {
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
            };
            match name.as_str() {
                "range" => request.range = RangeSpec::Preset(value.clone()),
                "from" => from = Some(parse_date("from", value)?),
                "to" => to = Some(parse_date("to", value)?),
                "tz" => {
                    request.tz = value.parse().map_err(|_| {
                        ReportError::invalid(
                            "tz",
                            format!("{value:?} is not an IANA time zone name"),
                        )
                    })?;
                }
                "interval" => request.interval = Interval::parse(value)?,
                "compare" if value.is_empty() || value == "none" => request.compare = None,
                "compare" => request.compare = Some(Compare::parse(value)?),
                // Country codes are upper case; the literal `unknown`
                // (matching events without a country) stays as it is.
                "countries" => request.filter.countries.extend(list().map(|c| {
                    if c.eq_ignore_ascii_case("unknown") {
                        "unknown".to_string()
                    } else {
                        c.to_uppercase()
                    }
                })),
                "devices" => request.filter.devices.extend(list()),
                "os" => request.filter.os.extend(list()),
                "browsers" => request.filter.browsers.extend(list()),
                "referrer_domains" => request.filter.referrer_domains.extend(list()),
                "applications" => request.filter.applications.extend(list()),
                "playback_types" => {
                    for name in list() {
                        if PlaybackType::from_name(&name).is_none() && name != UNKNOWN {
                            return Err(ReportError::invalid(
                                "playback_types",
                                format!("{name:?} is not one of vod, live, dvr, unknown"),
                            ));
                        }
                        request.filter.playback_types.push(name);
                    }
                }
                "user_ids" => request.filter.user_ids.extend(list()),
                "viewer" => {
                    request.filter.viewer = match value.as_str() {
                        "" | "all" => None,
                        "known" => Some(ViewerKind::Known),
                        "anonymous" => Some(ViewerKind::Anonymous),
                        other => {
                            return Err(ReportError::invalid(
                                "viewer",
                                format!("{other:?} is not one of known, anonymous, all"),
                            ));
                        }
                    }
                }
                "nodes" => request.sessions.nodes.extend(list()),
                "hotspots" => request.sessions.hotspots.extend(list()),
                "node" => request.node = Some(value.clone()),
                "hotspot" => request.hotspot = Some(value.clone()),
                "dimension" => {
                    request.dimension = Dimension::from_name(value).ok_or_else(|| {
                        ReportError::invalid(
                            "dimension",
                            format!("{value:?} is not one of {}", Dimension::names()),
                        )
                    })?;
                }
                "sort" => request.sort = Some(value.clone()),
                "order" => {
                    request.descending = match value.as_str() {
                        "asc" => false,
                        "desc" => true,
                        other => {
                            return Err(ReportError::invalid(
                                "order",
                                format!("{other:?} is not asc or desc"),
                            ));
                        }
                    }
                }
                "page" => request.page = parse_count("page", value, 1, usize::MAX)?,
                "page_size" => {
                    request.page_size = parse_count("page_size", value, 1, MAX_PAGE_SIZE)?
                }
                other => {
                    return Err(ReportError::invalid(
                        other,
                        format!(
                            "unknown parameter; known ones are {}, format",
                            PARAMS.join(", ")
                        ),
                    ));
                }
            }
        }
        match (from, to) {
            (Some(from), Some(to)) => {
                request.range = RangeSpec::Days(DateRange::try_new(from, to)?)
            }
            (Some(_), None) => return Err(ReportError::invalid("to", "required with from")),
            (None, Some(_)) => return Err(ReportError::invalid("from", "required with to")),
            (None, None) => {}
        }
        if matches!(kind, ReportKind::Node | ReportKind::Curve) && request.node.is_none() {
            return Err(ReportError::invalid(
                "node",
                format!("required by the {} report", kind.name()),
            ));
        }
        if kind == ReportKind::Breakdown && request.page_size > crate::breakdown::MAX_BREAKDOWN_PAGE
        {
            return Err(ReportError::invalid(
                "page_size",
                format!(
                    "a breakdown shows at most {} values a page; this asked for {}",
                    crate::breakdown::MAX_BREAKDOWN_PAGE,
                    request.page_size
                ),
            ));
        }
        if kind == ReportKind::Heatmap && request.hotspot.is_none() {
            return Err(ReportError::invalid(
                "hotspot",
                "required by the heatmap report",
            ));
        }
        Ok(request)
    }

    /// The days the request covers at the instant `now` (today is its
    /// date in the request's zone).
    ///
    /// # Errors
    /// [`ReportError::InvalidParam`] on `range` for an unknown preset.
    pub fn days_at(&self, now: DateTime<Utc>) -> Result<DateRange, ReportError> {
        self.days(now.with_timezone(&self.tz).date_naive())
    }

    /// The days the request covers, given today's date in its zone.
    ///
    /// # Errors
    /// [`ReportError::InvalidParam`] on `range` for an unknown preset.
    pub fn days(&self, today: NaiveDate) -> Result<DateRange, ReportError> {
        let range = match &self.range {
            RangeSpec::Days(range) => *range,
            RangeSpec::Preset(name) => preset(name, today)?,
        };
        self.check_size(range)?;
        Ok(range)
    }

    /// Keeps a report's work bounded: at most [`MAX_RANGE_DAYS`] days, and
    /// hourly series over at most [`MAX_HOURLY_DAYS`] days.
    fn check_size(&self, range: DateRange) -> Result<(), ReportError> {
        let days = range.days();
        if days > MAX_RANGE_DAYS {
            return Err(ReportError::invalid(
                "to",
                format!(
                    "the range {} to {} has {days} days; a report covers at most {MAX_RANGE_DAYS} days (10 years)",
                    range.from, range.to
                ),
            ));
        }
        if self.kind == ReportKind::Timeseries
            && self.interval == Interval::Hour
            && days > MAX_HOURLY_DAYS
        {
            return Err(ReportError::invalid(
                "interval",
                format!(
                    "an hourly series covers at most {MAX_HOURLY_DAYS} days and this range has {days}; use interval=day or a shorter range"
                ),
            ));
        }
        Ok(())
    }
}

/// The longest range of one report, in days: ten years.
pub const MAX_RANGE_DAYS: i64 = 3_653;

/// The longest range of an hourly series, in days.
pub const MAX_HOURLY_DAYS: i64 = 31;

/// The reports one video's dashboard page shows — every kind once, the
/// drill-downs on `node` and `hotspot` — all with the parameters `common`
/// (period, zone, comparison, filters). The timeseries is daily.
///
/// # Errors
/// [`ReportError::InvalidParam`] as [`ReportRequest::from_params`].
pub fn dashboard_set(
    common: &[(String, String)],
    node: &str,
    hotspot: &str,
) -> Result<Vec<ReportRequest>, ReportError> {
    let with = |extra: &[(&str, &str)]| {
        let mut all = common.to_vec();
        all.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        all
    };
    let kinds = [
        (ReportKind::Totals, with(&[])),
        (ReportKind::Timeseries, with(&[("interval", "day")])),
        (ReportKind::Nodes, with(&[])),
        (ReportKind::Node, with(&[("node", node)])),
        (ReportKind::Curve, with(&[("node", node)])),
        (ReportKind::Heatmap, with(&[("hotspot", hotspot)])),
        (ReportKind::Transitions, with(&[])),
        (ReportKind::Viewers, with(&[])),
    ];
    kinds
        .into_iter()
        .map(|(kind, params)| ReportRequest::from_params(kind, &params))
        .collect()
}

fn parse_date(param: &str, value: &str) -> Result<NaiveDate, ReportError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| ReportError::invalid(param, format!("{value:?} is not a date (YYYY-MM-DD)")))
}

fn parse_count(param: &str, value: &str, min: usize, max: usize) -> Result<usize, ReportError> {
    match value.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ReportError::invalid(
            param,
            format!("{value:?} is not a whole number from {min} to {max}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_every_filter() {
        let request = ReportRequest::from_params(
            ReportKind::Totals,
            &params(&[
                ("from", "2026-01-01"),
                ("to", "2026-01-31"),
                ("tz", "Asia/Kolkata"),
                ("countries", "fr,DE"),
                ("countries", "IN"),
                ("playback_types", "vod,live"),
                ("viewer", "known"),
                ("nodes", "a,b"),
                ("compare", "previous_year"),
            ]),
        )
        .unwrap();
        assert_eq!(request.filter.countries, ["FR", "DE", "IN"]);
        assert_eq!(request.filter.playback_types, ["vod", "live"]);
        assert_eq!(request.filter.viewer, Some(ViewerKind::Known));
        assert_eq!(request.sessions.nodes, ["a", "b"]);
        assert_eq!(request.compare, Some(Compare::PreviousYear));
        assert_eq!(request.tz.name(), "Asia/Kolkata");
    }

    #[test]
    fn errors_name_the_parameter() {
        let cases = [
            (vec![("tz", "Mars/Olympus")], "tz"),
            (vec![("from", "2026-13-01"), ("to", "2026-01-01")], "from"),
            (vec![("from", "2026-02-01"), ("to", "2026-01-01")], "to"),
            (vec![("from", "2026-02-01")], "to"),
            (vec![("interval", "fortnight")], "interval"),
            (vec![("countrys", "FR")], "countrys"),
            (vec![("page_size", "0")], "page_size"),
            (vec![("playback_types", "hd")], "playback_types"),
        ];
        for (pairs, param) in cases {
            let error =
                ReportRequest::from_params(ReportKind::Totals, &params(&pairs)).unwrap_err();
            assert!(
                matches!(&error, ReportError::InvalidParam { param: p, .. } if p == param),
                "{pairs:?}: {error}"
            );
        }
        let error = ReportRequest::from_params(ReportKind::Node, &[]).unwrap_err();
        assert!(error.to_string().contains("node"));
    }

    #[test]
    fn a_report_covers_a_bounded_range() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 15).unwrap();
        let days = |kind, pairs: &[(&str, &str)]| {
            ReportRequest::from_params(kind, &params(pairs))
                .unwrap()
                .days(today)
        };
        let huge = [("from", "0001-01-01"), ("to", "9999-12-31")];
        for kind in [
            ReportKind::Totals,
            ReportKind::Timeseries,
            ReportKind::Nodes,
        ] {
            let error = days(kind, &huge).unwrap_err();
            assert!(
                matches!(&error, ReportError::InvalidParam { param, .. } if param == "to"),
                "{error}"
            );
            assert!(error.to_string().contains("3653 days"), "{error}");
        }
        let ten_years = [("from", "2016-03-15"), ("to", "2026-03-15")];
        assert_eq!(
            days(ReportKind::Timeseries, &ten_years).unwrap().days(),
            3_653
        );
        let hourly = |to| {
            days(
                ReportKind::Timeseries,
                &[("from", "2026-01-01"), ("to", to), ("interval", "hour")],
            )
        };
        assert_eq!(hourly("2026-01-31").unwrap().days(), 31);
        let error = hourly("2026-02-01").unwrap_err();
        assert!(
            matches!(&error, ReportError::InvalidParam { param, .. } if param == "interval"),
            "{error}"
        );
        // Only a series is hourly: totals over the same range are fine.
        assert!(
            days(
                ReportKind::Totals,
                &[
                    ("from", "2026-01-01"),
                    ("to", "2026-03-01"),
                    ("interval", "hour")
                ]
            )
            .is_ok()
        );
    }
}
