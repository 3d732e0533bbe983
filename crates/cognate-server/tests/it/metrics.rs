//! `GET /metrics`: who may read it, that counters move where things happen, that labels
//! stay bounded whatever paths and operations callers send, and that two apps in one
//! process keep their own figures.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cognate_core::ManualClock;
use cognate_core::claims::SDK_SCOPE;
use cognate_core::client::{ClientSettings, RefreshTokenRotation};
use cognate_core::tenant::{Role, Tier};
use cognate_server::services::clients;
use cognate_server::services::sign_in::Step;
use cognate_server::services::tokens;
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use super::services::{PASSWORD, START, member, sign_in, tenant};
use super::support::{TestApp, on_both};

/// The scrape as the platform admin sees it.
async fn scrape(t: &TestApp) -> String {
    let req = Request::get("/metrics").header("authorization", t.admin_auth()).body(Body::empty()).unwrap();
    let resp = t.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

/// The value of one series (`name{labels}` exactly as exposed); 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn metrics_need_the_platform_admin_credential() {
    let t = TestApp::new().await;
    let anonymous = t.send("GET", "/metrics", None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let wrong = format!("Bearer {}:not-the-secret", t.key_id);
    assert_eq!(t.send("GET", "/metrics", Some(&wrong), None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(t.send("GET", "/metrics", Some("Basic YTpi"), None).await.status, StatusCode::UNAUTHORIZED);
    let text = scrape(&t).await;
    // The refusals were counted (a scrape counts itself only once answered).
    assert_eq!(value(&text, r#"cognate_http_requests_total{surface="other",operation="/metrics",status="4xx"}"#), 3.0);
    for family in [
        "cognate_sign_ins_total",
        "cognate_refreshes_total",
        "cognate_throttled_total",
        "cognate_rate_limited_total",
        "cognate_token_families_started_total",
        "cognate_token_families_revoked_total",
        "cognate_outbox_delivery_failures_total",
        "cognate_audit_pending_events",
        "cognate_audit_lag_seconds",
        "cognate_db_pool_connections",
        "cognate_db_pool_max_connections",
        "cognate_http_request_duration_seconds",
    ] {
        assert!(text.contains(&format!("# TYPE {family} ")), "{family} missing:\n{text}");
    }
}

#[tokio::test]
async fn sign_ins_refreshes_and_families_are_counted_where_they_happen() {
    on_both(START, |t: TestApp, clock: Arc<ManualClock>| async move {
        let before = scrape(&t).await;
        assert_eq!(value(&before, r#"cognate_sign_ins_total{outcome="success"}"#), 0.0);
        let (acme, pool, _) = tenant(&t, "acme", Tier::Basic).await;
        member(&t, &acme, "ann@acme.example", Role::Member).await;
        let settings = ClientSettings {
            refresh_token_rotation: Some(RefreshTokenRotation {
                feature: "ENABLED".into(),
                retry_grace_period_seconds: 0,
            }),
            explicit_auth_flows: vec!["ALLOW_USER_PASSWORD_AUTH".into(), "ALLOW_REFRESH_TOKEN_AUTH".into()],
            ..ClientSettings::default()
        };
        let client = clients::create(&t.state, &pool.id, "rotating".into(), settings, false).await.unwrap();
        let Ok(Step::Tokens(issued)) = sign_in(&t, &pool, &client, "ann@acme.example", PASSWORD).await else {
            panic!("sign-in");
        };
        let first = issued.refresh_token.clone().unwrap();
        tokens::refresh(&t.state, &client, &first, SDK_SCOPE, None).await.unwrap();
        clock.advance(1_000);
        assert!(tokens::refresh(&t.state, &client, &first, SDK_SCOPE, None).await.is_err(), "reuse");
        assert!(tokens::refresh(&t.state, &client, "not-a-token", SDK_SCOPE, None).await.is_err());
        // Five wrong passwords lock ann from this address; the sixth try is throttled.
        for _ in 0..5 {
            assert!(sign_in(&t, &pool, &client, "ann@acme.example", "Wrong-Password-1").await.is_err());
        }
        assert!(sign_in(&t, &pool, &client, "ann@acme.example", PASSWORD).await.is_err());
        // An unknown name fails like a wrong password.
        assert!(sign_in(&t, &pool, &client, "nobody@acme.example", PASSWORD).await.is_err());

        let text = scrape(&t).await;
        assert_eq!(value(&text, r#"cognate_sign_ins_total{outcome="success"}"#), 1.0, "{text}");
        // The fifth wrong password already meets the lock its predecessors set.
        let failures = value(&text, r#"cognate_sign_ins_total{outcome="failure"}"#);
        let throttled = value(&text, r#"cognate_sign_ins_total{outcome="throttled"}"#);
        assert_eq!(failures + throttled, 7.0, "{text}");
        assert!(throttled >= 1.0 && failures >= 5.0, "{text}");
        assert_eq!(value(&text, r#"cognate_throttled_total{scope="user"}"#), throttled);
        assert_eq!(value(&text, r#"cognate_refreshes_total{outcome="success"}"#), 1.0);
        assert_eq!(value(&text, r#"cognate_refreshes_total{outcome="reuse"}"#), 1.0);
        assert_eq!(value(&text, r#"cognate_refreshes_total{outcome="failure"}"#), 1.0);
        assert_eq!(value(&text, "cognate_token_families_started_total"), 1.0);
        assert_eq!(value(&text, r#"cognate_token_families_revoked_total{reason="reuse"}"#), 1.0);
        assert!(value(&text, "cognate_db_pool_max_connections") >= 1.0);

        // Removing a member ends their sessions in the tenant, and the count says why.
        let bob = member(&t, &acme, "bob@acme.example", Role::Member).await;
        let Ok(Step::Tokens(_)) = sign_in(&t, &pool, &client, "bob@acme.example", PASSWORD).await else {
            panic!("bob's sign-in");
        };
        cognate_server::services::members::remove_member(&t.state, &acme, &bob.sub).await.unwrap();
        let text = scrape(&t).await;
        assert_eq!(value(&text, r#"cognate_token_families_revoked_total{reason="tenant"}"#), 1.0, "{text}");
    })
    .await;
}

#[tokio::test]
async fn labels_stay_bounded_whatever_callers_send() {
    let t = TestApp::new().await;
    for i in 0..60 {
        t.send("GET", &format!("/random-{i}/x?code=secret-{i}"), None, None).await;
        t.send("GET", &format!("/v1/tenants/t-{i}/whatever-{i}"), None, None).await;
        t.send("GET", &format!("/{i}/.well-known/jwks.json"), None, None).await;
        let target = format!("AWSCognitoIdentityProviderService.Made{i}Up");
        t.send_with("POST", "/", &[("x-amz-target", target.as_str())], Some("{}")).await;
    }
    let text = scrape(&t).await;
    let series: Vec<&str> = text.lines().filter(|l| l.starts_with("cognate_http_requests_total{")).collect();
    // One series per route template or fixed name, never one per path or operation sent.
    assert!(series.len() <= 6, "{series:#?}");
    for forbidden in ["random-", "whatever-", "Made", "secret-", "t-1"] {
        assert!(!text.contains(forbidden), "{forbidden} leaked into a label:\n{text}");
    }
    assert_eq!(
        value(&text, r#"cognate_http_requests_total{surface="other",operation="unmatched",status="4xx"}"#),
        60.0
    );
    assert_eq!(
        value(&text, r#"cognate_http_requests_total{surface="cognito",operation="unknown",status="4xx"}"#),
        60.0
    );
    assert_eq!(
        value(
            &text,
            r#"cognate_http_requests_total{surface="oauth",operation="/{pool_id}/.well-known/jwks.json",status="4xx"}"#
        ),
        60.0
    );
    assert_eq!(value(&text, r#"cognate_http_requests_total{surface="v1",operation="/v1/{*rest}",status="4xx"}"#), 60.0);
}

#[tokio::test]
async fn each_app_counts_its_own_requests_and_names_them() {
    let (a, b) = (TestApp::new().await, TestApp::new().await);
    let target = [("x-amz-target", "AWSCognitoIdentityProviderService.ListUserPools")];
    let (_, headers, _) = a.send_with("POST", "/", &target, Some(r#"{"MaxResults": 1}"#)).await;
    // The Cognito request id and the access log's are one.
    assert_eq!(headers["x-amzn-requestid"], headers["x-request-id"]);
    let (_, other, _) = a.send_with("GET", "/healthz", &[], None).await;
    assert_ne!(other["x-request-id"], headers["x-request-id"]);
    let series = r#"cognate_http_requests_total{surface="cognito",operation="ListUserPools",status="4xx"}"#;
    assert_eq!(value(&scrape(&a).await, series), 1.0);
    assert_eq!(value(&scrape(&b).await, series), 0.0);
}
