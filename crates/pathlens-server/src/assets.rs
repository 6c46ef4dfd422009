//! The dashboard: the files of `web/dist`, compiled into the binary.
//!
//! `index.html` answers `/` and every other path that is neither the API nor
//! a file, so the dashboard's own URLs (`/videos/{id}?…`) load the app;
//! content-hashed files under `/assets/` are cached for a year. Unknown
//! paths under `/api/` answer the API's JSON 404.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

#[derive(rust_embed::Embed)]
#[folder = "../../web/dist"]
#[exclude = "*.map"]
struct Dist;

/// Cache lifetime of files whose names carry their content hash.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `index.html` names the current hashes, so it is revalidated every time.
const REVALIDATE: &str = "no-cache";

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Serves the embedded file at `path` (relative, no leading slash).
fn file(
    path: &str,
    cache: &'static str,
    request_headers: &HeaderMap,
    head: bool,
) -> Option<Response> {
    let file = Dist::get(path)?;
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let mut response = if request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else if head {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(file.data.into_owned()))
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Some(response)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The router's fallback: dashboard files, the app for its own URLs, and
/// the API's 404 for unknown API paths.
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") {
        return ApiError::not_found(format!("no API route {path}")).into_response();
    }
    let head = method == Method::HEAD;
    if method != Method::GET && !head {
        return ApiError::new(
            crate::error::ErrorCode::MethodNotAllowed,
            format!("{method} is not allowed on {path}"),
        )
        .into_response();
    }
    let relative = path.trim_start_matches('/');
    if relative.starts_with("assets/") {
        return file(relative, IMMUTABLE, &headers, head).unwrap_or_else(|| {
            ApiError::not_found(format!("no dashboard file {path}")).into_response()
        });
    }
    if !relative.is_empty()
        && relative != "index.html"
        && let Some(response) = file(relative, REVALIDATE, &headers, head)
    {
        return response;
    }
    file("index.html", REVALIDATE, &headers, head).unwrap_or_else(|| {
        ApiError::internal("the dashboard's index.html is not embedded").into_response()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_dashboard_is_embedded() {
        let index = Dist::get("index.html").expect("index.html is embedded");
        let html = String::from_utf8_lossy(&index.data);
        let script = html
            .split("src=\"/")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("index.html loads a script");
        assert!(script.starts_with("assets/"), "{script}");
        assert!(Dist::get(script).is_some(), "{script} is embedded");
    }

    async fn get(path: &str, headers: HeaderMap) -> (StatusCode, HeaderMap, String) {
        let response = serve(Method::GET, path.parse().unwrap(), headers).await;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    #[tokio::test]
    async fn the_app_answers_its_own_urls_and_assets_are_cached() {
        let (status, headers, index) = get("/", HeaderMap::new()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[header::CACHE_CONTROL], REVALIDATE);
        let (status, _, page) = get("/videos/onboarding?range=last_7_days", HeaderMap::new()).await;
        assert_eq!((status, page.as_str()), (StatusCode::OK, index.as_str()));

        let script = index
            .split("src=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        let (status, headers, _) = get(script, HeaderMap::new()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(headers[header::CACHE_CONTROL], IMMUTABLE);
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, headers[header::ETAG].clone());
        assert_eq!(get(script, again).await.0, StatusCode::NOT_MODIFIED);

        let (status, _, body) = get("/assets/missing-0000.js", HeaderMap::new()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("not_found"), "{body}");
    }

    #[tokio::test]
    async fn unknown_api_paths_and_other_methods_answer_json_errors() {
        let (status, _, body) = get("/api/v1/nothing", HeaderMap::new()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["code"], "not_found");
        let response = serve(Method::POST, "/".parse().unwrap(), HeaderMap::new()).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn types_follow_extensions() {
        assert_eq!(
            content_type("assets/app-X.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("assets/app-X.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("blob"), "application/octet-stream");
    }
}
