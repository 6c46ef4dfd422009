//! `GET /pathlens.js`, and the events route as the tracker calls it from
//! another origin.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use pathlens_store::Store;

use crate::support::{app, event};

#[tokio::test]
async fn the_tracker_is_served_small_cacheable_and_revalidated() {
    let app = app();
    let answer = app
        .call(Request::get("/pathlens.js").body(Body::empty()).unwrap())
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.headers["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(
        answer.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    assert!(answer.text.contains("root.Pathlens = Pathlens"));
    assert!(answer.text.len() < 12 * 1024, "{} bytes", answer.text.len());
    let etag = answer.headers["etag"].to_str().unwrap().to_string();
    let again = app
        .call(
            Request::get("/pathlens.js")
                .header("if-none-match", &etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.text.is_empty());
}

#[tokio::test]
async fn a_page_on_another_origin_posts_events_with_a_key_in_the_url() {
    let app = app();
    // What the tracker sends: NDJSON as text/plain (no preflight), the key in the URL.
    let body = format!(
        "{}\n{}\n",
        event("t1", 1, "impression", ""),
        event("t1", 2, "play", "")
    );
    let request = Request::post(format!("/api/v1/events?key={}", app.write))
        .header("origin", "https://player.example.net")
        .header("content-type", "text/plain;charset=UTF-8")
        .body(Body::from(body))
        .unwrap();
    let answer = app.call(request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        answer.headers["access-control-allow-origin"],
        "https://player.example.net"
    );
    assert_eq!(app.store.event_count().unwrap(), 2);
    // The tracker learns its partner from `me` when init() was not told.
    let me = app
        .call(
            Request::get(format!("/api/v1/me?key={}", app.write))
                .header("origin", "https://player.example.net")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(me.json()["partner_id"], 1);
    assert_eq!(
        me.headers["access-control-allow-origin"],
        "https://player.example.net"
    );
}
