//! `/metrics` in Prometheus text format: events accepted, rejected and
//! duplicate (by source: `native`, `kava`, `xapi`), beacons ignored or from
//! unknown partners, beacons dropped (rate, origin), events from bots,
//! unmapped xAPI verbs, request latency per route, and the
//! store's write queue depth and local spool (events, bytes, oldest age).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    pub source: String,
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    pub events_accepted: Family<SourceLabels, Counter>,
    pub events_rejected: Family<SourceLabels, Counter>,
    pub events_duplicate: Family<SourceLabels, Counter>,
    pub requests: Family<RouteLabels, Histogram>,
    pub write_queue_depth: Gauge,
    /// Events acknowledged into the local spool and not yet in the remote
    /// store (ClickHouse), their bytes, and the age of the oldest.
    pub spool_events: Gauge,
    pub spool_bytes: Gauge,
    pub spool_oldest_age_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Beacons answered but not stored (unknown or unmapped types).
    pub beacons_ignored: Family<IgnoredLabels, Counter>,
    /// Beacons refused because their partner has no live key.
    pub beacons_unknown_partner: Family<SourceLabels, Counter>,
    /// xAPI statements whose verb maps to no event.
    pub xapi_statements_unmapped: Family<VerbLabels, Counter>,
    /// Error answers by HTTP status and the API's error code.
    pub errors: Family<ErrorLabels, Counter>,
    /// 1 when the store answered its last health check, 0 when it failed.
    pub store_up: Gauge,
    /// Events sent by bots and crawlers, answered but not stored.
    pub bot_events: Family<SourceLabels, Counter>,
    /// Beacons refused before decoding or storing, by reason (`rate`:
    /// past the per-address limit, `origin`: from a page the partner did
    /// not list).
    pub beacons_dropped: Family<ReasonLabels, Counter>,
    /// Verb labels seen so far, so a flood of made-up verbs cannot grow the
    /// metric without bound.
    xapi_verbs: std::sync::Mutex<std::collections::HashSet<String>>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IgnoredLabels {
    pub source: String,
    pub event_type: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub status: u16,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerbLabels {
    pub verb: String,
}

/// The most distinct verb labels `xapi_statements_unmapped` takes; later
/// verbs are counted as `other`.
const MAX_VERB_LABELS: usize = 64;

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("pathlens");
        let events_accepted = Family::<SourceLabels, Counter>::default();
        let events_rejected = Family::<SourceLabels, Counter>::default();
        let events_duplicate = Family::<SourceLabels, Counter>::default();
        let requests = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let write_queue_depth = Gauge::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let store_up = Gauge::default();
        store_up.set(1);
        let bot_events = Family::<SourceLabels, Counter>::default();
        let beacons_dropped = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "bot_events",
            "Events sent by bots and crawlers (by User-Agent): answered, not stored",
            bot_events.clone(),
        );
        registry.register(
            "beacons_dropped",
            "KAVA beacons refused: past the per-address rate limit, or from an origin the partner did not list",
            beacons_dropped.clone(),
        );
        registry.register(
            "store_up",
            "1 when the store answered its last health check (at /healthz and /metrics), 0 when it failed",
            store_up.clone(),
        );
        registry.register(
            "errors",
            "Error answers by HTTP status and error code",
            errors.clone(),
        );
        registry.register("events_accepted", "Events stored", events_accepted.clone());
        registry.register(
            "events_rejected",
            "Events refused by validation",
            events_rejected.clone(),
        );
        registry.register(
            "events_duplicate",
            "Events recognised as repeats of stored ones",
            events_duplicate.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Request latency by route",
            requests.clone(),
        );
        registry.register(
            "write_queue_depth",
            "Write batches waiting for the store's writer",
            write_queue_depth.clone(),
        );
        let spool_events = Gauge::default();
        let spool_bytes = Gauge::default();
        let spool_oldest_age_seconds = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "spool_events",
            "Events acknowledged into the local spool, not yet shipped to ClickHouse",
            spool_events.clone(),
        );
        registry.register(
            "spool_bytes",
            "Bytes of the local spool's unshipped events",
            spool_bytes.clone(),
        );
        registry.register(
            "spool_oldest_age_seconds",
            "Age of the oldest unshipped event in the local spool",
            spool_oldest_age_seconds.clone(),
        );
        let beacons_ignored = Family::<IgnoredLabels, Counter>::default();
        let beacons_unknown_partner = Family::<SourceLabels, Counter>::default();
        let xapi_statements_unmapped = Family::<VerbLabels, Counter>::default();
        registry.register(
            "beacons_ignored",
            "Beacons answered but not stored, by event type and reason",
            beacons_ignored.clone(),
        );
        registry.register(
            "beacons_unknown_partner",
            "Beacons refused because their partner has no live API key",
            beacons_unknown_partner.clone(),
        );
        registry.register(
            "xapi_statements_unmapped",
            "xAPI statements whose verb maps to no event, by verb",
            xapi_statements_unmapped.clone(),
        );
        Metrics {
            errors,
            store_up,
            bot_events,
            beacons_dropped,
            registry,
            events_accepted,
            events_rejected,
            events_duplicate,
            requests,
            write_queue_depth,
            spool_events,
            spool_bytes,
            spool_oldest_age_seconds,
            beacons_ignored,
            beacons_unknown_partner,
            xapi_statements_unmapped,
            xapi_verbs: std::sync::Mutex::default(),
        }
    }

    /// Counts the outcome of one ingest request from `source`.
    pub fn count_events(&self, source: &str, accepted: usize, duplicates: usize, rejected: usize) {
        let labels = SourceLabels {
            source: source.to_string(),
        };
        self.events_accepted
            .get_or_create(&labels)
            .inc_by(accepted as u64);
        self.events_duplicate
            .get_or_create(&labels)
            .inc_by(duplicates as u64);
        self.events_rejected
            .get_or_create(&labels)
            .inc_by(rejected as u64);
    }

    /// Counts `events` sent by a bot, answered but not stored.
    pub fn count_bots(&self, source: &str, events: usize) {
        self.bot_events
            .get_or_create(&SourceLabels {
                source: source.to_string(),
            })
            .inc_by(events as u64);
    }

    /// Counts a beacon refused for `reason` (`rate` or `origin`).
    pub fn count_dropped_beacon(&self, reason: &str) {
        self.beacons_dropped
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Counts a beacon of `event_type` that was answered but not stored.
    /// Types outside the ranges KAVA uses are labelled `other`, to bound the
    /// number of series.
    pub fn count_ignored(&self, source: &str, event_type: u32, reason: &str) {
        let event_type = match event_type {
            0..1000 | 10_000..10_100 => event_type.to_string(),
            _ => "other".to_string(),
        };
        let labels = IgnoredLabels {
            source: source.to_string(),
            event_type,
            reason: reason.to_string(),
        };
        self.beacons_ignored.get_or_create(&labels).inc();
    }

    /// Counts an xAPI statement with an unmapped `verb`; at most
    /// `MAX_VERB_LABELS` distinct verbs get their own label.
    pub fn count_xapi_unmapped(&self, verb: &str) {
        let plain = !verb.is_empty()
            && verb.len() <= 32
            && verb
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        let known = plain
            && self.xapi_verbs.lock().is_ok_and(|mut verbs| {
                if verbs.len() < MAX_VERB_LABELS {
                    verbs.insert(verb.to_string());
                }
                verbs.contains(verb)
            });
        let verb = if known { verb } else { "other" };
        self.xapi_statements_unmapped
            .get_or_create(&VerbLabels {
                verb: verb.to_string(),
            })
            .inc();
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// Records each request's latency under its route pattern.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    if let Some(ErrorCode(code)) = response.extensions().get::<ErrorCode>() {
        metrics
            .errors
            .get_or_create(&ErrorLabels {
                status: response.status().as_u16(),
                code: (*code).to_string(),
            })
            .inc();
    }
    let labels = RouteLabels {
        method,
        route,
        status: response.status().as_u16(),
    };
    metrics
        .requests
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The API error code of an error answer, which the latency middleware
/// counts in `pathlens_errors_total`.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

/// `GET /metrics`, for the metrics token's holder or a client on this
/// machine (see [`crate::ServerConfig::metrics_token`]).
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    description = "Every partner's traffic, for the operator: answered to clients on the server's machine, or to others with Authorization: Bearer <metrics_token> when the server has one (401 without it, 403 when none is configured).",
    security(),
    responses(
        (status = 200, description = "Metrics", body = String, content_type = "application/openmetrics-text"),
        crate::openapi::Operator,
    ),
)]
pub async fn render(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<impl IntoResponse, crate::error::ApiError> {
    may_read_metrics(&state, &request)?;
    let store = state.store.clone();
    let healthy = tokio::task::spawn_blocking(move || store.health().is_ok())
        .await
        .unwrap_or(false);
    state.metrics.store_up.set(i64::from(healthy));
    state
        .metrics
        .write_queue_depth
        .set(state.store.write_queue_depth() as i64);
    let spool = state.store.spool_status().unwrap_or_default();
    state.metrics.spool_events.set(spool.events as i64);
    state.metrics.spool_bytes.set(spool.bytes as i64);
    state
        .metrics
        .spool_oldest_age_seconds
        .set(spool.oldest_age_seconds);
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    ))
}

/// The metrics show every partner's traffic: they are for the operator.
/// With a metrics token, a request must carry it (`Authorization: Bearer
/// …`) unless it comes from this machine; without one, only loopback
/// clients are served. A request with no peer address is an in-process call.
fn may_read_metrics(
    state: &AppState,
    request: &axum::extract::Request,
) -> Result<(), crate::error::ApiError> {
    use axum::extract::ConnectInfo;
    use sha2::{Digest, Sha256};

    let local = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .is_none_or(|ConnectInfo(peer)| peer.ip().is_loopback());
    if local {
        return Ok(());
    }
    let Some(expected) = &state.config.metrics_token else {
        return Err(crate::error::ApiError::new(
            crate::error::ErrorCode::Forbidden,
            "/metrics answers clients on this machine only; set metrics_token (PATHLENS_METRICS_TOKEN) to read it from elsewhere",
        ));
    };
    let sent = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Compare digests, so the time taken does not tell how much matched.
    if Sha256::digest(sent.as_bytes()) == Sha256::digest(expected.as_bytes()) {
        Ok(())
    } else {
        Err(crate::error::ApiError::new(
            crate::error::ErrorCode::Unauthorized,
            "/metrics needs the metrics token: Authorization: Bearer <metrics_token>",
        ))
    }
}
