//! `pathlens compact`: rewrites a data directory's database packed, with its
//! derived tables sorted by video and time (`pathlens_store_duckdb::compact`).
//! `pathlens import` runs it by itself after a large import.

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use pathlens_store::StoreErrorKind;

use crate::backend::{embedded, embedded_settings, existing_data_dir};
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct CompactArgs {}

pub fn run(config: &Config, _args: CompactArgs) -> anyhow::Result<()> {
    if config.server.is_some() {
        bail!(
            "compact works on a data directory (--data-dir), not through --server: stop the server, then compact its data directory"
        );
    }
    if !embedded(config)? {
        bail!(
            "compact applies to the embedded store (--data-dir); ClickHouse merges its own parts"
        );
    }
    existing_data_dir(config)?;
    compact_data_dir(config)
}

/// Compacts `config`'s data directory with a spinner, and prints what it did.
pub fn compact_data_dir(config: &Config) -> anyhow::Result<()> {
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.set_message(format!(
        "compacting the database in {}",
        config.data_dir.display()
    ));
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    let outcome = pathlens_store_duckdb::compact(&config.data_dir, &embedded_settings(config));
    spinner.finish_and_clear();
    let done = outcome.map_err(|error| {
        if error.kind() == StoreErrorKind::Locked {
            anyhow::anyhow!(
                "the data directory {} is in use (a running `pathlens serve`?): stop it, then compact\n  detail: {error}",
                config.data_dir.display()
            )
        } else {
            anyhow::anyhow!("compacting {}: {error}", config.data_dir.display())
        }
    })?;
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let per_event = |bytes: u64| {
        if done.events == 0 {
            String::new()
        } else {
            format!(", {:.1} bytes per event", bytes as f64 / done.events as f64)
        }
    };
    println!(
        "compacted the database in {:.1} s: {:.1} MiB{} before, {:.1} MiB{} now",
        done.seconds,
        mib(done.before_bytes),
        per_event(done.before_bytes),
        mib(done.after_bytes),
        per_event(done.after_bytes)
    );
    Ok(())
}
