//! Geolocation at ingest on the database `scripts/geoip` installs: a live
//! event's country is its own, else the trusted proxy's header, else the
//! country of the client's address; imports and local addresses are not
//! placed; the address itself is stored nowhere.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use pathlens_server::ServerConfig;
use pathlens_server::geo::GeoIp;
use pathlens_server::throttle::TrustedProxies;
use pathlens_store::Store;
use serde_json::json;

use crate::support::{App, app_with, event, with_video};

const BROWSER: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

/// An address of Orange's French network and one of Deutsche Telekom's
/// German IPv6 network: distinctive strings to look for in what is stored.
const FRENCH: &str = "90.12.34.56";
const GERMAN: &str = "2003:e5:1234:5678::9";
/// Google's public DNS: US.
const GOOGLE: &str = "8.8.8.8";

/// The database `scripts/geoip` installed, as `scripts/test` exports it.
fn installed_database() -> PathBuf {
    match std::env::var_os("PATHLENS_TEST_GEOIP_DATABASE") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => panic!(
            "PATHLENS_TEST_GEOIP_DATABASE is not set: run `export PATHLENS_TEST_GEOIP_DATABASE=$(scripts/geoip)` \
             (scripts/geoip installs the geolocation database; scripts/test does both)"
        ),
    }
}

/// The test application with geolocation, the `x-country` header and a
/// trusted proxy on loopback.
fn geo_app() -> App {
    let path = installed_database();
    let geo = GeoIp::open(&path).unwrap_or_else(|e| panic!("{e} (run scripts/geoip)"));
    app_with(ServerConfig {
        country_header: Some("x-country".into()),
        geoip: Some(Arc::new(geo)),
        trusted_proxies: TrustedProxies::parse(&["127.0.0.1"]).unwrap(),
        ..ServerConfig::default()
    })
}

/// `request` as if it came from `peer` over a socket.
fn from(mut request: Request<Body>, peer: &str) -> Request<Body> {
    let peer: IpAddr = peer.parse().unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 40_000))));
    request
}

fn beacon_uri(session: &str) -> String {
    format!(
        "/api_v3/service/analytics/action/trackEvent?eventType=1&partnerId=1&entryId=tour&sessionId={session}&eventIndex=1"
    )
}

fn events(token: &str, body: String, country_header: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/api/v1/events")
        .header("authorization", format!("Bearer {token}"))
        .header("user-agent", BROWSER);
    if let Some(country) = country_header {
        request = request.header("x-country", country);
    }
    request.body(Body::from(body)).unwrap()
}

/// The stored country of each event of `session`.
fn countries(app: &App, session: &str) -> Vec<Option<String>> {
    app.store
        .export(Some(1), 0, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.session_id == session)
        .map(|e| e.context.country)
        .collect()
}

/// Everything the store holds, as JSON text.
fn everything_stored(app: &App) -> String {
    serde_json::to_string(&app.store.export(None, 0, 100_000).unwrap()).unwrap()
}

#[tokio::test]
async fn a_beacon_gets_the_country_of_its_address_which_is_not_stored() {
    let app = geo_app();
    with_video(&app).await;
    let request = Request::get(beacon_uri("page-1:player-1"))
        .header("user-agent", BROWSER)
        .body(Body::empty())
        .unwrap();
    let answer = app.call(from(request, FRENCH)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(countries(&app, "page-1"), [Some("FR".to_string())]);

    // Over a real socket, through the trusted proxy on loopback, with an
    // IPv6 client in X-Forwarded-For.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(pathlens_server::serve(
        listener,
        app.router.clone(),
        pathlens_server::ConnectionLimits::default(),
        async {
            let _ = stopped.await;
        },
    ));
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "GET {} HTTP/1.1\r\nHost: x\r\nUser-Agent: {BROWSER}\r\nX-Forwarded-For: {GERMAN}\r\nConnection: close\r\n\r\n",
        beacon_uri("page-2:player-1")
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    assert_eq!(countries(&app, "page-2"), [Some("DE".to_string())]);

    // Neither address is kept: not in any stored field, not in /metrics.
    let stored = everything_stored(&app);
    let metrics = app
        .call(from(
            Request::get("/metrics").body(Body::empty()).unwrap(),
            "127.0.0.1",
        ))
        .await;
    assert_eq!(metrics.status, StatusCode::OK);
    for address in [FRENCH, GERMAN, "2003:e5"] {
        assert!(!stored.contains(address), "{address} stored: {stored}");
        assert!(!metrics.text.contains(address), "{address} in /metrics");
    }
}

#[tokio::test]
async fn the_event_s_country_wins_then_the_header_then_the_address() {
    let app = geo_app();
    with_video(&app).await;
    let cases = [
        // (session, the event's own country, the proxy's header, stored)
        ("own", Some("jp"), Some("fr"), "JP"),
        ("own-no-header", Some("jp"), None, "JP"),
        ("header", None, Some("fr"), "FR"),
        ("placeholder-header", None, Some("T1"), "US"),
        ("address", None, None, "US"),
    ];
    for (session, own, header, _) in cases {
        let extra = own.map_or(String::new(), |c| format!(r#""country":"{c}""#));
        let body = event(session, 1, "impression", &extra);
        let answer = app
            .call(from(events(&app.write, body, header), GOOGLE))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.json()["accepted"], 1, "{}", answer.text);
    }
    for (session, _, _, stored) in cases {
        assert_eq!(
            countries(&app, session),
            [Some(stored.to_string())],
            "{session}"
        );
    }
    assert!(!everything_stored(&app).contains(GOOGLE));
}

#[tokio::test]
async fn imports_and_local_addresses_are_not_geolocated() {
    let app = geo_app();
    with_video(&app).await;
    // An administrator's import from a public address: the address is the
    // importer's, so no country (the header still applies).
    let imported = event("import", 1, "impression", r#""ts":"2026-03-01T10:00:00Z""#);
    let answer = app
        .call(from(events(&app.admin, imported, None), GOOGLE))
        .await;
    assert_eq!(answer.json()["accepted"], 1, "{}", answer.text);
    assert_eq!(countries(&app, "import"), [None]);
    let imported = event("import-header", 1, "impression", "");
    app.call(from(events(&app.admin, imported, Some("fr")), GOOGLE))
        .await;
    assert_eq!(countries(&app, "import-header"), [Some("FR".to_string())]);
    // Live events from loopback, private and link-local addresses: none.
    for (session, peer) in [
        ("loopback", "127.0.0.1"),
        ("private", "192.168.1.20"),
        ("private-v6", "fd12::1"),
        ("link-local", "fe80::1"),
    ] {
        let answer = app
            .call(from(
                events(&app.write, event(session, 1, "impression", ""), None),
                peer,
            ))
            .await;
        assert_eq!(answer.json()["accepted"], 1, "{}", answer.text);
        assert_eq!(countries(&app, session), [None], "{session}");
    }
    // In process, without a socket, there is no address at all.
    app.call(events(
        &app.write,
        event("no-socket", 1, "impression", ""),
        None,
    ))
    .await;
    assert_eq!(countries(&app, "no-socket"), [None]);
}

#[tokio::test]
async fn xapi_statements_of_a_write_key_are_geolocated_an_admin_s_are_not() {
    let app = geo_app();
    with_video(&app).await;
    let content = "https://lms.example.edu/wp-admin/admin-ajax.php?action=h5p_embed&id=3";
    let statement = |registration: &str| {
        json!({
            "actor": {"name": "Ada", "mbox": "mailto:ada@example.com", "objectType": "Agent"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/played", "display": {"en-US": "played"}},
            "object": {"id": content, "objectType": "Activity"},
            "result": {"extensions": {"https://w3id.org/xapi/video/extensions/time": 0}},
            "context": {"registration": registration,
                        "contextActivities": {"category": [{"id": "http://h5p.org/libraries/H5P.InteractiveVideo-1.26"}]}}
        })
    };
    let live = "6f1c2d1e-1111-4a2b-9c3d-0123456789ab";
    let imported = "6f1c2d1e-2222-4a2b-9c3d-0123456789ab";
    for (token, registration) in [(&app.write, live), (&app.admin, imported)] {
        let request = Request::post("/xapi/statements?video=tour")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .header("x-experience-api-version", "1.0.3")
            .header("user-agent", BROWSER)
            .body(Body::from(json!([statement(registration)]).to_string()))
            .unwrap();
        let answer = app.call(from(request, FRENCH)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    assert_eq!(countries(&app, live), [Some("FR".to_string())]);
    assert_eq!(countries(&app, imported), [None]);
    assert!(!everything_stored(&app).contains(FRENCH));
}
