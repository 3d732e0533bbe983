//! API keys through the whole router: lifecycle, verification codes, the rotation grace
//! boundary and expiry on an injected clock (no sleeps), rate limits, and usage metering
//! that is exact under concurrency and survives a restart.

use std::sync::Arc;

use axum::http::StatusCode;
use base64::Engine as _;
use cognate_core::client::{AppClient, ClientSettings};
use cognate_core::ids::ClientId;
use cognate_core::{Clock as _, ManualClock};
use serde_json::{Value, json};

use crate::support::{TestApp, assert_error};

/// 2026-11-28T12:00:00Z, in ms.
const NOON: i64 = 1_795_867_200_000;

async fn app() -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(NOON));
    let t = TestApp::with_clock(clock.clone()).await;
    for (id, tier) in [("acme", "standard"), ("globex", "platinum")] {
        let r = t.admin("POST", "/v1/tenants", Some(&json!({"id": id, "name": id, "tier": tier}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    (t, clock)
}

async fn create_key(t: &TestApp, tenant: &str, body: Value) -> Value {
    let r = t.admin("POST", &format!("/v1/tenants/{tenant}/api-keys"), Some(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

/// Verifies `key` as the platform admin; answers the status and body.
async fn verify(t: &TestApp, key: &str, count: bool) -> (StatusCode, Value) {
    let r = t.admin("POST", "/v1/api-keys/verify", Some(&json!({"key": key, "countUsage": count}))).await;
    (r.status, r.body)
}

async fn code(t: &TestApp, key: &str) -> String {
    let (status, body) = verify(t, key, false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    if body["valid"] == true { "valid".into() } else { body["code"].as_str().unwrap().to_owned() }
}

#[tokio::test]
async fn keys_are_shown_once_and_verify_with_their_tenant_and_scopes() {
    let (t, _) = app().await;
    let created = create_key(
        &t,
        "acme",
        json!({"name": "ci", "scopes": ["notes:read", "notes:write"], "serviceAccount": "deploy-bot"}),
    )
    .await;
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("cog_") && key.len() == 50, "{key}");
    assert_eq!(created["prefix"], &key[..12]);
    assert_eq!(created["status"], "active");
    assert_eq!(created["createdBy"].as_str().unwrap(), format!("admin:{}", t.key_id));
    let id = created["id"].as_str().unwrap();

    // Lists and reads never carry the key.
    let listed = t.admin("GET", "/v1/tenants/acme/api-keys", None).await.body;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(key));
    let got = t.admin("GET", &format!("/v1/tenants/acme/api-keys/{id}"), None).await.body;
    assert!(got.get("key").is_none());
    assert_eq!(got["serviceAccount"], "deploy-bot");
    // Another tenant's path does not find it.
    assert_error(
        &t.admin("GET", &format!("/v1/tenants/globex/api-keys/{id}"), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    let (status, body) = verify(&t, key, false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["valid"], true);
    assert_eq!(body["tenantId"], "acme");
    assert_eq!(body["keyId"], id);
    assert_eq!(body["scopes"], json!(["notes:read", "notes:write"]));

    // Update name and scopes; the key keeps working with the new scopes.
    let patched = t
        .admin(
            "PATCH",
            &format!("/v1/tenants/acme/api-keys/{id}"),
            Some(&json!({"name": "ci-ro", "scopes": ["notes:read"]})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(verify(&t, key, false).await.1["scopes"], json!(["notes:read"]));
}

#[tokio::test]
async fn malformed_forged_and_unknown_keys_are_refused_with_codes() {
    let (t, _) = app().await;
    let created = create_key(&t, "acme", json!({"name": "k"})).await;
    let key = created["key"].as_str().unwrap().to_owned();
    let mut typo = key.clone().into_bytes();
    typo[20] = if typo[20] == b'x' { b'y' } else { b'x' };
    let typo = String::from_utf8(typo).unwrap();
    for bad in ["", "cog_", "not-a-key", &typo, &key[..49], &format!("{key}0")] {
        assert_eq!(code(&t, bad).await, "malformed", "{bad}");
    }
    let (forged, _) = cognate_core::apikey::generate_key(&cognate_core::SystemRng);
    assert_eq!(code(&t, &forged).await, "unknown_key");
    assert_eq!(code(&t, &key).await, "valid");
}

#[tokio::test]
async fn expiry_rotation_grace_and_revocation_follow_the_clock() {
    let (t, clock) = app().await;
    let expiring = create_key(&t, "acme", json!({"name": "short", "expiresInSeconds": 600})).await;
    let expiring = expiring["key"].as_str().unwrap();
    clock.advance(599_999);
    assert_eq!(code(&t, expiring).await, "valid");
    clock.advance(1);
    assert_eq!(code(&t, expiring).await, "expired");

    let old = create_key(&t, "acme", json!({"name": "rotating", "scopes": ["s"]})).await;
    let (old_key, old_id) = (old["key"].as_str().unwrap(), old["id"].as_str().unwrap());
    let rotated = t
        .admin("POST", &format!("/v1/tenants/acme/api-keys/{old_id}/rotate"), Some(&json!({"gracePeriodSeconds": 100})))
        .await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{}", rotated.body);
    let new_key = rotated.body["key"].as_str().unwrap();
    assert_eq!(rotated.body["rotatedFrom"], old_id);
    assert_eq!(rotated.body["scopes"], json!(["s"]));
    assert_ne!(new_key, old_key);
    // Both work during the grace period, up to its last millisecond.
    assert_eq!(code(&t, old_key).await, "valid");
    assert_eq!(code(&t, new_key).await, "valid");
    let listed = t.admin("GET", &format!("/v1/tenants/acme/api-keys/{old_id}"), None).await.body;
    assert_eq!(listed["status"], "rotating");
    clock.advance(99_999);
    assert_eq!(code(&t, old_key).await, "valid");
    clock.advance(1);
    assert_eq!(code(&t, old_key).await, "rotated");
    assert_eq!(code(&t, new_key).await, "valid");
    // A rotated key cannot be rotated again.
    let again = t.admin("POST", &format!("/v1/tenants/acme/api-keys/{old_id}/rotate"), None).await;
    assert_error(&again, StatusCode::CONFLICT, "conflict");

    // A grace period of 0 replaces the key at once; the default is 24 h.
    let zero = create_key(&t, "acme", json!({"name": "zero"})).await;
    let r = t
        .admin(
            "POST",
            &format!("/v1/tenants/acme/api-keys/{}/rotate", zero["id"].as_str().unwrap()),
            Some(&json!({"gracePeriodSeconds": 0})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(code(&t, zero["key"].as_str().unwrap()).await, "rotated");
    let daily = create_key(&t, "acme", json!({"name": "daily"})).await;
    let r = t.admin("POST", &format!("/v1/tenants/acme/api-keys/{}/rotate", daily["id"].as_str().unwrap()), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let old_view = t.admin("GET", &format!("/v1/tenants/acme/api-keys/{}", daily["id"].as_str().unwrap()), None).await;
    let now_secs = clock.now_secs();
    assert_eq!(old_view.body["graceUntil"].as_i64().unwrap(), now_secs + 86_400);

    // Revocation is immediate and idempotent.
    let new_id = rotated.body["id"].as_str().unwrap();
    let revoked = t.admin("DELETE", &format!("/v1/tenants/acme/api-keys/{new_id}"), None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(code(&t, new_key).await, "revoked");
    assert_eq!(
        t.admin("DELETE", &format!("/v1/tenants/acme/api-keys/{new_id}"), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(t.admin("GET", &format!("/v1/tenants/acme/api-keys/{new_id}"), None).await.body["status"], "revoked");
}

#[tokio::test]
async fn a_suspended_tenants_keys_stop_working_until_reactivation() {
    let (t, _) = app().await;
    let key = create_key(&t, "globex", json!({"name": "k"})).await["key"].as_str().unwrap().to_owned();
    assert_eq!(code(&t, &key).await, "valid");
    assert_eq!(t.admin("POST", "/v1/tenants/globex/suspend", None).await.status, StatusCode::OK);
    assert_eq!(code(&t, &key).await, "tenant_suspended");
    assert_eq!(t.admin("POST", "/v1/tenants/globex/reactivate", None).await.status, StatusCode::OK);
    assert_eq!(code(&t, &key).await, "valid");
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_and_reset_with_the_window() {
    let (t, clock) = app().await;
    let key = create_key(&t, "acme", json!({"name": "k", "rateLimit": {"requests": 3, "perSeconds": 60}})).await;
    let key = key["key"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(verify(&t, key, true).await.0, StatusCode::OK);
    }
    let auth = t.admin_auth();
    let body = json!({"key": key}).to_string();
    let (status, headers, err) = t
        .send_with(
            "POST",
            "/v1/api-keys/verify",
            &[("authorization", &auth), ("content-type", "application/json")],
            Some(&body),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{err}");
    assert_eq!(err["error"]["code"], "rate_limited");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Verifying without counting (a guard that counts itself) is not limited here.
    assert_eq!(verify(&t, key, false).await.0, StatusCode::OK);
    clock.advance(i64::try_from(retry).unwrap() * 1000);
    assert_eq!(verify(&t, key, true).await.0, StatusCode::OK);
    // Bad limits are refused.
    let r = t
        .admin(
            "POST",
            "/v1/tenants/acme/api-keys",
            Some(&json!({"name": "x", "rateLimit": {"requests": 0, "perSeconds": 1}})),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn verifiers_authenticate_as_confidential_clients_or_admins() {
    let (t, _) = app().await;
    let key = create_key(&t, "acme", json!({"name": "k"})).await["key"].as_str().unwrap().to_owned();
    let body = json!({"key": key}).to_string();
    let json_ct = ("content-type", "application/json");

    // A confidential client of any pool.
    let pool = t.admin("GET", "/v1/tenants/acme", None).await.body["poolId"].as_str().unwrap().to_owned();
    let secret = "s3cret-for-the-verifier";
    let client = AppClient {
        pool_id: cognate_core::ids::PoolId::parse(&pool).unwrap(),
        id: ClientId::generate(&cognate_core::SystemRng),
        name: "notes-api".into(),
        secret_sealed: Some(t.state.master_key.seal(
            &cognate_core::SystemRng,
            cognate_core::client::SECRET_LABEL,
            secret.as_bytes(),
        )),
        secrets: Vec::new(),
        secrets_version: 0,
        settings: ClientSettings::default(),
        created_at: 0,
        updated_at: 0,
    };
    t.state.store.create_client(&client).await.unwrap();
    let basic = |id: &str, secret: &str| {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
    };
    let good = basic(client.id.as_str(), secret);
    let (status, _, answer) =
        t.send_with("POST", "/v1/api-keys/verify", &[("authorization", &good), json_ct], Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["valid"], true);

    let wrong = basic(client.id.as_str(), "nope");
    let (status, headers, answer) =
        t.send_with("POST", "/v1/api-keys/verify", &[("authorization", &wrong), json_ct], Some(&body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    let (status, _, _) = t.send_with("POST", "/v1/api-keys/verify", &[json_ct], Some(&body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn usage_total(t: &TestApp, tenant: &str, key_id: &str) -> i64 {
    let r = t.admin("GET", &format!("/v1/tenants/{tenant}/usage"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["totals"].get(key_id).and_then(Value::as_i64).unwrap_or(0)
}

#[tokio::test]
async fn usage_is_exact_under_concurrency_and_survives_a_restart() {
    let (t, _) = app().await;
    let created = create_key(&t, "acme", json!({"name": "billing"})).await;
    let (key, id) = (created["key"].as_str().unwrap().to_owned(), created["id"].as_str().unwrap().to_owned());
    let t = Arc::new(t);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (t, key) = (t.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                assert_eq!(verify(&t, &key, true).await.0, StatusCode::OK);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // Verifications that do not count, and refused keys, are not usage.
    verify(&t, &key, false).await;
    // A guard's report adds to the total.
    let report = json!({"items": [{"tenantId": "acme", "keyId": id, "count": 17}]});
    assert_eq!(t.admin("POST", "/v1/api-keys/usage", Some(&report)).await.status, StatusCode::NO_CONTENT);
    assert_eq!(usage_total(&t, "acme", &id).await, 217);
    assert_eq!(usage_total(&t, "globex", &id).await, 0);

    // Counted but not yet flushed usage is written at shutdown; a new process (same
    // database) sees everything.
    for _ in 0..5 {
        verify(&t, &key, true).await;
    }
    cognate_server::services::api_keys::flush_usage(&t.state).await.unwrap();
    let restarted = t.restart().await;
    assert_eq!(usage_total(&restarted, "acme", &id).await, 222);
    let view = restarted.admin("GET", &format!("/v1/tenants/acme/api-keys/{id}"), None).await.body;
    assert_eq!(view["lastUsedAt"].as_i64().unwrap(), NOON / 1000);
    let day = restarted.admin("GET", "/v1/tenants/acme/usage?from=2026-11-28&to=2026-11-28", None).await.body;
    assert_eq!(day["items"], json!([{"date": "2026-11-28", "keyId": id, "count": 222}]));
    let r = restarted.admin("GET", "/v1/tenants/acme/usage?from=2026-11-29&to=2026-11-28", None).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
}
