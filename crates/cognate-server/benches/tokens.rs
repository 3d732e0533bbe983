//! Token issuance throughput against the machine's own limits.
//!
//! `cargo bench -p cognate-server --bench tokens -- [--seconds 5]`
//!
//! Measures, on SQLite in a temp dir, through the whole surface in-process:
//! - password sign-ins/s (InitiateAuth USER_PASSWORD_AUTH: argon2id verify + two RS256
//!   signatures + a token family write),
//! - refresh grants/s (InitiateAuth REFRESH_TOKEN_AUTH: two signatures),
//! - client_credentials grants/s (`POST /oauth2/token`: one signature),
//!
//! each with 1 and 2 worker threads, next to the raw limits measured in the same process:
//! RSA-2048 signatures/s (aws-lc) and argon2id hashes/s at the configured parameters.
//! Ratios = measured / limit, where a sign-in's limit is the argon2 rate and a grant's limit
//! is the RSA rate divided by the signatures it needs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: failing loudly is the point

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request};
use base64::Engine as _;
use cognate_core::crypto::MasterKey;
use cognate_core::password::{Argon2Settings, PasswordHasher};
use cognate_core::{Clock, Rng, SystemClock, SystemRng};
use cognate_server::cognito::sigv4;
use cognate_server::state::Passwords;
use cognate_server::{AppState, ServerSettings, bootstrap};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

#[derive(Clone)]
struct App {
    router: axum::Router,
    key_id: String,
    secret: String,
}

impl App {
    async fn send(&self, req: Request<Body>) -> (u16, Value) {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn cognito(&self, op: &str, body: &Value, signed: bool) -> Value {
        let body = body.to_string().into_bytes();
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("127.0.0.1:9229"));
        headers.insert("content-type", HeaderValue::from_static("application/x-amz-json-1.1"));
        headers
            .insert("x-amz-target", HeaderValue::from_str(&format!("AWSCognitoIdentityProviderService.{op}")).unwrap());
        if signed {
            sigv4::sign(&self.key_id, &self.secret, "local", SystemClock.now_secs(), "/", &mut headers, &body).unwrap();
        }
        let mut req = Request::post("/").body(Body::from(body)).unwrap();
        *req.headers_mut() = headers;
        let (status, v) = self.send(req).await;
        assert_eq!(status, 200, "{op}: {v}");
        v
    }
}

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.into())
}

/// Runs `op` from `tasks` concurrent tasks for `secs` seconds; returns operations/s.
async fn rate<F, Fut>(tasks: usize, secs: f64, op: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (done, op) = (done.clone(), op.clone());
        handles.push(tokio::spawn(async move {
            let mut i = t as u64 * 1_000_000;
            while Instant::now() < deadline {
                op(i).await;
                i += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn raw_rsa_rate(threads: usize, secs: f64) -> f64 {
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    let pair = Arc::new(KeyPair::generate(KeySize::Rsa2048).unwrap());
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let pair = pair.clone();
            std::thread::spawn(move || {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                let mut sig = vec![0u8; pair.public_modulus_len()];
                let mut n = 0u64;
                while Instant::now() < deadline {
                    pair.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, b"header.payload", &mut sig).unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total as f64 / start.elapsed().as_secs_f64()
}

fn raw_argon2_rate(threads: usize, secs: f64) -> f64 {
    let hasher = PasswordHasher::new(Argon2Settings::default()).unwrap();
    let phc = hasher.hash(&SystemRng, "Bench-passw0rd!").unwrap();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (hasher, phc) = (hasher.clone(), phc.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    assert!(hasher.verify("Bench-passw0rd!", &phc));
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total as f64 / start.elapsed().as_secs_f64()
}

async fn setup(dir: &std::path::Path, threads: usize) -> (App, String, String, String, String) {
    let store =
        cognate_store::connect(&format!("sqlite://{}/bench.db", dir.display()), &Default::default()).await.unwrap();
    let rng: Arc<dyn Rng> = Arc::new(SystemRng);
    let master = MasterKey::from_base64(&MasterKey::generate_base64(&SystemRng)).unwrap();
    let hasher = PasswordHasher::new(Argon2Settings::default()).unwrap();
    let state = AppState::new(
        store,
        master,
        Arc::new(SystemClock),
        rng.clone(),
        Passwords::new(hasher, rng, threads),
        ServerSettings::default(),
    );
    let cred = bootstrap::create_admin_credential(&state, "bench").await.unwrap();
    let app =
        App { router: cognate_server::build_router(state), key_id: cred.access_key_id, secret: cred.secret_access_key };
    let pool = app.cognito("CreateUserPool", &json!({"PoolName": "bench"}), true).await["UserPool"]["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = app
        .cognito(
            "CreateUserPoolClient",
            &json!({"UserPoolId": pool, "ClientName": "web",
                    "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]}),
            true,
        )
        .await["UserPoolClient"]["ClientId"]
        .as_str()
        .unwrap()
        .to_owned();
    app.cognito(
        "CreateResourceServer",
        &json!({"UserPoolId": pool, "Identifier": "https://api.bench", "Name": "api",
                "Scopes": [{"ScopeName": "read", "ScopeDescription": "read"}]}),
        true,
    )
    .await;
    let m2m = app
        .cognito(
            "CreateUserPoolClient",
            &json!({"UserPoolId": pool, "ClientName": "m2m", "GenerateSecret": true,
                    "AllowedOAuthFlows": ["client_credentials"], "AllowedOAuthFlowsUserPoolClient": true,
                    "AllowedOAuthScopes": ["https://api.bench/read"]}),
            true,
        )
        .await["UserPoolClient"]
        .clone();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        m2m["ClientId"].as_str().unwrap(),
        m2m["ClientSecret"].as_str().unwrap()
    ));
    app.cognito(
        "AdminCreateUser",
        &json!({"UserPoolId": pool, "Username": "bench", "MessageAction": "SUPPRESS", "TemporaryPassword": "Temp-passw0rd!"}),
        true,
    )
    .await;
    app.cognito(
        "AdminSetUserPassword",
        &json!({"UserPoolId": pool, "Username": "bench", "Password": "Bench-passw0rd!", "Permanent": true}),
        true,
    )
    .await;
    let signed_in = app
        .cognito(
            "InitiateAuth",
            &json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client,
                    "AuthParameters": {"USERNAME": "bench", "PASSWORD": "Bench-passw0rd!"}}),
            false,
        )
        .await;
    let refresh = signed_in["AuthenticationResult"]["RefreshToken"].as_str().unwrap().to_owned();
    (app, pool, client, refresh, basic)
}

fn main() {
    let secs: f64 = arg("--seconds", "5").parse().unwrap();
    println!("limits measured in this process ({secs} s each):");
    let rsa1 = raw_rsa_rate(1, secs);
    let rsa2 = raw_rsa_rate(2, secs);
    let argon1 = raw_argon2_rate(1, secs);
    let argon2 = raw_argon2_rate(2, secs);
    println!("  RSA-2048 signatures/s:   1 thread {rsa1:>8.0}   2 threads {rsa2:>8.0}");
    println!("  argon2id verifications/s: 1 thread {argon1:>8.1}   2 threads {argon2:>8.1}");
    for threads in [1usize, 2] {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build().unwrap();
        let (rsa, argon) = if threads == 1 { (rsa1, argon1) } else { (rsa2, argon2) };
        rt.block_on(async {
            let dir = std::env::temp_dir().join(format!("cognate_tokens_{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).unwrap();
            let (app, _pool, client, refresh, basic) = setup(&dir, threads).await;
            let tasks: usize = arg("--tasks", &(threads * 4).to_string()).parse().unwrap();

            let (a, c) = (app.clone(), client.clone());
            let sign_ins = rate(tasks, secs, move |_| {
                let (a, c) = (a.clone(), c.clone());
                async move {
                    a.cognito(
                        "InitiateAuth",
                        &json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": c,
                                "AuthParameters": {"USERNAME": "bench", "PASSWORD": "Bench-passw0rd!"}}),
                        false,
                    )
                    .await;
                }
            })
            .await;

            let (a, c, r) = (app.clone(), client.clone(), refresh.clone());
            let refreshes = rate(tasks, secs, move |_| {
                let (a, c, r) = (a.clone(), c.clone(), r.clone());
                async move {
                    a.cognito(
                        "InitiateAuth",
                        &json!({"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": c, "AuthParameters": {"REFRESH_TOKEN": r}}),
                        false,
                    )
                    .await;
                }
            })
            .await;

            let (a, b) = (app.clone(), basic.clone());
            let m2m = rate(tasks, secs, move |_| {
                let (a, b) = (a.clone(), b.clone());
                async move {
                    let req = Request::post("/oauth2/token")
                        .header("content-type", "application/x-www-form-urlencoded")
                        .header("authorization", format!("Basic {b}"))
                        .body(Body::from("grant_type=client_credentials"))
                        .unwrap();
                    let (status, v) = a.send(req).await;
                    assert_eq!(status, 200, "client_credentials: {v}");
                }
            })
            .await;

            println!("{threads} worker thread(s), {tasks} concurrent callers:");
            println!(
                "  password sign-ins/s     {sign_ins:>8.1}  = {:.2} x argon2 limit ({argon:.1}/s)",
                sign_ins / argon
            );
            println!(
                "  refresh grants/s        {refreshes:>8.0}  = {:.2} x RSA limit for 2 signatures ({:.0}/s)",
                refreshes / (rsa / 2.0),
                rsa / 2.0
            );
            println!(
                "  client_credentials/s    {m2m:>8.0}  = {:.2} x RSA limit for 1 signature ({rsa:.0}/s)",
                m2m / rsa
            );
            let _ = std::fs::remove_dir_all(&dir);
        });
    }
}
