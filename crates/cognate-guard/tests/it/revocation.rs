//! Revocation awareness, against a local server speaking Cognate's feed format.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cognate_guard::clock::ManualClock;
use cognate_guard::{FetchError, Guard, GuardConfig, Issuer, VerifyError};
use serde_json::{Value, json};

use crate::support::*;

#[derive(Clone, Default)]
struct Feed {
    items: Arc<Mutex<Vec<Value>>>,
    seen_after: Arc<Mutex<Vec<Option<String>>>>,
}

async fn feed(State(feed): State<Feed>, Query(q): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    let expected = format!("Basic {}", STANDARD.encode("client-a:s3cret"));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_client"}))).into_response();
    }
    feed.seen_after.lock().unwrap().push(q.get("after").cloned());
    let after: usize = q.get("after").map(|a| a.parse().unwrap()).unwrap_or(0);
    let items = feed.items.lock().unwrap();
    let page: Vec<Value> = items
        .iter()
        .enumerate()
        .skip(after)
        .map(|(i, item)| {
            let mut item = item.clone();
            item["cursor"] = json!((i + 1).to_string());
            item
        })
        .collect();
    let next = (after + page.len()).to_string();
    axum::Json(json!({"items": page, "nextCursor": next})).into_response()
}

async fn start(secret: &str) -> (Guard, Feed, String) {
    let state = Feed::default();
    let doc = String::from_utf8(jwks(&[&KEY_A])).unwrap();
    let app = Router::new()
        .route("/pool_a/.well-known/jwks.json", get(move || async move { doc }))
        .route("/pool_a/revocations", get(feed))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let issuer =
        Issuer::cognate(&base, "pool_a").client_ids(["client-a"]).revocation_feed("client-a", secret.to_owned().into());
    let config = GuardConfig::new().issuer(issuer).clock(Arc::new(ManualClock::new(NOW)));
    let guard = Guard::new(config).unwrap();
    guard.hydrate().await.unwrap();
    (guard, state, format!("{base}/pool_a"))
}

fn token(iss: &str, sub: &str, origin: &str, iat: i64) -> String {
    let mut claims = access_claims(iss, "client-a");
    claims["sub"] = json!(sub);
    claims["origin_jti"] = json!(origin);
    claims["iat"] = json!(iat);
    claims["jti"] = json!(format!("{sub}-{origin}-{iat}"));
    KEY_A.sign(&claims)
}

#[tokio::test]
async fn revoked_families_and_signed_out_users_are_refused_even_from_cache() {
    let (guard, feed, iss) = start("s3cret").await;
    let family = token(&iss, "user-1", "origin-1", NOW);
    assert!(guard.verify(&family).await.is_ok(), "cached before the revocation");
    guard.poll_revocations().await.unwrap();
    assert!(guard.verify(&family).await.is_ok(), "an empty feed revokes nothing");

    feed.items.lock().unwrap().push(json!({"kind": "token", "originJti": "origin-1", "at": NOW}));
    guard.poll_revocations().await.unwrap();
    assert_eq!(guard.verify(&family).await.unwrap_err(), VerifyError::Revoked);
    assert_eq!(guard.verify(&token(&iss, "user-1", "origin-1", NOW - 5)).await.unwrap_err(), VerifyError::Revoked);
    assert!(guard.verify(&token(&iss, "user-1", "origin-other", NOW)).await.is_ok());

    let before = token(&iss, "user-2", "origin-2", NOW - 1);
    let same_second = token(&iss, "user-2", "origin-3", NOW);
    let after = token(&iss, "user-2", "origin-4", NOW + 1);
    assert!(guard.verify(&before).await.is_ok());
    feed.items.lock().unwrap().push(json!({"kind": "user", "sub": "user-2", "notBefore": NOW}));
    feed.items.lock().unwrap().push(json!({"kind": "something-new", "x": 1}));
    guard.poll_revocations().await.unwrap();
    assert_eq!(guard.verify(&before).await.unwrap_err(), VerifyError::Revoked);
    assert_eq!(guard.verify(&same_second).await.unwrap_err(), VerifyError::Revoked, "iat == notBefore");
    assert!(guard.verify(&after).await.is_ok());
    assert!(guard.verify(&token(&iss, "user-3", "origin-5", NOW - 1)).await.is_ok(), "other users unaffected");

    let seen = feed.seen_after.lock().unwrap().clone();
    assert_eq!(seen, [None, Some("0".to_owned()), Some("1".to_owned())], "the cursor is passed back");
}

#[tokio::test]
async fn feed_credentials_are_checked_and_failures_reported() {
    let (guard, _feed, _) = start("wrong").await;
    let err = guard.poll_revocations().await.unwrap_err();
    assert!(matches!(err, FetchError::Status { status: 401, .. }), "{err:?}");
}
