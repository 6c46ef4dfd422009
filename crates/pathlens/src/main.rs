//! `pathlens`: the server and command-line tool.
//!
//! Thin wiring: it reads the configuration, opens the embedded DuckDB store
//! or the ClickHouse store (the only place a concrete backend is named) or
//! talks to a running server, and hands over to the library crates.

mod backend;
mod commands;
mod config;
mod table;

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Config;

/// mimalloc for every allocation of the process: with its `override`
/// feature it also serves DuckDB's C++ allocations (`malloc`, `new`), which
/// glibc's allocator made slower (ARCHITECTURE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Analytics for interactive (branching) video.
#[derive(Debug, Parser)]
#[command(name = "pathlens", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML); see `pathlens config generate`.
    #[arg(long, global = true, env = "PATHLENS_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the embedded store [default: ./pathlens-data].
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Partner to act for on a data directory [default: 1].
    #[arg(long, global = true)]
    partner: Option<u32>,
    /// Talk to this running server (e.g. http://127.0.0.1:8080) instead of opening the data directory.
    #[arg(long, global = true)]
    server: Option<String>,
    /// Admin token for --server.
    #[arg(long, global = true)]
    token: Option<String>,
    /// Keep the data in ClickHouse: clickhouse://user:password@host:8123/database [default: the data directory].
    #[arg(long, global = true)]
    store: Option<String>,
    /// ClickHouse cluster (from the servers' remote_servers) to read and write through.
    #[arg(long, global = true)]
    clickhouse_cluster: Option<String>,
    /// Local spool of a server on ClickHouse [default: <data-dir>/spool].
    #[arg(long, global = true)]
    spool_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API on the embedded store.
    Serve(commands::serve::ServeArgs),
    /// Fresh data directory, three sample videos, simulated traffic, then serve.
    Demo(commands::demo::DemoArgs),
    /// Import native events from an NDJSON file (or - for standard input).
    Import(commands::import::ImportArgs),
    /// Print a report of one interactive video.
    Report(Box<commands::report::ReportArgs>),
    /// Manage interactive videos.
    #[command(subcommand)]
    Videos(commands::videos::VideosCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(commands::keys::KeysCommand),
    /// Move a data directory's events, videos and keys into ClickHouse.
    Migrate(commands::migrate::MigrateArgs),
    /// Rewrite a data directory's database packed and sorted by video and time (the server must be stopped).
    Compact(commands::compact::CompactArgs),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print a commented example configuration file.
    Generate,
}

impl Cli {
    /// Defaults < file < environment < flags.
    fn settings(&self) -> anyhow::Result<Config> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let text =
            match &self.config {
                Some(path) => Some(std::fs::read_to_string(path).with_context(|| {
                    format!("reading the configuration file {}", path.display())
                })?),
                None => None,
            };
        let name = self
            .config
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let mut config = Config::load(text.as_deref().map(|t| (name.as_str(), t)), &env).map_err(
            |problems| anyhow::anyhow!("invalid configuration:\n  {}", problems.join("\n  ")),
        )?;
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(partner) = self.partner {
            config.partner = partner;
        }
        if let Some(server) = &self.server {
            config.server = Some(server.clone());
        }
        if let Some(token) = &self.token {
            config.token = Some(token.clone());
        }
        if let Some(store) = &self.store {
            config.store = Some(store.clone());
        }
        if let Some(cluster) = &self.clickhouse_cluster {
            config.clickhouse_cluster = Some(cluster.clone());
        }
        if let Some(dir) = &self.spool_dir {
            config.spool_dir = Some(dir.clone());
        }
        config
            .clickhouse()
            .map_err(|e| anyhow::anyhow!("--store: {e}"))?;
        Ok(config)
    }
}

fn main() -> std::process::ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PATHLENS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only on a terminal, and never under NO_COLOR: log files and
    // pipes get plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Config(ConfigCommand::Generate) = &cli.command {
        print!("{}", Config::example());
        return Ok(());
    }
    let config = cli.settings()?;
    match cli.command {
        Command::Serve(args) => commands::serve::run(&config, args),
        Command::Demo(args) => commands::demo::run(&config, cli.data_dir.is_some(), args),
        Command::Import(args) => commands::import::run(&config, args),
        Command::Report(args) => commands::report::run(&config, *args),
        Command::Videos(command) => commands::videos::run(&config, command),
        Command::Keys(command) => commands::keys::run(&config, command),
        Command::Migrate(args) => commands::migrate::run(&config, args),
        Command::Compact(args) => commands::compact::run(&config, args),
        Command::Config(ConfigCommand::Generate) => Ok(()),
    }
}
