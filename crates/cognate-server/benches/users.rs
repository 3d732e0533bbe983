//! ListUsers (with filters) and AdminGetUser on a large pool, through the whole Cognito
//! surface in-process (SigV4 verification, JSON, store), on SQLite and PostgreSQL.
//!
//! `cargo bench -p cognate-server --bench users -- [--backend sqlite|postgres|both]
//! [--users 100000] [--requests 2000]`. PostgreSQL comes from COGNATE_TEST_DATABASE_URL
//! (default postgres://postgres@127.0.0.1:5432/postgres); a fresh database is created and
//! dropped. Latencies are measured at 1,000 users and again at the full size, so the
//! report shows whether lookups stay flat as the pool grows.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: failing loudly is the point

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request};
use cognate_core::crypto::MasterKey;
use cognate_core::password::{Argon2Settings, PasswordHasher};
use cognate_core::pool::UserPool;
use cognate_core::user::{User, UserStatus};
use cognate_core::{Clock, Rng, SystemClock, SystemRng};
use cognate_server::cognito::sigv4;
use cognate_server::state::Passwords;
use cognate_server::{AppState, ServerSettings, bootstrap};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use sqlx::Connection as _;
use sqlx::Executor as _;
use tower::ServiceExt as _;

struct Bench {
    app: axum::Router,
    key_id: String,
    secret: String,
}

impl Bench {
    async fn call(&self, op: &str, body: &Value) -> Value {
        let body = body.to_string().into_bytes();
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("127.0.0.1:9229"));
        headers.insert("content-type", HeaderValue::from_static("application/x-amz-json-1.1"));
        headers
            .insert("x-amz-target", HeaderValue::from_str(&format!("AWSCognitoIdentityProviderService.{op}")).unwrap());
        sigv4::sign(&self.key_id, &self.secret, "local", SystemClock.now_secs(), "/", &mut headers, &body).unwrap();
        let mut req = Request::post("/").body(Body::from(body)).unwrap();
        *req.headers_mut() = headers;
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(status.is_success(), "{op} failed: {v}");
        v
    }
}

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.into())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure<F, Fut>(label: &str, size: usize, requests: usize, mut f: F)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(requests);
    let start = Instant::now();
    for i in 0..requests {
        let t = Instant::now();
        f(i).await;
        times.push(t.elapsed());
    }
    let total = start.elapsed();
    times.sort();
    println!(
        "{label:<34} users={size:<7} n={requests:<5} {:>8.0} req/s  p50={:>7.1?}  p99={:>7.1?}",
        requests as f64 / total.as_secs_f64(),
        percentile(&times, 0.5),
        percentile(&times, 0.99),
    );
}

fn seed_user(pool: &UserPool, i: usize, hash: &str) -> (User, cognate_core::user::UserKeys) {
    let mut attributes = BTreeMap::new();
    attributes.insert("email".to_owned(), format!("user{i}@example{}.com", i % 100));
    attributes.insert("email_verified".to_owned(), "true".to_owned());
    attributes.insert("given_name".to_owned(), format!("Given{i}"));
    attributes.insert("family_name".to_owned(), format!("Family{}", i % 1000));
    attributes.insert("custom:dept".to_owned(), format!("dept{}", i % 50));
    let user = User {
        pool_id: pool.id.clone(),
        sub: uuid::Uuid::new_v4().to_string(),
        username: format!("user{i:07}"),
        status: UserStatus::Confirmed,
        enabled: true,
        password_hash: Some(hash.to_owned()),
        temp_password_expires_at: None,
        attributes,
        created_at: 1,
        updated_at: 1,
        srp_verifier: None,
        tokens_valid_after: 0,
    };
    let keys = user.keys(&pool.settings);
    (user, keys)
}

async fn run(backend: &str, url: &str, users: usize, requests: usize) {
    let store = cognate_store::connect(url, &cognate_store::PgOptions::default()).await.unwrap();
    let rng: Arc<dyn Rng> = Arc::new(SystemRng);
    let master = MasterKey::from_base64(&MasterKey::generate_base64(&SystemRng)).unwrap();
    let hasher = PasswordHasher::new(Argon2Settings::default()).unwrap();
    let hash = hasher.hash(&SystemRng, "Bench-passw0rd!").unwrap();
    let state = AppState::new(
        store.clone(),
        master,
        Arc::new(SystemClock),
        rng.clone(),
        Passwords::new(hasher, rng, 2),
        ServerSettings::default(),
    );
    let cred = bootstrap::create_admin_credential(&state, "bench").await.unwrap();
    let bench =
        Bench { app: cognate_server::build_router(state), key_id: cred.access_key_id, secret: cred.secret_access_key };
    let created = bench
        .call(
            "CreateUserPool",
            &json!({"PoolName": "bench", "AliasAttributes": ["email"],
                    "Schema": [{"Name": "dept", "AttributeDataType": "String"}]}),
        )
        .await;
    let pool_id = created["UserPool"]["Id"].as_str().unwrap().to_owned();
    let pool = store.get_pool(&cognate_core::ids::PoolId::parse(&pool_id).unwrap()).await.unwrap().unwrap();

    println!("== {backend} ==");
    let mut seeded = 0;
    for target in [1_000usize, users] {
        let t = Instant::now();
        while seeded < target {
            let end = (seeded + 2_000).min(target);
            let batch: Vec<_> = (seeded..end).map(|i| seed_user(&pool, i, &hash)).collect();
            store.import_users(&batch).await.unwrap();
            seeded = end;
        }
        println!("seeded to {target} users in {:.1?}", t.elapsed());
        let size = target;
        let pick = |i: usize| (i * 7919) % size;
        measure("AdminGetUser", size, requests, |i| {
            let body = json!({"UserPoolId": pool_id, "Username": format!("user{:07}", pick(i))});
            let b = &bench;
            async move {
                let v = b.call("AdminGetUser", &body).await;
                assert!(v["Username"].is_string());
            }
        })
        .await;
        measure("ListUsers email = (1 match)", size, requests, |i| {
            let n = pick(i);
            let body = json!({"UserPoolId": pool_id, "Filter": format!("email = \"user{n}@example{}.com\"", n % 100)});
            let b = &bench;
            async move {
                let v = b.call("ListUsers", &body).await;
                assert_eq!(v["Users"].as_array().map(Vec::len), Some(1));
            }
        })
        .await;
        measure("ListUsers given_name ^= (prefix)", size, requests, |i| {
            let body =
                json!({"UserPoolId": pool_id, "Filter": format!("given_name ^= \"Given{}\"", pick(i)), "Limit": 10});
            let b = &bench;
            async move {
                let v = b.call("ListUsers", &body).await;
                assert!(!v["Users"].as_array().map(Vec::is_empty).unwrap_or(true));
            }
        })
        .await;
        measure("ListUsers custom:dept = (page 60)", size, requests / 4, |i| {
            let body =
                json!({"UserPoolId": pool_id, "Filter": format!("custom:dept = \"dept{}\"", i % 50), "Limit": 60});
            let b = &bench;
            async move {
                let v = b.call("ListUsers", &body).await;
                assert!(!v["Users"].as_array().map(Vec::is_empty).unwrap_or(true));
            }
        })
        .await;
    }
}

fn main() {
    let backend = arg("--backend", "both");
    let users: usize = arg("--users", "100000").parse().unwrap();
    let requests: usize = arg("--requests", "2000").parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        if backend == "sqlite" || backend == "both" {
            let dir = std::env::temp_dir().join(format!("cognate_bench_{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).unwrap();
            run("sqlite", &format!("sqlite://{}/bench.db", dir.display()), users, requests).await;
            let _ = std::fs::remove_dir_all(&dir);
        }
        if backend == "postgres" || backend == "both" {
            let admin = std::env::var("COGNATE_TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let name = format!("cognate_bench_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
            conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
            let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
            run("postgres", &format!("{base}/{name}"), users, requests).await;
            conn.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str()).await.unwrap();
        }
    });
}
