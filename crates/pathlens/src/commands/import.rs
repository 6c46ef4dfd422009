//! `pathlens import FILE|-`: native events as NDJSON, with a progress bar and
//! a summary. On a data directory the events keep their `ts` (an import by
//! the administrator); through `--server` they are sent with the admin token.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use pathlens_ingest::{Rejection, RequestContext, decode_event};
use pathlens_store::Store;

use crate::backend::{Remote, open_tool_store};
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// NDJSON file of native events (gzip when it ends in .gz), or - for standard input.
    pub file: PathBuf,
    /// Events per batch [default: 50000 on a data directory, 10000 (the API's limit) through --server].
    #[arg(long)]
    pub batch: Option<usize>,
    /// On a data directory, do not compact the database after the import. By
    /// default it is compacted (`pathlens compact`) when the import added at
    /// least a tenth of the events it holds.
    #[arg(long)]
    pub no_compact: bool,
}

/// Counts of an import.
#[derive(Debug, Default)]
struct Summary {
    accepted: usize,
    duplicates: usize,
    rejected: usize,
    shown: Vec<String>,
}

impl Summary {
    fn reject(&mut self, line: usize, rejection: &Rejection) {
        self.rejected += 1;
        if self.shown.len() < 20 {
            self.shown.push(format!(
                "line {}: {}: {}",
                line + 1,
                rejection.field,
                rejection.reason
            ));
        }
    }
}

fn input(path: &PathBuf) -> anyhow::Result<(Box<dyn BufRead>, Option<u64>)> {
    if path.as_os_str() == "-" {
        return Ok((Box::new(BufReader::new(std::io::stdin())), None));
    }
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata().ok().map(|m| m.len());
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok((Box::new(BufReader::with_capacity(1 << 20, reader)), size))
}

fn progress(size: Option<u64>) -> ProgressBar {
    let bar = match size {
        Some(bytes) => ProgressBar::new(bytes),
        None => ProgressBar::new_spinner(),
    };
    let template = if size.is_some() {
        "{bar:40} {bytes}/{total_bytes} {msg} ({eta})"
    } else {
        "{spinner} {bytes} {msg}"
    };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

pub fn run(config: &Config, args: ImportArgs) -> anyhow::Result<()> {
    let (reader, size) = input(&args.file)?;
    let bar = progress(size);
    let started = Instant::now();
    // Whether to compact the data directory once its store is closed.
    let mut compact = false;
    let summary = if config.server.is_some() {
        import_remote(
            &Remote::open(config)?,
            reader,
            &bar,
            args.batch.unwrap_or(10_000).min(10_000),
        )?
    } else {
        let store = open_tool_store(config)?;
        let summary = import_local(
            store.as_ref(),
            config.partner,
            config.time_window(),
            reader,
            &bar,
            args.batch.unwrap_or(50_000).max(1),
        )?;
        compact = !args.no_compact
            && crate::backend::embedded(config)?
            && store.event_count().is_ok_and(|stored| {
                pathlens_store_duckdb::worth_compacting(summary.accepted as u64, stored)
            });
        summary
    };
    bar.finish_and_clear();
    if compact {
        crate::commands::compact::compact_data_dir(config)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let total = summary.accepted + summary.duplicates + summary.rejected;
    println!(
        "imported {} events in {seconds:.1} s ({:.0} events/s): {} accepted, {} duplicates, {} rejected",
        total,
        total as f64 / seconds.max(1e-9),
        summary.accepted,
        summary.duplicates,
        summary.rejected
    );
    for line in &summary.shown {
        println!("  {line}");
    }
    if summary.rejected > summary.shown.len() {
        println!(
            "  … and {} more rejected lines",
            summary.rejected - summary.shown.len()
        );
    }
    Ok(())
}

/// Decodes on this thread while a second one appends the previous batch, so
/// parsing and the store's commits overlap.
fn import_local(
    store: &dyn Store,
    partner: u32,
    window: pathlens_ingest::TimeWindow,
    mut reader: Box<dyn BufRead>,
    bar: &ProgressBar,
    batch_size: usize,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    let context = RequestContext {
        window,
        partner_id: partner,
        now: Utc::now(),
        trusted_timestamps: true,
        user_agent: None,
        country: None,
    };
    let (batches, incoming) = std::sync::mpsc::sync_channel::<Vec<pathlens_model::Event>>(2);
    std::thread::scope(|scope| -> anyhow::Result<Summary> {
        let appender = scope.spawn(move || -> anyhow::Result<(usize, usize)> {
            let (mut accepted, mut duplicates) = (0, 0);
            for batch in incoming {
                let outcome = store.append(batch)?;
                accepted += outcome.accepted;
                duplicates += outcome.duplicates;
            }
            Ok((accepted, duplicates))
        });
        let mut batch = Vec::with_capacity(batch_size);
        let mut line = String::new();
        let mut number = 0usize;
        loop {
            line.clear();
            let read = reader.read_line(&mut line).context("reading the input")?;
            if read == 0 {
                break;
            }
            bar.inc(read as u64);
            if !line.trim().is_empty() {
                match decode_event(line.trim_end(), number, &context) {
                    Ok(event) => batch.push(event),
                    Err(rejection) => summary.reject(number, &rejection),
                }
            }
            number += 1;
            if batch.len() >= batch_size
                && batches
                    .send(std::mem::replace(
                        &mut batch,
                        Vec::with_capacity(batch_size),
                    ))
                    .is_err()
            {
                break;
            }
        }
        let _ = batches.send(batch);
        drop(batches);
        let (accepted, duplicates) = appender
            .join()
            .map_err(|_| anyhow::anyhow!("the append thread panicked"))??;
        summary.accepted = accepted;
        summary.duplicates = duplicates;
        Ok(summary)
    })
}

fn import_remote(
    backend: &Remote,
    mut reader: Box<dyn BufRead>,
    bar: &ProgressBar,
    batch_size: usize,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    let mut chunk = String::new();
    let mut lines = 0usize;
    let mut first_line = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader.read_line(&mut line).context("reading the input")?;
        if read > 0 {
            bar.inc(read as u64);
            chunk.push_str(&line);
            if !line.ends_with('\n') {
                chunk.push('\n');
            }
            lines += 1;
        }
        if (read == 0 && lines > 0) || lines >= batch_size {
            let answer = backend.post_events(&chunk)?;
            summary.accepted += answer["accepted"].as_u64().unwrap_or(0) as usize;
            summary.duplicates += answer["duplicates"].as_u64().unwrap_or(0) as usize;
            for error in answer["errors"].as_array().into_iter().flatten() {
                let rejection = Rejection {
                    index: error["index"].as_u64().unwrap_or(0) as usize,
                    field: error["field"].as_str().unwrap_or_default().to_string(),
                    reason: error["reason"].as_str().unwrap_or_default().to_string(),
                };
                summary.reject(first_line + rejection.index, &rejection);
            }
            bar.set_message(format!("{} stored", summary.accepted));
            first_line += lines;
            lines = 0;
            chunk.clear();
        }
        if read == 0 {
            break;
        }
    }
    Ok(summary)
}
