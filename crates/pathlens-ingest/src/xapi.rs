//! xAPI statements, as H5P (interactive video, branching scenario) and other
//! e-learning content emit them, posted to `POST /xapi/statements`.
//!
//! # The request
//!
//! One statement (a JSON object) or several (a JSON array), at most
//! [`MAX_STATEMENTS`] in [`MAX_XAPI_BYTES`]. As the xAPI specification asks
//! of a statement resource, the request is all or nothing: if one statement
//! is invalid, none is stored and the error names its index and field. The
//! answer is the list of statement ids, in order: each statement's `id`, or
//! one made up (a UUID-shaped hash of the statement and its arrival) for
//! statements without one.
//!
//! # Mapping
//!
//! The verb is the last segment of `verb.id` (after the last `/` or `#`), in
//! any case, so the ADL verbs (`http://adlnet.gov/expapi/verbs/…`) and the
//! xAPI video profile's (`https://w3id.org/xapi/video/verbs/…`) map alike:
//!
//! | verb | stored as |
//! |---|---|
//! | `initialized` | impression |
//! | `played` | play |
//! | `progressed` | view (position only: statements carry no cumulative play time, so xAPI sources add no minutes viewed) |
//! | `interacted`, `answered` | hotspot_click |
//! | `completed` | quartile 100 |
//! | anything else (`attempted`, `paused`, `seeked`, `experienced`, …) | not stored; counted per verb in `/metrics` (`pathlens_xapi_statements_unmapped`) |
//!
//! Fields:
//!
//! - **video_id**: the `?video=` parameter when given (recommended: H5P's
//!   object ids are long URLs), else `object.id` without its
//!   `subContentId` parameter (H5P names the parts of a content
//!   `<content URL>?subContentId=<uuid>`); at most [`MAX_TEXT_CHARS`]
//!   characters.
//! - **node_id**: for `progressed` and `completed`, the `subContentId` of
//!   `object.id` (a branching scenario's content is a node); absent
//!   otherwise. **hotspot_id** (`interacted`, `answered`): the
//!   `subContentId`, else the whole `object.id`.
//! - **position**: the `http://id.tincanapi.com/extension/ending-point`
//!   extension (an ISO 8601 duration such as `PT1M3.5S`; days, hours,
//!   minutes and seconds, decimals allowed) in `result.extensions` or
//!   `context.extensions`; else the video profile's
//!   `https://w3id.org/xapi/video/extensions/time` (seconds). A value that
//!   cannot be read rejects the statement.
//! - **user_id**: the actor's `account.name`, else `mbox` (without
//!   `mailto:`), else `mbox_sha1sum`, else `openid`, else `name`; an actor
//!   with none of these is anonymous.
//! - **session_id**: `context.registration`, else `xapi-` and a hash of the
//!   user id (or the whole actor) and the video. **event_index**: the
//!   statement's 1-based position in its request.
//! - **ts**: the arrival time; an admin token's import keeps a statement's
//!   `timestamp` (RFC 3339), like native imports.
//! - **application**: `context.platform`. Device, OS and browser come from
//!   the `User-Agent`, the country from the trusted proxy header.
//! - **dedup key**: a hash of the statement `id`, so a statement posted
//!   again with its id is stored once; a statement without an id is never
//!   deduplicated (the key also hashes its arrival time).

use chrono::{DateTime, Utc};
use pathlens_model::{Context, Event, EventKind};
use serde_json::{Map, Value};

use crate::country::CountryCode;
use crate::user_agent;
use crate::{MAX_TEXT_CHARS, RequestContext};

/// The most statements one request may carry.
pub const MAX_STATEMENTS: usize = 1000;

/// The largest request body, in bytes.
pub const MAX_XAPI_BYTES: usize = 1024 * 1024;

const ENDING_POINT: &str = "http://id.tincanapi.com/extension/ending-point";
const VIDEO_TIME: &str = "https://w3id.org/xapi/video/extensions/time";

/// What the request tells beyond its statements.
#[derive(Debug, Clone, Copy)]
pub struct XapiContext<'a> {
    /// Partner, time, trust in timestamps, `User-Agent` and country, as for
    /// native events.
    pub request: RequestContext<'a>,
    /// The `video` query parameter: the video of every statement.
    pub video: Option<&'a str>,
}

/// A request's statements, decoded.
#[derive(Debug, Default)]
pub struct XapiDecoded {
    /// The events of the statements that map to one.
    pub events: Vec<Event>,
    /// Every statement's id, in order (the answer to the client).
    pub ids: Vec<String>,
    /// The verb of each statement that maps to no event.
    pub unmapped: Vec<String>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("statement {index}: {field}: {reason}")]
pub struct XapiError {
    /// The statement at fault (0 for a body that is not JSON).
    pub index: usize,
    /// The field at fault, as a path (`verb.id`), or `(body)`.
    pub field: String,
    pub reason: String,
}

impl XapiError {
    fn new(index: usize, field: &str, reason: impl Into<String>) -> XapiError {
        XapiError {
            index,
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Decodes a request body of one statement or an array of statements.
///
/// # Errors
/// An [`XapiError`] naming the first statement and field that break a rule
/// of the module documentation; nothing of the request is to be stored then.
pub fn decode_statements(body: &[u8], ctx: &XapiContext<'_>) -> Result<XapiDecoded, XapiError> {
    if body.len() > MAX_XAPI_BYTES {
        return Err(XapiError::new(
            0,
            "(body)",
            format!("larger than {MAX_XAPI_BYTES} bytes"),
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| XapiError::new(0, "(body)", format!("not valid JSON: {error}")))?;
    let statements = match value {
        Value::Array(items) => items,
        object @ Value::Object(_) => vec![object],
        _ => {
            return Err(XapiError::new(
                0,
                "(body)",
                "expected a statement (a JSON object) or an array of statements",
            ));
        }
    };
    if statements.len() > MAX_STATEMENTS {
        return Err(XapiError::new(
            MAX_STATEMENTS,
            "(body)",
            format!("at most {MAX_STATEMENTS} statements per request"),
        ));
    }
    let agent = ctx
        .request
        .user_agent
        .map(user_agent::parse)
        .unwrap_or_default();
    let country = ctx
        .request
        .country
        .and_then(CountryCode::parse)
        .map(CountryCode::to_owned_string);
    let mut decoded = XapiDecoded::default();
    for (index, statement) in statements.iter().enumerate() {
        let Value::Object(fields) = statement else {
            return Err(XapiError::new(index, "(statement)", "not a JSON object"));
        };
        let reader = Statement { index, fields, ctx };
        let id = reader.id(statement)?;
        match reader.event(&id)? {
            Mapped::Event(mut event) => {
                event.context.device.clone_from(&agent.device);
                event.context.os.clone_from(&agent.os);
                event.context.browser.clone_from(&agent.browser);
                event.context.country.clone_from(&country);
                decoded.events.push(*event);
            }
            Mapped::Unmapped(verb) => decoded.unmapped.push(verb),
        }
        decoded.ids.push(id.text);
    }
    Ok(decoded)
}

enum Mapped {
    Event(Box<Event>),
    Unmapped(String),
}

struct StatementId {
    text: String,
    /// Whether the statement carried it (and so identifies it for dedup).
    given: bool,
    /// The statement hashed with its arrival, for made-up ids and keys.
    hash: u128,
}

struct Statement<'s> {
    index: usize,
    fields: &'s Map<String, Value>,
    ctx: &'s XapiContext<'s>,
}

impl Statement<'_> {
    fn error(&self, field: &str, reason: impl Into<String>) -> XapiError {
        XapiError::new(self.index, field, reason)
    }

    /// The value at a dotted path of objects.
    fn at(&self, path: &[&str]) -> Option<&Value> {
        let (first, rest) = path.split_first()?;
        rest.iter()
            .try_fold(self.fields.get(*first)?, |value, name| value.get(name))
    }

    /// A string at `path`; empty is absent, another type an error.
    fn text(&self, path: &[&str]) -> Result<Option<&str>, XapiError> {
        match self.at(path) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.trim())),
            Some(other) => {
                Err(self.error(&path.join("."), format!("expected a string, got {other}")))
            }
        }
    }

    fn required_text(&self, path: &[&str]) -> Result<&str, XapiError> {
        self.text(path)?
            .ok_or_else(|| self.error(&path.join("."), "required, but absent or empty"))
    }

    fn short(&self, field: &str, text: &str) -> Result<String, XapiError> {
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(self.error(field, format!("longer than {MAX_TEXT_CHARS} characters")));
        }
        Ok(text.to_owned())
    }

    fn id(&self, statement: &Value) -> Result<StatementId, XapiError> {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(statement.to_string().as_bytes());
        hasher.update(&self.ctx.request.now.timestamp_micros().to_le_bytes());
        hasher.update(&(self.index as u64).to_le_bytes());
        let hash = hasher.digest128();
        Ok(match self.text(&["id"])? {
            Some(id) => StatementId {
                text: self.short("id", id)?,
                given: true,
                hash,
            },
            None => StatementId {
                text: uuid_shaped(hash),
                given: false,
                hash,
            },
        })
    }

    fn event(&self, id: &StatementId) -> Result<Mapped, XapiError> {
        let verb_id = self.required_text(&["verb", "id"])?;
        let verb = verb_id
            .rsplit(['/', '#'])
            .next()
            .unwrap_or(verb_id)
            .to_ascii_lowercase();
        if !matches!(self.at(&["actor"]), Some(Value::Object(_))) {
            return Err(self.error("actor", "required: an object naming the learner"));
        }
        let object_id = self.required_text(&["object", "id"])?;
        let (object_base, sub_content) = split_sub_content(object_id);
        let (kind, quartile) = match verb.as_str() {
            "initialized" => (EventKind::Impression, None),
            "played" => (EventKind::Play, None),
            "progressed" => (EventKind::View, None),
            "interacted" | "answered" => (EventKind::HotspotClick, None),
            "completed" => (EventKind::Quartile, Some(100)),
            _ => return Ok(Mapped::Unmapped(verb)),
        };
        let video_id = match self.ctx.video {
            Some(video) => self.short("video", video)?,
            None => self.short("object.id", &object_base).map_err(|mut error| {
                error.reason.push_str(": name the video with ?video=<id>");
                error
            })?,
        };
        let node_id = match kind {
            EventKind::View | EventKind::Quartile => sub_content.clone(),
            _ => None,
        };
        let hotspot_id = match kind {
            EventKind::HotspotClick => {
                Some(self.short("object.id", sub_content.as_deref().unwrap_or(object_id))?)
            }
            _ => None,
        };
        let user_id = self.user_id()?;
        let session_id = match self.text(&["context", "registration"])? {
            Some(registration) => self.short("context.registration", registration)?,
            None => {
                let mut hasher = xxhash_rust::xxh3::Xxh3::new();
                match &user_id {
                    Some(user) => hasher.update(user.as_bytes()),
                    None => hasher.update(
                        self.at(&["actor"])
                            .map(Value::to_string)
                            .unwrap_or_default()
                            .as_bytes(),
                    ),
                }
                hasher.update(b"\xff");
                hasher.update(video_id.as_bytes());
                format!("xapi-{:016x}", hasher.digest())
            }
        };
        let application = match self.text(&["context", "platform"])? {
            Some(platform) => Some(self.short("context.platform", platform)?),
            None => None,
        };
        let dedup_key = if id.given {
            let mut hasher = xxhash_rust::xxh3::Xxh3::new();
            hasher.update(b"xapi\xff");
            hasher.update(id.text.as_bytes());
            hasher.digest()
        } else {
            id.hash as u64
        };
        let request = &self.ctx.request;
        Ok(Mapped::Event(Box::new(Event {
            partner_id: request.partner_id,
            video_id,
            node_id,
            entry_id: None,
            session_id,
            event_index: u32::try_from(self.index + 1).unwrap_or(u32::MAX),
            ts: self.timestamp()?,
            kind,
            user_id,
            position: self.position()?,
            play_time_sum: None,
            from_node_id: None,
            to_node_id: None,
            hotspot_id,
            target_url: None,
            quartile,
            context: Context {
                application,
                ..Context::default()
            },
            player_session: None,
            dedup_key,
        })))
    }

    fn user_id(&self) -> Result<Option<String>, XapiError> {
        let candidates: [&[&str]; 5] = [
            &["actor", "account", "name"],
            &["actor", "mbox"],
            &["actor", "mbox_sha1sum"],
            &["actor", "openid"],
            &["actor", "name"],
        ];
        for path in candidates {
            if let Some(text) = self.text(path)? {
                let text = text.strip_prefix("mailto:").unwrap_or(text);
                return self.short(&path.join("."), text).map(Some);
            }
        }
        Ok(None)
    }

    fn timestamp(&self) -> Result<DateTime<Utc>, XapiError> {
        let request = &self.ctx.request;
        if !request.trusted_timestamps {
            return Ok(request.now);
        }
        match self.text(&["timestamp"])? {
            None => Ok(request.now),
            Some(text) => {
                let ts = DateTime::parse_from_rfc3339(text)
                    .map(|ts| ts.with_timezone(&Utc))
                    .map_err(|error| self.error("timestamp", format!("not RFC 3339: {error}")))?;
                match request.window.problem(ts, request.now) {
                    Some(reason) => Err(self.error("timestamp", reason)),
                    None => Ok(ts),
                }
            }
        }
    }

    fn position(&self) -> Result<Option<f64>, XapiError> {
        for place in ["result", "context"] {
            match self.at(&[place, "extensions", ENDING_POINT]) {
                None | Some(Value::Null) => {}
                Some(Value::String(text)) => {
                    let field = format!("{place}.extensions.{ENDING_POINT}");
                    let seconds = iso_duration_seconds(text).ok_or_else(|| {
                        self.error(
                            &field,
                            format!("expected an ISO 8601 duration such as PT1M3.5S, got {text:?}"),
                        )
                    })?;
                    return within_a_video(seconds)
                        .map(Some)
                        .map_err(|r| self.error(&field, r));
                }
                Some(other) => {
                    return Err(self.error(
                        &format!("{place}.extensions.{ENDING_POINT}"),
                        format!("expected an ISO 8601 duration string, got {other}"),
                    ));
                }
            }
        }
        for place in ["result", "context"] {
            match self.at(&[place, "extensions", VIDEO_TIME]) {
                None | Some(Value::Null) => {}
                Some(value) => {
                    let field = format!("{place}.extensions.{VIDEO_TIME}");
                    return match value.as_f64() {
                        Some(seconds) if seconds.is_finite() && seconds >= 0.0 => {
                            within_a_video(seconds)
                                .map(Some)
                                .map_err(|r| self.error(&field, r))
                        }
                        _ => Err(self.error(
                            &field,
                            format!("expected seconds (a number of 0 or more), got {value}"),
                        )),
                    };
                }
            }
        }
        Ok(None)
    }
}

/// The longest position in a video an xAPI statement may report: a week.
pub const MAX_POSITION_SECS: f64 = 7.0 * 86_400.0;

/// `seconds`, unless it is longer than any video's position can be.
fn within_a_video(seconds: f64) -> Result<f64, String> {
    if seconds > MAX_POSITION_SECS {
        Err(format!(
            "{seconds} s is longer than any position in a video (at most {MAX_POSITION_SECS} s, a week)"
        ))
    } else {
        Ok(seconds)
    }
}

/// `object.id` without its `subContentId` query parameter, and that
/// parameter's value. H5P appends `?subContentId=…` to the content's URL
/// even when that URL has a query already, so the parameter is found after
/// either `?` or `&`.
fn split_sub_content(object_id: &str) -> (String, Option<String>) {
    for marker in ["?subContentId=", "&subContentId="] {
        let Some(start) = object_id.find(marker) else {
            continue;
        };
        let value_start = start + marker.len();
        let value_end = object_id[value_start..]
            .find('&')
            .map_or(object_id.len(), |offset| value_start + offset);
        let value = &object_id[value_start..value_end];
        if value.is_empty() {
            continue;
        }
        let mut base = object_id[..start].to_owned();
        if let Some(rest) = object_id[value_end..].strip_prefix('&') {
            base.push_str(&marker[..1]);
            base.push_str(rest);
        }
        return (base, Some(value.to_owned()));
    }
    (object_id.to_owned(), None)
}

/// Seconds in an ISO 8601 duration of days, hours, minutes and seconds
/// (`P1DT2H`, `PT1M3.5S`, `PT63.5S`); weeks are accepted, years and months
/// (of no fixed length) are not.
pub fn iso_duration_seconds(text: &str) -> Option<f64> {
    let rest = text.trim().strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    let (date, time) = match rest.split_once('T') {
        Some((_, "")) => return None,
        Some((date, time)) => (date, time),
        None => (rest, ""),
    };
    let mut total = 0.0;
    for (part, units) in [
        (date, &[('W', 604_800.0), ('D', 86_400.0)][..]),
        (time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)][..]),
    ] {
        let mut number = String::new();
        let mut next_unit = 0;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == ',' {
                number.push(if c == ',' { '.' } else { c });
                continue;
            }
            let position = units[next_unit..].iter().position(|(unit, _)| *unit == c)?;
            let (_, factor) = units[next_unit + position];
            next_unit += position + 1;
            let value: f64 = number.parse().ok()?;
            total += value * factor;
            number.clear();
        }
        if !number.is_empty() {
            return None;
        }
    }
    total.is_finite().then_some(total)
}

/// A 128-bit hash written like a version-4 UUID.
fn uuid_shaped(hash: u128) -> String {
    let bytes = hash.to_be_bytes();
    let mut bytes = bytes;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests;
