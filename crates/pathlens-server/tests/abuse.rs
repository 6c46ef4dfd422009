//! Rate limits, the client address behind a trusted proxy, and bots.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use pathlens_server::ServerConfig;
use pathlens_server::throttle::{RateLimits, TrustedProxies};

use crate::support::{App, app_with, event};

const BROWSER: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const CRAWLER: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

fn limited(limits: RateLimits) -> App {
    app_with(ServerConfig {
        rate_limits: limits,
        trusted_proxies: TrustedProxies::parse(&["10.0.0.0/8"]).unwrap(),
        ..ServerConfig::default()
    })
}

/// A request from `peer`, optionally through a proxy's `X-Forwarded-For`.
fn from(mut request: Request<Body>, peer: [u8; 4], forwarded: Option<&str>) -> Request<Body> {
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 40_000))));
    if let Some(value) = forwarded {
        request
            .headers_mut()
            .insert("x-forwarded-for", value.parse().unwrap());
    }
    request
}

fn videos(token: &str) -> Request<Body> {
    Request::get("/api/v1/videos")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

fn beacon(session: &str, agent: &str) -> Request<Body> {
    Request::get(format!(
        "/api_v3/service/analytics/action/trackEvent?eventType=1&partnerId=1&entryId=tour&sessionId={session}&eventIndex=1"
    ))
    .header("user-agent", agent)
    .body(Body::empty())
    .unwrap()
}

#[tokio::test]
async fn a_key_past_its_rate_gets_429_with_retry_after() {
    let app = limited(RateLimits {
        per_key: 5,
        ..RateLimits::OFF
    });
    let started = std::time::Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let answer = app.call(videos(&app.admin)).await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(answer.json()["code"], "rate_limited");
            let after: u32 = answer.headers["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=2).contains(&after), "Retry-After {after}");
        }
        statuses.push(answer.status);
    }
    // A full bucket holds a burst of twice the rate; it refills at the rate.
    let refilled = (started.elapsed().as_secs_f64() * 5.0).ceil() as usize;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert!(
        statuses[..10].iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert!(ok <= 10 + refilled, "{ok} served: {statuses:?}");
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
    // Another key is not held back by this one.
    let other = app.call(videos(&app.other_admin)).await;
    assert_eq!(other.status, StatusCode::OK);
}

#[tokio::test]
async fn guessing_tokens_locks_the_address_out() {
    let app = limited(RateLimits {
        auth_failures_per_minute: 5,
        ..RateLimits::OFF
    });
    let guesser = [203, 0, 113, 7];
    let mut statuses = Vec::new();
    for guess in 0..20 {
        let answer = app
            .call(from(videos(&format!("pla_guess{guess}")), guesser, None))
            .await;
        statuses.push(answer.status.as_u16());
    }
    assert_eq!(&statuses[..5], [401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    // The right token does not get through while the address is locked out
    // (a guess that hits shows nothing) ...
    let right = app.call(from(videos(&app.admin), guesser, None)).await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(right.headers["retry-after"], "60");
    // ... while other addresses are served.
    let other = app
        .call(from(videos(&app.admin), [198, 51, 100, 1], None))
        .await;
    assert_eq!(other.status, StatusCode::OK);
    // Behind the trusted proxy, the forwarded address is the one locked out.
    let proxied = app
        .call(from(videos(&app.admin), [10, 0, 0, 2], Some("203.0.113.7")))
        .await;
    assert_eq!(proxied.status, StatusCode::TOO_MANY_REQUESTS);
    let proxied_other = app
        .call(from(
            videos(&app.admin),
            [10, 0, 0, 2],
            Some("198.51.100.9"),
        ))
        .await;
    assert_eq!(proxied_other.status, StatusCode::OK);
    // An untrusted peer cannot hide behind a forged header.
    let forged = app
        .call(from(videos(&app.admin), guesser, Some("198.51.100.9")))
        .await;
    assert_eq!(forged.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn beacons_past_the_per_address_rate_are_dropped_and_counted() {
    let app = limited(RateLimits {
        beacons_per_address: 10,
        ..RateLimits::OFF
    });
    let started = std::time::Instant::now();
    let mut accepted = 0;
    let mut refused = 0;
    for i in 0..100 {
        let answer = app
            .call(from(
                beacon(&format!("s{i}"), BROWSER),
                [198, 51, 100, 20],
                None,
            ))
            .await;
        match answer.status {
            StatusCode::OK => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(answer.headers.contains_key("retry-after"));
                refused += 1;
            }
            other => panic!("{other}: {}", answer.text),
        }
    }
    let refilled = (started.elapsed().as_secs_f64() * 10.0).ceil() as usize;
    assert!(
        (20..=20 + refilled).contains(&accepted),
        "accepted {accepted}"
    );
    assert_eq!(accepted + refused, 100);
    let stored = pathlens_store::Store::event_count(app.store.as_ref()).unwrap();
    assert_eq!(
        stored, accepted as u64,
        "only the accepted beacons are stored"
    );
    let metrics = app
        .call(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert!(
        metrics.text.contains(&format!(
            "pathlens_beacons_dropped_total{{reason=\"rate\"}} {refused}"
        )),
        "{}",
        metrics.text
    );
}

#[tokio::test]
async fn bots_are_answered_counted_apart_and_not_stored() {
    let app = limited(RateLimits::OFF);
    for (i, agent) in [BROWSER, CRAWLER, CRAWLER, "curl/8.5.0"].iter().enumerate() {
        let answer = app.call(beacon(&format!("b{i}"), agent)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    let batch = [
        event("live", 1, "impression", r#""entry_id":"tour""#),
        event("live", 2, "play", r#""entry_id":"tour""#),
    ]
    .join("\n");
    let send = |token: &str, agent: &str| {
        Request::post("/api/v1/events")
            .header("authorization", format!("Bearer {token}"))
            .header("user-agent", agent)
            .body(Body::from(batch.clone()))
            .unwrap()
    };
    let crawled = app.call(send(&app.write, CRAWLER)).await;
    assert_eq!(crawled.status, StatusCode::OK, "{}", crawled.text);
    assert_eq!(crawled.json()["bots"], 2);
    assert_eq!(crawled.json()["accepted"], 0);
    // An administrator's import is taken whatever sends it.
    let imported = app.call(send(&app.admin, CRAWLER)).await;
    assert_eq!(imported.json()["accepted"], 2, "{}", imported.text);
    let stored = pathlens_store::Store::event_count(app.store.as_ref()).unwrap();
    assert_eq!(
        stored,
        2 + 2,
        "the browser's and curl's beacons, and the import"
    );
    let metrics = app
        .call(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    for line in [
        "pathlens_bot_events_total{source=\"kava\"} 2",
        "pathlens_bot_events_total{source=\"native\"} 2",
    ] {
        assert!(metrics.text.contains(line), "{line} in {}", metrics.text);
    }
}
