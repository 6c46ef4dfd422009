//! `POST /api/v1/events`: a JSON array or NDJSON batch (gzip accepted).
//!
//! Write keys send live events, stamped with the server's time. Admin tokens
//! may import: their events keep the `ts` they carry. The answer comes only
//! after the accepted events are durable.
//!
//! An event without a country takes the trusted proxy's country header, or,
//! for live events only, the country of the client's address
//! ([`AppState::fallback_country`]); an import is not geolocated, its
//! address being the importer's.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use pathlens_ingest::Rejection;
use pathlens_ingest::{MAX_BODY_BYTES, RequestContext};
use pathlens_store::KeyKind;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::openapi::Events;
use crate::{AppState, ClientAddress};

/// ok, or invalid_events (400) when every event was rejected
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IngestCode {
    Ok,
    InvalidEvents,
}

/// What became of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestResult {
    #[schema(inline)]
    pub code: IngestCode,
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
    /// Live events from a bot or crawler's User-Agent: answered, counted in /metrics, not stored
    pub bots: usize,
    pub errors: Vec<Rejection>,
}

/// The answer to a batch that is not one: every event rejected, or a body
/// that is no batch.
#[derive(ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
enum RefusedBatch {
    Rejected(IngestResult),
    Unreadable(ErrorBody),
}

/// The example batch, as a JSON array.
fn example_events() -> serde_json::Value {
    serde_json::json!([
        {"partner_id": 1, "video_id": "example", "session_id": "s-1", "event_index": 1, "kind": "impression"},
        {"partner_id": 1, "video_id": "example", "session_id": "s-1", "event_index": 2, "kind": "play", "node_id": "intro"}
    ])
}

/// The example batch, as NDJSON.
fn example_ndjson() -> String {
    let events = example_events();
    let lines = events.as_array().into_iter().flatten();
    lines.map(|event| format!("{event}\n")).collect()
}

#[utoipa::path(
    post,
    path = "/api/v1/events",
    operation_id = "ingest_events",
    tag = "events",
    summary = "Send events (JSON array or NDJSON, gzip accepted; at most 10,000 events or 10 MiB)",
    description = "Answers after the accepted events are durable. Each rejected event is listed with its index, field and reason; the others are kept. Admin tokens import: their events keep their ts.",
    request_body(
        content(
            (Vec<Object> = "application/json", example = example_events),
            (String = "application/x-ndjson", example = example_ndjson),
        ),
    ),
    responses(
        (status = 200, description = "Stored", body = IngestResult),
        (status = 400, description = "Nothing stored: every event was rejected (invalid_events, with each event's errors), or the body is not a batch (bad_body)", body = inline(RefusedBatch)),
        Events,
    ),
)]
pub async fn ingest(
    State(state): State<AppState>,
    caller: Caller,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<IngestResult>), ApiError> {
    let bytes = crate::error::read_body(body, MAX_BODY_BYTES, "the body").await?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let gzip = header("content-encoding").is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let import = caller.key.kind == KeyKind::Admin;
    let country = state.fallback_country(&headers, client, !import);
    let context = RequestContext {
        window: state.config.time_window,
        partner_id: caller.partner_id(),
        now: state.now(),
        trusted_timestamps: import,
        user_agent: header("user-agent"),
        country: country.as_deref(),
    };
    let decoded = pathlens_ingest::decode_batch(&bytes, gzip, &context)?;
    let rejected = decoded.rejected;
    let mut events = decoded.events;
    // Live events sent by a crawler are counted apart, not stored; an
    // administrator's import is taken as it is.
    let mut bots = 0;
    if caller.key.kind == KeyKind::Write && state.bots.is_bot(header("user-agent")) {
        bots = events.len();
        state.metrics.count_bots("native", bots);
        events.clear();
    }
    let store = state.store.clone();
    let outcome = crate::routes::append(store, events).await?;
    state.metrics.count_events(
        "native",
        outcome.accepted,
        outcome.duplicates,
        rejected.len(),
    );
    // A batch in which nothing was valid is a bad request; otherwise the
    // good events are kept and the answer lists the bad ones.
    let all_bad = outcome.accepted + outcome.duplicates + bots == 0 && !rejected.is_empty();
    let status = if all_bad {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(IngestResult {
            code: if all_bad {
                IngestCode::InvalidEvents
            } else {
                IngestCode::Ok
            },
            accepted: outcome.accepted,
            duplicates: outcome.duplicates,
            rejected: rejected.len(),
            bots,
            errors: rejected,
        }),
    ))
}
