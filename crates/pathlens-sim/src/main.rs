//! `pathlens-sim`: writes simulated traffic as NDJSON native events (the
//! format `pathlens import` reads), or the sample videos as JSON.

use std::io::{BufWriter, Write};

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use clap::Parser;
use pathlens_sim::{SimConfig, Simulator, sample_graphs};

/// Simulated viewers of interactive videos, deterministic from a seed.
#[derive(Debug, Parser)]
#[command(name = "pathlens-sim", version, about)]
struct Args {
    /// Seed of the random stream.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Partner id of the events.
    #[arg(long, default_value_t = 1)]
    partner: u32,
    /// First simulated day (YYYY-MM-DD, UTC).
    #[arg(long, default_value = "2026-01-01")]
    start: NaiveDate,
    /// Number of days.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Average sessions per video per day.
    #[arg(long, default_value_t = 100.0)]
    sessions_per_day: f64,
    /// Stop after this many events (0: no limit).
    #[arg(long, default_value_t = 0)]
    limit: u64,
    /// Print the sample videos (one JSON graph per line) instead of events.
    #[arg(long)]
    videos: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    if args.videos {
        for graph in sample_graphs() {
            writeln!(out, "{}", serde_json::to_string(&graph)?)?;
        }
        return out.flush().context("writing videos");
    }
    let start: DateTime<Utc> = args
        .start
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let config = SimConfig {
        seed: args.seed,
        partner_id: args.partner,
        start,
        days: args.days,
        sessions_per_day: args.sessions_per_day,
        ..SimConfig::default()
    };
    let mut written = 0u64;
    for event in Simulator::new(config, sample_graphs()) {
        serde_json::to_writer(&mut out, &event.to_native())?;
        out.write_all(b"\n")?;
        written += 1;
        if args.limit > 0 && written >= args.limit {
            break;
        }
    }
    out.flush().context("writing events")?;
    eprintln!("pathlens-sim: {written} events");
    Ok(())
}
