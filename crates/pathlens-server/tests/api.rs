//! Routes, auth, videos, keys, metrics and the OpenAPI document.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use pathlens_server::openapi::{ROUTES, document_text};
use serde_json::Value;

use pathlens_store::Store;

use crate::support::{GRAPH, app, with_video};

/// The error codes of the README and of the OpenAPI document are the
/// server's table (`ErrorCode`); with `PATHLENS_UPDATE_DOCS=1` the test
/// writes the README's from it instead (a differing document gets the
/// value it should hold in the failure message).
#[test]
fn error_codes_are_documented_from_the_one_table() {
    use pathlens_server::error::ErrorCode;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let update = std::env::var_os("PATHLENS_UPDATE_DOCS").is_some();

    let readme_path = root.join("../../README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let (open, close) = ("<!-- error-codes -->\n", "<!-- /error-codes -->");
    let start = readme.find(open).expect("the README marks its error table") + open.len();
    let end = readme
        .find(close)
        .expect("the README marks its error table's end");
    let table = ErrorCode::markdown_table();
    if update {
        let written = format!("{}{table}{}", &readme[..start], &readme[end..]);
        std::fs::write(&readme_path, written).unwrap();
    } else {
        assert_eq!(
            &readme[start..end],
            table,
            "README.md's error table differs from ErrorCode (PATHLENS_UPDATE_DOCS=1 rewrites it)"
        );
    }

    let document: Value = serde_json::from_str(&document_text()).unwrap();
    let described: Vec<String> = ErrorCode::ALL
        .iter()
        .map(|c| format!("`{c}` ({}): {}", c.status().as_u16(), c.meaning()))
        .collect();
    let wanted = serde_json::json!({
        "type": "string",
        "enum": ErrorCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "description": format!("The error code, with its status and meaning: {}.", described.join("; ")),
    });
    assert_eq!(
        document["components"]["schemas"]["Error"]["properties"]["code"],
        wanted,
        "the document's Error.code differs from ErrorCode; it should be:\n{}",
        serde_json::to_string_pretty(&wanted).unwrap()
    );
}

/// The committed `openapi.json` (which the dashboard's types and API
/// clients are generated from) is the document generated from the
/// handlers' annotations and types; with `PATHLENS_UPDATE_OPENAPI=1` the
/// test writes it instead.
#[test]
fn the_committed_openapi_json_is_the_generated_document() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let generated = document_text();
    if std::env::var_os("PATHLENS_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(committed.lines().count().min(generated.lines().count()));
        panic!(
            "crates/pathlens-server/openapi.json differs from the document the server generates (first at line {}: committed {:?}, generated {:?}); rewrite it with\n  PATHLENS_UPDATE_OPENAPI=1 cargo test -p pathlens-server --test integration the_committed_openapi_json_is_the_generated_document\nand commit it (the dashboard's types are generated from it at its next build)",
            line + 1,
            committed.lines().nth(line).unwrap_or("(end)"),
            generated.lines().nth(line).unwrap_or("(end)"),
        );
    }
}

/// The video routes' example body is a graph the server takes, at the
/// video the PUT's example names, and answers as it was sent.
#[tokio::test]
async fn the_documents_example_graph_is_taken() {
    let document: Value = serde_json::from_str(&document_text()).unwrap();
    let put = &document["paths"]["/api/v1/videos/{video}"]["put"];
    let video = put["parameters"][0]["example"].as_str().unwrap();
    let example = put["requestBody"]["content"]["application/json"]["example"].clone();
    assert_eq!(
        example,
        document["paths"]["/api/v1/videos"]["post"]["requestBody"]["content"]["application/json"]["example"]
    );
    let app = app();
    let answer = app
        .send(
            "PUT",
            &format!("/api/v1/videos/{video}"),
            &app.admin,
            example.to_string(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    assert_eq!(answer.json()["graph"], example);
}

/// `/api/v1/openapi.json` serves the generated document.
#[tokio::test]
async fn the_generated_document_is_served() {
    let app = app();
    let answer = app
        .call(
            Request::get("/api/v1/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(answer.text, document_text());
    assert_eq!(answer.json()["openapi"], "3.1.0");
}

#[tokio::test]
async fn openapi_documents_exactly_the_routes() {
    let document: Value = serde_json::from_str(&document_text()).unwrap();
    let paths = document["paths"].as_object().unwrap();
    let mut documented: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    documented.sort();
    let mut routed: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    routed.sort();
    assert_eq!(documented, routed);
    // Every listed route is really served: none answers 404 for an unknown path or 405.
    let app = app();
    for (method, path) in ROUTES {
        let uri = path
            .replace("{video}", "tour")
            .replace("{kind}", "totals")
            .replace("{id}", "key_x");
        let request = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(&uri)
            .header("authorization", format!("Bearer {}", app.admin))
            .body(Body::empty())
            .unwrap();
        let answer = app.call(request).await;
        assert_ne!(
            answer.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {uri}"
        );
        if answer.status == StatusCode::NOT_FOUND {
            let code = answer.json()["code"].clone();
            assert_eq!(
                code, "not_found",
                "{method} {uri} is not routed: {}",
                answer.text
            );
        }
    }
}

/// `/metrics` shows every partner's traffic: from another machine it
/// needs the metrics token, and without one configured it is refused.
#[tokio::test]
async fn metrics_are_for_this_machine_or_the_token_holder() {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use axum::extract::ConnectInfo;
    use pathlens_server::{AppState, ServerConfig, router, system_clock};
    use pathlens_store::memory::MemoryStore;
    use tower::ServiceExt;

    let serve = |token: Option<&str>| {
        let config = ServerConfig {
            metrics_token: token.map(str::to_string),
            ..ServerConfig::default()
        };
        router(AppState::new(Arc::new(MemoryStore::new()), config, system_clock()).unwrap())
    };
    let ask = |from: [u8; 4], bearer: Option<&str>| {
        let mut request = Request::get("/metrics");
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let mut request = request.body(Body::empty()).unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((from, 40_000))));
        request
    };
    let remote = [203, 0, 113, 9];
    let token = "a-long-metrics-token-0123";
    let open = serve(None);
    let guarded = serve(Some(token));
    for (router, request, status) in [
        (&open, ask([127, 0, 0, 1], None), StatusCode::OK),
        (&open, ask(remote, None), StatusCode::FORBIDDEN),
        (&open, ask(remote, Some(token)), StatusCode::FORBIDDEN),
        (&guarded, ask(remote, None), StatusCode::UNAUTHORIZED),
        (
            &guarded,
            ask(remote, Some("a-long-metrics-token-0124")),
            StatusCode::UNAUTHORIZED,
        ),
        (&guarded, ask(remote, Some(token)), StatusCode::OK),
        (&guarded, ask([127, 0, 0, 1], None), StatusCode::OK),
    ] {
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), status);
    }
}

#[tokio::test]
async fn health_and_metrics_need_no_key() {
    let app = app();
    let health = app
        .call(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(health.status, StatusCode::OK);
    let metrics = app
        .call(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.text.contains("pathlens_write_queue_depth"),
        "{}",
        metrics.text
    );
    assert!(
        metrics.text.contains("pathlens_spool_oldest_age_seconds"),
        "{}",
        metrics.text
    );
}

/// While the store cannot be used, `/healthz` says so (503 with
/// `Retry-After`, `pathlens_store_up 0`) and writers are told to retry; once
/// it works again, so does everything, with nothing lost.
#[tokio::test]
async fn an_unusable_store_is_reported_and_recovers() {
    let app = app();
    with_video(&app).await;
    let event =
        r#"{"partner_id":1,"video_id":"tour","session_id":"s","event_index":1,"kind":"play"}"#;
    let first = app.send("POST", "/api/v1/events", &app.write, event).await;
    assert_eq!(first.json()["accepted"], 1, "{}", first.text);
    app.store.set_unavailable(true);
    let health = app
        .call(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.json()["code"], "storage_unavailable");
    assert_eq!(health.headers["retry-after"], "5");
    let write = app
        .send(
            "POST",
            "/api/v1/events",
            &app.write,
            event.replace("\"s\"", "\"t\""),
        )
        .await;
    assert_eq!(
        write.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        write.text
    );
    assert!(write.headers.contains_key("retry-after"));
    let metrics = app
        .call(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .text;
    assert!(metrics.contains("pathlens_store_up 0"), "{metrics}");
    app.store.set_unavailable(false);
    let health = app
        .call(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.text);
    let metrics = app
        .call(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .text;
    assert!(metrics.contains("pathlens_store_up 1"), "{metrics}");
    assert_eq!(app.store.event_count().unwrap(), 1);
}

/// Every error answer is counted by status and the API's error code.
#[tokio::test]
async fn errors_are_counted_by_code() {
    let app = app();
    for _ in 0..2 {
        let answer = app.get("/api/v1/videos", "pla_nope").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let missing = app.get("/api/v1/videos/nothing", &app.admin).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let metrics = app
        .call(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .text;
    for line in [
        "pathlens_errors_total{status=\"401\",code=\"unauthorized\"} 2",
        "pathlens_errors_total{status=\"404\",code=\"not_found\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
}

#[tokio::test]
async fn keys_are_required_and_checked() {
    let app = app();
    let none = app
        .call(Request::get("/api/v1/videos").body(Body::empty()).unwrap())
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.json()["code"], "unauthorized");
    let wrong = app.get("/api/v1/videos", "pla_nope").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let write = app.get("/api/v1/videos", &app.write).await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    assert!(write.json()["message"].as_str().unwrap().contains("admin"));
    let admin_in_url = app
        .call(
            Request::get(format!("/api/v1/videos?key={}", app.admin))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(admin_in_url.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn videos_are_created_replaced_with_history_and_private() {
    let app = app();
    with_video(&app).await;
    let shown = app.get("/api/v1/videos/tour", &app.admin).await.json();
    assert_eq!(shown["levels"]["b"], 2);
    assert_eq!(shown["end_nodes"], serde_json::json!(["b"]));
    // Replace without node b's link: the hotspot stays, flagged deleted.
    let smaller = GRAPH.replace(r#"{"id":"go-b","label":"To B","start_ms":10000,"end_ms":20000,"behavior":{"type":"go_to_node","node_id":"b"}},"#, "");
    let replaced = app
        .send("PUT", "/api/v1/videos/tour", &app.admin, smaller)
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
    let hotspots = replaced.json()["graph"]["nodes"][0]["hotspots"].clone();
    let go_b = hotspots
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == "go-b")
        .unwrap()
        .clone();
    assert!(go_b["deleted_at"].is_string());
    // Another partner sees nothing.
    assert_eq!(
        app.get("/api/v1/videos/tour", &app.other_admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/videos", &app.other_admin).await.json()["videos"],
        serde_json::json!([])
    );
}

#[tokio::test]
async fn invalid_videos_list_every_problem() {
    let app = app();
    let bad = r#"{"id":"x","name":"X","start_node":"nope","nodes":[
      {"id":"a","name":"A","duration_ms":1,"hotspots":[{"id":"h","label":"h","start_ms":0,"end_ms":1,"behavior":{"type":"go_to_node","node_id":"zz"}}]},
      {"id":"a","name":"A again","duration_ms":1}]}"#;
    let answer = app.send("POST", "/api/v1/videos", &app.admin, bad).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let message = answer.json()["message"].as_str().unwrap().to_string();
    for needle in ["start_node", "duplicate node id", "\"zz\""] {
        assert!(message.contains(needle), "{needle} missing in {message}");
    }
}

/// Every refusal of a graph is the API's JSON error, even those an
/// extractor used to answer in plain text; and ids and names follow rules.
#[tokio::test]
async fn refused_graph_bodies_are_json_errors() {
    let app = app();
    let huge = vec![b' '; 11 * 1024 * 1024];
    let not_utf8 = b"{\"id\":\"x\xff\"}".to_vec();
    let slashed = crate::support::GRAPH.replace(r#""id":"tour""#, r#""id":"a/b""#);
    let spoofed = crate::support::GRAPH.replace(r#""name":"Tour""#, "\"name\":\"x\u{202E}y\"");
    for (body, status, code, needle) in [
        (huge, StatusCode::PAYLOAD_TOO_LARGE, "too_large", "at most"),
        (
            not_utf8,
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "not UTF-8",
        ),
        (
            slashed.into_bytes(),
            StatusCode::BAD_REQUEST,
            "invalid_video",
            "id:",
        ),
        (
            spoofed.into_bytes(),
            StatusCode::BAD_REQUEST,
            "invalid_video",
            "U+202E",
        ),
    ] {
        let answer = app.send("POST", "/api/v1/videos", &app.admin, body).await;
        assert_eq!(answer.status, status, "{}", answer.text);
        let json = answer.json();
        assert_eq!(json["code"], code, "{json}");
        assert!(json["message"].as_str().unwrap().contains(needle), "{json}");
    }
}

#[tokio::test]
async fn kaltura_paths_import_with_an_id() {
    let app = app();
    let path = include_str!("../../pathlens-model/tests/fixtures/kaltura-path.json");
    let without_id = app.send("POST", "/api/v1/videos", &app.admin, path).await;
    assert_eq!(without_id.status, StatusCode::BAD_REQUEST);
    let answer = app
        .send(
            "POST",
            "/api/v1/videos?id=onboarding&name=Onboarding",
            &app.admin,
            path,
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let video = answer.json();
    assert_eq!(video["levels"]["n-deep"], 3);
    assert!(video["levels"].get("n-orphan").is_none());
}

#[tokio::test]
async fn keys_can_be_created_used_and_revoked() {
    let app = app();
    let created = app
        .send(
            "POST",
            "/api/v1/keys",
            &app.admin,
            r#"{"kind":"write","name":"site"}"#,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let body = created.json();
    let token = body["token"].as_str().unwrap().to_string();
    let id = body["id"].as_str().unwrap().to_string();
    assert_eq!(app.get("/api/v1/me", &token).await.json()["kind"], "write");
    assert_eq!(
        app.send(
            "DELETE",
            &format!("/api/v1/keys/{id}"),
            &app.other_admin,
            ""
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send("DELETE", &format!("/api/v1/keys/{id}"), &app.admin, "")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/api/v1/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let bad = app
        .send("POST", "/api/v1/keys", &app.admin, r#"{"kind":"root"}"#)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json()["message"].as_str().unwrap().starts_with("kind"));
}

#[tokio::test]
async fn a_real_socket_serves_the_api() {
    let app = app();
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
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""status":"ok""#), "{response}");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// Slow and idle clients cannot hold the server: a client that never
/// finishes its headers is disconnected, a body that stops arriving gets a
/// 408, and connections beyond the cap wait until a slot is free.
#[tokio::test]
async fn slow_clients_are_cut_off_and_connections_are_capped() {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    let app = app();
    let limits = pathlens_server::ConnectionLimits {
        header_read_timeout: Duration::from_millis(300),
        body_read_timeout: Duration::from_millis(300),
        max_connections: 2,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(pathlens_server::serve(
        listener,
        app.router.clone(),
        limits,
        std::future::pending(),
    ));
    // Everything below finishes long before this; it only keeps a broken
    // server from hanging the suite.
    let bounded = |future| tokio::time::timeout(Duration::from_secs(20), future);
    let answer_of = |mut stream: TcpStream| async move {
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    };

    // Headers sent byte by byte, then never finished: the server hangs up.
    let mut slow = TcpStream::connect(address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHo")
        .await
        .unwrap();
    let answer = bounded(answer_of(slow)).await.expect("the server hangs up");
    assert!(!answer.contains("200 OK"), "{answer}");

    // A body announced and never sent: 408 with the API's JSON error.
    let mut stalled = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{",
        app.write
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    let answer = bounded(answer_of(stalled)).await.expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");

    // Two idle connections take both slots; a third client's request is
    // answered once the server has closed them for idling.
    let idle: Vec<TcpStream> = vec![
        TcpStream::connect(address).await.unwrap(),
        TcpStream::connect(address).await.unwrap(),
    ];
    let mut third = TcpStream::connect(address).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = bounded(answer_of(third)).await.expect("served in the end");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    for stream in idle {
        let answer = bounded(answer_of(stream)).await.expect("idle closed");
        assert!(answer.is_empty(), "{answer}");
    }
}

#[tokio::test]
async fn extractor_and_routing_errors_are_json_too() {
    let app = app();
    for (method, uri, status, code) in [
        // A path segment that is not UTF-8.
        (
            "GET",
            "/api/v1/videos/%FF",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        // A query that does not fit the route's parameters.
        (
            "POST",
            "/api/v1/videos?id=a&id=b",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "DELETE",
            "/api/v1/videos",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ] {
        let answer = app
            .call(
                Request::builder()
                    .method(method)
                    .uri(uri)
                    .header("authorization", format!("Bearer {}", app.admin))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(answer.status, status, "{method} {uri}: {}", answer.text);
        let body = answer.json();
        assert_eq!(body["code"], code, "{method} {uri}: {}", answer.text);
        assert!(
            !body["message"].as_str().unwrap_or_default().is_empty(),
            "{method} {uri}: {}",
            answer.text
        );
    }
}
