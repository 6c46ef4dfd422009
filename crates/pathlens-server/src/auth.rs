//! API keys: issuing, hashing and checking them.
//!
//! A token is shown once, when it is issued; the store keeps only its
//! SHA-256. Admin tokens (`pla_…`) read reports and manage videos and keys of
//! their partner; write tokens (`plw_…`) only send events for it. Players that
//! cannot set headers (`navigator.sendBeacon`) pass a write token as `?key=`.

use std::collections::HashMap;
use std::sync::RwLock;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use pathlens_store::{ApiKey, KeyKind, PartnerId, Store};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;

/// Hex SHA-256 of a token, as stored.
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

/// Creates and stores a new key; returns it with its secret token.
///
/// # Errors
/// As the store fails.
pub fn issue_key(
    store: &dyn Store,
    partner_id: PartnerId,
    kind: KeyKind,
    name: &str,
    now: DateTime<Utc>,
) -> pathlens_store::Result<(ApiKey, String)> {
    let prefix = match kind {
        KeyKind::Admin => "pla",
        KeyKind::Write => "plw",
    };
    let token = format!("{prefix}_{}", random_hex(24));
    let key = ApiKey {
        id: format!("key_{}", random_hex(6)),
        partner_id,
        kind,
        name: name.to_string(),
        token_hash: hash_token(&token),
        created_at: now,
        revoked_at: None,
    };
    store.put_key(&key)?;
    Ok((key, token))
}

/// The keys the server accepts, by token hash; kept in step with the store
/// by the server's own key routes (the store has one writer: this server).
#[derive(Default)]
pub struct KeyRing {
    keys: RwLock<HashMap<String, ApiKey>>,
}

impl KeyRing {
    /// Loads every key from the store.
    ///
    /// # Errors
    /// As the store fails.
    pub fn load(store: &dyn Store) -> pathlens_store::Result<KeyRing> {
        let keys = store
            .keys()?
            .into_iter()
            .map(|k| (k.token_hash.clone(), k))
            .collect();
        Ok(KeyRing {
            keys: RwLock::new(keys),
        })
    }

    /// The live key behind `token`.
    pub fn check(&self, token: &str) -> Option<ApiKey> {
        let keys = self.keys.read().ok()?;
        keys.get(&hash_token(token))
            .filter(|k| k.revoked_at.is_none())
            .cloned()
    }

    /// Whether `partner` exists: it has at least one live key. Beacons, which
    /// carry no key, are refused for partners that do not.
    pub fn has_partner(&self, partner: PartnerId) -> bool {
        self.keys.read().is_ok_and(|keys| {
            keys.values()
                .any(|k| k.partner_id == partner && k.revoked_at.is_none())
        })
    }

    pub fn remember(&self, key: ApiKey) {
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(key.token_hash.clone(), key);
        }
    }

    pub fn forget(&self, id: &str, now: DateTime<Utc>) {
        if let Ok(mut keys) = self.keys.write() {
            for key in keys.values_mut().filter(|k| k.id == id) {
                key.revoked_at.get_or_insert(now);
            }
        }
    }
}

/// Whoever made the request, from `Authorization: Bearer …`, `X-Pathlens-Key`
/// or (write keys only) the `key` query parameter.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: ApiKey,
}

impl Caller {
    pub fn partner_id(&self) -> PartnerId {
        self.key.partner_id
    }

    /// Refuses callers that are not admins.
    ///
    /// # Errors
    /// 403 for write keys.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.key.kind {
            KeyKind::Admin => Ok(()),
            KeyKind::Write => Err(ApiError::forbidden(
                "this needs an admin token; write keys may only send events",
            )),
        }
    }
}

fn token_from(parts: &Parts) -> Option<(String, bool)> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(value) = header("authorization") {
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .unwrap_or(value);
        return Some((token.trim().to_string(), false));
    }
    if let Some(value) = header("x-pathlens-key") {
        return Some((value.to_string(), false));
    }
    let query = parts.uri.query()?;
    url_query(query)
        .into_iter()
        .find(|(k, _)| k == "key")
        .map(|(_, v)| (v, true))
}

/// Decodes an `application/x-www-form-urlencoded` query string.
pub fn url_query(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let address = state.client_address(parts);
        state.throttle.check_locked_out(address)?;
        let (token, from_query) = token_from(parts).ok_or_else(|| {
            ApiError::unauthorized("missing API key: send 'Authorization: Bearer <token>' (or ?key=<write key> for beacons)")
        })?;
        let key = admit(state, address, &token, "unknown or revoked API key")?;
        if from_query && key.kind == KeyKind::Admin {
            return Err(ApiError::forbidden(
                "admin tokens must be sent in the Authorization header, not the URL",
            ));
        }
        Ok(Caller { key })
    }
}

/// The live key behind `token` sent from `address`, through the rate
/// limits: an address that guessed too many tokens is refused whatever it
/// sends (so a right guess does not show), an unknown token counts against
/// its address (401 with `unknown`, 429 once too many), and a known key
/// takes one request from its rate.
///
/// # Errors
/// 401 or 429 as above.
pub fn admit(
    state: &AppState,
    address: Option<std::net::IpAddr>,
    token: &str,
    unknown: &str,
) -> Result<ApiKey, ApiError> {
    state.throttle.check_locked_out(address)?;
    let Some(key) = state.keys.check(token) else {
        return Err(state
            .throttle
            .auth_failed(address, ApiError::unauthorized(unknown.to_string())));
    };
    state.throttle.check_key(&key.id)?;
    Ok(key)
}
