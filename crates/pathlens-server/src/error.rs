//! The one place errors become HTTP responses: `{"code", "message"}` with
//! the right status. A 5xx body stays generic; the detail goes to the log.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pathlens_ingest::IngestErrorKind;
use pathlens_report::ReportError;
use pathlens_store::{StoreError, StoreErrorKind};
use serde_json::json;

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
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
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("{what} holds at most {limit} bytes"),
                );
            }
            if current.is::<tower_http::timeout::TimeoutError>() {
                return ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    format!("{what} did not arrive within the server's body read timeout"),
                );
            }
            cause = current.source();
        }
        ApiError::bad_request("invalid_body", format!("{what} could not be read: {error}"))
    })
}

impl ApiError {
    /// The same error, telling the client to retry after `seconds`.
    pub fn retry_after(mut self, seconds: u32) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: None,
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(%detail, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({"code": self.code, "message": self.message})),
        )
            .into_response();
        response
            .extensions_mut()
            .insert(crate::metrics::ErrorCode(self.code));
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
            StoreErrorKind::Overloaded => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                error.to_string(),
            ),
            StoreErrorKind::Unavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "the store cannot be used now; retry later",
            )
            .retry_after(5),
            StoreErrorKind::Full => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_full",
                "the storage has no space left; nothing of this request was stored; retry later",
            )
            .retry_after(30),
            StoreErrorKind::Cancelled => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "deadline_exceeded",
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
                ApiError::bad_request("invalid_parameter", error.to_string())
            }
            ReportError::NotFound(message) => ApiError::not_found(message),
            ReportError::Store(store) => store.into(),
        }
    }
}

impl From<pathlens_ingest::IngestError> for ApiError {
    fn from(error: pathlens_ingest::IngestError) -> ApiError {
        match error.kind() {
            IngestErrorKind::TooLarge => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                error.to_string(),
            ),
            IngestErrorKind::BadRequest => ApiError::bad_request("bad_body", error.to_string()),
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
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "body_timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_parameter",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        _ if status.is_server_error() => "internal",
        _ => "bad_request",
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string()
    } else {
        text
    };
    let mut error = ApiError::new(status, code, message).into_response();
    // Keep what the original answer said beyond its body (Allow, Retry-After).
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            error.headers_mut().insert(name.clone(), value.clone());
        }
    }
    error
}
