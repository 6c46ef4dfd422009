//! `/metrics` in Prometheus text format: events accepted, rejected and
//! duplicate, request latency per route, and the store's write queue depth.

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
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("pathlens");
        let events_accepted = Family::<SourceLabels, Counter>::default();
        let events_rejected = Family::<SourceLabels, Counter>::default();
        let events_duplicate = Family::<SourceLabels, Counter>::default();
        let requests = Family::<RouteLabels, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 16)));
        let write_queue_depth = Gauge::default();
        registry.register("events_accepted", "Events stored", events_accepted.clone());
        registry.register("events_rejected", "Events refused by validation", events_rejected.clone());
        registry.register("events_duplicate", "Events recognised as repeats of stored ones", events_duplicate.clone());
        registry.register("http_request_duration_seconds", "Request latency by route", requests.clone());
        registry.register("write_queue_depth", "Write batches waiting for the store's writer", write_queue_depth.clone());
        Metrics { registry, events_accepted, events_rejected, events_duplicate, requests, write_queue_depth }
    }

    /// Counts the outcome of one ingest request from `source`.
    pub fn count_events(&self, source: &str, accepted: usize, duplicates: usize, rejected: usize) {
        let labels = SourceLabels { source: source.to_string() };
        self.events_accepted.get_or_create(&labels).inc_by(accepted as u64);
        self.events_duplicate.get_or_create(&labels).inc_by(duplicates as u64);
        self.events_rejected.get_or_create(&labels).inc_by(rejected as u64);
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
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    let labels = RouteLabels { method, route, status: response.status().as_u16() };
    metrics.requests.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    response
}

pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.write_queue_depth.set(state.store.write_queue_depth() as i64);
    (
        [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.metrics.render(),
    )
}
