//! Where CLI commands act: the configured store (the embedded store in the
//! data directory, or ClickHouse with `--store clickhouse://…`), opened in
//! this process, or a running server over HTTP (`--server`, `--token`).
//! DuckDB lets one process write a database, so while `pathlens serve` runs
//! on a data directory, commands go through the server; ClickHouse takes
//! commands from any number of processes.

use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::Utc;
use pathlens_report::{ReportKind, ReportRequest};
use pathlens_server::service;
use pathlens_store::{KeyKind, Store, StoreErrorKind};
use pathlens_store_clickhouse::{ClickHouseConfig, ClickHouseStore, SpoolConfig, SpooledStore};
use pathlens_store_duckdb::{DuckDbConfig, DuckDbStore};
use serde_json::{Value, json};

use crate::config::Config;

/// Opens the store `config` chooses, for a server: the embedded store in
/// the data directory, or ClickHouse behind the node's local durable spool.
pub fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    match config
        .clickhouse()
        .map_err(|e| anyhow::anyhow!("store: {e}"))?
    {
        Some(clickhouse) => {
            let store = Arc::new(open_clickhouse(clickhouse)?);
            let spool = SpoolConfig::new(config.spool_dir());
            let dir = spool.dir.display().to_string();
            let spooled = SpooledStore::open(store, spool)
                .map_err(|e| anyhow::anyhow!("opening the spool in {dir}: {e}"))?;
            Ok(Arc::new(spooled))
        }
        None => Ok(open_embedded(config)?),
    }
}

/// Whether `config` keeps the data in the embedded store (its data
/// directory) rather than in ClickHouse.
pub fn embedded(config: &Config) -> anyhow::Result<bool> {
    Ok(config
        .clickhouse()
        .map_err(|e| anyhow::anyhow!("store: {e}"))?
        .is_none())
}

/// Opens the store `config` chooses, for a command-line tool: ClickHouse
/// directly (each append acknowledged by ClickHouse, no spool, so a tool can
/// run beside a server), or the embedded store.
pub fn open_tool_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    match config
        .clickhouse()
        .map_err(|e| anyhow::anyhow!("store: {e}"))?
    {
        Some(clickhouse) => Ok(Arc::new(open_clickhouse(clickhouse)?)),
        None => Ok(open_embedded(config)?),
    }
}

/// Connects to ClickHouse and applies pending migrations.
pub fn open_clickhouse(config: ClickHouseConfig) -> anyhow::Result<ClickHouseStore> {
    let name = config.redacted();
    ClickHouseStore::open(config)
        .map_err(|e| anyhow::anyhow!("opening the ClickHouse store {name}: {e}"))
}

/// Fails unless `config`'s data directory holds a database.
pub fn existing_data_dir(config: &Config) -> anyhow::Result<()> {
    if config
        .data_dir
        .join(pathlens_store_duckdb::DATABASE_FILE)
        .exists()
    {
        Ok(())
    } else {
        anyhow::bail!(
            "{} holds no pathlens data (no {})",
            config.data_dir.display(),
            pathlens_store_duckdb::DATABASE_FILE
        )
    }
}

/// The embedded store's settings from `config`.
pub fn embedded_settings(config: &Config) -> DuckDbConfig {
    DuckDbConfig {
        queue_capacity: config.write_queue,
        memory_limit: config.memory_limit.clone(),
        ..DuckDbConfig::default()
    }
}

/// Opens the embedded store of `config`'s data directory.
pub fn open_embedded(config: &Config) -> anyhow::Result<Arc<DuckDbStore>> {
    let store =
        DuckDbStore::open(&config.data_dir, &embedded_settings(config)).map_err(|error| {
            if error.kind() == StoreErrorKind::Locked {
                locked(&config.data_dir, &error)
            } else {
                anyhow::anyhow!(
                    "opening the store in {}: {error}",
                    config.data_dir.display()
                )
            }
        })?;
    Ok(Arc::new(store))
}

/// The file in which `pathlens serve` leaves the URL it serves a data
/// directory at, while it runs.
pub const SERVER_URL_FILE: &str = "server.url";

/// Why a held data directory cannot be opened, with the command that works
/// through the server holding it.
fn locked(data_dir: &std::path::Path, error: &pathlens_store::StoreError) -> anyhow::Error {
    let url = std::fs::read_to_string(data_dir.join(SERVER_URL_FILE))
        .ok()
        .map(|u| u.trim().to_string())
        .filter(|u| u.starts_with("http"));
    let mut command: Vec<String> = std::env::args()
        .skip(1)
        .map(|arg| shell_word(&arg))
        .collect();
    command.insert(0, "pathlens".into());
    command.push("--server".into());
    command.push(
        url.clone()
            .unwrap_or_else(|| "http://127.0.0.1:8080".into()),
    );
    command.push("--token".into());
    command.push("\"$PATHLENS_TOKEN\"".into());
    let holder = match &url {
        Some(url) => format!("the pathlens server at {url}"),
        None => "another process (a running `pathlens serve`?)".into(),
    };
    anyhow::anyhow!(
        "the data directory {} is in use by {holder}. Run the command through it, with an admin token in PATHLENS_TOKEN (the demo prints one):\n  {}\n  detail: {error}",
        data_dir.display(),
        command.join(" ")
    )
}

/// `word` as one shell word.
fn shell_word(word: &str) -> String {
    let plain = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-./:=,@+".contains(c));
    if plain && !word.is_empty() {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

fn answer(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    what: &str,
) -> anyhow::Result<String> {
    let mut response = result.with_context(|| format!("{what}: the server did not answer"))?;
    let status = response.status();
    let body = response
        .body_mut()
        .read_to_string()
        .with_context(|| format!("{what}: reading the answer"))?;
    if !status.is_success() {
        // The API's errors are {"code", "message"}: the message says what is
        // wrong; the code is kept for scripts that match on it.
        let error = serde_json::from_str::<Value>(&body).ok();
        match error.as_ref().and_then(|v| {
            Some((
                v["message"].as_str()?,
                v["code"].as_str().unwrap_or("error"),
            ))
        }) {
            Some((message, code)) => bail!("{what}: {message} ({code})"),
            None => bail!("{what}: the server answered {}: {body}", status.as_u16()),
        }
    }
    Ok(body)
}

/// What the command line does with pathlens, whichever way it reaches it:
/// one implementation on a store opened in this process ([`Local`], through
/// the same operations the server's routes call) and one over HTTP
/// ([`Remote`]). Answers are the API's JSON shapes either way.
pub trait Pathlens {
    /// Creates or replaces a video from our JSON or Kaltura's.
    fn add_video(&self, body: &str, id: Option<&str>, name: Option<&str>) -> anyhow::Result<Value>;
    fn videos(&self) -> anyhow::Result<Vec<Value>>;
    fn video(&self, id: &str) -> anyhow::Result<Value>;
    /// A report as JSON text, or CSV when `csv`.
    fn report(
        &self,
        video: &str,
        kind: ReportKind,
        params: &[(String, String)],
        csv: bool,
    ) -> anyhow::Result<String>;
    /// A new key, with its token (shown only now).
    fn create_key(&self, kind: KeyKind, name: &str) -> anyhow::Result<Value>;
    fn keys(&self) -> anyhow::Result<Vec<Value>>;
    fn revoke_key(&self, id: &str) -> anyhow::Result<()>;
}

/// The store `config` names, opened in this process.
pub struct Local {
    store: Arc<dyn Store>,
    partner: u32,
    /// The data directory (or ClickHouse store) it is, for messages.
    place: String,
}

/// A running server, reached with an admin token.
pub struct Remote {
    base: String,
    token: String,
    agent: ureq::Agent,
}

/// Where `config` sends commands: the server of `--server`, or the store
/// opened here.
pub fn open(config: &Config) -> anyhow::Result<Box<dyn Pathlens>> {
    if config.server.is_some() {
        return Ok(Box::new(Remote::open(config)?));
    }
    let place = match &config.store {
        Some(_) => "the ClickHouse store".to_string(),
        None => config.data_dir.display().to_string(),
    };
    Ok(Box::new(Local {
        store: open_tool_store(config)?,
        partner: config.partner,
        place,
    }))
}

/// A failed operation on the local store, with what was being done.
fn failed(what: &str, error: service::ServiceError) -> anyhow::Error {
    anyhow::Error::new(error).context(what.to_string())
}

impl Local {
    /// `error`, with a hint when the video is missing because this store
    /// holds none at all (a new data directory, often not the one meant).
    fn missing_video(&self, what: &str, error: service::ServiceError) -> anyhow::Error {
        let empty = matches!(error, service::ServiceError::NotFound(_))
            && self
                .store
                .videos(self.partner)
                .is_ok_and(|videos| videos.is_empty());
        if empty {
            anyhow::anyhow!(
                "{what}: {error}: {} holds no videos of partner {} (`pathlens videos add` stores one; `scripts/demo` keeps its data in ./pathlens-demo and serves it, so reach that with --server and the token it printed)",
                self.place,
                self.partner
            )
        } else {
            failed(what, error)
        }
    }
}

impl Pathlens for Local {
    fn add_video(&self, body: &str, id: Option<&str>, name: Option<&str>) -> anyhow::Result<Value> {
        let graph = pathlens_model::Graph::from_any_json(
            body,
            id.unwrap_or_default(),
            name.or(id).unwrap_or_default(),
        )?;
        let (stored, _) = service::save_video(self.store.as_ref(), self.partner, graph, Utc::now())
            .map_err(|e| failed("adding the video", e))?;
        Ok(serde_json::to_value(service::Video::from(&stored))?)
    }

    fn videos(&self) -> anyhow::Result<Vec<Value>> {
        Ok(self
            .store
            .videos(self.partner)
            .context("listing videos")?
            .iter()
            .map(|video| serde_json::to_value(service::Video::from(video)))
            .collect::<Result<_, _>>()?)
    }

    fn video(&self, id: &str) -> anyhow::Result<Value> {
        let stored = service::video(self.store.as_ref(), self.partner, id)
            .map_err(|e| self.missing_video("reading the video", e))?;
        Ok(serde_json::to_value(service::Video::from(&stored))?)
    }

    fn report(
        &self,
        video: &str,
        kind: ReportKind,
        params: &[(String, String)],
        csv: bool,
    ) -> anyhow::Result<String> {
        let request = ReportRequest::from_params(kind, params)?;
        let report = service::report(
            self.store.as_ref(),
            self.partner,
            video,
            &request,
            Utc::now(),
        )
        .map_err(|e| self.missing_video("running the report", e))?;
        Ok(if csv {
            report.to_csv()
        } else {
            serde_json::to_string(&report.body())?
        })
    }

    fn create_key(&self, kind: KeyKind, name: &str) -> anyhow::Result<Value> {
        let (key, token) =
            service::create_key(self.store.as_ref(), self.partner, kind, name, Utc::now())
                .map_err(|e| failed("creating the key", e))?;
        Ok(serde_json::to_value(service::Key {
            token: Some(token),
            ..service::Key::from(&key)
        })?)
    }

    fn keys(&self) -> anyhow::Result<Vec<Value>> {
        let keys = service::keys(self.store.as_ref(), self.partner)
            .map_err(|e| failed("listing keys", e))?;
        Ok(keys
            .iter()
            .map(|key| serde_json::to_value(service::Key::from(key)))
            .collect::<Result<_, _>>()?)
    }

    fn revoke_key(&self, id: &str) -> anyhow::Result<()> {
        service::revoke_key(self.store.as_ref(), self.partner, id, Utc::now())
            .map_err(|e| failed("revoking the key", e))
    }
}

impl Remote {
    /// The server of `config.server`, with its token.
    ///
    /// # Errors
    /// When no token is given.
    pub fn open(config: &Config) -> anyhow::Result<Remote> {
        let server = config.server.as_deref().context("no --server given")?;
        let token = config
            .token
            .clone()
            .context("--server needs --token (an admin token) or PATHLENS_TOKEN")?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        Ok(Remote {
            base: server.trim_end_matches('/').to_string(),
            token,
            agent,
        })
    }

    fn get(&self, path: &str, what: &str) -> anyhow::Result<String> {
        answer(
            self.agent
                .get(format!("{}{path}", self.base))
                .header("Authorization", format!("Bearer {}", self.token))
                .call(),
            what,
        )
    }

    fn send(&self, method: &str, path: &str, body: &str, what: &str) -> anyhow::Result<String> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let result = match method {
            "PUT" => self
                .agent
                .put(url)
                .header("Authorization", auth)
                .header("Content-Type", "application/json")
                .send(body),
            "DELETE" => self.agent.delete(url).header("Authorization", auth).call(),
            _ => self
                .agent
                .post(url)
                .header("Authorization", auth)
                .header("Content-Type", "application/json")
                .send(body),
        };
        answer(result, what)
    }

    /// Sends raw NDJSON to the server; returns its answer.
    pub fn post_events(&self, ndjson: &str) -> anyhow::Result<Value> {
        Ok(serde_json::from_str(&self.send(
            "POST",
            "/api/v1/events",
            ndjson,
            "sending events",
        )?)?)
    }
}

impl Pathlens for Remote {
    fn add_video(&self, body: &str, id: Option<&str>, name: Option<&str>) -> anyhow::Result<Value> {
        let mut query: Vec<(&str, &str)> = Vec::new();
        query.extend(id.map(|i| ("id", i)));
        query.extend(name.map(|n| ("name", n)));
        Ok(serde_json::from_str(&self.send(
            "POST",
            &format!("/api/v1/videos?{}", form_query(&query)),
            body,
            "adding the video",
        )?)?)
    }

    fn videos(&self) -> anyhow::Result<Vec<Value>> {
        let body: Value = serde_json::from_str(&self.get("/api/v1/videos", "listing videos")?)?;
        Ok(body["videos"].as_array().cloned().unwrap_or_default())
    }

    fn video(&self, id: &str) -> anyhow::Result<Value> {
        Ok(serde_json::from_str(&self.get(
            &format!("/api/v1/videos/{}", encode(id)),
            "reading the video",
        )?)?)
    }

    fn report(
        &self,
        video: &str,
        kind: ReportKind,
        params: &[(String, String)],
        csv: bool,
    ) -> anyhow::Result<String> {
        let mut query: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        query.push(("format", if csv { "csv" } else { "json" }));
        self.get(
            &format!(
                "/api/v1/videos/{}/reports/{}?{}",
                encode(video),
                kind.name(),
                form_query(&query)
            ),
            "running the report",
        )
    }

    fn create_key(&self, kind: KeyKind, name: &str) -> anyhow::Result<Value> {
        let body = json!({"kind": kind.name(), "name": name}).to_string();
        Ok(serde_json::from_str(&self.send(
            "POST",
            "/api/v1/keys",
            &body,
            "creating the key",
        )?)?)
    }

    fn keys(&self) -> anyhow::Result<Vec<Value>> {
        let body: Value = serde_json::from_str(&self.get("/api/v1/keys", "listing keys")?)?;
        Ok(body["keys"].as_array().cloned().unwrap_or_default())
    }

    fn revoke_key(&self, id: &str) -> anyhow::Result<()> {
        self.send(
            "DELETE",
            &format!("/api/v1/keys/{}", encode(id)),
            "",
            "revoking the key",
        )
        .map(|_| ())
    }
}

fn encode(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn form_query(pairs: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        serializer.append_pair(key, value);
    }
    serializer.finish()
}
