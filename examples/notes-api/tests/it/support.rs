//! Fresh databases, a fake Cognate on port 0 (JWKS, API-key verify and usage), token and
//! API-key minting.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use sqlx::Connection as _;
use sqlx::Executor as _;
use tower::ServiceExt as _;

const POOL: &str = "pool_test";
const CLIENT: &str = "notes-client";
/// The confidential client notes-api verifies API keys as.
const VERIFIER: &str = "notes-verifier";
const VERIFIER_SECRET: &str = "verifier-secret";

static KEY: LazyLock<KeyPair> = LazyLock::new(|| KeyPair::generate(KeySize::Rsa2048).unwrap());

fn admin_url() -> String {
    std::env::var("COGNATE_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

pub enum Db {
    Postgres { url: String, name: String },
    Sqlite { dir: std::path::PathBuf },
}

impl Db {
    /// A new, empty PostgreSQL database; panics if the server is unreachable.
    pub async fn postgres() -> Self {
        let admin = admin_url();
        let name = unique("notes_it");
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is unreachable (set COGNATE_TEST_DATABASE_URL): {e}"));
        conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        Self::Postgres { url: format!("{base}/{name}"), name }
    }

    pub fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(unique("notes_it"));
        std::fs::create_dir_all(&dir).unwrap();
        Self::Sqlite { dir }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres { .. })
    }

    pub fn url(&self) -> String {
        match self {
            Self::Postgres { url, .. } => url.clone(),
            Self::Sqlite { dir } => format!("sqlite://{}/notes.db", dir.display()),
        }
    }

    pub async fn drop(self) {
        match self {
            Self::Postgres { name, .. } => {
                let mut conn = sqlx::PgConnection::connect(&admin_url()).await.unwrap();
                conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await.unwrap();
            }
            Self::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// A well-formed API key: `cog_` + 40 base62 characters + their CRC-32 in 6 base62 digits.
pub fn new_api_key() -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let head = format!("cog_{:0>40}", uuid::Uuid::new_v4().simple().to_string());
    let mut n = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(head.as_bytes());
    let mut check = [b'0'; 6];
    for slot in check.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    format!("{head}{}", String::from_utf8(check.to_vec()).unwrap())
}

/// What the fake Cognate knows about API keys and was told about their usage.
#[derive(Debug, Clone, Default)]
pub struct FakeCognate {
    /// key -> verify answer.
    keys: Arc<Mutex<HashMap<String, Value>>>,
    pub verify_calls: Arc<AtomicUsize>,
    /// Bodies of usage reports.
    pub usage: Arc<Mutex<Vec<Value>>>,
}

impl FakeCognate {
    fn authorized(headers: &HeaderMap) -> bool {
        let expected = format!("Basic {}", STANDARD.encode(format!("{VERIFIER}:{VERIFIER_SECRET}")));
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
    }

    /// A new API key of `tenant` with `scopes`; returns the key and its id.
    pub fn add_key(&self, tenant: &str, scopes: &[&str]) -> (String, String) {
        let key = new_api_key();
        let id = format!("ak_{}", &uuid::Uuid::new_v4().simple().to_string()[..20]);
        let answer = json!({
            "valid": true, "keyId": id, "tenantId": tenant, "name": "test key", "scopes": scopes,
            "serviceAccount": null, "expiresAt": null, "rateLimit": null,
        });
        self.keys.lock().unwrap().insert(key.clone(), answer);
        (key, id)
    }

    /// Total usage reported for `key_id` so far.
    pub fn usage_of(&self, key_id: &str) -> i64 {
        let reports = self.usage.lock().unwrap();
        let items = reports.iter().flat_map(|r| r["items"].as_array().unwrap().iter());
        items.filter(|i| i["keyId"] == key_id).map(|i| i["count"].as_i64().unwrap()).sum()
    }
}

async fn verify_key(
    State(fake): State<FakeCognate>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    fake.verify_calls.fetch_add(1, Ordering::SeqCst);
    if !FakeCognate::authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let key = body["key"].as_str().unwrap_or_default();
    let answer = fake.keys.lock().unwrap().get(key).cloned();
    axum::Json(answer.unwrap_or_else(|| json!({"valid": false, "code": "unknown_key"}))).into_response()
}

async fn report_usage(
    State(fake): State<FakeCognate>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if !FakeCognate::authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    fake.usage.lock().unwrap().push(body);
    StatusCode::NO_CONTENT.into_response()
}

/// Serves the JWKS at `http://ADDR/pool_test/.well-known/jwks.json` and Cognate's two
/// API-key endpoints; returns `http://ADDR`.
async fn cognate_server(fake: FakeCognate) -> String {
    let public = KEY.public_key();
    let jwks = json!({"keys": [{
        "kty": "RSA", "alg": "RS256", "use": "sig", "kid": "test-key",
        "n": B64.encode(public.modulus().big_endian_without_leading_zero()),
        "e": B64.encode(public.exponent().big_endian_without_leading_zero()),
    }]});
    let app = Router::new()
        .route(&format!("/{POOL}/.well-known/jwks.json"), axum::routing::get(move || async move { axum::Json(jwks) }))
        .route("/v1/api-keys/verify", axum::routing::post(verify_key))
        .route("/v1/api-keys/usage", axum::routing::post(report_usage))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Builds the app the way `main` does, from `NOTES_*` values, trusting a fake Cognate for
/// tokens and API keys; returns the app, the issuer and the fake.
pub async fn build_with(db: &Db, service_url: Option<String>) -> anyhow::Result<(notes_api::App, String, FakeCognate)> {
    let fake = FakeCognate::default();
    let base = cognate_server(fake.clone()).await;
    let env = |name: &str| match name {
        "NOTES_DATABASE_URL" => Some(db.url()),
        "NOTES_SERVICE_DATABASE_URL" => service_url.clone(),
        "NOTES_ISSUERS" => Some(format!("cognate|{base}|{POOL}|{CLIENT},other-client")),
        "NOTES_API_KEYS" => Some(format!("{base}|{VERIFIER}|{VERIFIER_SECRET}")),
        _ => None,
    };
    let config = notes_api::Config::from_lookup(env)?;
    Ok((notes_api::build(&config).await?, format!("{base}/{POOL}"), fake))
}

pub struct Harness {
    pub db: Db,
    pub app: notes_api::App,
    issuer: String,
    pub cognate: FakeCognate,
}

impl Harness {
    pub async fn start(db: Db) -> Self {
        let (app, issuer, cognate) = build_with(&db, None).await.unwrap();
        Self { db, app, issuer, cognate }
    }

    pub async fn finish(self) {
        drop(self.app);
        self.db.drop().await;
    }

    fn sign(&self, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(json!({"alg": "RS256", "kid": "test-key"}).to_string()),
            B64.encode(claims.to_string())
        );
        let mut sig = vec![0u8; KEY.public_modulus_len()];
        KEY.sign(&signature::RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), input.as_bytes(), &mut sig)
            .unwrap();
        format!("{input}.{}", B64.encode(sig))
    }

    fn claims(&self, user: &str) -> Value {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        json!({
            "sub": format!("sub-{user}"), "iss": self.issuer, "client_id": CLIENT, "token_use": "access",
            "scope": "aws.cognito.signin.user.admin", "auth_time": now, "iat": now, "exp": now + 3600,
            "jti": uuid::Uuid::new_v4().to_string(), "origin_jti": "o", "event_id": "e", "version": 2,
            "username": user,
        })
    }

    /// An access token of a `role` user of `tenant`, as Cognate issues it.
    pub fn token(&self, tenant: &str, role: &str) -> String {
        let mut claims = self.claims(&format!("{role}@{tenant}"));
        claims["custom:tenantId"] = json!(tenant);
        claims["custom:tenantRole"] = json!(role);
        claims["cognito:groups"] = json!([format!("{tenant}-{role}")]);
        self.sign(&claims)
    }

    pub fn token_without_tenant(&self) -> String {
        self.sign(&self.claims("drifter"))
    }

    /// A new API key of `tenant` with `scopes`, known to the fake Cognate; returns the key
    /// and its id.
    pub fn api_key(&self, tenant: &str, scopes: &[&str]) -> (String, String) {
        self.cognate.add_key(tenant, scopes)
    }

    /// Sends a request (no `Authorization` when `token` is empty); returns status and JSON.
    pub async fn call(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let auth = (!token.is_empty()).then(|| ("authorization", format!("Bearer {token}")));
        self.send(auth.as_slice(), method, path, body).await
    }

    /// Sends a request with `X-API-Key: key`; returns status and JSON.
    pub async fn call_key(&self, key: &str, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.send(&[("x-api-key", key.to_owned())], method, path, body).await
    }

    pub async fn send(
        &self,
        headers: &[(&str, String)],
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let req = match body {
            Some(body) => req.header("content-type", "application/json").body(Body::from(body.to_string())),
            None => req.body(Body::empty()),
        };
        let res = self.app.router.clone().oneshot(req.unwrap()).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        (status, value)
    }
}
