//! Answers for requests no route takes: every 404 and 405 carries a body in the shape of
//! the surface the path belongs to (`/v1`: `{"error": {"code", "message"}}`; elsewhere a
//! short JSON error), never an empty page. A 405 keeps its `Allow` header.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::ApiError;

/// Fills the body of a bodiless 404 or 405 (the router's own answers).
pub async fn json_errors(request: Request, next: Next) -> Response {
    let under_v1 = request.uri().path() == "/v1" || request.uri().path().starts_with("/v1/");
    let response = next.run(request).await;
    let status = response.status();
    if !matches!(status, StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED)
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let (code, message) = if status == StatusCode::NOT_FOUND {
        ("not_found", "No such resource.".to_owned())
    } else {
        let allowed = allow.as_ref().and_then(|a| a.to_str().ok()).unwrap_or_default().to_owned();
        ("method_not_allowed", format!("This resource does not accept that method; allowed: {allowed}."))
    };
    let mut out = if under_v1 {
        ApiError::new(status, code, message).into_response()
    } else {
        (status, axum::Json(serde_json::json!({"error": code, "message": message}))).into_response()
    };
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    out.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    out
}
