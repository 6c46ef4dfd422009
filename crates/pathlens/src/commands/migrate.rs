//! `pathlens migrate --to clickhouse://…`: moves the events of a data
//! directory (the embedded store), with its videos and API keys, into
//! ClickHouse, with a progress bar and a final count check.
//!
//! Safe to run again after an interruption: events already in ClickHouse
//! are recognised by their dedup keys and skipped, keys already there are
//! kept, and videos get a new version with the same content and dates. The
//! data directory is only read.

use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use pathlens_store::Store;
use pathlens_store_clickhouse::ClickHouseConfig;

use crate::backend::{existing_data_dir, open_clickhouse, open_embedded};
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The ClickHouse store to fill: clickhouse://user:password@host:8123/database
    /// (the cluster comes from --clickhouse-cluster or ?cluster=NAME).
    #[arg(long)]
    pub to: String,
    /// Events per INSERT.
    #[arg(long, default_value_t = 50_000)]
    pub batch: usize,
}

pub fn run(config: &Config, args: MigrateArgs) -> anyhow::Result<()> {
    let target = ClickHouseConfig::from_url(&args.to).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    let cluster = config.clickhouse_cluster.clone().or(target.cluster.clone());
    let target = target
        .with_cluster(cluster)
        .map_err(|e| anyhow::anyhow!("--clickhouse-cluster: {e}"))?;
    let name = target.redacted();
    existing_data_dir(config)?;
    let source = open_embedded(config)?;
    let target = open_clickhouse(target)?;
    let started = Instant::now();
    let total = source
        .event_count()
        .context("counting the data directory's events")?;
    let before = target
        .event_count()
        .context("counting ClickHouse's events")?;

    let known: HashSet<String> = target.keys()?.into_iter().map(|k| k.id).collect();
    let mut partners: BTreeSet<u32> = BTreeSet::from([config.partner]);
    let mut keys = 0;
    for key in source.keys()? {
        partners.insert(key.partner_id);
        if !known.contains(&key.id) {
            target.put_key(&key)?;
            keys += 1;
        }
    }

    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} events {msg} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut offset, mut accepted, mut duplicates) = (0u64, 0usize, 0usize);
    loop {
        let page = source
            .export(None, offset, args.batch.max(1))
            .context("reading the data directory")?;
        if page.is_empty() {
            break;
        }
        offset += page.len() as u64;
        partners.extend(page.iter().map(|e| e.partner_id));
        let count = page.len() as u64;
        let outcome = target
            .append_events(page)
            .context("storing events in ClickHouse")?;
        accepted += outcome.accepted;
        duplicates += outcome.duplicates;
        bar.inc(count);
        bar.set_message(format!("({accepted} new, {duplicates} already there)"));
    }
    bar.finish_and_clear();

    let mut videos = 0;
    for partner in &partners {
        for video in source.videos(*partner)? {
            target.import_video(&video)?;
            videos += 1;
        }
    }
    let after = target
        .event_count()
        .context("counting ClickHouse's events")?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "moved {offset} events in {seconds:.1} s ({:.0} events/s) to {name}: {accepted} new, {duplicates} already there; {videos} videos, {keys} new keys",
        offset as f64 / seconds.max(1e-9)
    );
    if offset != total {
        bail!("count check failed: the data directory holds {total} events but {offset} were read");
    }
    if accepted + duplicates != offset as usize {
        bail!(
            "count check failed: {offset} events read, {accepted} stored + {duplicates} already there"
        );
    }
    if after != before + accepted as u64 {
        bail!(
            "count check failed: ClickHouse held {before} events and now holds {after}, not {} (was something else writing to it?)",
            before + accepted as u64
        );
    }
    println!(
        "count check passed: every one of the {total} events is in ClickHouse, which now holds {after}"
    );
    Ok(())
}
