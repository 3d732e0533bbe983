//! The consoles' webhook and analytics pages driven in-process as a browser would: a
//! secret is shown once, `/v1`'s refusals in `/v1`'s words, another owner's ids are not
//! found, and the downloads are `/v1`'s bytes.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::json;
use tower::ServiceExt as _;

use crate::console_keys::{Browser, between};
use crate::support::TestApp;

async fn app() -> TestApp {
    let t = TestApp::new().await;
    for id in ["acme", "globex"] {
        let r = t.admin("POST", "/v1/tenants", Some(&json!({"id": id, "name": id, "tier": "standard"}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    t
}

async fn hooks(t: &TestApp, path: &str) -> Vec<serde_json::Value> {
    t.admin("GET", path, None).await.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn endpoints_are_made_shown_once_and_kept_to_their_owner() {
    let t = app().await;
    let mut b = Browser::platform_admin(&t).await;
    assert_eq!(b.get("/console/t/acme/webhooks").await.status, StatusCode::OK);
    let made = b
        .post(
            "/console/t/acme/webhooks",
            &[("url", "http://127.0.0.1:9/acme"), ("description", "ci"), ("event_user.created", "on")],
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let secret = between(&made.body, "<code id=\"webhook-secret\">", "<").unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(made.body.matches(&secret).count(), 1);
    let listed = hooks(&t, "/v1/tenants/acme/webhooks").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["eventTypes"], json!(["user.created"]));
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    let list = b.get("/console/t/acme/webhooks").await;
    assert!(!list.body.contains(&secret) && list.body.contains("none yet"), "{}", list.body);

    // /v1's refusals, in /v1's words.
    let v1 = t
        .admin("POST", "/v1/tenants/acme/webhooks", Some(&json!({"url": "http://x", "eventTypes": ["nope.nope"]})))
        .await;
    let words = v1.body["error"]["message"].as_str().unwrap().to_owned();
    let refused = b.post("/console/t/acme/webhooks", &[("url", "http://x"), ("event_nope.nope", "on")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(crate::console_keys::unescape(&refused.body).contains(&words), "{words}: {}", refused.body);
    let nul = b.post(&format!("/console/t/acme/webhooks/{id}/update"), &[("url", "http://127.0.0.1:9/\0")]).await;
    assert_eq!(nul.status, StatusCode::BAD_REQUEST);
    let forged = b.post_raw(&format!("/console/t/acme/webhooks/{id}/rotate"), "_csrf=forged").await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // Another owner's id: not found, and nothing changes.
    let theirs = t.admin("POST", "/v1/tenants/globex/webhooks", Some(&json!({"url": "http://127.0.0.1:9/g"}))).await;
    let theirs = theirs.body["id"].as_str().unwrap().to_owned();
    assert_eq!(b.get(&format!("/console/t/acme/webhooks/{theirs}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(b.get(&format!("/console/admin/webhooks/{theirs}")).await.status, StatusCode::NOT_FOUND);
    for action in ["rotate", "disable", "test", "delete"] {
        let r = b.post(&format!("/console/t/acme/webhooks/{theirs}/{action}"), &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{action}");
    }
    let kept = t.admin("GET", &format!("/v1/tenants/globex/webhooks/{theirs}"), None).await.body;
    assert_eq!((kept["enabled"].clone(), kept["previousSecretUntil"].clone()), (json!(true), json!(null)));

    // Rotate shows the new secret once; delete needs its confirmation page first.
    let rotated = b.post(&format!("/console/t/acme/webhooks/{id}/rotate"), &[]).await;
    let second = between(&rotated.body, "<code id=\"webhook-secret\">", "<").unwrap();
    assert_ne!(second, secret);
    assert!(
        t.admin("GET", &format!("/v1/tenants/acme/webhooks/{id}"), None).await.body["previousSecretUntil"].is_i64()
    );
    let confirm = b.get(&format!("/console/t/acme/webhooks/{id}/delete")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("cannot be undone"));
    let gone = b.post(&format!("/console/t/acme/webhooks/{id}/delete"), &[]).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    assert!(hooks(&t, "/v1/tenants/acme/webhooks").await.is_empty());
}

#[tokio::test]
async fn the_price_model_and_statement_are_v1s() {
    let t = app().await;
    let mut b = Browser::platform_admin(&t).await;
    assert_eq!(b.get("/console/admin/analytics").await.status, StatusCode::OK);
    let saved = b
        .post(
            "/console/admin/analytics/price-model",
            &[("currency", "EUR"), ("per_mau", "0.0055"), ("platform_fixed", "250"), ("month", "2026-01")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(saved.location.as_deref(), Some("/console/admin/analytics?month=2026-01&done=price-model"));
    let model = t.admin("GET", "/v1/analytics/price-model", None).await.body;
    assert_eq!(model["currency"], "EUR");
    assert_eq!(model["perMau"], "0.005500");
    assert_eq!(model["platformFixed"], "250.000000");

    let v1 = t.admin("PUT", "/v1/analytics/price-model", Some(&json!({"perMau": "1.1234567"}))).await;
    let words = v1.body["error"]["message"].as_str().unwrap().to_owned();
    let refused = b.post("/console/admin/analytics/price-model", &[("per_mau", "1.1234567")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(crate::console_keys::unescape(&refused.body).contains(&words), "{words}");
    assert_eq!(t.admin("GET", "/v1/analytics/price-model", None).await.body, model);
    assert_eq!(b.get("/console/admin/analytics?month=2026-13").await.status, StatusCode::BAD_REQUEST);

    for format in ["csv", "json"] {
        let mine = b.get(&format!("/console/admin/analytics/costs?month=2026-01&format={format}")).await;
        assert_eq!(mine.status, StatusCode::OK);
        let req = Request::builder()
            .uri(format!("/v1/analytics/costs?month=2026-01&format={format}"))
            .header("authorization", t.admin_auth())
            .body(Body::empty())
            .unwrap();
        let theirs = t.app.clone().oneshot(req).await.unwrap().into_body().collect().await.unwrap().to_bytes();
        assert_eq!(mine.body.as_bytes(), &theirs[..], "{format}");
    }
}
