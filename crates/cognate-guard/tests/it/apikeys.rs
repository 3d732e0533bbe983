//! `CognateApiKeys` against a local server speaking Cognate's API-key contract
//! (`POST /v1/api-keys/verify`, `POST /v1/api-keys/usage`), with a manual clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cognate_guard::clock::ManualClock;
use cognate_guard::{
    ApiKeyConfig, ApiKeyRefusal, CognateApiKeys, FetchError, GuardLayer, Principal, RequireScope, TenantContext,
    VerifyError,
};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::support::*;

const CLIENT: &str = "verifier";
const SECRET: &str = "s3cret";

/// A well-formed key: `cog_` + `body` (padded to 40 characters) + its CRC-32 in base62.
fn key(body: &str) -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let head = format!("cog_{body:0>40}");
    let mut n = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(head.as_bytes());
    let mut check = [b'0'; 6];
    for slot in check.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    format!("{head}{}", String::from_utf8(check.to_vec()).unwrap())
}

fn valid(tenant: &str, key_id: &str, scopes: &[&str]) -> Value {
    json!({
        "valid": true, "keyId": key_id, "tenantId": tenant, "name": format!("{key_id} key"),
        "scopes": scopes, "serviceAccount": null, "expiresAt": null, "rateLimit": null,
    })
}

fn refused(code: &str) -> Value {
    json!({"valid": false, "code": code})
}

/// Cognate's two endpoints over a key table, counting what they are asked.
#[derive(Clone, Default)]
struct Fake {
    answers: Arc<Mutex<HashMap<String, Value>>>,
    verify_calls: Arc<AtomicUsize>,
    verify_bodies: Arc<Mutex<Vec<Value>>>,
    /// 0 answers normally; anything else is the status of every verify answer.
    verify_status: Arc<AtomicU16>,
    /// Every `Authorization` header either endpoint saw.
    auth_seen: Arc<Mutex<Vec<String>>>,
    usage_attempts: Arc<AtomicUsize>,
    /// Bodies of usage posts answered 204.
    usage_accepted: Arc<Mutex<Vec<Value>>>,
    usage_status: Arc<AtomicU16>,
    /// When set, verify answers wait for a permit.
    gate: Option<Arc<tokio::sync::Semaphore>>,
    /// When set, notified on every accepted usage post.
    usage_sent: Option<Arc<tokio::sync::Notify>>,
}

impl Fake {
    fn set(&self, key: &str, answer: Value) {
        self.answers.lock().unwrap().insert(key.to_owned(), answer);
    }

    fn calls(&self) -> usize {
        self.verify_calls.load(Ordering::SeqCst)
    }

    fn usage(&self) -> Vec<Value> {
        self.usage_accepted.lock().unwrap().clone()
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let seen = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        self.auth_seen.lock().unwrap().push(seen.clone());
        seen == format!("Basic {}", STANDARD.encode(format!("{CLIENT}:{SECRET}")))
    }
}

async fn verify(State(fake): State<Fake>, headers: HeaderMap, axum::Json(body): axum::Json<Value>) -> Response {
    fake.verify_calls.fetch_add(1, Ordering::SeqCst);
    if let Some(gate) = &fake.gate {
        gate.acquire().await.unwrap().forget();
    }
    if !fake.authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": {"code": "invalid_client"}}))).into_response();
    }
    let status = fake.verify_status.load(Ordering::SeqCst);
    if status != 0 {
        return StatusCode::from_u16(status).unwrap().into_response();
    }
    fake.verify_bodies.lock().unwrap().push(body.clone());
    let key = body["key"].as_str().unwrap_or_default();
    let answer = fake.answers.lock().unwrap().get(key).cloned().unwrap_or_else(|| refused("unknown_key"));
    axum::Json(answer).into_response()
}

async fn usage(State(fake): State<Fake>, headers: HeaderMap, axum::Json(body): axum::Json<Value>) -> Response {
    fake.usage_attempts.fetch_add(1, Ordering::SeqCst);
    if !fake.authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let status = fake.usage_status.load(Ordering::SeqCst);
    if status != 0 {
        return StatusCode::from_u16(status).unwrap().into_response();
    }
    fake.usage_accepted.lock().unwrap().push(body);
    if let Some(sent) = &fake.usage_sent {
        sent.notify_one();
    }
    StatusCode::NO_CONTENT.into_response()
}

struct Env {
    keys: CognateApiKeys,
    fake: Fake,
    clock: Arc<ManualClock>,
}

async fn start_with(fake: Fake, secret: &str, tune: impl FnOnce(ApiKeyConfig) -> ApiKeyConfig) -> Env {
    let app = Router::new()
        .route("/v1/api-keys/verify", post(verify))
        .route("/v1/api-keys/usage", post(usage))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let clock = Arc::new(ManualClock::new(NOW));
    let config = ApiKeyConfig::new(base, CLIENT, secret.to_owned().into()).clock(clock.clone());
    let keys = CognateApiKeys::new(tune(config)).unwrap();
    Env { keys, fake, clock }
}

async fn start() -> Env {
    start_with(Fake::default(), SECRET, |c| c).await
}

fn refusal(code: ApiKeyRefusal) -> VerifyError {
    VerifyError::ApiKeyRefused(code)
}

#[tokio::test]
async fn a_valid_key_gives_its_tenant_context() {
    let env = start().await;
    let k = key("a1");
    env.fake.set(&k, {
        let mut v = valid("acme", "ak_1", &["notes:read", "notes:write"]);
        v["serviceAccount"] = json!("ci-bot");
        v
    });
    let ctx = env.keys.verify(&k).await.unwrap();
    assert_eq!(ctx.tenant_id.as_deref(), Some("acme"));
    assert_eq!(ctx.principal, Principal::ApiKey { id: "ak_1".into() });
    assert_eq!((ctx.role.clone(), ctx.groups.clone()), (None, vec![]));
    assert_eq!(ctx.scopes, ["notes:read", "notes:write"]);
    assert_eq!(ctx.claims["tenantId"], "acme");
    assert_eq!(ctx.claims["keyId"], "ak_1");
    assert_eq!(ctx.claims["scope"], "notes:read notes:write");
    assert_eq!(ctx.claims["serviceAccount"], "ci-bot");
    let bodies = env.fake.verify_bodies.lock().unwrap().clone();
    assert_eq!(bodies, [json!({"key": k, "countUsage": false})], "the guard counts usage itself");
}

#[tokio::test]
async fn cached_keys_are_not_asked_again_until_cache_ttl() {
    let env = start().await;
    let k = key("b1");
    env.fake.set(&k, valid("acme", "ak_1", &["notes:read"]));
    for _ in 0..5 {
        env.keys.verify(&k).await.unwrap();
    }
    assert_eq!(env.fake.calls(), 1);
    env.clock.advance(29);
    env.keys.verify(&k).await.unwrap();
    assert_eq!(env.fake.calls(), 1, "still fresh at cache_ttl - 1");
    env.clock.advance(1);
    env.keys.verify(&k).await.unwrap();
    assert_eq!(env.fake.calls(), 2, "asked again at cache_ttl");
    env.keys.verify(&k).await.unwrap();
    assert_eq!(env.fake.calls(), 2);
}

#[tokio::test]
async fn a_revocation_is_seen_after_cache_ttl_and_not_before() {
    let env = start_with(Fake::default(), SECRET, |c| c.cache_ttl(Duration::from_secs(60))).await;
    let k = key("c1");
    env.fake.set(&k, valid("acme", "ak_1", &[]));
    env.keys.verify(&k).await.unwrap();
    env.fake.set(&k, refused("revoked"));
    env.clock.advance(59);
    assert!(env.keys.verify(&k).await.is_ok(), "the staleness bound is cache_ttl");
    env.clock.advance(1);
    assert_eq!(env.keys.verify(&k).await.unwrap_err(), refusal(ApiKeyRefusal::Revoked));
    assert_eq!(env.keys.verify(&k).await.unwrap_err(), refusal(ApiKeyRefusal::Revoked));
    assert_eq!(env.fake.calls(), 2, "the refusal is cached");
}

#[tokio::test]
async fn refusals_are_cached_for_negative_ttl() {
    let env = start().await;
    let k = key("d1");
    assert_eq!(env.keys.verify(&k).await.unwrap_err(), refusal(ApiKeyRefusal::UnknownKey));
    env.fake.set(&k, valid("acme", "ak_1", &[]));
    env.clock.advance(9);
    assert_eq!(env.keys.verify(&k).await.unwrap_err(), refusal(ApiKeyRefusal::UnknownKey));
    assert_eq!(env.fake.calls(), 1);
    env.clock.advance(1);
    assert!(env.keys.verify(&k).await.is_ok(), "asked again at negative_ttl");
    assert_eq!(env.fake.calls(), 2);

    for (code, expected) in [
        ("tenant_suspended", ApiKeyRefusal::TenantSuspended),
        ("rotated", ApiKeyRefusal::Rotated),
        ("expired", ApiKeyRefusal::Expired),
        ("something_new", ApiKeyRefusal::Unrecognized),
    ] {
        let k = key(code.replace('_', "").as_str());
        env.fake.set(&k, refused(code));
        assert_eq!(env.keys.verify(&k).await.unwrap_err(), refusal(expected), "{code}");
        assert_eq!(env.keys.verify(&k).await.unwrap_err(), refusal(expected), "{code}");
    }
    assert_eq!(env.fake.calls(), 6);
}

#[tokio::test]
async fn malformed_keys_never_reach_the_server() {
    let env = start().await;
    let good = key("e1");
    env.fake.set(&good, valid("acme", "ak_1", &[]));
    let mut broken_check = good.clone();
    let last = broken_check.pop().unwrap();
    broken_check.push(if last == '0' { '1' } else { '0' });
    let mut broken_body = good.clone().into_bytes();
    broken_body[20] = if broken_body[20] == b'a' { b'b' } else { b'a' };
    let bad = [
        String::new(),
        "cog_".into(),
        "ak_good".into(),
        broken_check,
        String::from_utf8(broken_body).unwrap(),
        good.replacen("cog_", "COG_", 1),
        format!("{good}0"),
        good[..good.len() - 1].to_owned(),
        format!("cog_{}", "!".repeat(46)),
        format!("{}é", &good[..48]),
    ];
    for k in &bad {
        assert_eq!(env.keys.verify(k).await.unwrap_err(), refusal(ApiKeyRefusal::Malformed), "{k:?}");
    }
    assert_eq!(env.fake.calls(), 0);
    assert_eq!(env.keys.cached_keys(), 0, "nothing cached for them either");
    assert!(env.keys.verify(&good).await.is_ok(), "the unbroken key is fine");
}

#[tokio::test]
async fn expires_at_is_enforced_locally() {
    let env = start().await;
    let k = key("f1");
    env.fake.set(&k, {
        let mut v = valid("acme", "ak_1", &[]);
        v["expiresAt"] = json!(NOW + 5);
        v
    });
    env.keys.verify(&k).await.unwrap();
    env.clock.advance(4);
    env.keys.verify(&k).await.unwrap();
    env.clock.advance(1);
    assert_eq!(env.keys.verify(&k).await.unwrap_err(), refusal(ApiKeyRefusal::Expired));
    env.clock.advance(100);
    assert_eq!(env.keys.verify(&k).await.unwrap_err(), refusal(ApiKeyRefusal::Expired));
    assert_eq!(env.fake.calls(), 1, "expiry needs no server");

    // A "valid" answer already past expiresAt by our clock is still refused.
    let late = key("f2");
    env.fake.set(&late, {
        let mut v = valid("acme", "ak_2", &[]);
        v["expiresAt"] = json!(NOW);
        v
    });
    assert_eq!(env.keys.verify(&late).await.unwrap_err(), refusal(ApiKeyRefusal::Expired));
}

#[tokio::test]
async fn server_failures_refuse_and_are_not_cached() {
    let env = start().await;
    let k = key("g1");
    env.fake.set(&k, valid("acme", "ak_1", &[]));
    env.fake.verify_status.store(503, Ordering::SeqCst);
    assert_eq!(env.keys.verify(&k).await.unwrap_err(), VerifyError::ApiKeyVerifierUnavailable);
    assert_eq!(env.keys.verify(&k).await.unwrap_err(), VerifyError::ApiKeyVerifierUnavailable);
    assert_eq!(env.fake.calls(), 2, "each request asks again");
    env.fake.verify_status.store(0, Ordering::SeqCst);
    assert!(env.keys.verify(&k).await.is_ok());
    assert_eq!(env.keys.cached_keys(), 1);
}

#[tokio::test]
async fn verifier_credentials_go_as_basic_and_wrong_ones_refuse() {
    let env = start().await;
    let k = key("h1");
    env.fake.set(&k, valid("acme", "ak_1", &[]));
    env.keys.verify(&k).await.unwrap();
    env.keys.flush().await.unwrap();
    let expected = format!("Basic {}", STANDARD.encode("verifier:s3cret"));
    assert_eq!(*env.fake.auth_seen.lock().unwrap(), [expected.clone(), expected]);

    let wrong = start_with(env.fake.clone(), "wrong", |c| c).await;
    assert_eq!(wrong.keys.verify(&k).await.unwrap_err(), VerifyError::ApiKeyVerifierUnavailable);
    assert_eq!(wrong.keys.verify(&k).await.unwrap_err(), VerifyError::ApiKeyVerifierUnavailable);
    assert_eq!(env.fake.calls(), 3, "a 401 for the verifier is not cached");
    assert!(!format!("{:?}", wrong.keys).contains("wrong"), "the secret stays out of Debug");
}

#[tokio::test]
async fn concurrent_misses_of_one_key_share_one_request() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let env = start_with(Fake { gate: Some(gate.clone()), ..Fake::default() }, SECRET, |c| c).await;
    let k = key("i1");
    env.fake.set(&k, valid("acme", "ak_1", &[]));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (keys, k) = (env.keys.clone(), k.clone());
            tokio::spawn(async move { keys.verify(&k).await })
        })
        .collect();
    while env.fake.calls() == 0 {
        tokio::task::yield_now().await;
    }
    // Give the other tasks a chance to join the request before it is answered; a task that
    // comes later finds the cache filled, so the assertion below holds either way.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    gate.add_permits(100);
    for task in tasks {
        assert!(task.await.unwrap().is_ok());
    }
    assert_eq!(env.fake.calls(), 1);
}

#[tokio::test]
async fn the_cache_is_bounded_and_keeps_valid_keys_over_refusals() {
    let env = start_with(Fake::default(), SECRET, |c| c.max_entries(2)).await;
    let good = key("j1");
    env.fake.set(&good, valid("acme", "ak_1", &[]));
    env.keys.verify(&good).await.unwrap();
    for i in 0..5 {
        let _ = env.keys.verify(&key(&format!("junk{i}"))).await;
    }
    assert_eq!(env.keys.cached_keys(), 2);
    env.keys.verify(&good).await.unwrap();
    assert_eq!(env.fake.calls(), 6, "the valid key was not evicted by refused ones");
}

cognate_guard::name!(NotesWrite = "notes:write");

async fn call(app: &Router, key: &str) -> (StatusCode, HeaderMap, Value) {
    let req = Request::get("/write").header("x-api-key", key).body(Body::empty()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn through_the_layer_refusals_are_401_and_the_rate_limit_is_429_with_retry_after() {
    let env = start().await;
    let guard = setup().await.guard;
    let app = Router::new()
        .route("/write", get(|scoped: RequireScope<NotesWrite>| async move { scoped.0.tenant_id.clone().unwrap() }))
        .route("/me", get(|ctx: TenantContext| async move { format!("{:?}", ctx.principal) }))
        .layer(GuardLayer::new(guard).api_keys(Arc::new(env.keys.clone())));
    let limited = key("k1");
    env.fake.set(&limited, {
        let mut v = valid("acme", "ak_1", &["notes:write"]);
        v["rateLimit"] = json!({"requests": 3, "perSeconds": 60});
        v
    });
    let reader = key("k2");
    env.fake.set(&reader, valid("acme", "ak_2", &["notes:read"]));

    for _ in 0..3 {
        let (status, _, body) = call(&app, &limited).await;
        assert_eq!((status, body), (StatusCode::OK, Value::Null), "handler answered text");
    }
    // NOW is 20 s into its minute.
    let (status, headers, body) = call(&app, &limited).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "40");
    assert_eq!(body, json!({"error": "rate_limited"}));
    // A refetch after cache_ttl keeps the window: still limited, sooner.
    env.clock.advance(30);
    let (status, headers, _) = call(&app, &limited).await;
    assert_eq!((status, headers["retry-after"].to_str().unwrap()), (StatusCode::TOO_MANY_REQUESTS, "10"));
    assert_eq!(env.fake.calls(), 2);
    env.clock.advance(10);
    assert_eq!(call(&app, &limited).await.0, StatusCode::OK, "a new window");

    let (status, headers, body) = call(&app, &reader).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"error": "insufficient_scope"})));
    assert_eq!(headers["www-authenticate"], r#"Bearer error="insufficient_scope", scope="notes:write""#);

    let calls = env.fake.calls();
    for bad in [key("unknown"), format!("{}x", &limited[..49])] {
        let (status, headers, body) = call(&app, &bad).await;
        assert_eq!((status, body), (StatusCode::UNAUTHORIZED, json!({"error": "invalid_token"})));
        assert_eq!(headers["www-authenticate"], r#"Bearer error="invalid_token""#);
    }
    assert_eq!(env.fake.calls(), calls + 1, "only the well-formed unknown key was asked about");
    let req = Request::get("/me").header("x-api-key", &limited).body(Body::empty()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(bytes, r#"ApiKey { id: "ak_1" }"#);
}

fn items(batch: &Value) -> Vec<Value> {
    let mut items = batch["items"].as_array().unwrap().clone();
    items.sort_by_key(|i| i["keyId"].as_str().unwrap().to_owned());
    items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn usage_is_counted_exactly_and_flushed_once() {
    let env = start().await;
    let (k1, k2) = (key("l1"), key("l2"));
    env.fake.set(&k1, valid("acme", "ak_1", &[]));
    env.fake.set(&k2, valid("globex", "ak_2", &[]));
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let (keys, k1, k2) = (env.keys.clone(), k1.clone(), k2.clone());
            tokio::spawn(async move {
                for i in 0..250 {
                    let k = if (t + i) % 2 == 0 { &k1 } else { &k2 };
                    keys.verify(k).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    env.keys.flush().await.unwrap();
    let sent = env.fake.usage();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        items(&sent[0]),
        [
            json!({"tenantId": "acme", "keyId": "ak_1", "count": 1000, "lastUsedAt": NOW}),
            json!({"tenantId": "globex", "keyId": "ak_2", "count": 1000, "lastUsedAt": NOW}),
        ]
    );
    env.keys.flush().await.unwrap();
    assert_eq!(env.fake.usage_attempts.load(Ordering::SeqCst), 1, "nothing new: no request");

    env.clock.advance(3);
    for _ in 0..5 {
        env.keys.verify(&k1).await.unwrap();
    }
    env.keys.flush().await.unwrap();
    let sent = env.fake.usage();
    assert_eq!(items(&sent[1]), [json!({"tenantId": "acme", "keyId": "ak_1", "count": 5, "lastUsedAt": NOW + 3})]);
}

#[tokio::test]
async fn a_failed_flush_keeps_its_counts_for_the_next() {
    let env = start().await;
    let k = key("m1");
    env.fake.set(&k, valid("acme", "ak_1", &[]));
    for _ in 0..3 {
        env.keys.verify(&k).await.unwrap();
    }
    env.fake.usage_status.store(500, Ordering::SeqCst);
    let err = env.keys.flush().await.unwrap_err();
    assert!(matches!(err, FetchError::Status { status: 500, .. }), "{err:?}");
    env.keys.verify(&k).await.unwrap();
    let err = env.keys.flush().await.unwrap_err();
    assert!(matches!(err, FetchError::Status { status: 500, .. }), "{err:?}");
    env.fake.usage_status.store(0, Ordering::SeqCst);
    env.keys.verify(&k).await.unwrap();
    env.keys.flush().await.unwrap();
    let sent = env.fake.usage();
    assert_eq!(sent.len(), 1);
    assert_eq!(items(&sent[0]), [json!({"tenantId": "acme", "keyId": "ak_1", "count": 5, "lastUsedAt": NOW})]);
    env.keys.flush().await.unwrap();
    assert_eq!(env.fake.usage_attempts.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_flusher_sends_usage_every_flush_interval() {
    let sent = Arc::new(tokio::sync::Notify::new());
    let fake = Fake { usage_sent: Some(sent.clone()), ..Fake::default() };
    let env = start_with(fake, SECRET, |c| c.flush_interval(Duration::from_millis(50))).await;
    let k = key("n1");
    env.fake.set(&k, valid("acme", "ak_1", &[]));
    env.keys.verify(&k).await.unwrap();
    let flusher = env.keys.spawn_flusher();
    tokio::time::timeout(Duration::from_secs(10), sent.notified()).await.expect("a flush within 10 s");
    assert_eq!(items(&env.fake.usage()[0])[0]["count"], 1);
    drop(env);
    tokio::time::timeout(Duration::from_secs(10), flusher).await.expect("ends once the verifier is dropped").unwrap();
}
