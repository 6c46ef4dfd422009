//! `POST|PUT /xapi/statements`: statements as H5P emits them.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pathlens_store::Store;
use serde_json::{Value, json};

use crate::support::{App, app, with_video};

const CONTENT: &str = "https://lms.example.edu/wp-admin/admin-ajax.php?action=h5p_embed&id=3";

fn statement(verb: &str, object: &str, extra: Value) -> Value {
    let mut statement = json!({
        "actor": {"name": "Ada", "mbox": "mailto:ada@example.com", "objectType": "Agent"},
        "verb": {"id": format!("http://adlnet.gov/expapi/verbs/{verb}"), "display": {"en-US": verb}},
        "object": {"id": object, "objectType": "Activity"},
        "context": {"registration": "6f1c2d1e-1111-4a2b-9c3d-0123456789ab",
                    "contextActivities": {"category": [{"id": "http://h5p.org/libraries/H5P.InteractiveVideo-1.26"}]}}
    });
    if let (Some(target), Value::Object(extra)) = (statement.as_object_mut(), extra) {
        target.extend(extra);
    }
    statement
}

fn h5p_session() -> Value {
    let sub = |id: &str| format!("{CONTENT}?subContentId={id}");
    json!([
        statement("initialized", CONTENT, json!({})),
        statement(
            "played",
            CONTENT,
            json!({"result": {"extensions": {"https://w3id.org/xapi/video/extensions/time": 0}}})
        ),
        statement(
            "interacted",
            &sub("go-b"),
            json!({"context": {"registration": "6f1c2d1e-1111-4a2b-9c3d-0123456789ab",
            "extensions": {"http://id.tincanapi.com/extension/ending-point": "PT12.5S"}}})
        ),
        statement(
            "progressed",
            &sub("b"),
            json!({"result": {"extensions": {"http://id.tincanapi.com/extension/ending-point": "PT3S"}}})
        ),
        statement("attempted", CONTENT, json!({})),
        statement(
            "completed",
            CONTENT,
            json!({"result": {"completion": true, "duration": "PT45S"}})
        ),
    ])
}

async fn post(app: &App, uri: &str, auth: Option<String>, body: &Value) -> crate::support::Answer {
    let mut request = Request::post(uri)
        .header("content-type", "application/json")
        .header("x-experience-api-version", "1.0.3");
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    app.call(request.body(Body::from(body.to_string())).unwrap())
        .await
}

#[tokio::test]
async fn h5p_statements_land_in_the_reports() {
    let app = app();
    with_video(&app).await;
    let answer = post(
        &app,
        "/xapi/statements?video=tour",
        Some(format!("Bearer {}", app.write)),
        &h5p_session(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.headers["x-experience-api-version"], "1.0.3");
    let ids = answer.json();
    assert_eq!(ids.as_array().unwrap().len(), 6, "{ids}");
    assert_eq!(app.store.event_count().unwrap(), 5);
    let stored = app.store.export(Some(1), 0, 10).unwrap();
    assert!(stored.iter().all(|e| e.video_id == "tour" && e.session_id == "6f1c2d1e-1111-4a2b-9c3d-0123456789ab"));
    assert!(
        stored
            .iter()
            .all(|e| e.user_id.as_deref() == Some("ada@example.com"))
    );
    let click = stored
        .iter()
        .find(|e| e.kind.name() == "hotspot_click")
        .unwrap();
    assert_eq!(
        (click.hotspot_id.as_deref(), click.position),
        (Some("go-b"), Some(12.5))
    );
    let totals = app
        .get(
            "/api/v1/videos/tour/reports/totals?from=2026-03-15&to=2026-03-15",
            &app.admin,
        )
        .await
        .json();
    assert_eq!(
        (
            totals["rows"][0]["impressions"].clone(),
            totals["rows"][0]["plays"].clone()
        ),
        (json!(1), json!(1))
    );
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
    assert_eq!(go_b["clicks"], 1);
    let metrics = app
        .call(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .text;
    for line in [
        "pathlens_xapi_statements_unmapped_total{verb=\"attempted\"} 1",
        "pathlens_events_accepted_total{source=\"xapi\"} 5",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
}

#[tokio::test]
async fn keys_come_as_bearer_query_or_basic_credentials() {
    let app = app();
    let one = |verb: &str, n: u32| {
        statement(
            verb,
            CONTENT,
            json!({"id": format!("00000000-0000-4000-8000-00000000000{n}")}),
        )
    };
    let basic = |user: &str, password: &str| {
        format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
    };
    let cases = [
        (
            format!("/xapi/statements?key={}", app.write),
            None,
            StatusCode::OK,
        ),
        (
            "/xapi/statements".to_string(),
            Some(basic("lrs", &app.write)),
            StatusCode::OK,
        ),
        (
            "/xapi/statements".to_string(),
            Some(basic(&app.write, "")),
            StatusCode::OK,
        ),
        (
            "/xapi/statements".to_string(),
            Some(basic("lrs", "plw_wrong")),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/xapi/statements".to_string(),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            format!("/xapi/statements?key={}", app.admin),
            None,
            StatusCode::FORBIDDEN,
        ),
    ];
    for (n, (uri, auth, status)) in cases.into_iter().enumerate() {
        let answer = post(&app, &uri, auth.clone(), &one("played", n as u32)).await;
        assert_eq!(answer.status, status, "{uri} {auth:?}: {}", answer.text);
    }
    assert_eq!(app.store.event_count().unwrap(), 3);
}

#[tokio::test]
async fn put_stores_one_statement_under_its_id_once() {
    let app = app();
    let uri = format!(
        "/xapi/statements?statementId=9b1f0c2e-5a4d-4c3b-8a29-1f2e3d4c5b6a&key={}",
        app.write
    );
    let body = statement("initialized", CONTENT, json!({}));
    for _ in 0..2 {
        let answer = app
            .call(
                Request::put(&uri)
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
    }
    assert_eq!(
        app.store.event_count().unwrap(),
        1,
        "a statement sent again with its id is stored once"
    );
    let without_id = app
        .call(
            Request::put(format!("/xapi/statements?key={}", app.write))
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(without_id.status, StatusCode::BAD_REQUEST);
    assert!(
        without_id.json()["message"]
            .as_str()
            .unwrap()
            .contains("statementId")
    );
}

#[tokio::test]
async fn an_invalid_statement_refuses_the_request_and_names_it() {
    let app = app();
    let mut statements = h5p_session();
    statements[1]["verb"] = json!({"display": {"en-US": "played"}});
    let answer = post(
        &app,
        &format!("/xapi/statements?key={}", app.write),
        None,
        &statements,
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json()["code"], "invalid_statement");
    assert!(
        answer.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("statement 1: verb.id"),
        "{}",
        answer.text
    );
    assert_eq!(app.store.event_count().unwrap(), 0);
    let not_json = post(
        &app,
        &format!("/xapi/statements?key={}", app.write),
        None,
        &json!("hello"),
    )
    .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn anonymous_actors_are_anonymous_viewers() {
    let app = app();
    let mut anonymous = statement("played", CONTENT, json!({}));
    anonymous["actor"] = json!({"objectType": "Agent"});
    let answer = post(
        &app,
        &format!("/xapi/statements?key={}", app.write),
        None,
        &anonymous,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let stored = app.store.export(Some(1), 0, 1).unwrap();
    assert_eq!(stored[0].user_id, None);
    assert_eq!(
        stored[0].video_id,
        "https://lms.example.edu/wp-admin/admin-ajax.php?action=h5p_embed&id=3"
    );
}
