//! Where the ClickHouse store is: `clickhouse://user:password@host:8123/database`.

use std::fmt;
use std::time::Duration;

use crate::http::Endpoint;
use crate::sql::is_plain_identifier;

/// The settings of the ClickHouse store.
#[derive(Clone, PartialEq, Eq)]
pub struct ClickHouseConfig {
    pub endpoint: Endpoint,
    /// The database holding pathlens's tables (created when missing).
    pub database: String,
    /// A cluster from the servers' `remote_servers` configuration: reads and
    /// writes then go through `Distributed` tables over its shards.
    pub cluster: Option<String>,
    /// The longest one request may take.
    pub timeout: Duration,
}

/// The database used when the URL names none.
pub const DEFAULT_DATABASE: &str = "pathlens";

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text
                .get(index + 1..index + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in {text:?}"))?;
            decoded.push(hex);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| format!("{text:?} is not UTF-8 once decoded"))
}

impl ClickHouseConfig {
    /// Parses `clickhouse://[user[:password]@]host[:port][/database][?cluster=name]`
    /// (`http://` is accepted too). The user defaults to `default` with no
    /// password, the port to 8123, the database to `pathlens`. User and
    /// password may be percent-encoded.
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn from_url(url: &str) -> Result<ClickHouseConfig, String> {
        let rest = url
            .strip_prefix("clickhouse://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| {
                if url.starts_with("https://") {
                    format!(
                        "{url:?}: TLS is not supported; use clickhouse:// over a trusted network"
                    )
                } else {
                    format!("{url:?} is not a clickhouse:// URL")
                }
            })?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(info) => {
                let (user, password) = info.split_once(':').unwrap_or((info, ""));
                (percent_decode(user)?, percent_decode(password)?)
            }
            None => ("default".to_string(), String::new()),
        };
        let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("{url:?}: unclosed [ in the host"))?;
            (format!("[{host}]"), after.strip_prefix(':'))
        } else {
            match hostport.split_once(':') {
                Some((host, port)) => (host.to_string(), Some(port)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("{url:?} names no host"));
        }
        let port = match port {
            Some(text) => text
                .parse::<u16>()
                .map_err(|_| format!("{url:?}: {text:?} is not a port"))?,
            None => 8123,
        };
        let database = path.trim_end_matches('/');
        let database = if database.is_empty() {
            DEFAULT_DATABASE.to_string()
        } else {
            database.to_string()
        };
        if !is_plain_identifier(&database) {
            return Err(format!(
                "{url:?}: the database name {database:?} must be letters, digits and underscores"
            ));
        }
        let mut cluster = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("cluster", name)) => cluster = Some(percent_decode(name)?),
                _ => {
                    return Err(format!(
                        "{url:?}: unknown option {pair:?} (only cluster=NAME)"
                    ));
                }
            }
        }
        let config = ClickHouseConfig {
            endpoint: Endpoint {
                host,
                port,
                user,
                password,
            },
            database,
            cluster: None,
            timeout: Duration::from_secs(300),
        };
        config.with_cluster(cluster)
    }

    /// The same settings on the cluster `cluster` (none when `None`).
    ///
    /// # Errors
    /// When the name is not letters, digits, underscores, dots or dashes.
    pub fn with_cluster(mut self, cluster: Option<String>) -> Result<ClickHouseConfig, String> {
        if let Some(name) = &cluster {
            let plain = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
            if !plain {
                return Err(format!(
                    "the cluster name {name:?} must be letters, digits, '_', '-' or '.'"
                ));
            }
        }
        self.cluster = cluster.filter(|c| !c.is_empty());
        Ok(self)
    }

    /// The URL without the password, for logs and messages.
    pub fn redacted(&self) -> String {
        let cluster = self
            .cluster
            .as_ref()
            .map(|c| format!("?cluster={c}"))
            .unwrap_or_default();
        format!(
            "clickhouse://{}@{}:{}/{}{cluster}",
            self.endpoint.user, self.endpoint.host, self.endpoint.port, self.database
        )
    }
}

impl fmt::Debug for ClickHouseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_url() {
        let config = ClickHouseConfig::from_url(
            "clickhouse://alice:p%40ss%3Aword@ch.internal:9123/analytics?cluster=main",
        )
        .unwrap();
        assert_eq!(config.endpoint.user, "alice");
        assert_eq!(config.endpoint.password, "p@ss:word");
        assert_eq!(config.endpoint.host, "ch.internal");
        assert_eq!(config.endpoint.port, 9123);
        assert_eq!(config.database, "analytics");
        assert_eq!(config.cluster.as_deref(), Some("main"));
        assert_eq!(
            config.redacted(),
            "clickhouse://alice@ch.internal:9123/analytics?cluster=main"
        );
        assert!(!format!("{config:?}").contains("word"));
    }

    #[test]
    fn defaults() {
        let config = ClickHouseConfig::from_url("clickhouse://127.0.0.1").unwrap();
        assert_eq!(config.endpoint.user, "default");
        assert_eq!(config.endpoint.password, "");
        assert_eq!(config.endpoint.port, 8123);
        assert_eq!(config.database, "pathlens");
        assert_eq!(config.cluster, None);
        let http = ClickHouseConfig::from_url("http://[::1]:18123/db_1/").unwrap();
        assert_eq!(http.endpoint.host, "[::1]");
        assert_eq!(http.endpoint.port, 18123);
        assert_eq!(http.database, "db_1");
    }

    #[test]
    fn mistakes_are_named() {
        for (url, part) in [
            ("https://h/db", "TLS"),
            ("postgres://h/db", "not a clickhouse"),
            ("clickhouse://h:port/db", "not a port"),
            ("clickhouse://h/my-db", "database name"),
            ("clickhouse://h/db?replicas=2", "unknown option"),
            ("clickhouse:///db", "no host"),
            ("clickhouse://h/db?cluster=a%20b", "cluster name"),
        ] {
            let error = ClickHouseConfig::from_url(url).unwrap_err();
            assert!(error.contains(part), "{url}: {error}");
        }
    }
}
