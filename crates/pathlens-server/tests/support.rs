//! A test application with keys for two partners and a fixed clock.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::BodyExt;
use pathlens_server::auth::issue_key;
use pathlens_server::{AppState, ServerConfig, router};
use pathlens_store::memory::MemoryStore;
use pathlens_store::{KeyKind, Store};
use serde_json::Value;
use tower::ServiceExt;

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 15, 12, 0, 0).unwrap()
}

pub struct App {
    pub router: Router,
    pub store: Arc<MemoryStore>,
    pub admin: String,
    pub write: String,
    pub other_admin: String,
}

pub fn app() -> App {
    app_with(ServerConfig {
        country_header: Some("x-country".into()),
        ..ServerConfig::default()
    })
}

/// The test application with `config`.
pub fn app_with(config: ServerConfig) -> App {
    let store = Arc::new(MemoryStore::new());
    let (_, admin) = issue_key(store.as_ref(), 1, KeyKind::Admin, "admin", now()).unwrap();
    let (_, write) = issue_key(store.as_ref(), 1, KeyKind::Write, "player", now()).unwrap();
    let (_, other_admin) = issue_key(store.as_ref(), 2, KeyKind::Admin, "other", now()).unwrap();
    let shared: Arc<dyn Store> = store.clone();
    let state = AppState::new(shared, config, Arc::new(now)).unwrap();
    App {
        router: router(state),
        store,
        admin,
        write,
        other_admin,
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

impl App {
    pub async fn call(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, uri: &str, token: &str) -> Answer {
        self.call(
            Request::get(uri)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    pub async fn send(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        body: impl Into<Body>,
    ) -> Answer {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {token}"))
            .body(body.into())
            .unwrap();
        self.call(request).await
    }
}

/// A small valid graph in our format.
pub const GRAPH: &str = r#"{"id":"tour","name":"Tour","start_node":"a","nodes":[
  {"id":"a","name":"Start","entry_id":"ea","duration_ms":20000,"hotspots":[
    {"id":"go-b","label":"To B","start_ms":10000,"end_ms":20000,"behavior":{"type":"go_to_node","node_id":"b"}},
    {"id":"site","label":"Site","start_ms":0,"end_ms":5000,"behavior":{"type":"go_to_url","url":"https://example.com"}}]},
  {"id":"b","name":"End","entry_id":"eb","duration_ms":10000}]}"#;

/// One native event as a JSON line.
pub fn event(session: &str, index: u32, kind: &str, extra: &str) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(",{extra}")
    };
    format!(
        r#"{{"partner_id":1,"video_id":"tour","session_id":"{session}","event_index":{index},"kind":"{kind}"{extra}}}"#
    )
}

/// A complete session: impression, play, node a, click to b, views.
pub fn session(session: &str, user: Option<&str>) -> Vec<String> {
    let user = user.map_or(String::new(), |u| format!(r#","user_id":"{u}""#));
    vec![
        event(
            session,
            1,
            "impression",
            &format!(r#""entry_id":"tour"{user}"#),
        ),
        event(session, 2, "play", &format!(r#""entry_id":"tour"{user}"#)),
        event(
            session,
            3,
            "node_play",
            &format!(r#""node_id":"a","entry_id":"ea","position":0{user}"#),
        ),
        event(
            session,
            4,
            "view",
            &format!(r#""node_id":"a","entry_id":"ea","position":10,"play_time_sum":10{user}"#),
        ),
        event(
            session,
            5,
            "node_switch",
            &format!(
                r#""node_id":"a","from_node_id":"a","to_node_id":"b","hotspot_id":"go-b","position":12{user}"#
            ),
        ),
        event(
            session,
            6,
            "node_play",
            &format!(r#""node_id":"b","entry_id":"eb","position":0{user}"#),
        ),
        event(
            session,
            7,
            "view",
            &format!(r#""node_id":"b","entry_id":"eb","position":10,"play_time_sum":10{user}"#),
        ),
    ]
}

pub async fn with_video(app: &App) {
    let answer = app.send("POST", "/api/v1/videos", &app.admin, GRAPH).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
}
