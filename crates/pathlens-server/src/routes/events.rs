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
use pathlens_ingest::{MAX_BODY_BYTES, RequestContext};
use pathlens_store::KeyKind;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::{AppState, ClientAddress};

pub async fn ingest(
    State(state): State<AppState>,
    caller: Caller,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
    let outcome = crate::routes::blocking(move || Ok(store.append(events)?)).await?;
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
        Json(json!({
            "code": if all_bad { crate::error::ErrorCode::InvalidEvents.as_str() } else { "ok" },
            "accepted": outcome.accepted,
            "duplicates": outcome.duplicates,
            "rejected": rejected.len(),
            "bots": bots,
            "errors": rejected,
        })),
    ))
}
