//! Extractors whose rejections use the `/v1` error shape.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::AppState;

/// A JSON request body of at most `max_body_bytes`. A missing or wrong content type, an
/// oversized body, malformed JSON, unknown fields (with `deny_unknown_fields`) and invalid
/// values are all 400 `invalid_request`.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        json_body(req, state, false)
            .await?
            .map(Json)
            .ok_or_else(|| ApiError::invalid_request("A JSON body is required."))
    }
}

/// An optional JSON body: an empty body (with or without a content type) is `None`,
/// anything else is read as [`Json`] is.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        json_body(req, state, true).await.map(OptionalJson)
    }
}

async fn json_body<T: DeserializeOwned>(req: Request, state: &AppState, optional: bool) -> Result<Option<T>, ApiError> {
    let limit = state.settings.max_body_bytes;
    let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| ApiError::invalid_request(format!("The request body exceeds the limit of {limit} bytes.")))?;
    if optional && bytes.is_empty() {
        return Ok(None);
    }
    let is_json = content_type
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::invalid_request("The Content-Type must be application/json."));
    }
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid_request(format!("The request body is not valid: {e}")))?;
    if let Some(path) = cognate_core::text::find_control_in_json(&value) {
        return Err(ApiError::invalid_request(format!("{path} must not contain control characters.")));
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| ApiError::invalid_request(format!("The request body is not valid: {e}")))
}

/// Refuses a `/v1` request whose path or query, once percent-decoded, holds a control
/// character (`%00` in a member's sub, a cursor…): 400 `invalid_request`, on both backends,
/// before any handler or database sees it.
pub async fn refuse_control_characters(request: Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let uri = request.uri();
    let decoded = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let bad = cognate_core::text::has_forbidden_control(&decoded(uri.path()))
        || uri.query().is_some_and(|q| cognate_core::text::has_forbidden_control(&decoded(q)));
    if bad {
        return ApiError::invalid_request("The path and query must not contain control characters.").into_response();
    }
    next.run(request).await
}

/// For the optional members of a PATCH body: absent is `None` (left unchanged), and an
/// explicit `null` is refused as a malformed body (400) instead of being read as absent.
/// Use with `#[serde(default, deserialize_with = "…::not_null")]`.
pub fn not_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// Query parameters; a malformed query is 400 `invalid_request`.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| ApiError::invalid_request(format!("The query string is not valid: {}", e.body_text())))
    }
}

/// The `{tenant_id}` and the next segment of a two-parameter path. An invalid tenant id
/// cannot name a tenant, so it is 404 like an unknown one.
pub async fn tenant_and_segment<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<(cognate_core::tenant::TenantId, String), ApiError> {
    let axum::extract::Path((tenant, segment)) =
        axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid_request(e.body_text()))?;
    let tenant = cognate_core::tenant::TenantId::parse(&tenant).ok_or_else(super::auth::tenant_not_found)?;
    Ok((tenant, segment))
}
