//! `GuardLayer` and the extractors, end to end through an axum router.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use cognate_guard::{
    ApiKeyVerifier, Authenticated, GuardLayer, Principal, RequireRole, RequireScope, TenantContext, VerifyError,
};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::support::*;

cognate_guard::name!(NotesRead = "notes:read");
cognate_guard::name!(NotesWrite = "notes:write");
cognate_guard::name!(Admin = "admin");
cognate_guard::name!(Owner = "owner");

fn routes() -> Router {
    Router::new()
        .route(
            "/me",
            get(|ctx: TenantContext| async move { axum::Json(json!({"tenant": ctx.tenant_id, "scopes": ctx.scopes})) }),
        )
        .route("/shared", get(|Authenticated(ctx): Authenticated| async move { format!("{:?}", ctx.principal) }))
        .route("/read", get(|_: RequireScope<NotesRead>| async { "read" }))
        .route("/write", get(|_: RequireScope<NotesWrite>| async { "written" }))
        .route("/admin", get(|_: RequireRole<Admin>| async { "admin" }))
        .route("/owner", get(|_: RequireRole<Owner>| async { "owner" }))
        .route("/public", get(|| async { "public" }))
}

struct OneKey;

#[async_trait]
impl ApiKeyVerifier for OneKey {
    async fn verify(&self, key: &str) -> Result<Arc<TenantContext>, VerifyError> {
        if key != "ak_good" {
            return Err(VerifyError::Signature);
        }
        Ok(Arc::new(TenantContext {
            tenant_id: Some("acme".into()),
            principal: Principal::ApiKey { id: "ak1".into() },
            role: None,
            scopes: vec!["notes:read".into()],
            groups: vec![],
            claims: Default::default(),
        }))
    }
}

async fn call(app: &Router, path: &str, headers: &[(&str, &str)]) -> (StatusCode, Option<String>, Value) {
    let mut req = Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res: Response = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let challenge = res.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, challenge, body)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn valid_tokens_reach_the_handler_with_their_context() {
    let s = setup().await;
    let app = routes().layer(GuardLayer::new(s.guard.clone()));
    let auth = bearer(&KEY_A.sign(&access_claims(ISS_A, "client-a")));
    let (status, _, body) = call(&app, "/me", &[("authorization", &auth)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"tenant": "acme", "scopes": ["aws.cognito.signin.user.admin", "notes:read"]}));
    let lower = auth.replacen("Bearer", "bearer", 1);
    assert_eq!(call(&app, "/shared", &[("authorization", &lower)]).await.0, StatusCode::OK);
    assert_eq!(call(&app, "/read", &[("authorization", &auth)]).await.0, StatusCode::OK);
    assert_eq!(call(&app, "/admin", &[("authorization", &auth)]).await.0, StatusCode::OK);
}

#[tokio::test]
async fn refusals_are_uniform_401s() {
    let s = setup().await;
    let app = routes().layer(GuardLayer::new(s.guard.clone()));
    let good = KEY_A.sign(&access_claims(ISS_A, "client-a"));
    let expired = KEY_A.sign(&{
        let mut c = access_claims(ISS_A, "client-a");
        c["exp"] = json!(NOW - 3600);
        c
    });
    let wrong_pool = KEY_B.sign(&access_claims(ISS_A, "client-a"));
    let cases: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![("authorization", bearer(&expired))],
        vec![("authorization", bearer(&wrong_pool))],
        vec![("authorization", "Bearer".into())],
        vec![("authorization", format!("Basic {good}"))],
        vec![("authorization", bearer(&good)), ("authorization", bearer(&good))],
        vec![("authorization", bearer(&good)), ("x-api-key", "ak_good".into())],
        vec![("x-api-key", "ak_good".into())], // no verifier installed
    ];
    for headers in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for path in ["/me", "/public"] {
            let (status, challenge, body) = call(&app, path, &headers).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {headers:?}");
            assert_eq!(challenge.as_deref(), Some(r#"Bearer error="invalid_token""#));
            assert_eq!(body, json!({"error": "invalid_token"}));
        }
    }
}

#[tokio::test]
async fn missing_scope_or_role_is_a_403() {
    let s = setup().await;
    let app = routes().layer(GuardLayer::new(s.guard.clone()));
    let auth = bearer(&KEY_A.sign(&access_claims(ISS_A, "client-a")));
    let (status, challenge, body) = call(&app, "/write", &[("authorization", &auth)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer error="insufficient_scope", scope="notes:write""#));
    assert_eq!(body, json!({"error": "insufficient_scope"}));
    let (status, challenge, _) = call(&app, "/owner", &[("authorization", &auth)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer error="insufficient_scope""#));
}

#[tokio::test]
async fn api_keys_go_through_the_installed_verifier() {
    let s = setup().await;
    let app = routes().layer(GuardLayer::new(s.guard.clone()).api_keys(Arc::new(OneKey)));
    let (status, _, body) = call(&app, "/shared", &[("x-api-key", "ak_good")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, Value::String(r#"ApiKey { id: "ak1" }"#.into()));
    assert_eq!(call(&app, "/read", &[("x-api-key", "ak_good")]).await.0, StatusCode::OK);
    assert_eq!(call(&app, "/write", &[("x-api-key", "ak_good")]).await.0, StatusCode::FORBIDDEN);
    assert_eq!(call(&app, "/me", &[("x-api-key", "ak_bad")]).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn optional_mode_lets_anonymous_requests_reach_public_routes_only() {
    let s = setup().await;
    let app = routes().layer(GuardLayer::new(s.guard.clone()).optional());
    assert_eq!(call(&app, "/public", &[]).await.0, StatusCode::OK);
    let (status, challenge, _) = call(&app, "/me", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer error="invalid_token""#));
    assert_eq!(call(&app, "/public", &[("authorization", "Bearer x.y.z")]).await.0, StatusCode::UNAUTHORIZED);
}

/// The layer answers a remembered token without waiting; a remembered token's signature on
/// another header or payload, or its bytes with anything added, are no hit and are
/// refused in full.
#[tokio::test]
async fn a_warm_cache_admits_only_the_very_token_it_verified() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let s = setup().await;
    let app = routes().layer(GuardLayer::new(s.guard.clone()));
    let good = KEY_A.sign(&access_claims(ISS_A, "client-a"));
    assert_eq!(call(&app, "/me", &[("authorization", &bearer(&good))]).await.0, StatusCode::OK);
    assert_eq!(s.guard.cached_tokens(), 1);
    // Again, with the scheme in another case and extra spaces: the same token, a hit.
    let spaced = format!("bEaReR   {good}");
    assert_eq!(call(&app, "/me", &[("authorization", &spaced)]).await.0, StatusCode::OK);

    let (header, rest) = good.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let mut forged = access_claims(ISS_A, "client-a");
    forged["custom:tenantId"] = json!("globex");
    let glued = format!("{header}.{}.{signature}", B64.encode(forged.to_string()));
    let other_header = format!("{}.{payload}.{signature}", B64.encode(r#"{"alg":"RS256","kid":"kid-a","typ":"JWT"}"#));
    let cases = [
        glued,
        other_header,
        format!("x{good}"),
        format!("{good} "),
        format!("{good}.{signature}"),
        format!("{header}.{payload}.{signature}A"),
        format!("{header}.{payload}"),
    ];
    for token in &cases {
        let (status, _, body) = call(&app, "/me", &[("authorization", &bearer(token))]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(body, json!({"error": "invalid_token"}));
    }
    // Nothing refused was remembered; the good token still passes.
    assert_eq!(s.guard.cached_tokens(), 1);
    assert_eq!(call(&app, "/me", &[("authorization", &bearer(&good))]).await.0, StatusCode::OK);
}
