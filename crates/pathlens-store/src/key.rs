//! API keys: admin tokens read everything of their partner, write keys only
//! send events for it. Only a hash of each token is stored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::PartnerId;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// Reads reports and manages videos of its partner.
    Admin,
    /// Sends events for its partner, nothing else.
    Write,
}

impl KeyKind {
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Admin => "admin",
            KeyKind::Write => "write",
        }
    }

    pub fn from_name(name: &str) -> Option<KeyKind> {
        match name {
            "admin" => Some(KeyKind::Admin),
            "write" => Some(KeyKind::Write),
            _ => None,
        }
    }
}

/// A stored API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Public identifier, shown in listings and used to revoke.
    pub id: String,
    pub partner_id: PartnerId,
    pub kind: KeyKind,
    /// A human label ("web player", "alice").
    pub name: String,
    /// Hex SHA-256 of the secret token; the token itself is never stored.
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}
