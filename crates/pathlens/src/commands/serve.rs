//! `pathlens serve`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use pathlens_server::{AppState, ServerConfig, router, system_clock};
use pathlens_store::Store;

use crate::backend::open_store;
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Header with the viewer's country, set by a trusted proxy.
    #[arg(long)]
    pub country_header: Option<String>,
}

pub fn run(config: &Config, args: ServeArgs) -> anyhow::Result<()> {
    let mut config = config.clone();
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if args.country_header.is_some() {
        config.country_header = args.country_header;
    }
    let store: Arc<dyn Store> = open_store(&config)?;
    serve_store(&config, store, |address| {
        let data = match config.clickhouse() {
            Ok(Some(clickhouse)) => format!(
                "{}, spool in {}",
                clickhouse.redacted(),
                config.spool_dir().display()
            ),
            _ => config.data_dir.display().to_string(),
        };
        eprintln!("pathlens listening on http://{address} (data in {data})");
    })
}

/// Serves `store` until Ctrl-C; `ready` is told the bound address.
pub fn serve_store(
    config: &Config,
    store: Arc<dyn Store>,
    ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let server_config = ServerConfig {
        country_header: config.country_header.clone(),
        beacon_origins: config.beacon_origins.clone(),
        metrics_token: config.metrics_token.clone(),
        rate_limits: config.rate_limits,
        trusted_proxies: pathlens_server::throttle::TrustedProxies::parse(&config.trusted_proxies)
            .map_err(anyhow::Error::msg)
            .context("trusted_proxies")?,
        exclude_bots: config.exclude_bots,
        time_window: config.time_window(),
        report_timeout: std::time::Duration::from_secs(config.report_timeout),
    };
    let state = AppState::new(store, server_config, system_clock())?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let embedded = matches!(config.clickhouse(), Ok(None));
    let url_file = config.data_dir.join(crate::backend::SERVER_URL_FILE);
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let address = listener.local_addr()?;
        // Tools that find the data directory held learn where to go instead.
        if embedded {
            let _ = std::fs::write(&url_file, format!("http://{address}\n"));
        }
        ready(address);
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        };
        pathlens_server::serve(
            listener,
            router(state),
            config.connection_limits(),
            shutdown,
        )
        .await
        .context("serving")
    });
    if embedded {
        let _ = std::fs::remove_file(&url_file);
    }
    served
}
