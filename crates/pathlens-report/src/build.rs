//! One table per report kind, with the columns the dashboard shows.

use chrono::{DateTime, Utc};
use pathlens_model::{Behavior, Graph};
use serde_json::{Value, json};

use pathlens_store::{Aggregates, NodeStats, Parts, Totals};

use crate::period::{Bucket, buckets};
use crate::request::{ReportKind, ReportRequest};
use crate::table::{Column, ColumnType, Table};
use crate::{Built, ReportError};

/// The figures a report of `request` over `[start, end)` needs.
pub(crate) fn parts(request: &ReportRequest, start: DateTime<Utc>, end: DateTime<Utc>) -> Parts {
    // Drill-down requests always name their node or hotspot (from_params checks).
    let node = || request.node.clone();
    match request.kind {
        // A breakdown asks for the totals of each of its values
        // (`crate::breakdown`).
        ReportKind::Totals | ReportKind::Breakdown => Parts {
            buckets: vec![(start.timestamp_micros(), end.timestamp_micros())],
            ..Parts::default()
        },
        ReportKind::Timeseries => Parts {
            buckets: bounds(&buckets(start, end, request.tz, request.interval)),
            ..Parts::default()
        },
        ReportKind::Nodes => Parts {
            nodes: true,
            ..Parts::default()
        },
        ReportKind::Node => Parts {
            nodes: true,
            only_node: node(),
            clicks: true,
            ..Parts::default()
        },
        ReportKind::Curve => Parts {
            nodes: true,
            only_node: node(),
            curve: node(),
            ..Parts::default()
        },
        ReportKind::Heatmap => Parts {
            heatmap: request.hotspot.clone(),
            ..Parts::default()
        },
        ReportKind::Transitions => Parts {
            transitions: true,
            ..Parts::default()
        },
        ReportKind::Viewers => Parts {
            viewers: true,
            ..Parts::default()
        },
    }
}

fn bounds(series: &[Bucket]) -> Vec<(i64, i64)> {
    series
        .iter()
        .map(|b| (b.start.timestamp_micros(), b.end.timestamp_micros()))
        .collect()
}

pub(crate) fn table(
    figures: &Aggregates,
    graph: &Graph,
    request: &ReportRequest,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Built, ReportError> {
    let plain = |table| {
        Ok(Built {
            table,
            details: Value::Null,
            total_rows: None,
        })
    };
    match request.kind {
        ReportKind::Totals | ReportKind::Breakdown => {
            let totals = figures.totals.first().copied().unwrap_or_default();
            plain(Table {
                columns: metric_columns(),
                rows: vec![metric_values(&totals)],
            })
        }
        ReportKind::Timeseries => {
            let series = buckets(start, end, request.tz, request.interval);
            let totals = figures.totals.iter();
            let mut columns = vec![
                Column::text("bucket", "Date"),
                Column::text("start", "Start (UTC)"),
            ];
            columns.extend(metric_columns());
            let rows = series
                .iter()
                .zip(totals)
                .map(|(bucket, totals)| {
                    let mut row = vec![json!(bucket.label), json!(bucket.start.to_rfc3339())];
                    row.extend(metric_values(totals));
                    row
                })
                .collect();
            Ok(Built {
                table: Table { columns, rows },
                details: json!({"interval": request.interval.name()}),
                total_rows: None,
            })
        }
        ReportKind::Nodes => plain(nodes(figures, graph)),
        ReportKind::Node => node(figures, graph, request.node.as_deref().unwrap_or_default()),
        ReportKind::Curve => curve(figures, graph, request.node.as_deref().unwrap_or_default()),
        ReportKind::Heatmap => heatmap(
            figures,
            graph,
            request.hotspot.as_deref().unwrap_or_default(),
        ),
        ReportKind::Transitions => plain(transitions(figures, graph)),
        ReportKind::Viewers => plain(viewers(figures)),
    }
}

pub(crate) fn minutes(view_ms: i64) -> f64 {
    view_ms as f64 / 60_000.0
}

pub(crate) fn ratio(part: u64, whole: u64) -> Value {
    if whole == 0 {
        Value::Null
    } else {
        json!(part as f64 / whole as f64)
    }
}

fn avg_minutes(view_ms: i64, plays: u64) -> Value {
    if plays == 0 {
        Value::Null
    } else {
        json!(minutes(view_ms) / plays as f64)
    }
}

fn metric_columns() -> Vec<Column> {
    vec![
        Column::metric("impressions", "Player Impressions", ColumnType::Integer),
        Column::metric("plays", "Plays", ColumnType::Integer),
        Column::metric("unique_viewers", "Unique Viewers", ColumnType::Integer),
        Column::metric("minutes_viewed", "Minutes Viewed", ColumnType::Number),
        Column::metric("avg_view_time", "Avg. View Time (min)", ColumnType::Number),
        Column::metric(
            "path_completion_rate",
            "Path Completion Rate",
            ColumnType::Ratio,
        ),
    ]
}

fn metric_values(totals: &Totals) -> Vec<Value> {
    vec![
        json!(totals.impressions),
        json!(totals.plays),
        json!(totals.unique_viewers),
        json!(minutes(totals.view_ms)),
        avg_minutes(totals.view_ms, totals.plays),
        ratio(totals.sessions_completed, totals.sessions_played),
    ]
}

fn deleted(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |d| json!(d.to_rfc3339()))
}

fn nodes(figures: &Aggregates, graph: &Graph) -> Table {
    let levels = graph.levels();
    let stats = &figures.nodes;
    let columns = vec![
        Column::text("node_id", "Node id"),
        Column::attribute("level", "Level", ColumnType::Integer),
        Column::attribute("start_node", "Start", ColumnType::Text),
        Column::text("name", "Name"),
        Column::text("deleted_at", "Deleted"),
        Column::metric("plays", "Plays", ColumnType::Integer),
        Column::metric("unique_viewers", "Unique Viewers", ColumnType::Integer),
        Column::metric("minutes_viewed", "Minutes Viewed", ColumnType::Number),
        Column::metric("completion_rate", "Completion Rate", ColumnType::Ratio),
        Column::metric("dropoffs", "Drop-offs", ColumnType::Integer),
    ];
    let rows = graph
        .nodes
        .iter()
        .map(|node| {
            let figures = stats.get(&node.id).cloned().unwrap_or_default();
            vec![
                json!(node.id),
                levels.get(&node.id).map_or(Value::Null, |l| json!(l)),
                json!(node.id == graph.start_node),
                json!(node.name),
                deleted(node.deleted_at),
                json!(figures.plays),
                json!(figures.unique_viewers),
                json!(minutes(figures.view_ms)),
                ratio(figures.watched_buckets, figures.plays * 100),
                json!(figures.dropoffs),
            ]
        })
        .collect();
    Table { columns, rows }
}

fn find_node<'g>(graph: &'g Graph, id: &str) -> Result<&'g pathlens_model::Node, ReportError> {
    graph
        .node(id)
        .ok_or_else(|| ReportError::NotFound(format!("node {id:?} is not in video {:?}", graph.id)))
}

/// The figures of one node, for a drill-down.
fn node_stats(figures: &Aggregates, node: &pathlens_model::Node) -> NodeStats {
    figures.nodes.get(&node.id).cloned().unwrap_or_default()
}

fn node_details(
    graph: &Graph,
    node: &pathlens_model::Node,
    level: Option<u32>,
    stats: &NodeStats,
) -> Value {
    json!({
        "node_id": node.id,
        "name": node.name,
        "level": level,
        "start_node": node.id == graph.start_node,
        "duration_ms": node.duration_ms,
        "deleted_at": deleted(node.deleted_at),
        "plays": stats.plays,
        "unique_viewers": stats.unique_viewers,
        "minutes_viewed": minutes(stats.view_ms),
        "completion_rate": ratio(stats.watched_buckets, stats.plays * 100),
        "dropoffs": stats.dropoffs,
    })
}

fn node(figures: &Aggregates, graph: &Graph, id: &str) -> Result<crate::Built, ReportError> {
    let node = find_node(graph, id)?;
    let level = graph.levels().get(&node.id).copied();
    let clicks = &figures.clicks;
    let stats = node_stats(figures, node);
    let plays = stats.plays;
    let columns = vec![
        Column::text("hotspot_id", "Hotspot id"),
        Column::text("label", "Hotspot"),
        Column::text("behavior", "Behaviour"),
        Column::text("destination", "Destination"),
        Column::attribute("level", "Node level", ColumnType::Integer),
        Column::metric("clicks", "Clicks", ColumnType::Integer),
        Column::metric(
            "click_through_rate",
            "Click-through Rate",
            ColumnType::Ratio,
        ),
        Column::text("deleted_at", "Deleted"),
    ];
    let rows = node
        .hotspots
        .iter()
        .map(|hotspot| {
            let count = clicks.get(&hotspot.id).copied().unwrap_or(0);
            let destination = match &hotspot.behavior {
                Behavior::GoToNode { node_id } => graph
                    .node(node_id)
                    .map_or(node_id.clone(), |n| n.name.clone()),
                Behavior::GoToUrl { url } => url.clone(),
                Behavior::Pause => String::new(),
            };
            vec![
                json!(hotspot.id),
                json!(hotspot.label),
                json!(hotspot.behavior.name()),
                json!(destination),
                level.map_or(Value::Null, |l| json!(l)),
                json!(count),
                ratio(count, plays),
                deleted(hotspot.deleted_at),
            ]
        })
        .collect();
    Ok(Built {
        table: Table { columns, rows },
        details: json!({"node": node_details(graph, node, level, &stats)}),
        total_rows: None,
    })
}

fn curve(figures: &Aggregates, graph: &Graph, id: &str) -> Result<Built, ReportError> {
    let node = find_node(graph, id)?;
    let plays = figures.curve.plays;
    let mut curve = figures.curve.watched.clone();
    curve.resize(100, 0);
    let columns = vec![
        Column::attribute("percent", "Percent of node", ColumnType::Integer),
        Column::attribute("offset_ms", "Offset (ms)", ColumnType::Integer),
        Column::metric("viewers", "Viewers", ColumnType::Integer),
        Column::metric("share", "Share of plays", ColumnType::Ratio),
    ];
    let rows = curve
        .iter()
        .enumerate()
        .map(|(percent, viewers)| {
            vec![
                json!(percent),
                json!(node.duration_ms * percent as u64 / 100),
                json!(viewers),
                ratio(*viewers, plays),
            ]
        })
        .collect();
    Ok(Built {
        table: Table { columns, rows },
        details: json!({"node": node_details(graph, node, graph.levels().get(&node.id).copied(), &node_stats(figures, node))}),
        total_rows: None,
    })
}

fn heatmap(figures: &Aggregates, graph: &Graph, id: &str) -> Result<Built, ReportError> {
    let (node, hotspot) = graph.hotspot(id).ok_or_else(|| {
        ReportError::NotFound(format!("hotspot {id:?} is not in video {:?}", graph.id))
    })?;
    let mut buckets = figures.heatmap.clone();
    buckets.resize(100, 0);
    let window = hotspot.end_ms.saturating_sub(hotspot.start_ms);
    let columns = vec![
        Column::attribute("bucket", "Bucket (% of window)", ColumnType::Integer),
        Column::attribute("offset_ms", "Time in node (ms)", ColumnType::Integer),
        Column::metric("clicks", "Clicks", ColumnType::Integer),
    ];
    let rows = buckets
        .iter()
        .enumerate()
        .map(|(bucket, clicks)| {
            vec![
                json!(bucket),
                json!(hotspot.start_ms + window * bucket as u64 / 100),
                json!(clicks),
            ]
        })
        .collect();
    let details = json!({"hotspot": {"hotspot_id": hotspot.id, "label": hotspot.label, "node_id": node.id, "start_ms": hotspot.start_ms, "end_ms": hotspot.end_ms, "clicks": buckets.iter().sum::<u64>()}});
    Ok(Built {
        table: Table { columns, rows },
        details,
        total_rows: None,
    })
}

fn transitions(figures: &Aggregates, graph: &Graph) -> Table {
    let name = |id: &str| graph.node(id).map_or(id.to_string(), |n| n.name.clone());
    let columns = vec![
        Column::text("key", "Transition"),
        Column::text("from_node_id", "From id"),
        Column::text("from_name", "From"),
        Column::text("to_node_id", "To id"),
        Column::text("to_name", "To"),
        Column::text("cause", "Cause"),
        Column::text("hotspot_id", "Hotspot id"),
        Column::text("hotspot_label", "Hotspot"),
        Column::metric("count", "Count", ColumnType::Integer),
    ];
    let mut counts: Vec<_> = figures.transitions.clone().into_iter().collect();
    counts.sort();
    let rows = counts
        .into_iter()
        .map(|(t, count)| {
            let label = t
                .hotspot
                .as_deref()
                .and_then(|h| graph.hotspot(h))
                .map(|(_, h)| h.label.clone());
            vec![
                json!(format!(
                    "{}>{}>{}",
                    t.from,
                    t.to,
                    t.hotspot.as_deref().unwrap_or("auto")
                )),
                json!(t.from),
                json!(name(&t.from)),
                json!(t.to),
                json!(name(&t.to)),
                json!(if t.hotspot.is_some() {
                    "hotspot"
                } else {
                    "automatic"
                }),
                json!(t.hotspot),
                json!(label),
                json!(count),
            ]
        })
        .collect();
    Table { columns, rows }
}

fn viewers(figures: &Aggregates) -> Table {
    let columns = vec![
        // Everyone with an impression, a play or viewing time: more than the
        // headline Unique Viewers, which counts only those who played.
        Column::text("user_id", "Viewer (loaded or watched)"),
        Column::text("viewer", "Kind"),
        Column::metric("impressions", "Player Impressions", ColumnType::Integer),
        Column::metric("plays", "Plays", ColumnType::Integer),
        Column::metric("minutes_viewed", "Minutes Viewed", ColumnType::Number),
        Column::metric("avg_view_time", "Avg. View Time (min)", ColumnType::Number),
    ];
    // By viewer (anonymous first), so that rows tied in the requested sort
    // come out in the same order whatever order the store returned events.
    let mut viewers: Vec<_> = figures.viewers.clone().into_iter().collect();
    viewers.sort_by(|a, b| a.0.cmp(&b.0));
    let rows = viewers
        .into_iter()
        .map(|(user, stats)| {
            vec![
                json!(user.as_deref().unwrap_or("(anonymous)")),
                json!(if user.is_some() { "known" } else { "anonymous" }),
                json!(stats.impressions),
                json!(stats.plays),
                json!(minutes(stats.view_ms)),
                avg_minutes(stats.view_ms, stats.plays),
            ]
        })
        .collect();
    Table { columns, rows }
}
