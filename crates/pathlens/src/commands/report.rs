//! `pathlens report KIND`: the API's reports in the terminal, with the same
//! parameter names.

use anyhow::bail;
use pathlens_report::ReportKind;
use serde_json::Value;

use crate::backend;
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// totals, timeseries, nodes, node, curve, heatmap, transitions, viewers or breakdown.
    pub kind: String,
    /// The interactive video.
    #[arg(long)]
    pub video: String,
    /// First local day (YYYY-MM-DD); with --to.
    #[arg(long)]
    pub from: Option<String>,
    /// Last local day, inclusive (YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<String>,
    /// A preset instead of --from/--to: last_7_days, last_30_days, last_90_days, last_12_months, this_week, this_month, this_quarter, this_year, previous_month.
    #[arg(long)]
    pub range: Option<String>,
    /// IANA time zone of days and buckets [default: UTC].
    #[arg(long)]
    pub tz: Option<String>,
    /// hour, day, week or month (timeseries).
    #[arg(long)]
    pub interval: Option<String>,
    /// previous_period, previous_year or a start date YYYY-MM-DD.
    #[arg(long)]
    pub compare: Option<String>,
    /// Filter as NAME=V1,V2 (countries, devices, os, browsers, referrer_domains, applications, playback_types, user_ids, viewer, nodes, hotspots); repeatable.
    #[arg(long = "filter", value_name = "NAME=VALUES")]
    pub filters: Vec<String>,
    /// Node of the node and curve reports.
    #[arg(long)]
    pub node: Option<String>,
    /// Hotspot of the heatmap report.
    #[arg(long)]
    pub hotspot: Option<String>,
    /// Dimension of the breakdown report: country (default), device, os, browser, referrer_domain, application or playback_type.
    #[arg(long)]
    pub dimension: Option<String>,
    /// Column to sort by (nodes, transitions, viewers).
    #[arg(long)]
    pub sort: Option<String>,
    /// asc or desc.
    #[arg(long)]
    pub order: Option<String>,
    #[arg(long)]
    pub page: Option<usize>,
    #[arg(long)]
    pub page_size: Option<usize>,
    /// table, csv or json.
    #[arg(long, default_value = "table")]
    pub format: String,
}

impl ReportArgs {
    fn params(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut params = Vec::new();
        let named = [
            ("from", &self.from),
            ("to", &self.to),
            ("range", &self.range),
            ("tz", &self.tz),
            ("interval", &self.interval),
            ("compare", &self.compare),
            ("node", &self.node),
            ("hotspot", &self.hotspot),
            ("dimension", &self.dimension),
            ("sort", &self.sort),
            ("order", &self.order),
        ];
        for (name, value) in named {
            if let Some(value) = value {
                params.push((name.to_string(), value.clone()));
            }
        }
        params.extend(self.page.map(|p| ("page".to_string(), p.to_string())));
        params.extend(
            self.page_size
                .map(|p| ("page_size".to_string(), p.to_string())),
        );
        for filter in &self.filters {
            let Some((name, values)) = filter.split_once('=') else {
                bail!("--filter {filter:?}: expected NAME=VALUES, e.g. countries=FR,DE");
            };
            params.push((name.trim().to_string(), values.trim().to_string()));
        }
        Ok(params)
    }
}

pub fn run(config: &Config, args: ReportArgs) -> anyhow::Result<()> {
    let kind = ReportKind::parse(&args.kind)?;
    let params = args.params()?;
    let backend = backend::open(config)?;
    match args.format.as_str() {
        "csv" => print!("{}", backend.report(&args.video, kind, &params, true)?),
        "json" => {
            let report: Value =
                serde_json::from_str(&backend.report(&args.video, kind, &params, false)?)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        "table" => {
            let report: Value =
                serde_json::from_str(&backend.report(&args.video, kind, &params, false)?)?;
            print!("{}", describe(&report));
        }
        other => bail!("--format {other:?}: expected table, csv or json"),
    }
    Ok(())
}

fn describe(report: &Value) -> String {
    let period = &report["period"];
    let mut out = format!(
        "{} — {} ({} to {}, {})\n",
        report["video_name"].as_str().unwrap_or_default(),
        report["report"].as_str().unwrap_or_default(),
        period["from"].as_str().unwrap_or_default(),
        period["to"].as_str().unwrap_or_default(),
        report["tz"].as_str().unwrap_or_default()
    );
    if let Some(other) = report["comparison"].as_object() {
        out += &format!(
            "compared with {} to {}\n",
            other["from"].as_str().unwrap_or_default(),
            other["to"].as_str().unwrap_or_default()
        );
    }
    let columns: Vec<crate::table::Column> = report["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| crate::table::Column {
            key: c["key"].as_str().unwrap_or_default().to_string(),
            label: c["label"].as_str().unwrap_or_default().to_string(),
            kind: crate::table::Kind::of(c["type"].as_str().unwrap_or_default()),
        })
        .collect();
    let rows = report["rows"].as_array().cloned().unwrap_or_default();
    out += "\n";
    out += &crate::table::render(&columns, &rows);
    let total = report["total_rows"].as_u64().unwrap_or(0);
    if total as usize > rows.len() {
        out += &format!(
            "\nrows {}–{} of {total} (--page, --page-size)\n",
            1 + (report["page"].as_u64().unwrap_or(1) - 1)
                * report["page_size"].as_u64().unwrap_or(0),
            (report["page"].as_u64().unwrap_or(1) - 1) * report["page_size"].as_u64().unwrap_or(0)
                + rows.len() as u64
        );
    }
    out
}
