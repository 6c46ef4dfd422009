//! The HTTP server: the API, authentication, metrics.
//!
//! [`router`] builds the axum application over an [`AppState`] holding a
//! `dyn Store`; nothing here names a concrete backend.
//!
//! - [`routes`]: the API handlers (events, videos, reports, keys), the
//!   player-facing routes behind CORS (KAVA beacons, xAPI, `/pathlens.js`);
//! - [`auth`]: API keys and the [`auth::Caller`] extractor;
//! - [`error`]: errors as `{"code", "message"}` with the right status;
//! - [`metrics`]: Prometheus metrics and the latency middleware;
//! - [`throttle`]: rate limits, the client address behind trusted proxies,
//!   bots;
//! - [`geo`]: the viewer's country from the client address (MMDB);
//! - [`service`]: the API's operations over a store without HTTP, which the
//!   routes and the command line share;
//! - [`openapi`]: the OpenAPI document and the route list it must match;
//! - [`assets`]: the dashboard, embedded, served at `/`.

pub mod assets;
pub mod auth;
pub mod error;
pub mod geo;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod service;
pub mod throttle;

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get};
use chrono::{DateTime, Utc};
use pathlens_store::Store;
use tower_http::compression::CompressionLayer;

use crate::auth::KeyRing;
use crate::metrics::Metrics;
use crate::throttle::{Bots, RateLimits, Throttle, TrustedProxies};

/// The current time; tests inject a fixed or stepping clock.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// Settings of the HTTP layer. The default has no rate limit (for
/// embedding and tests); `pathlens serve` applies [`RateLimits::default`]
/// unless configured otherwise.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// A header set by a trusted reverse proxy with the viewer's ISO country
    /// code (e.g. `CF-IPCountry`); ignored when `None`.
    pub country_header: Option<String>,
    /// The IP-to-country database that places live events lacking a country
    /// (and a country header) by the client's address; none when `None`.
    pub geoip: Option<Arc<geo::GeoIp>>,
    /// Per partner, the origins (`https://site.example`) whose pages may send
    /// KAVA beacons for it; a partner not listed accepts any origin.
    pub beacon_origins: std::collections::HashMap<u32, Vec<String>>,
    /// The bearer token `/metrics` asks of clients not on this machine;
    /// `None`: only loopback clients (and in-process calls) may read it.
    pub metrics_token: Option<String>,
    /// Requests per key, beacons and failed authentications per address.
    pub rate_limits: RateLimits,
    /// Proxies whose `X-Forwarded-For` names the client's address.
    pub trusted_proxies: TrustedProxies,
    /// Whether events sent by bots and crawlers (by `User-Agent`) are kept
    /// out of the store; they are counted in `pathlens_bot_events_total`.
    pub exclude_bots: bool,
    /// The times imported events may carry.
    pub time_window: pathlens_ingest::TimeWindow,
    /// How long a report may take before it answers 503
    /// `deadline_exceeded`.
    pub report_timeout: std::time::Duration,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            country_header: None,
            geoip: None,
            beacon_origins: std::collections::HashMap::new(),
            metrics_token: None,
            rate_limits: RateLimits::OFF,
            trusted_proxies: TrustedProxies::default(),
            exclude_bots: true,
            time_window: pathlens_ingest::TimeWindow::default(),
            report_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub keys: Arc<KeyRing>,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
    pub config: Arc<ServerConfig>,
    /// What KAVA beacon decoding remembers between requests.
    pub beacons: Arc<routes::kava::BeaconMemory>,
    /// The rate limiters.
    pub throttle: Arc<Throttle>,
    /// Which user agents are bots.
    pub bots: Arc<Bots>,
}

impl AppState {
    /// State over `store`, loading its keys.
    ///
    /// # Errors
    /// As the store fails.
    pub fn new(
        store: Arc<dyn Store>,
        config: ServerConfig,
        clock: Clock,
    ) -> pathlens_store::Result<AppState> {
        let keys = Arc::new(KeyRing::load(store.as_ref())?);
        Ok(AppState {
            store,
            keys,
            metrics: Arc::new(Metrics::new()),
            clock,
            throttle: Arc::new(Throttle::new(config.rate_limits)),
            bots: Arc::new(Bots::new(config.exclude_bots)),
            config: Arc::new(config),
            beacons: Arc::default(),
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// The address of the client that made a request (see
    /// [`TrustedProxies::client`]).
    pub fn client_address(&self, parts: &axum::http::request::Parts) -> Option<std::net::IpAddr> {
        self.config.trusted_proxies.client(parts)
    }
}

/// The extractor of [`AppState::client_address`]: `None` for a request
/// that did not come over a socket (in-process calls).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl axum::extract::FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<ClientAddress, Self::Rejection> {
        Ok(ClientAddress(state.client_address(parts)))
    }
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/api/v1/videos",
            get(routes::videos::list).post(routes::videos::create),
        )
        .route(
            "/api/v1/videos/{video}",
            get(routes::videos::show).put(routes::videos::replace),
        )
        .route(
            "/api/v1/videos/{video}/reports/{kind}",
            get(routes::reports::report),
        )
        .route(
            "/api/v1/videos/{video}/values/{dimension}",
            get(routes::reports::values),
        )
        .route(
            "/api/v1/keys",
            get(routes::keys::list).post(routes::keys::create),
        )
        .route("/api/v1/keys/{id}", delete(routes::keys::revoke))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/healthz", get(routes::health))
        .route("/metrics", get(metrics::render))
        .merge(routes::cors::router())
        .fallback(assets::serve);
    api.layer(axum::middleware::from_fn(error::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .layer(CompressionLayer::new())
        .with_state(state)
}

/// Limits on every connection, so that slow or idle clients cannot hold the
/// server's sockets and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long a client may take to send a request's headers, counted from
    /// when the server is ready to read them: a keep-alive connection idle
    /// for this long is closed too.
    pub header_read_timeout: std::time::Duration,
    /// How long a client may take to send a request's body.
    pub body_read_timeout: std::time::Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: std::time::Duration::from_secs(10),
            body_read_timeout: std::time::Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, within
/// `limits`; then lets the requests in progress finish.
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::extract::ConnectInfo;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let app = app.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        limits.body_read_timeout,
    ));
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait, go on.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // The client's address feeds the fingerprint that joins old
        // players' beacons, geolocation and the rate limits, and decides
        // who may read /metrics; it is never stored or logged.
        let service =
            TowerToHyperService::new(app.clone().layer(axum::Extension(ConnectInfo(remote))));
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // HTTP/1.1 only: the header read timeout then runs from the
            // connection's first moment, with no protocol sniffing before
            // it that a silent client could stall.
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%error, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
