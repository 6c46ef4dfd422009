//! `pathlens serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use pathlens_server::geo::{GeoIp, RELOAD_INTERVAL};
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
    /// IP-to-country database (.mmdb) live events are placed with (scripts/geoip installs one)
    /// [default: pathlens-geoip/country.mmdb if it exists; "" for none].
    #[arg(long)]
    pub geoip_database: Option<PathBuf>,
}

pub fn run(config: &Config, args: ServeArgs) -> anyhow::Result<()> {
    let mut config = config.clone();
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if args.country_header.is_some() {
        config.country_header = args.country_header;
    }
    if args.geoip_database.is_some() {
        config.geoip_database = args.geoip_database;
    }
    // A database that cannot be used stops the server before it touches
    // any data.
    let geoip = open_geoip(&config)?;
    let store: Arc<dyn Store> = open_store(&config)?;
    serve_with(&config, store, geoip, |address| {
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

/// The geolocation database configured (or found at the default location),
/// opened and watched for changes.
fn open_geoip(config: &Config) -> anyhow::Result<Option<Arc<GeoIp>>> {
    let Some((path, configured)) = config.geoip_database() else {
        tracing::info!(
            "geolocation off: no geoip_database set and no {} (scripts/geoip installs it)",
            crate::config::DEFAULT_GEOIP_DATABASE
        );
        return Ok(None);
    };
    let geo = GeoIp::open(&path).map_err(|error| {
        let how = if configured {
            "set by geoip_database in the configuration file, PATHLENS_GEOIP_DATABASE or --geoip-database; \
             scripts/geoip installs a database and prints its path"
        } else {
            "the default location, used because the file exists; run scripts/geoip to install it again, \
             or set geoip_database to another file, or to \"\" for no geolocation"
        };
        anyhow::anyhow!("{error} ({how})")
    })?;
    let geo = Arc::new(geo);
    GeoIp::watch(&geo, RELOAD_INTERVAL)
        .context("starting the geolocation database's reload thread")?;
    tracing::info!(
        path = %path.display(),
        database = %geo.describe(),
        "geolocating live events (the file is checked for changes every minute)"
    );
    Ok(Some(geo))
}

/// Serves `store` until Ctrl-C; `ready` is told the bound address.
pub fn serve_store(
    config: &Config,
    store: Arc<dyn Store>,
    ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    serve_with(config, store, open_geoip(config)?, ready)
}

/// [`serve_store`] with the geolocation database already opened.
fn serve_with(
    config: &Config,
    store: Arc<dyn Store>,
    geoip: Option<Arc<GeoIp>>,
    ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let server_config = ServerConfig {
        country_header: config.country_header.clone(),
        geoip,
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
        // Ctrl-C, or SIGTERM (how service managers and `kill` stop a
        // server): answered requests finish, then the store closes, which
        // applies what the intake log acknowledged.
        let shutdown = async {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = terminated() => {}
            }
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

/// Resolves when the process is asked to terminate (SIGTERM); never where
/// there is no such signal.
async fn terminated() {
    #[cfg(unix)]
    if let Ok(mut signal) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        signal.recv().await;
        return;
    }
    std::future::pending::<()>().await;
}
