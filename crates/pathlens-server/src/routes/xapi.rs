//! `POST /xapi/statements` (and `PUT` with `?statementId=`, as xAPI clients
//! send a statement that has an id): xAPI statements as H5P emits them,
//! mapped onto events as `pathlens_ingest::xapi` documents.
//!
//! The key is a write key (or an admin token, whose statements keep their
//! `timestamp`), sent as `Authorization: Bearer <key>`, as `?key=<write
//! key>`, or as HTTP Basic credentials whose password (or, with an empty
//! password, user name) is the key — the form LRS settings in e-learning
//! platforms take.
//!
//! Statements sent with a write key are live: like native events, those
//! without a country header are placed by the client's address
//! (`geoip_database`). A platform that relays its learners' statements from
//! its own server should be listed in `trusted_proxies` and name the learner
//! in `X-Forwarded-For`, or they are placed where the platform is. An admin
//! token's statements are an import and are not geolocated.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pathlens_ingest::RequestContext;
use pathlens_ingest::xapi::{self, MAX_XAPI_BYTES, XapiContext};
use pathlens_store::{ApiKey, KeyKind};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::{Caller, url_query};
use crate::error::ApiError;
use crate::openapi::Ingest;
use crate::routes::blocking;

const SOURCE: &str = "xapi";

/// The xAPI version pathlens answers as.
const XAPI_VERSION: &str = "1.0.3";

macro_rules! xapi_text {
    () => {
        "xAPI statements as H5P emits them: one statement or an array; all or nothing. Verbs initialized → impression, played → play, progressed → view, interacted/answered → hotspot click, completed → quartile 100; others are counted in /metrics, not stored. Position from the ending-point extension. Key: Bearer, ?key= (write key), or HTTP Basic credentials whose password (or user name) is the key. CORS: any origin."
    };
}

/// One statement, as H5P sends it.
fn example_statement() -> Value {
    serde_json::json!({
        "id": "5f0ad7a4-4b9e-4c59-9f1e-0c1d2e3f4a5b",
        "actor": {"name": "Ada", "mbox": "mailto:ada@example.com", "objectType": "Agent"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/played", "display": {"en-US": "played"}},
        "object": {"id": "https://lms.example.com/h5p/embed/42", "objectType": "Activity"},
        "context": {"registration": "6f1c2d1e-1111-4a2b-9c3d-0123456789ab"},
        "result": {"extensions": {"http://id.tincanapi.com/extension/ending-point": "PT12.5S"}}
    })
}

/// A POST's body: one statement or an array of them.
struct Statements;

impl utoipa::PartialSchema for Statements {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{ArrayBuilder, Object, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(Object::with_type(Type::Object))
            .item(ArrayBuilder::new().items(Object::with_type(Type::Object)))
            .into()
    }
}

impl ToSchema for Statements {}

/// The query of `POST /xapi/statements`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PostParams {
    /// The video every statement belongs to (default: the object id without subContentId)
    #[param(example = "example")]
    video: Option<String>,
    /// A write key, for clients that cannot set headers
    key: Option<String>,
}

/// The query of `PUT /xapi/statements`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PutParams {
    /// The statement's id
    #[param(
        rename = "statementId",
        example = "5f0ad7a4-4b9e-4c59-9f1e-0c1d2e3f4a5b"
    )]
    statement_id: String,
    /// As for POST
    #[param(example = "example")]
    video: Option<String>,
    /// A write key
    key: Option<String>,
}

/// `POST /xapi/statements`: answers the statements' ids.
#[utoipa::path(
    post,
    path = "/xapi/statements",
    operation_id = "post_statements",
    tag = "xapi",
    summary = "Store xAPI statements",
    description = xapi_text!(),
    params(PostParams),
    request_body(content = inline(Statements), content_type = "application/json", example = example_statement),
    responses(
        (status = 200, description = "The statements' ids, in order", body = Vec<String>),
        Ingest,
    ),
)]
pub async fn post(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let ids = store_statements(&state, request, false).await?;
    Ok(with_version(
        (StatusCode::OK, axum::Json(ids)).into_response(),
    ))
}

/// `PUT /xapi/statements?statementId=…`: one statement; answers 204.
#[utoipa::path(
    put,
    path = "/xapi/statements",
    operation_id = "put_statement",
    tag = "xapi",
    summary = "Store one xAPI statement under statementId",
    description = xapi_text!(),
    params(PutParams),
    request_body(content = Object, content_type = "application/json", example = example_statement),
    responses(
        (status = 204, description = "Stored (or already stored under this id)"),
        Ingest,
    ),
)]
pub async fn put(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    store_statements(&state, request, true).await?;
    Ok(with_version(StatusCode::NO_CONTENT.into_response()))
}

fn with_version(mut response: Response) -> Response {
    response.headers_mut().insert(
        "x-experience-api-version",
        HeaderValue::from_static(XAPI_VERSION),
    );
    response
}

async fn store_statements(
    state: &AppState,
    request: Request,
    put: bool,
) -> Result<Vec<String>, ApiError> {
    let (mut parts, body) = request.into_parts();
    let key = caller_key(&mut parts, state).await?;
    let body = crate::error::read_body(body, MAX_XAPI_BYTES, "the body").await?;
    let query = url_query(parts.uri.query().unwrap_or_default());
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    };
    let body = if put {
        with_statement_id(&body, param("statementId"))?
    } else {
        body.to_vec()
    };
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    // As for native events: a write key's statements are live, sent from
    // the viewer's browser (H5P) or relayed for it, and are geolocated; an
    // admin token's keep their timestamps and are an import.
    let live = key.kind == KeyKind::Write;
    let country = state.fallback_country(&parts.headers, state.client_address(&parts), live);
    let ctx = XapiContext {
        request: RequestContext {
            window: state.config.time_window,
            partner_id: key.partner_id,
            now: state.now(),
            trusted_timestamps: key.kind == KeyKind::Admin,
            user_agent: header("user-agent"),
            country: country.as_deref(),
        },
        video: param("video"),
    };
    let decoded = xapi::decode_statements(&body, &ctx).map_err(|error| {
        state.metrics.count_events(SOURCE, 0, 0, 1);
        ApiError::new(crate::error::ErrorCode::InvalidStatement, error.to_string())
    })?;
    for verb in &decoded.unmapped {
        state.metrics.count_xapi_unmapped(verb);
    }
    let mut events = decoded.events;
    if key.kind == KeyKind::Write && state.bots.is_bot(header("user-agent")) {
        state.metrics.count_bots(SOURCE, events.len());
        events.clear();
    }
    let store = state.store.clone();
    let outcome = blocking(move || Ok(store.append(events)?)).await?;
    state
        .metrics
        .count_events(SOURCE, outcome.accepted, outcome.duplicates, 0);
    Ok(decoded.ids)
}

/// A PUT's single statement with the `statementId` of the query as its id
/// (an id in the body must agree).
fn with_statement_id(body: &[u8], statement_id: Option<&str>) -> Result<Vec<u8>, ApiError> {
    let statement_id = statement_id.ok_or_else(|| {
        ApiError::new(
            crate::error::ErrorCode::InvalidParameter,
            "statementId: required for PUT",
        )
    })?;
    let mut statement: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            crate::error::ErrorCode::InvalidStatement,
            format!("statement 0: (body): not valid JSON: {e}"),
        )
    })?;
    let Value::Object(fields) = &mut statement else {
        return Err(ApiError::new(
            crate::error::ErrorCode::InvalidStatement,
            "statement 0: (body): a PUT carries one statement (a JSON object)",
        ));
    };
    match fields.get("id").and_then(Value::as_str) {
        Some(id) if id != statement_id => {
            return Err(ApiError::new(
                crate::error::ErrorCode::InvalidStatement,
                format!("statement 0: id: {id:?} differs from statementId {statement_id:?}"),
            ));
        }
        _ => {
            fields.insert("id".to_string(), Value::String(statement_id.to_string()));
        }
    }
    Ok(statement.to_string().into_bytes())
}

/// The key of the request: HTTP Basic credentials, else what [`Caller`]
/// accepts.
async fn caller_key(parts: &mut Parts, state: &AppState) -> Result<ApiKey, ApiError> {
    let basic = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        });
    if let Some(encoded) = basic {
        let decoded = STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_default();
        let (user, password) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
        let token = if password.is_empty() { user } else { password };
        return crate::auth::admit(
            state,
            state.client_address(parts),
            token,
            "unknown or revoked API key in the Basic credentials (put the write key in the password)",
        );
    }
    Ok(Caller::from_request_parts(parts, state).await?.key)
}
