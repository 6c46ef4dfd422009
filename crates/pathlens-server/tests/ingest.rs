//! `POST /api/v1/events`: validation, partial acceptance, dedup, limits.

use std::io::Write;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use pathlens_store::Store;

use crate::support::{app, event, now, session};

#[tokio::test]
async fn bad_events_are_named_and_good_ones_kept() {
    let app = app();
    let batch = [
        event("s1", 1, "impression", ""),
        event("s1", 2, "play", r#""position":-3"#),
        event("s1", 3, "quartile", r#""quartile":33"#),
        event("s1", 4, "play", r#""colour":"red""#),
        event("s1", 5, "play", ""),
    ];
    let body = format!("[{}]", batch.join(","));
    let answer = app.send("POST", "/api/v1/events", &app.write, body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let json = answer.json();
    assert_eq!(json["accepted"], 2);
    assert_eq!(json["rejected"], 3);
    let errors = json["errors"].as_array().unwrap();
    let fields: Vec<(u64, &str)> = errors
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(fields, [(1, "position"), (2, "quartile"), (3, "colour")]);
    assert!(
        errors
            .iter()
            .all(|e| !e["reason"].as_str().unwrap().is_empty())
    );
    assert_eq!(app.store.event_count().unwrap(), 2);
}

#[tokio::test]
async fn retried_batches_count_once() {
    let app = app();
    let body = session("s1", Some("u1")).join("\n");
    let first = app
        .send("POST", "/api/v1/events", &app.write, body.clone())
        .await
        .json();
    assert_eq!(
        (first["accepted"].as_u64(), first["duplicates"].as_u64()),
        (Some(7), Some(0))
    );
    let again = app
        .send("POST", "/api/v1/events", &app.write, body)
        .await
        .json();
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(7))
    );
    assert_eq!(app.store.event_count().unwrap(), 7);
}

#[tokio::test]
async fn a_batch_with_nothing_valid_is_a_bad_request() {
    let app = app();
    let answer = app
        .send(
            "POST",
            "/api/v1/events",
            &app.write,
            "{\"partner_id\":1}\nnot json\n",
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json()["code"], "invalid_events");
    assert_eq!(answer.json()["rejected"], 2);
}

#[tokio::test]
async fn another_partners_events_are_refused() {
    let app = app();
    let foreign = event("s1", 1, "impression", "").replace("\"partner_id\":1", "\"partner_id\":2");
    let answer = app
        .send("POST", "/api/v1/events", &app.write, foreign)
        .await
        .json();
    assert_eq!(answer["errors"][0]["field"], "partner_id");
    assert_eq!(app.store.event_count().unwrap(), 0);
}

#[tokio::test]
async fn gzip_bodies_are_accepted() {
    let app = app();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(session("s9", None).join("\n").as_bytes())
        .unwrap();
    let request = Request::post("/api/v1/events")
        .header("authorization", format!("Bearer {}", app.write))
        .header("content-encoding", "gzip")
        .body(Body::from(encoder.finish().unwrap()))
        .unwrap();
    let answer = app.call(request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json()["accepted"], 7);
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let app = app();
    let huge = vec![b' '; pathlens_ingest::MAX_BODY_BYTES + 1];
    let answer = app.send("POST", "/api/v1/events", &app.write, huge).await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.text
    );
    assert_eq!(answer.json()["code"], "too_large");
    let many: Vec<String> = (0..=pathlens_ingest::MAX_EVENTS_PER_REQUEST as u32)
        .map(|i| event("s", i, "view", ""))
        .collect();
    let answer = app
        .send("POST", "/api/v1/events", &app.write, many.join("\n"))
        .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.store.event_count().unwrap(), 0);
}

#[tokio::test]
async fn write_keys_get_server_time_and_admins_keep_theirs() {
    let app = app();
    let stamped = event("s1", 1, "impression", r#""ts":"2026-01-02T03:04:05Z""#);
    app.send("POST", "/api/v1/events", &app.write, stamped.clone())
        .await;
    let stored = app.store.export(Some(1), 0, 10).unwrap();
    assert_eq!(stored[0].ts, now());
    let imported = stamped.replace("\"s1\"", "\"s2\"");
    app.send("POST", "/api/v1/events", &app.admin, imported)
        .await;
    let stored = app.store.export(Some(1), 0, 10).unwrap();
    assert_eq!(stored[1].ts.to_rfc3339(), "2026-01-02T03:04:05+00:00");
}

#[tokio::test]
async fn context_comes_from_the_user_agent_and_the_trusted_header() {
    let app = app();
    let request = Request::post("/api/v1/events")
        .header("authorization", format!("Bearer {}", app.write))
        .header("user-agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36")
        .header("x-country", "fr")
        .body(Body::from(event("s1", 1, "impression", "")))
        .unwrap();
    assert_eq!(app.call(request).await.status, StatusCode::OK);
    let stored = &app.store.export(Some(1), 0, 1).unwrap()[0];
    assert_eq!(stored.context.country.as_deref(), Some("FR"));
    assert_eq!(stored.context.browser.as_deref(), Some("Chrome"));
    assert_eq!(stored.context.device.as_deref(), Some("Desktop"));
}
