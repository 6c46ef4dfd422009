//! `pathlens demo`: a fresh data directory with three sample interactive
//! videos and simulated traffic, then the server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{Duration, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use pathlens_sim::{SimConfig, Simulator, sample_graphs};
use pathlens_store::{KeyKind, Store};

use crate::backend::open_store;
use crate::commands::serve::serve_store;
use crate::config::Config;

/// Marks a directory the demo made, so a rerun may wipe it and nothing else.
const MARKER: &str = ".pathlens-demo";

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Days of simulated traffic, ending today.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// Average sessions per video per day.
    #[arg(long, default_value_t = 120.0)]
    pub sessions_per_day: f64,
    /// Seed of the simulation (same seed, same data).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Prepare the data and exit without serving.
    #[arg(long)]
    pub no_serve: bool,
}

fn fresh_directory(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if dir.join(MARKER).exists() {
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("clearing the previous demo in {}", dir.display()))?;
        } else if !empty {
            bail!(
                "{} exists and was not made by `pathlens demo`; choose another --data-dir",
                dir.display()
            );
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "made by pathlens demo; removed when the demo runs again\n",
    )
    .context("marking the demo directory")?;
    Ok(())
}

pub fn run(config: &Config, data_dir_given: bool, args: DemoArgs) -> anyhow::Result<()> {
    let mut config = config.clone();
    if !data_dir_given {
        config.data_dir = PathBuf::from("./pathlens-demo");
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    // Before any data is touched: a demo (or anything else) already serving
    // on the address would keep running on the data this run replaces.
    if !args.no_serve
        && let Err(error) = std::net::TcpListener::bind(config.listen)
    {
        bail!(
            "cannot listen on {}: {error}. Is a demo already running there? Stop it (Ctrl-C), \
             or run this one elsewhere: scripts/demo --listen 127.0.0.1:8081 --data-dir ./pathlens-demo-2",
            config.listen
        );
    }
    // A previous demo's data held by a running server is not replaced: its
    // store cannot be opened while that server has it.
    if config.data_dir.join(MARKER).exists()
        && let Err(error) = open_store(&config)
    {
        bail!(
            "the demo data in {} is in use by another pathlens (a demo or server still running?): {error:#}. \
             Stop it first, or run this one with --data-dir ./pathlens-demo-2",
            config.data_dir.display()
        );
    }
    fresh_directory(&config.data_dir)?;
    let store = open_store(&config)?;
    let now = Utc::now();
    let graphs = sample_graphs();
    for graph in &graphs {
        store.put_video(config.partner, graph, now)?;
    }
    let start = (now - Duration::days(i64::from(args.days) - 1))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let sim = SimConfig {
        seed: args.seed,
        partner_id: config.partner,
        start,
        days: args.days,
        sessions_per_day: args.sessions_per_day,
        ..SimConfig::default()
    };
    let stored = simulate(
        store.as_ref(),
        Simulator::new(sim, graphs.clone()),
        start,
        args.days,
        now,
    )?;
    let (_, admin) = pathlens_server::auth::issue_key(
        store.as_ref(),
        config.partner,
        KeyKind::Admin,
        "demo admin",
        now,
    )?;
    let (_, write) = pathlens_server::auth::issue_key(
        store.as_ref(),
        config.partner,
        KeyKind::Write,
        "demo player",
        now,
    )?;
    println!(
        "demo data: {} videos, {stored} events over {} days in {}",
        graphs.len(),
        args.days,
        config.data_dir.display()
    );
    // On the embedded store: packed, with the facts sorted by video, as
    // `pathlens import` leaves a bulk load.
    let store = if crate::backend::embedded(&config)? {
        drop(store);
        crate::commands::compact::compact_data_dir(&config)?;
        open_store(&config)?
    } else {
        store
    };
    if args.no_serve {
        println!("admin token: {admin}\nwrite key:   {write}");
        return Ok(());
    }
    let store: Arc<dyn Store> = store;
    serve_store(&config, store, |address| {
        println!();
        println!("  pathlens demo is running");
        println!("  dashboard:   http://{address}/");
        println!("  sign in:     http://{address}/#token={admin}");
        println!("  admin token: {admin}");
        println!("  write key:   {write}");
        println!(
            "  try:         curl -H 'Authorization: Bearer {admin}' 'http://{address}/api/v1/videos/{}/reports/totals'",
            graphs[0].id
        );
        println!("  stop with Ctrl-C");
        println!();
    })
}

/// Appends the simulated events in batches, showing the simulated day.
/// Traffic ends at `now`, the moment the demo starts: no event lies in the
/// future of the dashboard it feeds.
fn simulate(
    store: &dyn Store,
    simulator: Simulator,
    start: chrono::DateTime<Utc>,
    days: u32,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<usize> {
    let bar = ProgressBar::new(u64::from(days));
    bar.set_style(
        ProgressStyle::with_template("simulating {bar:40} day {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut stored = 0;
    let mut batch = Vec::with_capacity(10_000);
    for event in simulator.filter(|event| event.ts <= now) {
        let day = (event.ts - start).num_days().clamp(0, i64::from(days)) as u64;
        batch.push(event);
        if batch.len() == 10_000 {
            stored += store.append(std::mem::take(&mut batch))?.accepted;
            bar.set_position(day);
            bar.set_message(format!("{stored} events"));
        }
    }
    stored += store.append(batch)?.accepted;
    bar.finish_and_clear();
    Ok(stored)
}
