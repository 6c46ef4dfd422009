//! Configuration: defaults < file (TOML) < `PATHLENS_*` environment < flags.
//!
//! [`Config::load`] is pure: it takes the file's text and the environment as
//! a map, so tests never touch the process environment. Every problem is
//! reported at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::Datelike;
use pathlens_store_clickhouse::ClickHouseConfig;
use serde::Deserialize;

/// The settings as written in a file; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    country_header: Option<String>,
    geoip_database: Option<PathBuf>,
    partner: Option<u32>,
    server: Option<String>,
    token: Option<String>,
    memory_limit: Option<String>,
    write_queue: Option<usize>,
    store: Option<String>,
    clickhouse_cluster: Option<String>,
    spool_dir: Option<PathBuf>,
    beacon_origins: Option<HashMap<String, Vec<String>>>,
    metrics_token: Option<String>,
    header_read_timeout: Option<u64>,
    body_read_timeout: Option<u64>,
    max_connections: Option<usize>,
    report_timeout: Option<u64>,
    rate_limit_per_key: Option<u32>,
    beacon_rate_limit: Option<u32>,
    auth_failures_per_minute: Option<u32>,
    trusted_proxies: Option<Vec<String>>,
    exclude_bots: Option<bool>,
    earliest_event_date: Option<String>,
    max_future_hours: Option<u32>,
}

/// Validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where the embedded store keeps its database.
    pub data_dir: PathBuf,
    /// Address `serve` listens on.
    pub listen: SocketAddr,
    /// Header with the viewer's country set by a trusted proxy.
    pub country_header: Option<String>,
    /// The IP-to-country database (MMDB) live events are geolocated with;
    /// unset: [`DEFAULT_GEOIP_DATABASE`] if that file exists; an empty
    /// path: no geolocation (see [`Config::geoip_database`]).
    pub geoip_database: Option<PathBuf>,
    /// Partner the CLI acts for when working on a data directory.
    pub partner: u32,
    /// A running server the CLI talks to instead of the data directory.
    pub server: Option<String>,
    /// Admin token for `server`.
    pub token: Option<String>,
    /// DuckDB memory limit ("4GB"); the embedded store's default
    /// (`pathlens_store_duckdb::DEFAULT_MEMORY_LIMIT`) when `None`.
    pub memory_limit: Option<String>,
    /// Write batches that may wait for the store before requests get 503.
    pub write_queue: usize,
    /// Where events, videos and keys live: `None` for the embedded store in
    /// `data_dir`, or `clickhouse://user:password@host:8123/database`.
    pub store: Option<String>,
    /// The ClickHouse cluster (from the servers' `remote_servers`) to read
    /// and write through `Distributed` tables.
    pub clickhouse_cluster: Option<String>,
    /// The local spool of a server on ClickHouse [default: `<data_dir>/spool`].
    pub spool_dir: Option<PathBuf>,
    /// Per partner, the origins whose pages may send KAVA beacons for it
    /// (file only: `[beacon_origins]` with `1 = ["https://a.example"]`).
    pub beacon_origins: HashMap<u32, Vec<String>>,
    /// The bearer token `/metrics` asks of clients that are not on this
    /// machine; without one, `/metrics` answers loopback clients only.
    pub metrics_token: Option<String>,
    /// Seconds a client may take to send a request's headers (also how long
    /// an idle keep-alive connection stays open).
    pub header_read_timeout: u64,
    /// Seconds a client may take to send a request's body.
    pub body_read_timeout: u64,
    /// Connections served at once.
    pub max_connections: usize,
    /// Seconds a report may take before it answers 503 `deadline_exceeded`.
    pub report_timeout: u64,
    /// Requests per second per API key, KAVA beacons per second per client
    /// address, failed authentications per minute per address (0: no limit).
    pub rate_limits: pathlens_server::throttle::RateLimits,
    /// Reverse proxies whose `X-Forwarded-For` names the client's address.
    pub trusted_proxies: Vec<String>,
    /// Whether live events from bots and crawlers are kept out of the store.
    pub exclude_bots: bool,
    /// The earliest date an imported event may carry (UTC midnight).
    pub earliest_event_date: chrono::NaiveDate,
    /// How many hours past the server's clock an imported event may lie.
    pub max_future_hours: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            data_dir: PathBuf::from("./pathlens-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            country_header: None,
            geoip_database: None,
            partner: 1,
            server: None,
            token: None,
            memory_limit: None,
            write_queue: 256,
            store: None,
            clickhouse_cluster: None,
            spool_dir: None,
            beacon_origins: HashMap::new(),
            metrics_token: None,
            header_read_timeout: 10,
            body_read_timeout: 30,
            max_connections: 1024,
            report_timeout: 30,
            rate_limits: pathlens_server::throttle::RateLimits::default(),
            trusted_proxies: Vec::new(),
            exclude_bots: true,
            earliest_event_date: chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default(),
            max_future_hours: 24,
        }
    }
}

/// The environment variables read, and the setting each one sets.
pub const ENV_VARS: [(&str, &str); 24] = [
    ("PATHLENS_DATA_DIR", "data_dir"),
    ("PATHLENS_LISTEN", "listen"),
    ("PATHLENS_COUNTRY_HEADER", "country_header"),
    ("PATHLENS_GEOIP_DATABASE", "geoip_database"),
    ("PATHLENS_PARTNER", "partner"),
    ("PATHLENS_SERVER", "server"),
    ("PATHLENS_TOKEN", "token"),
    ("PATHLENS_MEMORY_LIMIT", "memory_limit"),
    ("PATHLENS_STORE", "store"),
    ("PATHLENS_CLICKHOUSE_CLUSTER", "clickhouse_cluster"),
    ("PATHLENS_SPOOL_DIR", "spool_dir"),
    ("PATHLENS_WRITE_QUEUE", "write_queue"),
    ("PATHLENS_METRICS_TOKEN", "metrics_token"),
    ("PATHLENS_HEADER_READ_TIMEOUT", "header_read_timeout"),
    ("PATHLENS_BODY_READ_TIMEOUT", "body_read_timeout"),
    ("PATHLENS_MAX_CONNECTIONS", "max_connections"),
    ("PATHLENS_REPORT_TIMEOUT", "report_timeout"),
    ("PATHLENS_RATE_LIMIT_PER_KEY", "rate_limit_per_key"),
    ("PATHLENS_BEACON_RATE_LIMIT", "beacon_rate_limit"),
    (
        "PATHLENS_AUTH_FAILURES_PER_MINUTE",
        "auth_failures_per_minute",
    ),
    ("PATHLENS_TRUSTED_PROXIES", "trusted_proxies"),
    ("PATHLENS_EXCLUDE_BOTS", "exclude_bots"),
    ("PATHLENS_EARLIEST_EVENT_DATE", "earliest_event_date"),
    ("PATHLENS_MAX_FUTURE_HOURS", "max_future_hours"),
];

impl Config {
    /// Builds the configuration from an optional file's text and the
    /// environment.
    ///
    /// # Errors
    /// Every problem found, each naming its setting and source.
    pub fn load(
        file: Option<(&str, &str)>,
        env: &HashMap<String, String>,
    ) -> Result<Config, Vec<String>> {
        let mut problems = Vec::new();
        let mut raw = RawConfig::default();
        if let Some((name, text)) = file {
            match toml::from_str::<RawConfig>(text) {
                Ok(parsed) => raw = parsed,
                Err(error) => problems.push(format!("{name}: {error}")),
            }
        }
        let mut config = Config::default();
        let mut listen = raw.listen.map(|l| ("config file", l));
        let mut partner = raw
            .partner
            .map(|p| p.to_string())
            .map(|p| ("config file", p));
        let mut write_queue = raw
            .write_queue
            .map(|q| q.to_string())
            .map(|q| ("config file", q));
        if let Some(dir) = raw.data_dir {
            config.data_dir = dir;
        }
        config.country_header = raw.country_header;
        config.geoip_database = raw.geoip_database;
        config.server = raw.server;
        config.token = raw.token;
        config.memory_limit = raw.memory_limit;
        config.store = raw.store;
        config.clickhouse_cluster = raw.clickhouse_cluster;
        config.spool_dir = raw.spool_dir;
        config.metrics_token = raw.metrics_token;
        let mut limits: Vec<(&str, (&str, String))> = Vec::new();
        for (name, value) in [
            (
                "header_read_timeout",
                raw.header_read_timeout.map(|v| v.to_string()),
            ),
            (
                "body_read_timeout",
                raw.body_read_timeout.map(|v| v.to_string()),
            ),
            (
                "max_connections",
                raw.max_connections.map(|v| v.to_string()),
            ),
            ("report_timeout", raw.report_timeout.map(|v| v.to_string())),
        ] {
            if let Some(value) = value {
                limits.push((name, ("config file", value)));
            }
        }
        let mut rates: Vec<(&str, (&str, String))> = [
            ("rate_limit_per_key", raw.rate_limit_per_key),
            ("beacon_rate_limit", raw.beacon_rate_limit),
            ("auth_failures_per_minute", raw.auth_failures_per_minute),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, ("config file", v.to_string()))))
        .collect();
        let mut proxies = raw.trusted_proxies.map(|list| ("config file", list));
        let mut earliest = raw.earliest_event_date.map(|d| ("config file", d));
        let mut future = raw.max_future_hours.map(|h| ("config file", h.to_string()));
        if let Some(exclude) = raw.exclude_bots {
            config.exclude_bots = exclude;
        }
        for (partner, origins) in raw.beacon_origins.unwrap_or_default() {
            let Ok(id) = partner.parse::<u32>() else {
                problems.push(format!(
                    "beacon_origins (config file): {partner:?} is not a partner id (a whole number)"
                ));
                continue;
            };
            for origin in origins.iter().filter(|o| !is_origin(o)) {
                problems.push(format!("beacon_origins.{partner} (config file): {origin:?} is not an origin like https://www.example.com (scheme and host, no path)"));
            }
            config.beacon_origins.insert(id, origins);
        }
        for (var, _) in ENV_VARS {
            let Some(value) = env.get(var).cloned() else {
                continue;
            };
            match var {
                "PATHLENS_DATA_DIR" => config.data_dir = PathBuf::from(value),
                "PATHLENS_LISTEN" => listen = Some((var, value)),
                "PATHLENS_COUNTRY_HEADER" => config.country_header = Some(value),
                "PATHLENS_GEOIP_DATABASE" => config.geoip_database = Some(PathBuf::from(value)),
                "PATHLENS_PARTNER" => partner = Some((var, value)),
                "PATHLENS_SERVER" => config.server = Some(value),
                "PATHLENS_TOKEN" => config.token = Some(value),
                "PATHLENS_MEMORY_LIMIT" => config.memory_limit = Some(value),
                "PATHLENS_STORE" => config.store = Some(value),
                "PATHLENS_CLICKHOUSE_CLUSTER" => config.clickhouse_cluster = Some(value),
                "PATHLENS_SPOOL_DIR" => config.spool_dir = Some(PathBuf::from(value)),
                "PATHLENS_METRICS_TOKEN" => config.metrics_token = Some(value),
                "PATHLENS_HEADER_READ_TIMEOUT" => {
                    limits.push(("header_read_timeout", (var, value)))
                }
                "PATHLENS_BODY_READ_TIMEOUT" => limits.push(("body_read_timeout", (var, value))),
                "PATHLENS_MAX_CONNECTIONS" => limits.push(("max_connections", (var, value))),
                "PATHLENS_REPORT_TIMEOUT" => limits.push(("report_timeout", (var, value))),
                "PATHLENS_RATE_LIMIT_PER_KEY" => rates.push(("rate_limit_per_key", (var, value))),
                "PATHLENS_BEACON_RATE_LIMIT" => rates.push(("beacon_rate_limit", (var, value))),
                "PATHLENS_AUTH_FAILURES_PER_MINUTE" => {
                    rates.push(("auth_failures_per_minute", (var, value)))
                }
                "PATHLENS_TRUSTED_PROXIES" => {
                    proxies = Some((
                        var,
                        value
                            .split(',')
                            .map(str::trim)
                            .filter(|p| !p.is_empty())
                            .map(String::from)
                            .collect(),
                    ));
                }
                "PATHLENS_EARLIEST_EVENT_DATE" => earliest = Some((var, value)),
                "PATHLENS_MAX_FUTURE_HOURS" => future = Some((var, value)),
                "PATHLENS_EXCLUDE_BOTS" => match value.trim() {
                    "1" | "true" | "yes" => config.exclude_bots = true,
                    "0" | "false" | "no" => config.exclude_bots = false,
                    _ => problems.push(format!(
                        "exclude_bots ({var}): {value:?} is not true or false"
                    )),
                },
                _ => write_queue = Some((var, value)),
            }
        }
        if config
            .metrics_token
            .as_ref()
            .is_some_and(|token| token.trim().len() < 16)
        {
            problems.push(
                "metrics_token: at least 16 characters, so that it cannot be guessed".to_string(),
            );
        }
        if let Err(problem) = config.clickhouse() {
            problems.push(format!("store: {problem}"));
        }
        if let Some((source, value)) = listen {
            match value.parse() {
                Ok(address) => config.listen = address,
                Err(_) => problems.push(format!(
                    "listen ({source}): {value:?} is not an address like 127.0.0.1:8080"
                )),
            }
        }
        if let Some((source, value)) = partner {
            match value.parse() {
                Ok(id) => config.partner = id,
                Err(_) => problems.push(format!(
                    "partner ({source}): {value:?} is not a partner id (a whole number)"
                )),
            }
        }
        for (name, (source, value)) in limits {
            match value.parse::<u64>() {
                Ok(n) if n > 0 => match name {
                    "header_read_timeout" => config.header_read_timeout = n,
                    "body_read_timeout" => config.body_read_timeout = n,
                    "report_timeout" => config.report_timeout = n,
                    _ => config.max_connections = n as usize,
                },
                _ => problems.push(format!(
                    "{name} ({source}): {value:?} is not a positive whole number"
                )),
            }
        }
        for (name, (source, value)) in rates {
            match value.parse::<u32>() {
                Ok(n) => match name {
                    "rate_limit_per_key" => config.rate_limits.per_key = n,
                    "beacon_rate_limit" => config.rate_limits.beacons_per_address = n,
                    _ => config.rate_limits.auth_failures_per_minute = n,
                },
                _ => problems.push(format!(
                    "{name} ({source}): {value:?} is not a whole number (0 turns the limit off)"
                )),
            }
        }
        if let Some((source, value)) = earliest {
            match chrono::NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d") {
                Ok(date) if date.year() >= 1970 => config.earliest_event_date = date,
                _ => problems.push(format!(
                    "earliest_event_date ({source}): {value:?} is not a date like 2015-01-01 (1970 or later)"
                )),
            }
        }
        if let Some((source, value)) = future {
            match value.parse::<u32>() {
                Ok(hours) if hours <= 24 * 366 => config.max_future_hours = hours,
                _ => problems.push(format!(
                    "max_future_hours ({source}): {value:?} is not a whole number of hours up to 8784 (a year)"
                )),
            }
        }
        if let Some((source, list)) = proxies {
            match pathlens_server::throttle::TrustedProxies::parse(&list) {
                Ok(_) => config.trusted_proxies = list,
                Err(problem) => problems.push(format!("trusted_proxies ({source}): {problem}")),
            }
        }
        if let Some((source, value)) = write_queue {
            match value.parse::<usize>() {
                Ok(n) if n > 0 => config.write_queue = n,
                _ => problems.push(format!(
                    "write_queue ({source}): {value:?} is not a positive whole number"
                )),
            }
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    }

    /// A commented example configuration file.
    pub fn example() -> String {
        let defaults = Config::default();
        format!(
            "# pathlens configuration (TOML).\n\
             # Precedence: built-in defaults < this file < PATHLENS_* environment variables < command-line flags.\n\n\
             # Directory of the embedded DuckDB store (env PATHLENS_DATA_DIR, flag --data-dir).\n\
             data_dir = {:?}\n\n\
             # Address the server listens on (env PATHLENS_LISTEN, flag --listen).\n\
             listen = \"{}\"\n\n\
             # Header with the viewer's ISO country code, set by a trusted reverse proxy\n\
             # (for example \"CF-IPCountry\"). Leave unset when no proxy sets it: a client\n\
             # could otherwise claim any country (env PATHLENS_COUNTRY_HEADER).\n\
             # country_header = \"CF-IPCountry\"\n\n\
             # IP-to-country database (MaxMind DB format, .mmdb) that places live events (native\n\
             # events and xAPI statements sent with a write key, KAVA beacons) by the client's\n\
             # address when they carry no country and the header above gives none. Imports (admin\n\
             # tokens) are not placed; the address itself is never stored. scripts/geoip installs a\n\
             # free one (ip-location-db's geo-whois-asn-country, from npm) and prints its path; run\n\
             # it again to update: a changed file is picked up within a minute, without a restart.\n\
             # Unset: {} in the working directory if that file exists, else\n\
             # none; \"\" turns geolocation off (env PATHLENS_GEOIP_DATABASE, flag --geoip-database).\n\
             # geoip_database = \"/var/lib/pathlens/geoip/country.mmdb\"\n\n\
             # Partner the command-line tool acts for on a data directory (env PATHLENS_PARTNER, flag --partner).\n\
             partner = {}\n\n\
             # A running pathlens server for the command-line tool to talk to instead of\n\
             # opening the data directory, with an admin token (env PATHLENS_SERVER, PATHLENS_TOKEN).\n\
             # server = \"http://127.0.0.1:8080\"\n\
             # token = \"pla_...\"\n\n\
             # DuckDB memory limit (env PATHLENS_MEMORY_LIMIT); 512MB when unset.\n\
             # memory_limit = \"4GB\"\n\n\
             # Keep events, videos and keys in ClickHouse instead of the data directory\n\
             # (env PATHLENS_STORE, flag --store). A server then acknowledges events once they are\n\
             # in its local spool (spool_dir, default <data_dir>/spool) and ships them in batches.\n\
             # store = \"clickhouse://pathlens:secret@127.0.0.1:8123/pathlens\"\n\
             # On a cluster named in the ClickHouse servers' remote_servers, read and write through\n\
             # Distributed tables (env PATHLENS_CLICKHOUSE_CLUSTER, flag --clickhouse-cluster).\n\
             # clickhouse_cluster = \"analytics\"\n\
             # spool_dir = \"/var/lib/pathlens/spool\"\n\n\
             # Write batches that may wait for the store before ingest answers 503 (env PATHLENS_WRITE_QUEUE).\n\
             write_queue = {}\n\n\
             # /metrics shows every partner's traffic. Without a token it answers clients on this\n\
             # machine only; with one (16 characters or more), others send Authorization: Bearer <token>\n\
             # (env PATHLENS_METRICS_TOKEN).\n\
             # metrics_token = \"a-long-random-string\"\n\n\
             # Against slow and idle clients: seconds to send a request's headers (also how long an\n\
             # idle keep-alive connection stays open), seconds to send its body, connections served\n\
             # at once (env PATHLENS_HEADER_READ_TIMEOUT, PATHLENS_BODY_READ_TIMEOUT,\n\
             # PATHLENS_MAX_CONNECTIONS).\n\
             # header_read_timeout = 10\n\
             # body_read_timeout = 30\n\
             # max_connections = 1024\n\n\
             # Seconds a report may take before it answers 503 deadline_exceeded (env\n\
             # PATHLENS_REPORT_TIMEOUT).\n\
             # report_timeout = 30\n\n\
             # Rate limits (0 turns one off): requests per second per API key, KAVA beacons per\n\
             # second per client address (bursts of twice as many), failed authentications per\n\
             # minute per address before it is refused for a minute. Past a limit: 429 with\n\
             # Retry-After (env PATHLENS_RATE_LIMIT_PER_KEY, PATHLENS_BEACON_RATE_LIMIT,\n\
             # PATHLENS_AUTH_FAILURES_PER_MINUTE).\n\
             # rate_limit_per_key = {}\n\
             # beacon_rate_limit = {}\n\
             # auth_failures_per_minute = {}\n\n\
             # Reverse proxies (addresses or networks) whose X-Forwarded-For header names the\n\
             # client's address, for rate limits and beacon sessions (env PATHLENS_TRUSTED_PROXIES,\n\
             # comma-separated).\n\
             # trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n\n\
             # Live events whose User-Agent is a known bot or crawler are answered but not stored,\n\
             # and counted in pathlens_bot_events_total (env PATHLENS_EXCLUDE_BOTS).\n\
             # exclude_bots = true\n\n\
             # Imported events keep their own time only between this date (UTC) and this many hours\n\
             # past the server's clock; others are rejected naming ts (env PATHLENS_EARLIEST_EVENT_DATE,\n\
             # PATHLENS_MAX_FUTURE_HOURS).\n\
             # earliest_event_date = \"2000-01-01\"\n\
             # max_future_hours = 24\n\n\
             # Origins whose pages may send Kaltura (KAVA) beacons, per partner id. A partner\n\
             # not listed accepts beacons from any page (its partner id must still have a key).\n\
             # [beacon_origins]\n\
             # 1 = [\"https://www.example.com\", \"https://lms.example.edu\"]\n",
            defaults.data_dir.display().to_string(),
            defaults.listen,
            DEFAULT_GEOIP_DATABASE,
            defaults.partner,
            defaults.write_queue,
            defaults.rate_limits.per_key,
            defaults.rate_limits.beacons_per_address,
            defaults.rate_limits.auth_failures_per_minute,
        )
    }
}

/// Where `scripts/geoip` installs the geolocation database, relative to the
/// clone it runs in; `serve` uses it when `geoip_database` is not set and the
/// file exists.
pub const DEFAULT_GEOIP_DATABASE: &str = "pathlens-geoip/country.mmdb";

impl Config {
    /// The geolocation database to open, and whether it was configured
    /// (rather than found at [`DEFAULT_GEOIP_DATABASE`]); `None` for no
    /// geolocation: an empty `geoip_database`, or none set and no file at
    /// the default location.
    pub fn geoip_database(&self) -> Option<(PathBuf, bool)> {
        match &self.geoip_database {
            Some(path) if path.as_os_str().is_empty() => None,
            Some(path) => Some((path.clone(), true)),
            None => {
                let default = PathBuf::from(DEFAULT_GEOIP_DATABASE);
                default.exists().then_some((default, false))
            }
        }
    }

    /// The times imported events may carry.
    pub fn time_window(&self) -> pathlens_ingest::TimeWindow {
        pathlens_ingest::TimeWindow {
            earliest: self
                .earliest_event_date
                .and_time(chrono::NaiveTime::MIN)
                .and_utc(),
            max_future: chrono::Duration::hours(i64::from(self.max_future_hours)),
        }
    }

    /// The limits `serve` puts on every connection.
    pub fn connection_limits(&self) -> pathlens_server::ConnectionLimits {
        pathlens_server::ConnectionLimits {
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout),
            body_read_timeout: std::time::Duration::from_secs(self.body_read_timeout),
            max_connections: self.max_connections,
        }
    }

    /// The ClickHouse store configured, if any.
    ///
    /// # Errors
    /// What is wrong with the `store` URL or the cluster name.
    pub fn clickhouse(&self) -> Result<Option<ClickHouseConfig>, String> {
        let Some(url) = &self.store else {
            return match &self.clickhouse_cluster {
                Some(_) => {
                    Err("clickhouse_cluster is set but store is not a clickhouse:// URL".into())
                }
                None => Ok(None),
            };
        };
        let config = ClickHouseConfig::from_url(url)?;
        let cluster = self.clickhouse_cluster.clone().or(config.cluster.clone());
        config.with_cluster(cluster).map(Some)
    }

    /// The spool directory of a server on ClickHouse.
    pub fn spool_dir(&self) -> PathBuf {
        self.spool_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("spool"))
    }
}

/// Whether `text` is an origin: `scheme://host[:port]`, nothing after.
fn is_origin(text: &str) -> bool {
    let Some((scheme, host)) = text.trim_end_matches('/').split_once("://") else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !host.is_empty()
        && !host.contains(['/', '?', '#', ' '])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_overrides_the_file() {
        let file = "data_dir = \"/srv/a\"\nlisten = \"0.0.0.0:9000\"\npartner = 5\n";
        let config = Config::load(
            Some(("f.toml", file)),
            &env(&[("PATHLENS_LISTEN", "127.0.0.1:7000")]),
        )
        .unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/srv/a"));
        assert_eq!(config.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(config.partner, 5);
    }

    #[test]
    fn every_problem_is_reported() {
        let file = "listen = \"nowhere\"\n";
        let problems = Config::load(
            Some(("f.toml", file)),
            &env(&[("PATHLENS_PARTNER", "x"), ("PATHLENS_WRITE_QUEUE", "0")]),
        )
        .unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("listen (config file)"));
        assert!(problems[1].starts_with("partner (PATHLENS_PARTNER)"));
    }

    #[test]
    fn the_metrics_token_is_read_and_must_be_long() {
        let file = "metrics_token = \"short\"\n";
        let problems = Config::load(Some(("f.toml", file)), &HashMap::new()).unwrap_err();
        assert!(problems[0].starts_with("metrics_token"), "{problems:?}");
        let env = HashMap::from([(
            "PATHLENS_METRICS_TOKEN".to_string(),
            "0123456789abcdef".to_string(),
        )]);
        let config = Config::load(Some(("f.toml", file)), &env).unwrap();
        assert_eq!(config.metrics_token.as_deref(), Some("0123456789abcdef"));
    }

    #[test]
    fn beacon_origins_are_read_per_partner() {
        let file = "partner = 2\n[beacon_origins]\n1 = [\"https://a.example\", \"http://b.example:8080/\"]\n";
        let config = Config::load(Some(("f.toml", file)), &HashMap::new()).unwrap();
        assert_eq!(
            config.beacon_origins[&1],
            ["https://a.example", "http://b.example:8080/"]
        );
        let bad = "[beacon_origins]\nx = []\n3 = [\"https://a.example/page\"]\n";
        let problems = Config::load(Some(("f.toml", bad)), &HashMap::new()).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn a_clickhouse_store_is_checked_and_takes_the_cluster_option() {
        let file = "store = \"clickhouse://u:p@ch:9000/analytics\"\n";
        let config = Config::load(
            Some(("f.toml", file)),
            &env(&[("PATHLENS_CLICKHOUSE_CLUSTER", "main")]),
        )
        .unwrap();
        let clickhouse = config.clickhouse().unwrap().unwrap();
        assert_eq!(
            (clickhouse.endpoint.port, clickhouse.database.as_str()),
            (9000, "analytics")
        );
        assert_eq!(clickhouse.cluster.as_deref(), Some("main"));
        assert_eq!(config.spool_dir(), PathBuf::from("./pathlens-data/spool"));
        let problems =
            Config::load(None, &env(&[("PATHLENS_STORE", "clickhouse://h/bad-name")])).unwrap_err();
        assert!(problems[0].starts_with("store: "), "{problems:?}");
        assert_eq!(Config::default().clickhouse(), Ok(None));
    }

    #[test]
    fn rate_limits_proxies_and_bots_are_read() {
        let file =
            "rate_limit_per_key = 5\ntrusted_proxies = [\"10.0.0.0/8\"]\nexclude_bots = false\n";
        let config = Config::load(
            Some(("f.toml", file)),
            &env(&[("PATHLENS_BEACON_RATE_LIMIT", "0")]),
        )
        .unwrap();
        assert_eq!(config.rate_limits.per_key, 5);
        assert_eq!(config.rate_limits.beacons_per_address, 0, "0 turns it off");
        assert_eq!(config.rate_limits.auth_failures_per_minute, 20);
        assert_eq!(config.trusted_proxies, ["10.0.0.0/8"]);
        assert!(!config.exclude_bots);
        let window = Config::load(
            Some(("f.toml", "earliest_event_date = \"2015-06-01\"\n")),
            &env(&[("PATHLENS_MAX_FUTURE_HOURS", "2")]),
        )
        .unwrap()
        .time_window();
        assert_eq!(window.earliest.to_rfc3339(), "2015-06-01T00:00:00+00:00");
        assert_eq!(window.max_future, chrono::Duration::hours(2));
        assert_eq!(
            Config::default().time_window(),
            pathlens_ingest::TimeWindow::default()
        );
        assert!(
            Config::load(
                None,
                &env(&[("PATHLENS_EARLIEST_EVENT_DATE", "0001-01-01")])
            )
            .is_err()
        );
        let problems = Config::load(
            None,
            &env(&[
                ("PATHLENS_TRUSTED_PROXIES", "10.0.0.1, nowhere"),
                ("PATHLENS_RATE_LIMIT_PER_KEY", "-1"),
                ("PATHLENS_EXCLUDE_BOTS", "maybe"),
            ]),
        )
        .unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems.iter().any(|p| p.contains("\"nowhere\"")),
            "{problems:?}"
        );
    }

    #[test]
    fn the_geoip_database_is_read_and_can_be_turned_off() {
        let file = "geoip_database = \"/srv/geo/a.mmdb\"\n";
        let config = Config::load(Some(("f.toml", file)), &HashMap::new()).unwrap();
        assert_eq!(
            config.geoip_database(),
            Some((PathBuf::from("/srv/geo/a.mmdb"), true))
        );
        let config = Config::load(
            Some(("f.toml", file)),
            &env(&[("PATHLENS_GEOIP_DATABASE", "/srv/geo/b.mmdb")]),
        )
        .unwrap();
        assert_eq!(
            config.geoip_database(),
            Some((PathBuf::from("/srv/geo/b.mmdb"), true))
        );
        let off = Config::load(
            Some(("f.toml", file)),
            &env(&[("PATHLENS_GEOIP_DATABASE", "")]),
        )
        .unwrap();
        assert_eq!(off.geoip_database(), None);
    }

    #[test]
    fn unknown_settings_are_refused() {
        let problems =
            Config::load(Some(("f.toml", "data_dri = \"x\"\n")), &HashMap::new()).unwrap_err();
        assert!(problems[0].contains("data_dri"), "{problems:?}");
    }

    #[test]
    fn the_example_parses_to_the_defaults() {
        let config = Config::load(Some(("example", &Config::example())), &HashMap::new()).unwrap();
        assert_eq!(config, Config::default());
    }
}
