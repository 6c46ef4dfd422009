//! Names of the metrics, shared by reports, CSV headers and the dashboard.

/// A headline metric of an interactive video, as docs/metrics.md defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    Impressions,
    Plays,
    UniqueViewers,
    MinutesViewed,
    AvgViewTime,
    PathCompletionRate,
}

impl Metric {
    /// Every metric, in the order reports show them.
    pub const ALL: [Metric; 6] = [
        Metric::Impressions,
        Metric::Plays,
        Metric::UniqueViewers,
        Metric::MinutesViewed,
        Metric::AvgViewTime,
        Metric::PathCompletionRate,
    ];

    /// The snake_case name used in JSON fields and CSV headers.
    pub fn key(self) -> &'static str {
        match self {
            Metric::Impressions => "impressions",
            Metric::Plays => "plays",
            Metric::UniqueViewers => "unique_viewers",
            Metric::MinutesViewed => "minutes_viewed",
            Metric::AvgViewTime => "avg_view_time",
            Metric::PathCompletionRate => "path_completion_rate",
        }
    }

    /// The label the reference product shows.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Impressions => "Player Impressions",
            Metric::Plays => "Plays",
            Metric::UniqueViewers => "Unique Viewers",
            Metric::MinutesViewed => "Minutes Viewed",
            Metric::AvgViewTime => "Avg. View Time (min)",
            Metric::PathCompletionRate => "Path Completion Rate",
        }
    }
}
