//! The binary on ClickHouse: `pathlens migrate --to clickhouse://…` from a
//! data directory, commands with `--store`, and `pathlens serve --store` with
//! its spool. Needs `PATHLENS_CLICKHOUSE_URL` (scripts/test sets it);
//! without it the test says it is skipped.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use pathlens_store_clickhouse::ClickHouseConfig;
use pathlens_store_clickhouse::http::Client;

use crate::support::ok;

/// A database of the test's own, dropped at the end.
struct Database {
    url: String,
    config: ClickHouseConfig,
}

impl Database {
    fn new(server: &str) -> Database {
        let name = format!(
            "pathlens_cli_{}_{}",
            std::process::id(),
            chrono::Utc::now().timestamp_micros() % 1_000_000_000
        );
        let url = format!(
            "{}/{name}",
            server
                .trim_end_matches('/')
                .replace("http://", "clickhouse://")
        );
        let config = ClickHouseConfig::from_url(&url).unwrap();
        Database { url, config }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let client = Client::new(&self.config.endpoint, Duration::from_secs(60), Vec::new());
        let _ = client.execute(&format!("DROP DATABASE IF EXISTS {}", self.config.database));
    }
}

fn totals(data: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "report",
        "totals",
        "--video",
        "onboarding",
        "--range",
        "last_7_days",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let report: serde_json::Value = serde_json::from_str(&ok(data, &args)).unwrap();
    report["rows"].clone()
}

#[test]
fn migrate_then_serve_on_clickhouse() {
    let Ok(server) = std::env::var("PATHLENS_CLICKHOUSE_URL") else {
        eprintln!(
            "SKIPPED migrate_then_serve_on_clickhouse: PATHLENS_CLICKHOUSE_URL is not set (scripts/test sets it)"
        );
        return;
    };
    let database = Database::new(&server);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    ok(
        &data,
        &[
            "demo",
            "--days",
            "3",
            "--sessions-per-day",
            "5",
            "--no-serve",
        ],
    );

    let moved = ok(&data, &["migrate", "--to", &database.url]);
    assert!(moved.contains("count check passed"), "{moved}");
    assert!(moved.contains("3 videos"), "{moved}");
    let again = ok(&data, &["migrate", "--to", &database.url]);
    assert!(
        again.contains(" 0 new, ") && again.contains("count check passed"),
        "{again}"
    );

    // The same report from the data directory and from ClickHouse.
    let embedded = totals(&data, &[]);
    let elsewhere = dir.path().join("elsewhere");
    assert_eq!(totals(&elsewhere, &["--store", &database.url]), embedded);
    let keys = ok(&elsewhere, &["keys", "list", "--store", &database.url]);
    assert!(keys.contains("demo admin"), "{keys}");

    // A server on ClickHouse takes events into its spool and reports them.
    let admin = ok(
        &elsewhere,
        &[
            "keys",
            "create",
            "--kind",
            "admin",
            "--name",
            "ops",
            "--store",
            &database.url,
        ],
    );
    let admin = admin
        .lines()
        .find_map(|l| l.strip_prefix("token (shown once): "))
        .unwrap()
        .trim()
        .to_string();
    let node = dir.path().join("node");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pathlens"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            &database.url,
            "--data-dir",
        ])
        .arg(&node)
        .env("PATHLENS_LOG", "warn")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let today = chrono::Utc::now().to_rfc3339();
    let body: String = (1..=3)
        .map(|i| format!("{{\"partner_id\":1,\"video_id\":\"onboarding\",\"session_id\":\"cli-s\",\"event_index\":{i},\"kind\":\"impression\",\"ts\":\"{today}\"}}\n"))
        .collect();
    let mut answer = agent
        .post(format!("{base}/api/v1/events"))
        .header("Authorization", format!("Bearer {admin}"))
        .header("Content-Type", "application/x-ndjson")
        .send(body.as_bytes())
        .unwrap();
    let text = answer.body_mut().read_to_string().unwrap();
    assert!(answer.status().is_success(), "{text}");
    assert!(text.contains("\"accepted\":3"), "{text}");
    let metrics = agent
        .get(format!("{base}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        metrics.contains("pathlens_spool_oldest_age_seconds"),
        "{metrics}"
    );
    let mut report = agent
        .get(format!(
            "{base}/api/v1/videos/onboarding/reports/totals?range=last_7_days"
        ))
        .header("Authorization", format!("Bearer {admin}"))
        .call()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&report.body_mut().read_to_string().unwrap()).unwrap();
    let before = embedded[0]["impressions"].as_u64().unwrap();
    assert_eq!(
        report["rows"][0]["impressions"].as_u64(),
        Some(before + 3),
        "{report}"
    );
    let _ = child.kill();
    let _ = child.wait();
}
