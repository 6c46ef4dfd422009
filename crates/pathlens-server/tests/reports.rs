//! Reports over HTTP: JSON, CSV, parameters, errors.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{app, session, with_video};

async fn loaded() -> crate::support::App {
    let app = app();
    with_video(&app).await;
    let mut lines = session("s1", Some("alice"));
    lines.extend(session("s2", None));
    lines.extend(session("s3", None));
    let answer = app
        .send("POST", "/api/v1/events", &app.write, lines.join("\n"))
        .await;
    assert_eq!(answer.json()["accepted"], 21, "{}", answer.text);
    app
}

#[tokio::test]
async fn totals_follow_the_definitions() {
    let app = loaded().await;
    let answer = app
        .get(
            "/api/v1/videos/tour/reports/totals?from=2026-03-15&to=2026-03-15",
            &app.admin,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let row = answer.json()["rows"][0].clone();
    assert_eq!(row["impressions"], 3);
    assert_eq!(row["plays"], 3);
    assert_eq!(
        row["unique_viewers"], 2,
        "alice plus all anonymous viewers as one"
    );
    assert_eq!(row["minutes_viewed"], 1.0, "3 sessions × 20 s");
    assert_eq!(row["path_completion_rate"], 1.0);
}

#[tokio::test]
async fn csv_has_the_same_columns() {
    let app = loaded().await;
    let answer = app
        .get(
            "/api/v1/videos/tour/reports/nodes?from=2026-03-15&to=2026-03-15&format=csv",
            &app.admin,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let mut lines = answer.text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "node_id,level,start_node,name,deleted_at,plays,unique_viewers,minutes_viewed,completion_rate,dropoffs"
    );
    assert_eq!(answer.text.lines().count(), 3);
    let json = app
        .get(
            "/api/v1/videos/tour/reports/nodes?from=2026-03-15&to=2026-03-15",
            &app.admin,
        )
        .await
        .json();
    assert_eq!(json["rows"][0]["plays"], 3);
}

#[tokio::test]
async fn hotspot_clicks_and_transitions() {
    let app = loaded().await;
    let node = app
        .get(
            "/api/v1/videos/tour/reports/node?node=a&from=2026-03-15&to=2026-03-15",
            &app.admin,
        )
        .await
        .json();
    let go_b = node["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["hotspot_id"] == "go-b")
        .unwrap()
        .clone();
    assert_eq!(go_b["clicks"], 3);
    assert_eq!(go_b["click_through_rate"], 1.0);
    assert_eq!(go_b["destination"], "End");
    let transitions = app
        .get(
            "/api/v1/videos/tour/reports/transitions?from=2026-03-15&to=2026-03-15",
            &app.admin,
        )
        .await
        .json();
    assert_eq!(transitions["rows"][0]["cause"], "hotspot");
    assert_eq!(transitions["rows"][0]["count"], 3);
}

#[tokio::test]
async fn filters_and_comparisons_apply() {
    let app = loaded().await;
    let known = app
        .get(
            "/api/v1/videos/tour/reports/totals?from=2026-03-15&to=2026-03-15&viewer=known",
            &app.admin,
        )
        .await
        .json();
    assert_eq!(known["rows"][0]["plays"], 1);
    let compared = app.get("/api/v1/videos/tour/reports/totals?from=2026-03-15&to=2026-03-15&compare=previous_period", &app.admin).await.json();
    assert_eq!(compared["comparison"]["from"], "2026-03-14");
    assert_eq!(compared["rows"][0]["plays_previous"], 0);
    assert!(compared["rows"][0]["plays_change"].is_null());
}

#[tokio::test]
async fn bad_parameters_name_the_parameter() {
    let app = loaded().await;
    let answer = app
        .get(
            "/api/v1/videos/tour/reports/timeseries?tz=Moon/Base",
            &app.admin,
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("tz:")
    );
    let unknown = app
        .get("/api/v1/videos/tour/reports/sideways", &app.admin)
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    let missing = app
        .get("/api/v1/videos/nope/reports/totals", &app.admin)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let no_node = app
        .get("/api/v1/videos/tour/reports/node?node=zz", &app.admin)
        .await;
    assert_eq!(no_node.status, StatusCode::NOT_FOUND);
}

/// The video list's plays are the dashboard's: the last 30 local days in
/// the asked zone, not a rolling 30 × 24 hours. A play late on the 31st UTC
/// day back is inside UTC's 30 days and outside Kolkata's, whose today has
/// already begun.
#[tokio::test]
async fn the_video_list_counts_plays_as_the_dashboard_does() {
    use chrono::{TimeZone, Utc};

    let server = crate::kava::Clocked::with_path(pathlens_server::ServerConfig::default()).await;
    let app = &server.app;
    server.set_time(Utc.with_ymd_and_hms(2026, 3, 16, 10, 0, 0).unwrap());
    let play =
        r#"{"partner_id":1,"video_id":"1_path","session_id":"s","event_index":1,"kind":"play"}"#;
    let sent = app.send("POST", "/api/v1/events", &app.write, play).await;
    assert_eq!(sent.json()["accepted"], 1, "{}", sent.text);
    server.set_time(Utc.with_ymd_and_hms(2026, 4, 14, 20, 0, 0).unwrap());
    for (tz, expected) in [("UTC", 1), ("Asia/Kolkata", 0)] {
        let list = app
            .get(&format!("/api/v1/videos?tz={tz}"), &app.admin)
            .await
            .json();
        assert_eq!(list["videos"][0]["plays_30d"], expected, "{tz}: {list}");
        let totals = app
            .get(
                &format!("/api/v1/videos/1_path/reports/totals?range=last_30_days&tz={tz}"),
                &app.admin,
            )
            .await
            .json();
        assert_eq!(totals["rows"][0]["plays"], expected, "{tz}");
        assert_eq!(
            list["plays_period"]["from"], totals["period"]["from"],
            "{tz}"
        );
    }
    let bad = app.get("/api/v1/videos?tz=Mars/Olympus", &app.admin).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    assert!(
        bad.json()["message"].as_str().unwrap().contains("tz"),
        "{}",
        bad.text
    );
}

/// A store whose aggregates run until they are cancelled (or `delay`
/// passes): a report that cannot finish in time.
struct SlowStore {
    inner: std::sync::Arc<pathlens_store::memory::MemoryStore>,
    delay: std::time::Duration,
    saw_cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl pathlens_store::Store for SlowStore {
    fn put_video(
        &self,
        partner: pathlens_store::PartnerId,
        graph: &pathlens_model::Graph,
        now: chrono::DateTime<chrono::Utc>,
    ) -> pathlens_store::Result<()> {
        self.inner.put_video(partner, graph, now)
    }
    fn video(
        &self,
        partner: pathlens_store::PartnerId,
        id: &str,
    ) -> pathlens_store::Result<Option<pathlens_store::StoredVideo>> {
        self.inner.video(partner, id)
    }
    fn videos(
        &self,
        partner: pathlens_store::PartnerId,
    ) -> pathlens_store::Result<Vec<pathlens_store::StoredVideo>> {
        self.inner.videos(partner)
    }
    fn put_key(&self, key: &pathlens_store::ApiKey) -> pathlens_store::Result<()> {
        self.inner.put_key(key)
    }
    fn keys(&self) -> pathlens_store::Result<Vec<pathlens_store::ApiKey>> {
        self.inner.keys()
    }
    fn values(
        &self,
        request: &pathlens_store::ValuesRequest,
    ) -> pathlens_store::Result<Vec<pathlens_store::DimensionValue>> {
        self.inner.values(request)
    }
    fn revoke_key(
        &self,
        id: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> pathlens_store::Result<bool> {
        self.inner.revoke_key(id, now)
    }
    fn append(
        &self,
        events: Vec<pathlens_model::Event>,
    ) -> pathlens_store::Result<pathlens_store::AppendOutcome> {
        self.inner.append(events)
    }
    fn scan(
        &self,
        request: &pathlens_store::ScanRequest,
    ) -> pathlens_store::Result<Vec<pathlens_store::EventRow>> {
        self.inner.scan(request)
    }
    fn aggregate(
        &self,
        request: &pathlens_store::AggregateRequest,
    ) -> pathlens_store::Result<pathlens_store::Aggregates> {
        let started = std::time::Instant::now();
        while started.elapsed() < self.delay {
            if request.cancel.is_cancelled() {
                self.saw_cancel
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                return Err(pathlens_store::cancel::cancelled());
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        self.inner.aggregate(request)
    }
    fn export(
        &self,
        partner: Option<pathlens_store::PartnerId>,
        offset: u64,
        limit: usize,
    ) -> pathlens_store::Result<Vec<pathlens_model::Event>> {
        self.inner.export(partner, offset, limit)
    }
    fn event_count(&self) -> pathlens_store::Result<u64> {
        self.inner.event_count()
    }
    fn write_queue_depth(&self) -> usize {
        0
    }
}

#[tokio::test]
async fn a_report_past_its_deadline_answers_503_and_its_work_is_cancelled() {
    use pathlens_server::{AppState, ServerConfig, auth::issue_key, router};
    let inner = std::sync::Arc::new(pathlens_store::memory::MemoryStore::new());
    let (_, admin) = issue_key(
        inner.as_ref(),
        1,
        pathlens_store::KeyKind::Admin,
        "admin",
        crate::support::now(),
    )
    .unwrap();
    pathlens_store::Store::put_video(
        inner.as_ref(),
        1,
        &pathlens_model::Graph::from_json(crate::support::GRAPH).unwrap(),
        crate::support::now(),
    )
    .unwrap();
    let saw_cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let store = std::sync::Arc::new(SlowStore {
        inner,
        delay: std::time::Duration::from_secs(30),
        saw_cancel: saw_cancel.clone(),
    });
    let config = ServerConfig {
        report_timeout: std::time::Duration::from_millis(50),
        ..ServerConfig::default()
    };
    let state = AppState::new(store, config, std::sync::Arc::new(crate::support::now)).unwrap();
    let app = crate::support::App {
        router: router(state),
        store: std::sync::Arc::new(pathlens_store::memory::MemoryStore::new()),
        admin: admin.clone(),
        write: String::new(),
        other_admin: String::new(),
    };
    let answer = app
        .get(
            "/api/v1/videos/tour/reports/totals?range=last_7_days",
            &admin,
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text
    );
    assert_eq!(answer.json()["code"], "deadline_exceeded");
    assert!(
        answer.json()["message"]
            .as_str()
            .unwrap()
            .contains("report_timeout")
    );
    assert!(answer.headers.contains_key("retry-after"));
    // The store's work was stopped, not left running for its 30 s.
    let waited = std::time::Instant::now();
    while !saw_cancel.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(20),
            "the store was never told to stop"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Three sessions: alice in France, an anonymous viewer in France and one
/// without a country.
async fn by_country() -> crate::support::App {
    let app = app();
    with_video(&app).await;
    let with_country = |lines: Vec<String>, country: &str| -> Vec<String> {
        lines
            .into_iter()
            .map(|l| l.replacen('{', &format!(r#"{{"country":"{country}","#), 1))
            .collect()
    };
    let mut lines = with_country(session("s1", Some("alice")), "FR");
    lines.extend(with_country(session("s2", None), "fr"));
    lines.extend(session("s3", None));
    let answer = app
        .send("POST", "/api/v1/events", &app.write, lines.join("\n"))
        .await;
    assert_eq!(answer.json()["accepted"], 21, "{}", answer.text);
    app
}

#[tokio::test]
async fn a_breakdown_ranks_values_and_matches_the_filtered_totals() {
    let app = by_country().await;
    let day = "from=2026-03-15&to=2026-03-15";
    let answer = app
        .get(
            &format!("/api/v1/videos/tour/reports/breakdown?dimension=country&{day}"),
            &app.admin,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let json = answer.json();
    assert_eq!(json["total_rows"], 2);
    assert_eq!(json["details"]["dimension"], "country");
    assert_eq!(json["details"]["filter"], "countries");
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows[0]["value"], "FR");
    assert_eq!(rows[0]["plays"], 2);
    assert_eq!(
        rows[0]["unique_viewers"], 2,
        "alice and the anonymous viewers"
    );
    assert_eq!(rows[0]["minutes_viewed"], json!(40.0 / 60.0));
    assert_eq!(rows[0]["share_of_plays"], json!(2.0 / 3.0));
    assert_eq!(rows[1]["value"], "unknown");
    assert_eq!(rows[1]["plays"], 1);
    // Each row is what the totals report says once filtered by its value.
    for row in rows {
        let value = row["value"].as_str().unwrap();
        let totals = app
            .get(
                &format!("/api/v1/videos/tour/reports/totals?{day}&countries={value}"),
                &app.admin,
            )
            .await
            .json();
        for column in ["plays", "unique_viewers", "minutes_viewed"] {
            assert_eq!(row[column], totals["rows"][0][column], "{value} {column}");
        }
    }
    // A comparison shows the same values over the other period.
    let compared = app
        .get(
            &format!(
                "/api/v1/videos/tour/reports/breakdown?dimension=country&{day}&compare=previous_period&format=csv"
            ),
            &app.admin,
        )
        .await;
    let mut lines = compared.text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "value,plays,plays_previous,plays_change,share_of_plays,share_of_plays_previous,share_of_plays_change,unique_viewers,unique_viewers_previous,unique_viewers_change,minutes_viewed,minutes_viewed_previous,minutes_viewed_change"
    );
    assert!(lines.next().unwrap().starts_with("FR,2,0,"));
    // Pages: one value a page.
    let second = app
        .get(
            &format!(
                "/api/v1/videos/tour/reports/breakdown?dimension=country&{day}&page_size=1&page=2"
            ),
            &app.admin,
        )
        .await
        .json();
    assert_eq!(second["rows"][0]["value"], "unknown");
    assert_eq!(second["total_rows"], 2);
}

#[tokio::test]
async fn breakdown_and_values_refuse_bad_parameters() {
    let app = by_country().await;
    for (path, param) in [
        ("reports/breakdown?dimension=planet", "dimension"),
        ("reports/breakdown?page_size=101", "page_size"),
        ("values/planet", "dimension"),
        ("values/country?limit=0", "limit"),
        ("values/country?limit=1001", "limit"),
        ("values/country?playback_types=hd", "playback_types"),
    ] {
        let answer = app
            .get(&format!("/api/v1/videos/tour/{path}"), &app.admin)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            answer.text
        );
        assert_eq!(answer.json()["code"], "invalid_parameter", "{path}");
        let message = answer.json()["message"].as_str().unwrap().to_string();
        assert!(message.starts_with(param), "{path}: {message}");
    }
    let missing = app
        .get("/api/v1/videos/nope/values/country", &app.admin)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let write_key = app
        .get("/api/v1/videos/tour/values/country", &app.write)
        .await;
    assert_eq!(write_key.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn values_list_what_the_period_holds() {
    let app = by_country().await;
    let json = app
        .get(
            "/api/v1/videos/tour/values/country?from=2026-03-15&to=2026-03-15",
            &app.admin,
        )
        .await
        .json();
    assert_eq!(json["dimension"], "country");
    assert_eq!(json["filter"], "countries");
    assert_eq!(json["total"], 2);
    assert_eq!(
        json["values"],
        json!([
            {"value": "FR", "plays": 2, "events": 14},
            {"value": "unknown", "plays": 1, "events": 7},
        ])
    );
    let limited = app
        .get(
            "/api/v1/videos/tour/values/country?from=2026-03-15&to=2026-03-15&limit=1&viewer=anonymous",
            &app.admin,
        )
        .await
        .json();
    assert_eq!(limited["total"], 2, "every value is counted");
    assert_eq!(
        limited["values"],
        json!([{"value": "FR", "plays": 1, "events": 7}])
    );
    let elsewhere = app
        .get(
            "/api/v1/videos/tour/values/country?from=2026-03-16&to=2026-03-16",
            &app.admin,
        )
        .await
        .json();
    assert_eq!(elsewhere["total"], 0);
    assert_eq!(elsewhere["values"], json!([]));
}
