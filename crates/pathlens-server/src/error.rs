//! The one place errors become HTTP responses: `{"code", "message"}` with
//! the right status. A 5xx body stays generic; the detail goes to the log.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pathlens_ingest::IngestErrorKind;
use pathlens_report::ReportError;
use pathlens_store::{StoreError, StoreErrorKind};

/// Every error code the API answers, with its HTTP status and meaning: the
/// one table the handlers, the OpenAPI document (`Error.code`) and the
/// README's table come from (tests hold the two documents to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    BadRequest,
    InvalidParameter,
    InvalidJson,
    InvalidBody,
    BadBody,
    InvalidEvents,
    InvalidVideo,
    InvalidBeacon,
    InvalidStatement,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    BodyTimeout,
    TooLarge,
    UnsupportedMediaType,
    RateLimited,
    Internal,
    Overloaded,
    StorageUnavailable,
    StorageFull,
    DeadlineExceeded,
    Unavailable,
}

impl ErrorCode {
    /// Every code, in the order of the table.
    pub const ALL: [ErrorCode; 23] = [
        ErrorCode::BadRequest,
        ErrorCode::InvalidParameter,
        ErrorCode::InvalidJson,
        ErrorCode::InvalidBody,
        ErrorCode::BadBody,
        ErrorCode::InvalidEvents,
        ErrorCode::InvalidVideo,
        ErrorCode::InvalidBeacon,
        ErrorCode::InvalidStatement,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::BodyTimeout,
        ErrorCode::TooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
        ErrorCode::Overloaded,
        ErrorCode::StorageUnavailable,
        ErrorCode::StorageFull,
        ErrorCode::DeadlineExceeded,
        ErrorCode::Unavailable,
    ];

    /// The code as it appears in `{"code"}`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::InvalidParameter => "invalid_parameter",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidBody => "invalid_body",
            ErrorCode::BadBody => "bad_body",
            ErrorCode::InvalidEvents => "invalid_events",
            ErrorCode::InvalidVideo => "invalid_video",
            ErrorCode::InvalidBeacon => "invalid_beacon",
            ErrorCode::InvalidStatement => "invalid_statement",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::BodyTimeout => "body_timeout",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::StorageUnavailable => "storage_unavailable",
            ErrorCode::StorageFull => "storage_full",
            ErrorCode::DeadlineExceeded => "deadline_exceeded",
            ErrorCode::Unavailable => "unavailable",
        }
    }

    /// The HTTP status the code is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest
            | ErrorCode::InvalidParameter
            | ErrorCode::InvalidJson
            | ErrorCode::InvalidBody
            | ErrorCode::BadBody
            | ErrorCode::InvalidEvents
            | ErrorCode::InvalidVideo
            | ErrorCode::InvalidBeacon
            | ErrorCode::InvalidStatement => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Overloaded
            | ErrorCode::StorageUnavailable
            | ErrorCode::StorageFull
            | ErrorCode::DeadlineExceeded
            | ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// What the code means and what the client can do.
    pub fn meaning(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => {
                "the request cannot be read: a path or query string that does not parse"
            }
            ErrorCode::InvalidParameter => {
                "a parameter is missing, unknown or out of range; the message names it (422 for a JSON body of the wrong shape)"
            }
            ErrorCode::InvalidJson => {
                "the body is not the JSON the route takes; the message says where"
            }
            ErrorCode::InvalidBody => "the body could not be read (the connection broke)",
            ErrorCode::BadBody => "an event batch that cannot be decoded as JSON or NDJSON",
            ErrorCode::InvalidEvents => {
                "every event of the batch was rejected; `errors` lists each with its line, field and reason"
            }
            ErrorCode::InvalidVideo => {
                "the graph fails validation; the message lists every problem"
            }
            ErrorCode::InvalidBeacon => {
                "a Kaltura (KAVA) beacon without what it must carry; the message names the field"
            }
            ErrorCode::InvalidStatement => {
                "an xAPI statement that cannot be taken; the message names the field"
            }
            ErrorCode::Unauthorized => {
                "no valid token: missing, unknown or revoked (sign in again)"
            }
            ErrorCode::Forbidden => {
                "the token's key may not do this (a write key reading reports, another partner)"
            }
            ErrorCode::NotFound => "no such video, key, node, hotspot or route",
            ErrorCode::MethodNotAllowed => {
                "the route does not take this method (`Allow` lists those it takes)"
            }
            ErrorCode::BodyTimeout => {
                "the body did not arrive within the server's body read timeout"
            }
            ErrorCode::TooLarge => {
                "the body or batch is larger than the server takes; send it in parts"
            }
            ErrorCode::UnsupportedMediaType => "the body's content type is not one the route takes",
            ErrorCode::RateLimited => {
                "too many requests from this key or address; retry after `Retry-After` seconds"
            }
            ErrorCode::Internal => "a fault of the server; the detail is in its log",
            ErrorCode::Overloaded => {
                "the write queue is full; nothing of the request was stored; retry shortly"
            }
            ErrorCode::StorageUnavailable => {
                "the store cannot be used now (reopening, or ClickHouse unreachable); retry after `Retry-After`"
            }
            ErrorCode::StorageFull => {
                "the disk is full; nothing of the request was stored; retry once space is freed"
            }
            ErrorCode::DeadlineExceeded => {
                "the report took longer than the server's `report_timeout` (or its client left); retry, or ask for less"
            }
            ErrorCode::Unavailable => "the server cannot answer now; retry later",
        }
    }

    /// The README's table of every code.
    pub fn markdown_table() -> String {
        let mut table = String::from("| code | status | meaning |\n|---|---:|---|\n");
        for code in ErrorCode::ALL {
            table.push_str(&format!(
                "| `{}` | {} | {} |\n",
                code.as_str(),
                code.status().as_u16(),
                code.meaning()
            ));
        }
        table
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The schema of `Error.code`: every code, and the table of their statuses
/// and meanings as its description.
impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let described: Vec<String> = ErrorCode::ALL
            .iter()
            .map(|c| format!("`{c}` ({}): {}", c.status().as_u16(), c.meaning()))
            .collect();
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .enum_values(Some(ErrorCode::ALL.map(ErrorCode::as_str)))
            .description(Some(format!(
                "The error code, with its status and meaning: {}.",
                described.join("; ")
            )))
            .into()
    }
}

impl utoipa::ToSchema for ErrorCode {}

/// The body of every error answer.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    #[schema(inline)]
    pub code: ErrorCode,
    /// What went wrong, for a person
    pub message: String,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// Seconds for a `Retry-After` header, when retrying later will help.
    pub retry_after: Option<u32>,
}

/// Reads a request body of at most `limit` bytes, with the API's errors: 413
/// `too_large` past the limit (`what` names the body in the message), 408
/// `body_timeout` when the client stops sending it before the server's body
/// read timeout, 400 `invalid_body` when the connection breaks.
///
/// # Errors
/// As above.
pub async fn read_body(
    body: axum::body::Body,
    limit: usize,
    what: &str,
) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
        while let Some(current) = cause {
            if current.is::<http_body_util::LengthLimitError>() {
                return ApiError::new(
                    ErrorCode::TooLarge,
                    format!("{what} holds at most {limit} bytes"),
                );
            }
            if current.is::<tower_http::timeout::TimeoutError>() {
                return ApiError::new(
                    ErrorCode::BodyTimeout,
                    format!("{what} did not arrive within the server's body read timeout"),
                );
            }
            cause = current.source();
        }
        ApiError::new(
            ErrorCode::InvalidBody,
            format!("{what} could not be read: {error}"),
        )
    })
}

impl ApiError {
    /// The same error, telling the client to retry after `seconds`.
    pub fn retry_after(mut self, seconds: u32) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    /// An error of `code`, answered with the code's status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: None,
            status: code.status(),
            code,
            message: message.into(),
        }
    }

    /// The same error with another status (an extractor's own choice).
    pub fn with_status(mut self, status: StatusCode) -> ApiError {
        self.status = status;
        self
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Forbidden, message)
    }

    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(%detail, "internal error");
        ApiError::new(ErrorCode::Internal, "internal error; see the server log")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(ErrorBody {
                code: self.code,
                message: self.message,
            }),
        )
            .into_response();
        response
            .extensions_mut()
            .insert(crate::metrics::ErrorCode(self.code.as_str()));
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error.kind() {
            StoreErrorKind::Overloaded => ApiError::new(ErrorCode::Overloaded, error.to_string()),
            StoreErrorKind::Unavailable | StoreErrorKind::Locked => ApiError::new(
                ErrorCode::StorageUnavailable,
                "the store cannot be used now; retry later",
            )
            .retry_after(5),
            StoreErrorKind::Full => ApiError::new(
                ErrorCode::StorageFull,
                "the storage has no space left; nothing of this request was stored; retry later",
            )
            .retry_after(30),
            StoreErrorKind::Cancelled => ApiError::new(
                ErrorCode::DeadlineExceeded,
                "the report was stopped before it finished: it took longer than the server's report_timeout, or its client went away",
            )
            .retry_after(5),
            StoreErrorKind::Incompatible | StoreErrorKind::Internal => ApiError::internal(error),
        }
    }
}

impl From<ReportError> for ApiError {
    fn from(error: ReportError) -> ApiError {
        match error {
            ReportError::InvalidParam { .. } => {
                ApiError::new(ErrorCode::InvalidParameter, error.to_string())
            }
            ReportError::NotFound(message) => ApiError::not_found(message),
            ReportError::Store(store) => store.into(),
        }
    }
}

impl From<pathlens_ingest::IngestError> for ApiError {
    fn from(error: pathlens_ingest::IngestError) -> ApiError {
        match error.kind() {
            IngestErrorKind::TooLarge => ApiError::new(ErrorCode::TooLarge, error.to_string()),
            IngestErrorKind::BadRequest => ApiError::new(ErrorCode::BadBody, error.to_string()),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(error: tokio::task::JoinError) -> ApiError {
        ApiError::internal(error)
    }
}

/// Middleware: an error answered by something other than [`ApiError`] — an
/// axum extractor's rejection (a query or path that does not parse, a body
/// past a limit), a method a route does not serve, a layer's timeout —
/// becomes `{"code", "message"}` too, so every error of every route has the
/// API's shape.
pub async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error())
        || is_json
        || response
            .extensions()
            .get::<crate::metrics::ErrorCode>()
            .is_some()
    {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Rejection texts are short; anything longer is cut.
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let code = match status {
        StatusCode::BAD_REQUEST => ErrorCode::BadRequest,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::BodyTimeout,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::TooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::InvalidParameter,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
        _ if status.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string()
    } else {
        text
    };
    let mut error = ApiError::new(code, message)
        .with_status(status)
        .into_response();
    // Keep what the original answer said beyond its body (Allow, Retry-After).
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            error.headers_mut().insert(name.clone(), value.clone());
        }
    }
    error
}
