//! Where CLI commands act: the configured store (the embedded store in the
//! data directory, or ClickHouse with `--store clickhouse://…`), opened in
//! this process, or a running server over HTTP (`--server`, `--token`).
//! DuckDB lets one process write a database, so while `pathlens serve` runs
//! on a data directory, commands go through the server; ClickHouse takes
//! commands from any number of processes.

use std::sync::Arc;

use anyhow::{Context, bail};
use pathlens_report::{ReportKind, ReportRequest};
use pathlens_server::routes::videos::{save, video_json};
use pathlens_server::{AppState, ServerConfig, system_clock};
use pathlens_store::{KeyKind, Store, StoreErrorKind};
use pathlens_store_clickhouse::{ClickHouseConfig, ClickHouseStore, SpoolConfig, SpooledStore};
use pathlens_store_duckdb::{DuckDbConfig, DuckDbStore};
use serde_json::{Value, json};

use crate::config::Config;

pub enum Backend {
    Local {
        state: AppState,
        partner: u32,
    },
    Remote {
        base: String,
        token: String,
        agent: ureq::Agent,
    },
}

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

/// Opens the embedded store of `config`'s data directory.
pub fn open_embedded(config: &Config) -> anyhow::Result<Arc<DuckDbStore>> {
    let settings = DuckDbConfig {
        queue_capacity: config.write_queue,
        memory_limit: config.memory_limit.clone(),
    };
    let store = DuckDbStore::open(&config.data_dir, &settings).map_err(|error| {
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

impl Backend {
    pub fn open(config: &Config) -> anyhow::Result<Backend> {
        if let Some(server) = &config.server {
            let token = config
                .token
                .clone()
                .context("--server needs --token (an admin token) or PATHLENS_TOKEN")?;
            let agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .new_agent();
            return Ok(Backend::Remote {
                base: server.trim_end_matches('/').to_string(),
                token,
                agent,
            });
        }
        let store = open_tool_store(config)?;
        let state = AppState::new(store, ServerConfig::default(), system_clock())?;
        Ok(Backend::Local {
            state,
            partner: config.partner,
        })
    }

    fn get(&self, path: &str, what: &str) -> anyhow::Result<String> {
        let Backend::Remote { base, token, agent } = self else {
            bail!("not a remote backend")
        };
        answer(
            agent
                .get(format!("{base}{path}"))
                .header("Authorization", format!("Bearer {token}"))
                .call(),
            what,
        )
    }

    fn send(&self, method: &str, path: &str, body: &str, what: &str) -> anyhow::Result<String> {
        let Backend::Remote { base, token, agent } = self else {
            bail!("not a remote backend")
        };
        let url = format!("{base}{path}");
        let auth = format!("Bearer {token}");
        let result = match method {
            "PUT" => agent
                .put(url)
                .header("Authorization", auth)
                .header("Content-Type", "application/json")
                .send(body),
            "DELETE" => agent.delete(url).header("Authorization", auth).call(),
            _ => agent
                .post(url)
                .header("Authorization", auth)
                .header("Content-Type", "application/json")
                .send(body),
        };
        answer(result, what)
    }

    /// Creates or replaces a video from our JSON or Kaltura's.
    pub fn add_video(
        &self,
        body: &str,
        id: Option<&str>,
        name: Option<&str>,
    ) -> anyhow::Result<Value> {
        match self {
            Backend::Local { state, partner } => {
                let graph = pathlens_model::Graph::from_any_json(
                    body,
                    id.unwrap_or_default(),
                    name.or(id).unwrap_or_default(),
                )?;
                let (stored, _) =
                    save(state, *partner, graph).map_err(|e| anyhow::anyhow!("{}", e.message))?;
                Ok(video_json(&stored))
            }
            Backend::Remote { .. } => {
                let mut query: Vec<(&str, &str)> = Vec::new();
                query.extend(id.map(|i| ("id", i)));
                query.extend(name.map(|n| ("name", n)));
                let encoded: String = form_query(&query);
                Ok(serde_json::from_str(&self.send(
                    "POST",
                    &format!("/api/v1/videos?{encoded}"),
                    body,
                    "adding the video",
                )?)?)
            }
        }
    }

    pub fn videos(&self) -> anyhow::Result<Vec<Value>> {
        match self {
            Backend::Local { state, partner } => Ok(state
                .store
                .videos(*partner)?
                .iter()
                .map(video_json)
                .collect()),
            Backend::Remote { .. } => {
                let body: Value =
                    serde_json::from_str(&self.get("/api/v1/videos", "listing videos")?)?;
                Ok(body["videos"].as_array().cloned().unwrap_or_default())
            }
        }
    }

    pub fn video(&self, id: &str) -> anyhow::Result<Value> {
        match self {
            Backend::Local { state, partner } => {
                let stored = state
                    .store
                    .video(*partner, id)?
                    .with_context(|| format!("no video {id:?} for partner {partner}"))?;
                Ok(video_json(&stored))
            }
            Backend::Remote { .. } => Ok(serde_json::from_str(&self.get(
                &format!("/api/v1/videos/{}", encode(id)),
                "reading the video",
            )?)?),
        }
    }

    /// A report as JSON text, or CSV when `csv`.
    pub fn report(
        &self,
        video: &str,
        kind: ReportKind,
        params: &[(String, String)],
        csv: bool,
    ) -> anyhow::Result<String> {
        match self {
            Backend::Local { state, partner } => {
                let request = ReportRequest::from_params(kind, params)?;
                let stored = state
                    .store
                    .video(*partner, video)?
                    .with_context(|| format!("no video {video:?} for partner {partner}"))?;
                let report =
                    pathlens_report::run(state.store.as_ref(), &stored, &request, state.now())?;
                Ok(if csv {
                    report.to_csv()
                } else {
                    report.to_json().to_string()
                })
            }
            Backend::Remote { .. } => {
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
        }
    }

    /// Sends raw NDJSON to the server (remote only); returns its answer.
    pub fn post_events(&self, ndjson: &str) -> anyhow::Result<Value> {
        Ok(serde_json::from_str(&self.send(
            "POST",
            "/api/v1/events",
            ndjson,
            "sending events",
        )?)?)
    }

    pub fn create_key(&self, kind: KeyKind, name: &str) -> anyhow::Result<Value> {
        match self {
            Backend::Local { state, partner } => {
                let (key, token) = pathlens_server::auth::issue_key(
                    state.store.as_ref(),
                    *partner,
                    kind,
                    name,
                    state.now(),
                )?;
                Ok(
                    json!({"id": key.id, "partner_id": key.partner_id, "kind": kind.name(), "name": key.name, "token": token}),
                )
            }
            Backend::Remote { .. } => {
                let body = json!({"kind": kind.name(), "name": name}).to_string();
                Ok(serde_json::from_str(&self.send(
                    "POST",
                    "/api/v1/keys",
                    &body,
                    "creating the key",
                )?)?)
            }
        }
    }

    pub fn keys(&self) -> anyhow::Result<Vec<Value>> {
        match self {
            Backend::Local { state, partner } => Ok(state
                .store
                .keys()?
                .into_iter()
                .filter(|k| k.partner_id == *partner)
                .map(|k| json!({"id": k.id, "partner_id": k.partner_id, "kind": k.kind.name(), "name": k.name, "created_at": k.created_at.to_rfc3339(), "revoked_at": k.revoked_at.map(|t| t.to_rfc3339())}))
                .collect()),
            Backend::Remote { .. } => {
                let body: Value = serde_json::from_str(&self.get("/api/v1/keys", "listing keys")?)?;
                Ok(body["keys"].as_array().cloned().unwrap_or_default())
            }
        }
    }

    pub fn revoke_key(&self, id: &str) -> anyhow::Result<()> {
        match self {
            Backend::Local { state, partner } => {
                let owned = state
                    .store
                    .keys()?
                    .into_iter()
                    .any(|k| k.id == id && k.partner_id == *partner);
                if !owned || !state.store.revoke_key(id, state.now())? {
                    bail!("no key {id:?} for partner {partner}");
                }
                Ok(())
            }
            Backend::Remote { .. } => self
                .send(
                    "DELETE",
                    &format!("/api/v1/keys/{}", encode(id)),
                    "",
                    "revoking the key",
                )
                .map(|_| ()),
        }
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
