//! A load generator for KAVA beacons over loopback: keeps `--connections`
//! HTTP/1.1 keep-alive connections busy for `--seconds`, each sending one
//! beacon after the other (every beacon different, so none is a retry), and
//! prints beacons per second and latency percentiles.
//!
//! Without `--url` it serves the router itself on 127.0.0.1 over the
//! in-memory store (the HTTP and decoding cost alone). With `--url` it loads
//! a running server, such as `pathlens serve` over its DuckDB store, for
//! which `--partner` must name a partner with a key:
//!
//! ```sh
//! cargo run --profile dev -p pathlens-server --example beacon_load -- --connections 32 --seconds 10
//! cargo run --profile dev -p pathlens-server --example beacon_load -- --url http://127.0.0.1:8080 --partner 1
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use pathlens_server::auth::issue_key;
use pathlens_server::{AppState, ServerConfig, router, system_clock};
use pathlens_store::memory::MemoryStore;
use pathlens_store::{KeyKind, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

struct Options {
    url: Option<String>,
    partner: u32,
    connections: usize,
    seconds: u64,
    post: bool,
}

fn options() -> Options {
    let mut options = Options {
        url: None,
        partner: 1,
        connections: 32,
        seconds: 10,
        post: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => options.url = Some(value()),
            "--partner" => options.partner = value().parse().expect("--partner: a number"),
            "--connections" => {
                options.connections = value().parse().expect("--connections: a number")
            }
            "--seconds" => options.seconds = value().parse().expect("--seconds: a number"),
            "--post" => options.post = true,
            other => panic!("unknown option {other}; see the file's documentation"),
        }
    }
    options
}

#[tokio::main]
async fn main() {
    let options = options();
    let address: SocketAddr = match &options.url {
        Some(url) => {
            let host = url.trim_start_matches("http://").trim_end_matches('/');
            tokio::net::lookup_host(host)
                .await
                .expect("resolving --url")
                .next()
                .expect("an address for --url")
        }
        None => {
            let store = Arc::new(MemoryStore::new());
            issue_key(
                store.as_ref(),
                options.partner,
                KeyKind::Write,
                "load",
                Utc::now(),
            )
            .unwrap();
            let shared: Arc<dyn Store> = store;
            let state = AppState::new(shared, ServerConfig::default(), system_clock()).unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            tokio::spawn(pathlens_server::serve(
                listener,
                router(state),
                pathlens_server::ConnectionLimits::default(),
                std::future::pending(),
            ));
            address
        }
    };
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let run = std::process::id();
    let mut workers = Vec::new();
    for connection in 0..options.connections {
        let (partner, post) = (options.partner, options.post);
        workers.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(address).await.expect("connecting");
            stream.set_nodelay(true).unwrap();
            let mut latencies = Vec::new();
            let mut failures = 0u64;
            let mut buffer = Vec::with_capacity(4096);
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let request = beacon(partner, post, run, connection, n);
                let started = Instant::now();
                stream.write_all(request.as_bytes()).await.expect("sending");
                let status = read_response(&mut stream, &mut buffer).await;
                latencies.push(started.elapsed());
                if status != 200 {
                    failures += 1;
                }
            }
            (latencies, failures)
        }));
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut failures = 0;
    for worker in workers {
        let (mut l, f) = worker.await.unwrap();
        latencies.append(&mut l);
        failures += f;
    }
    let elapsed = started.elapsed().as_secs_f64().max(options.seconds as f64);
    latencies.sort();
    let percentile = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{} beacons ({}) over {} connections in {:.1} s: {:.0} beacons/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} not 200",
        latencies.len(),
        if options.post { "POST JSON" } else { "GET" },
        options.connections,
        elapsed,
        latencies.len() as f64 / elapsed,
        ms(percentile(0.50)),
        ms(percentile(0.90)),
        ms(percentile(0.99)),
        ms(*latencies.last().unwrap()),
        failures
    );
}

/// One view beacon of a node player; `n` makes it unique.
fn beacon(partner: u32, post: bool, run: u32, connection: usize, n: u64) -> String {
    let session = format!("load{run}c{connection}s{}:player", n / 50);
    let (index, played) = (n % 50 + 1, (n % 50) * 10);
    if post {
        let body = format!(
            r#"{{"eventIndex":{index},"rootEntryId":"1_path","nodeId":"n1","position":10.5,"playTimeSum":{played},"referrer":"https://www.example.com/p","playbackType":"vod"}}"#
        );
        format!(
            "POST /api_v3/index.php?service=analytics&action=trackEvent&eventType=99&partnerId={partner}&entryId=0_node&sessionId={session} HTTP/1.1\r\nHost: load\r\nUser-Agent: {USER_AGENT}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    } else {
        format!(
            "GET /api_v3/index.php?service=analytics&action=trackEvent&eventType=99&partnerId={partner}&entryId=0_node&rootEntryId=1_path&nodeId=n1&sessionId={session}&eventIndex={index}&position=10.5&playTimeSum={played}&referrer=https%3A%2F%2Fwww.example.com%2Fp&playbackType=vod HTTP/1.1\r\nHost: load\r\nUser-Agent: {USER_AGENT}\r\n\r\n"
        )
    }
}

/// Reads one response (headers, then `Content-Length` bytes); its status.
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> u16 {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let status = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let total = end + 4 + length;
            while buffer.len() < total {
                read_more(stream, buffer).await;
            }
            buffer.drain(..total);
            return status;
        }
        read_more(stream, buffer).await;
    }
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) {
    let mut chunk = [0u8; 4096];
    let read = stream.read(&mut chunk).await.expect("reading");
    assert!(read > 0, "the server closed the connection");
    buffer.extend_from_slice(&chunk[..read]);
}
