//! What can go wrong with a whole request, and with one event of it.
//!
//! A request fails whole ([`IngestError`]) only when its body cannot be read
//! at all; a bad event inside a readable body becomes a [`Rejection`] and the
//! other events are kept.

use std::fmt;

use serde::Serialize;

/// The result of decoding a whole request.
pub type Result<T> = std::result::Result<T, IngestError>;

/// A request that cannot be decoded at all.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body, compressed or decompressed, exceeds the size limit.
    #[error("the request body exceeds {limit} bytes (the limit applies after decompression too)")]
    TooLarge { limit: usize },
    /// The body holds more events than one request may carry.
    #[error("the request holds more than {limit} events; split it into smaller batches")]
    TooManyEvents { limit: usize },
    /// The body claims to be gzip-compressed but is not valid gzip.
    #[error("the request body is not valid gzip: {0}")]
    BadEncoding(#[source] std::io::Error),
    /// The body is neither a JSON array of events nor NDJSON.
    #[error("the request body is neither a JSON array of events nor NDJSON: {0}")]
    BadBody(String),
}

/// The families of [`IngestError`] a caller branches on, such as the server
/// choosing an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IngestErrorKind {
    /// The request is too big (HTTP 413).
    TooLarge,
    /// The request is malformed (HTTP 400).
    BadRequest,
}

impl IngestError {
    /// Tells which family the error belongs to.
    pub fn kind(&self) -> IngestErrorKind {
        match self {
            IngestError::TooLarge { .. } | IngestError::TooManyEvents { .. } => {
                IngestErrorKind::TooLarge
            }
            IngestError::BadEncoding(_) | IngestError::BadBody(_) => IngestErrorKind::BadRequest,
        }
    }
}

/// One event that failed validation. The request goes on without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rejection {
    /// The event's 0-based position in the batch (blank NDJSON lines are not
    /// counted), so a client can match the rejection to what it sent.
    pub index: usize,
    /// The native field at fault, or `(json)` when the event is not a
    /// readable JSON object.
    pub field: String,
    /// What is wrong, in words meant for the developer of the client.
    pub reason: String,
}

/// The `field` of a rejection for an event that is not one JSON object.
pub(crate) const JSON_FIELD: &str = "(json)";

impl Rejection {
    /// Builds a rejection of the event at `index`.
    pub fn new(index: usize, field: impl Into<String>, reason: impl Into<String>) -> Rejection {
        Rejection {
            index,
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The rejection of an event whose text is not valid JSON.
    pub(crate) fn unreadable(index: usize, error: &serde_json::Error) -> Rejection {
        Rejection::new(index, JSON_FIELD, format!("not valid JSON: {error}"))
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "event {}: {}: {}",
            self.index, self.field, self.reason
        )
    }
}

impl std::error::Error for Rejection {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_separate_size_from_malformed_requests() {
        assert_eq!(
            IngestError::TooLarge { limit: 1 }.kind(),
            IngestErrorKind::TooLarge
        );
        assert_eq!(
            IngestError::TooManyEvents { limit: 1 }.kind(),
            IngestErrorKind::TooLarge
        );
        assert_eq!(
            IngestError::BadBody("x".into()).kind(),
            IngestErrorKind::BadRequest
        );
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, "bad header");
        assert_eq!(
            IngestError::BadEncoding(io).kind(),
            IngestErrorKind::BadRequest
        );
    }

    #[test]
    fn rejection_displays_index_field_and_reason() {
        let rejection = Rejection::new(3, "kind", "unknown kind \"x\"");
        assert_eq!(rejection.to_string(), "event 3: kind: unknown kind \"x\"");
    }

    #[test]
    fn rejection_serialises_as_a_flat_object() {
        let rejection = Rejection::new(0, "ts", "bad");
        let json = serde_json::to_value(&rejection).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"index": 0, "field": "ts", "reason": "bad"})
        );
    }
}
