//! The JWKS cache: rotation, single flight, penalty box, periodic refresh and the real
//! HTTP fetcher.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use cognate_guard::{FetchError, Guard, GuardConfig, Issuer, VerifyError};

use crate::support::*;

#[tokio::test]
async fn a_new_kid_is_fetched_once_then_served_from_cache() {
    let s = setup().await;
    assert_eq!(s.source.fetches(), 2, "hydrate fetched both pools");
    s.source.set(JWKS_A, jwks(&[&KEY_A, &KEY_A2]));
    let token = KEY_A2.sign(&access_claims(ISS_A, "client-a"));
    assert!(s.guard.verify(&token).await.is_ok());
    assert_eq!(s.source.fetches(), 3);
    let other = KEY_A2.sign(
        &access_claims(ISS_A, "client-a")
            .as_object()
            .map(|m| {
                let mut m = m.clone();
                m.insert("jti".into(), "second".into());
                serde_json::Value::Object(m)
            })
            .unwrap(),
    );
    assert!(s.guard.verify(&other).await.is_ok());
    assert!(s.guard.verify(&KEY_A.sign(&access_claims(ISS_A, "client-a"))).await.is_ok());
    assert_eq!(s.source.fetches(), 3, "known kids need no fetch");
}

/// On a current-thread runtime every spawned verification runs up to its first real wait
/// while the test yields, so if they did not share one refresh each would have called the
/// source before the gate opens.
#[tokio::test]
async fn concurrent_unknown_kids_share_one_refresh() {
    let config = GuardConfig::new().issuer(Issuer::cognate(BASE, "pool_a").client_ids(["client-a"]));
    let s = setup_with(config, FakeSource::gated(&[(JWKS_A, jwks(&[&KEY_A]))]));
    s.source.gate.as_ref().unwrap().add_permits(1);
    s.guard.hydrate().await.unwrap();
    assert_eq!(s.source.fetches(), 1);
    s.source.set(JWKS_A, jwks(&[&KEY_A, &KEY_A2]));
    let token = KEY_A2.sign(&access_claims(ISS_A, "client-a"));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (guard, token) = (s.guard.clone(), token.clone());
            tokio::spawn(async move { guard.verify(&token).await })
        })
        .collect();
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
    assert_eq!(s.source.fetches(), 2, "one refresh in flight for twenty callers");
    s.source.gate.as_ref().unwrap().add_permits(100);
    for task in tasks {
        assert!(task.await.unwrap().is_ok());
    }
    assert_eq!(s.source.fetches(), 2);
}

#[tokio::test]
async fn unknown_kids_are_penalised_and_refreshes_rate_limited() {
    let s = setup().await;
    let base = s.source.fetches();
    let with_kid = |kid: &str| {
        KEY_A.sign_with_header(&serde_json::json!({"alg": "RS256", "kid": kid}), &access_claims(ISS_A, "client-a"))
    };
    let ghost = with_kid("ghost");
    assert_eq!(s.guard.verify(&ghost).await.unwrap_err(), VerifyError::UnknownKey);
    assert_eq!(s.source.fetches(), base + 1);
    assert_eq!(s.guard.verify(&ghost).await.unwrap_err(), VerifyError::UnknownKey);
    assert_eq!(s.source.fetches(), base + 1, "the same kid is boxed");
    assert_eq!(s.guard.verify(&with_kid("ghost2")).await.unwrap_err(), VerifyError::UnknownKey);
    assert_eq!(s.source.fetches(), base + 1, "a new kid within 10 s waits for the rate limit");
    s.clock.advance(11);
    assert_eq!(s.guard.verify(&with_kid("ghost2")).await.unwrap_err(), VerifyError::UnknownKey);
    assert_eq!(s.source.fetches(), base + 2, "after 10 s a new kid may refresh");
    s.clock.advance(11);
    assert_eq!(s.guard.verify(&ghost).await.unwrap_err(), VerifyError::UnknownKey);
    assert_eq!(s.source.fetches(), base + 2, "ghost is still boxed at 22 s");
    s.clock.advance(40);
    assert_eq!(s.guard.verify(&ghost).await.unwrap_err(), VerifyError::UnknownKey);
    assert_eq!(s.source.fetches(), base + 3, "the box lapses after 60 s");
    // Pool B's rate limit is its own.
    let b =
        KEY_B.sign_with_header(&serde_json::json!({"alg": "RS256", "kid": "ghost"}), &access_claims(ISS_B, "client-b"));
    assert_eq!(s.guard.verify(&b).await.unwrap_err(), VerifyError::UnknownKey);
    assert_eq!(s.source.fetches(), base + 4);
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_previous_keys() {
    let s = setup().await;
    s.source.set(JWKS_A, b"{not json".to_vec());
    assert!(matches!(s.guard.hydrate().await, Err(FetchError::Body { .. })));
    assert!(s.guard.verify(&KEY_A.sign(&access_claims(ISS_A, "client-a"))).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn periodic_refresh_refetches_every_interval() {
    let config = two_pools().refresh_interval(Duration::from_secs(60));
    let s = setup_with(config, default_source());
    let task = s.guard.spawn_refresh();
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(s.source.fetches(), 2);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(s.source.fetches(), 4);
    drop(s.guard);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(task.is_finished(), "the task ends with the guard");
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn keys_are_fetched_over_http() {
    let doc = String::from_utf8(jwks(&[&KEY_A])).unwrap();
    let app = Router::new()
        .route("/pool_a/.well-known/jwks.json", get(move || async move { doc }))
        .route("/pool_b/.well-known/jwks.json", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "no") }));
    let base = serve(app).await;
    let guard = Guard::new(
        GuardConfig::new()
            .issuer(Issuer::cognate(&base, "pool_a").client_ids(["client-a"]))
            .issuer(Issuer::cognate(&base, "pool_b").client_ids(["client-b"])),
    )
    .unwrap();
    let err = guard.hydrate().await.unwrap_err();
    assert!(matches!(err, FetchError::Status { status: 500, .. }), "{err:?}");
    let mut claims = access_claims(&format!("{base}/pool_a"), "client-a");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    claims["iat"] = now.into();
    claims["exp"] = (now + 600).into();
    let ctx = guard.verify(&KEY_A.sign(&claims)).await.unwrap();
    assert_eq!(ctx.tenant_id.as_deref(), Some("acme"));
}
