//! The client of ClickHouse's HTTP interface.
//!
//! One statement per request: the SQL travels as the request body, or, for
//! an INSERT, as the `query` parameter with the `RowBinary` rows as the body.
//! Settings go as URL parameters. A connection that fails or times out is
//! [`StoreErrorKind::Unavailable`] (the spool retries it); an error answered
//! by ClickHouse is [`StoreErrorKind::Internal`] with ClickHouse's message,
//! except the network errors a `Distributed` table reports when a shard is
//! down and the "too busy" ones (too many parts, memory limit), which are
//! `Unavailable` too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use pathlens_store::{Result, StoreError, StoreErrorKind};

/// Where a ClickHouse server is and who we are to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
}

/// A ClickHouse server, over HTTP (no TLS).
pub struct Client {
    agent: ureq::Agent,
    base: String,
    authorization: String,
    settings: Vec<(&'static str, String)>,
    timeout: Duration,
    /// Bytes of every answer read so far (bodies, not headers).
    received: AtomicU64,
}

/// A streamed answer, counted into the client's received bytes as it is read.
struct Counted<'c, R> {
    inner: R,
    received: &'c AtomicU64,
}

impl<R: std::io::Read> std::io::Read for Counted<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.received.fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }
}

/// ClickHouse error codes that mean "a server could not be reached" or "a
/// server is too busy now": worth retrying later, whatever the request.
const TRANSIENT_CODES: [u32; 8] = [
    159, // TIMEOUT_EXCEEDED
    202, // TOO_MANY_SIMULTANEOUS_QUERIES
    209, // SOCKET_TIMEOUT
    210, // NETWORK_ERROR
    241, // MEMORY_LIMIT_EXCEEDED
    252, // TOO_MANY_PARTS
    279, // ALL_CONNECTION_TRIES_FAILED
    519, // NO_AVAILABLE_DATA (newer releases, a shard down)
];

fn error_code(text: &str) -> Option<u32> {
    let rest = text.trim_start().strip_prefix("Code: ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn first_line(text: &str, limit: usize) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    if line.len() <= limit {
        return line.to_string();
    }
    let mut end = limit;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

impl Client {
    /// A client for `endpoint`; `timeout` bounds each request, and
    /// `settings` go with every request.
    pub fn new(
        endpoint: &Endpoint,
        timeout: Duration,
        settings: Vec<(&'static str, String)>,
    ) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // ClickHouse closes idle connections after `keep_alive_timeout`
            // (3 s by default): never reuse one that old.
            .max_idle_age(Duration::from_secs(2))
            .timeout_connect(Some(Duration::from_secs(5)))
            .build()
            .new_agent();
        let credentials = format!("{}:{}", endpoint.user, endpoint.password);
        Client {
            agent,
            base: format!("http://{}:{}/", endpoint.host, endpoint.port),
            authorization: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(credentials)
            ),
            settings,
            timeout,
            received: AtomicU64::new(0),
        }
    }

    /// Bytes of ClickHouse's answers this client has read so far: what a
    /// report costs the network between ClickHouse and pathlens.
    pub fn bytes_received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// The server's base URL, for messages.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Runs a statement that answers nothing of interest (DDL).
    ///
    /// # Errors
    /// As described in the module documentation.
    pub fn execute(&self, sql: &str) -> Result<()> {
        self.post(sql, None, self.timeout).map(|_| ())
    }

    /// Runs a query and returns its raw answer.
    ///
    /// # Errors
    /// As described in the module documentation.
    pub fn query(&self, sql: &str) -> Result<Vec<u8>> {
        self.post(sql, None, self.timeout)
    }

    /// Runs a query and hands its answer to `read` as it arrives, so that
    /// decoding overlaps ClickHouse's work.
    ///
    /// # Errors
    /// As described in the module documentation, or as `read` fails.
    pub fn query_streaming<T>(
        &self,
        sql: &str,
        read: impl FnOnce(&mut dyn std::io::BufRead) -> Result<T>,
    ) -> Result<T> {
        let response = self.request(sql, &[], None, self.timeout)?;
        let counted = Counted {
            inner: response.into_body().into_reader(),
            received: &self.received,
        };
        let mut body = std::io::BufReader::with_capacity(1 << 20, counted);
        read(&mut body)
    }

    /// Runs a query whose answer is text (`FORMAT TabSeparated`).
    ///
    /// # Errors
    /// As described in the module documentation.
    pub fn query_text(&self, sql: &str) -> Result<String> {
        let bytes = self.query(sql)?;
        String::from_utf8(bytes)
            .map_err(|_| StoreError::internal("ClickHouse answered text that is not UTF-8"))
    }

    /// Runs `insert` (an `INSERT … FORMAT RowBinary`) with `rows` as its data.
    ///
    /// # Errors
    /// As described in the module documentation.
    pub fn insert(&self, insert: &str, rows: Vec<u8>) -> Result<()> {
        self.post(insert, Some(rows), self.timeout).map(|_| ())
    }

    /// Runs a query that reads `rows` (in `RowBinary`) as the temporary
    /// table `name` with the columns `structure`, sent beside the query as
    /// ClickHouse's "external data" (a `multipart/form-data` body): a large
    /// set costs no query parsing, and travels to every shard of a
    /// `Distributed` table.
    ///
    /// # Errors
    /// As described in the module documentation.
    pub fn query_with_table(
        &self,
        sql: &str,
        name: &str,
        structure: &str,
        rows: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>> {
        let mut boundary = format!("pathlens-{:016x}", xxhash_rust::xxh3::xxh3_64(rows));
        while rows
            .windows(boundary.len())
            .any(|w| w == boundary.as_bytes())
        {
            boundary.push('x');
        }
        let mut body = Vec::with_capacity(rows.len() + 256);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(rows);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let extra = [
            ("query".to_string(), sql.to_string()),
            (format!("{name}_structure"), structure.to_string()),
            (format!("{name}_format"), "RowBinary".to_string()),
        ];
        self.send(
            sql,
            &extra,
            Some((
                "multipart/form-data; boundary=".to_string() + &boundary,
                body,
            )),
            timeout,
        )
    }

    /// Whether the server answers `/ping`.
    pub fn ping(&self) -> bool {
        self.agent
            .get(format!("{}ping", self.base))
            .config()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .call()
            .is_ok_and(|response| response.status().is_success())
    }

    fn post(&self, sql: &str, data: Option<Vec<u8>>, timeout: Duration) -> Result<Vec<u8>> {
        match data {
            Some(rows) => self.send(
                sql,
                &[("query".to_string(), sql.to_string())],
                Some(("application/octet-stream".to_string(), rows)),
                timeout,
            ),
            None => self.send(sql, &[], None, timeout),
        }
    }

    /// Sends a request and reads the whole answer.
    fn send(
        &self,
        sql: &str,
        params: &[(String, String)],
        body: Option<(String, Vec<u8>)>,
        timeout: Duration,
    ) -> Result<Vec<u8>> {
        let mut response = self.request(sql, params, body, timeout)?;
        response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .inspect(|answer| {
                self.received
                    .fetch_add(answer.len() as u64, Ordering::Relaxed);
            })
            .map_err(|error| {
                StoreError::caused_by(
                    StoreErrorKind::Unavailable,
                    format!("reading ClickHouse's answer from {}: {error}", self.base),
                    error,
                )
            })
    }

    /// Sends `sql` as the body, or, with `body`, the given body with its
    /// content type; `params` go into the URL beside the settings. Returns
    /// the response of a success; an error answer becomes the error.
    fn request(
        &self,
        sql: &str,
        params: &[(String, String)],
        body: Option<(String, Vec<u8>)>,
        timeout: Duration,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let mut request = self
            .agent
            .post(&self.base)
            .header("Authorization", &self.authorization)
            .config()
            .timeout_global(Some(timeout))
            .build();
        for (name, value) in &self.settings {
            request = request.query(*name, value);
        }
        for (name, value) in params {
            request = request.query(name, value);
        }
        let sent = match body {
            Some((content_type, bytes)) => request.header("Content-Type", content_type).send(bytes),
            None => request.send(sql.as_bytes()),
        };
        let mut response = sent.map_err(|error| {
            StoreError::caused_by(
                StoreErrorKind::Unavailable,
                format!("ClickHouse at {} cannot be reached: {error}", self.base),
                error,
            )
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        let kind = match error_code(&text) {
            Some(code) if TRANSIENT_CODES.contains(&code) => StoreErrorKind::Unavailable,
            _ if status.as_u16() == 503 => StoreErrorKind::Unavailable,
            _ => StoreErrorKind::Internal,
        };
        Err(StoreError::new(
            kind,
            format!(
                "ClickHouse at {} ({status}): {} [statement: {}]",
                self.base,
                first_line(&text, 600),
                first_line(sql, 120)
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_server_is_unavailable_and_the_cause_is_kept() {
        // Nothing listens on a port just released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port,
            user: "default".into(),
            password: String::new(),
        };
        let client = Client::new(&endpoint, Duration::from_secs(5), Vec::new());
        let error = client.query("SELECT 1").unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::Unavailable);
        assert!(error.to_string().contains("cannot be reached"), "{error}");
        let cause = std::error::Error::source(&error).expect("the transport error is kept");
        assert!(
            format!("{cause:?}").contains("ConnectionRefused"),
            "{cause:?}"
        );
    }

    #[test]
    fn error_codes_are_read_from_clickhouse_messages() {
        assert_eq!(
            error_code(
                "Code: 279, e.displayText() = DB::NetException: All connection tries failed"
            ),
            Some(279)
        );
        assert_eq!(
            error_code("Code: 60. DB::Exception: Table x doesn't exist"),
            Some(60)
        );
        assert_eq!(error_code("something else"), None);
    }

    #[test]
    fn long_lines_are_cut_on_a_character_boundary() {
        let text = "é".repeat(10);
        let cut = first_line(&text, 5);
        assert!(cut.ends_with('…'));
        assert_eq!(first_line("a\nb", 10), "a");
    }

    #[test]
    fn an_unreachable_server_is_unavailable() {
        // Port 9 (discard) on loopback is closed on any test machine.
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port: 9,
            user: "default".into(),
            password: String::new(),
        };
        let client = Client::new(&endpoint, Duration::from_secs(2), Vec::new());
        let error = client.execute("SELECT 1").unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::Unavailable);
        assert!(!client.ping());
    }
}
