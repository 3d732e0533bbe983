//! Guard performance against the targets in docs/benchmarks.md:
//! - cached validation in well under a microsecond;
//! - uncached validation within 1.5x of one RSA-2048 verify (measured here with aws-lc);
//! - a protected axum endpoint keeps >= 80% of the same endpoint's unprotected throughput;
//! - API-key verification in-process: >= 1,000,000 per second per core (cached).
//!
//! `cargo bench -p cognate-guard --bench guard -- [--seconds 3] [--api-keys-only]` measures
//! in-process (one thread).
//! `scripts/bench-guard-http` runs this binary with `--serve` (one worker thread, both
//! endpoints on 127.0.0.1:0) and drives it with wrk over loopback, which is what the
//! endpoint-throughput target is about.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: failing loudly is the point

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _, RsaPublicKeyComponents};
use axum::body::Body;
use axum::http::Request;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use cognate_guard::{
    ApiKeyConfig, ApiKeyVerifier, CognateApiKeys, FetchError, Guard, GuardConfig, GuardLayer, Issuer, JwksSource,
    TenantContext,
};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const ISS: &str = "https://auth.bench/local_bench";

struct StaticJwks(Vec<u8>);

#[async_trait]
impl JwksSource for StaticJwks {
    async fn fetch(&self, _url: &str) -> Result<Vec<u8>, FetchError> {
        Ok(self.0.clone())
    }
}

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.into())
}

fn sign(pair: &KeyPair, claims: &Value) -> String {
    let input =
        format!("{}.{}", B64.encode(json!({"alg": "RS256", "kid": "k1"}).to_string()), B64.encode(claims.to_string()));
    let mut sig = vec![0u8; pair.public_modulus_len()];
    pair.sign(&signature::RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), input.as_bytes(), &mut sig).unwrap();
    format!("{input}.{}", B64.encode(sig))
}

fn claims(i: usize) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    json!({
        "sub": format!("user-{i}"), "iss": ISS, "client_id": "app", "token_use": "access",
        "scope": "aws.cognito.signin.user.admin notes/read", "auth_time": now, "iat": now, "exp": now + 3600,
        "jti": format!("jti-{i}"), "origin_jti": format!("o-{i}"), "username": format!("user{i}"), "version": 2,
        "custom:tenantId": "acme", "custom:tenantRole": "member", "cognito:groups": ["acme-member"],
    })
}

fn per_op(elapsed: Duration, n: usize) -> f64 {
    elapsed.as_secs_f64() * 1e9 / n as f64
}

fn main() {
    let secs: f64 = arg("--seconds", "3").parse().unwrap();
    if std::env::args().any(|a| a == "--api-keys-only") {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(api_keys(secs));
        return;
    }
    let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let public = pair.public_key();
    let (n, e) = (
        public.modulus().big_endian_without_leading_zero().to_vec(),
        public.exponent().big_endian_without_leading_zero().to_vec(),
    );
    let jwks = json!({"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "k1",
                                  "n": B64.encode(&n), "e": B64.encode(&e)}]})
    .to_string()
    .into_bytes();

    // Raw RSA verify rate (the limit uncached validation is compared with).
    let token = sign(&pair, &claims(0));
    let (signing_input, sig_b64) = token.rsplit_once('.').unwrap();
    let sig = B64.decode(sig_b64).unwrap();
    let components = RsaPublicKeyComponents { n: &n, e: &e };
    let start = Instant::now();
    let mut raw = 0usize;
    while start.elapsed().as_secs_f64() < secs {
        components.verify(&signature::RSA_PKCS1_2048_8192_SHA256, signing_input.as_bytes(), &sig).unwrap();
        raw += 1;
    }
    let raw_ns = per_op(start.elapsed(), raw);

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    if std::env::args().any(|a| a == "--serve") {
        rt.block_on(serve(jwks, sign(&pair, &claims(0))));
        return;
    }
    rt.block_on(async {
        let config = |capacity: usize| {
            GuardConfig::new().issuer(Issuer::new(ISS).client_ids(["app"])).cache_capacity(capacity)
        };
        let guard = Guard::with_source(config(10_000), Arc::new(StaticJwks(jwks.clone()))).unwrap();
        guard.hydrate().await.unwrap();

        // Uncached: distinct tokens, each verified once.
        let tokens: Vec<String> = (0..2_000).map(|i| sign(&pair, &claims(i + 1))).collect();
        let start = Instant::now();
        for t in &tokens {
            guard.verify(t).await.unwrap();
        }
        let uncached_ns = per_op(start.elapsed(), tokens.len());

        // Cached: the same token again and again.
        let hot = &tokens[0];
        let start = Instant::now();
        let mut cached = 0usize;
        while start.elapsed().as_secs_f64() < secs {
            for _ in 0..1_000 {
                guard.verify(hot).await.unwrap();
            }
            cached += 1_000;
        }
        let cached_ns = per_op(start.elapsed(), cached);

        // Endpoint throughput in-process, with and without the layer.
        let handler = || async { "ok" };
        let open = axum::Router::new().route("/notes", axum::routing::get(handler));
        let protected = axum::Router::new()
            .route("/notes", axum::routing::get(|ctx: TenantContext| async move { ctx.tenant_id.unwrap_or_default() }))
            .layer(GuardLayer::new(guard.clone()));
        let bearer = format!("Bearer {hot}");
        let run = |router: axum::Router, auth: Option<String>| async move {
            let start = Instant::now();
            let mut n = 0usize;
            while start.elapsed().as_secs_f64() < secs {
                for _ in 0..500 {
                    let mut req = Request::get("/notes");
                    if let Some(a) = &auth {
                        req = req.header("authorization", a);
                    }
                    let resp = router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
                    assert!(resp.status().is_success());
                }
                n += 500;
            }
            n as f64 / start.elapsed().as_secs_f64()
        };
        let open_rps = run(open, None).await;
        let protected_rps = run(protected, Some(bearer)).await;

        println!("RSA-2048 verify (aws-lc, raw):     {:>9.0} ns  ({:.0}/s)", raw_ns, 1e9 / raw_ns);
        println!(
            "guard, uncached validation:        {:>9.0} ns  = {:.2} x one RSA verify (target <= 1.5)",
            uncached_ns,
            uncached_ns / raw_ns
        );
        println!("guard, cached validation:          {:>9.0} ns  (target: well under 1000 ns)", cached_ns);
        println!(
            "endpoint, in-process:              unprotected {open_rps:>9.0} req/s, protected {protected_rps:>9.0} req/s = {:.2} (target >= 0.80)",
            protected_rps / open_rps
        );
        api_keys(secs).await;
    });
}

/// A well-formed API key (`cog_` + 40 base62 + CRC-32 in 6 base62 digits).
fn api_key() -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let head = format!("cog_{}", "k3yB0dy".repeat(6).get(..40).unwrap());
    let mut n = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(head.as_bytes());
    let mut check = [b'0'; 6];
    for slot in check.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    format!("{head}{}", std::str::from_utf8(&check).unwrap())
}

/// Cached API-key verification against the 1,000,000/s-per-core target: one miss answered
/// by a local stand-in for Cognate's verify endpoint, then the same key again and again
/// (with a rate limit high enough never to refuse, so the window is checked every time).
async fn api_keys(secs: f64) {
    let answer = json!({
        "valid": true, "keyId": "ak_bench", "tenantId": "acme", "name": "bench", "scopes": ["notes:read"],
        "serviceAccount": null, "expiresAt": null, "rateLimit": {"requests": u32::MAX, "perSeconds": 1},
    });
    let app = axum::Router::new().route(
        "/v1/api-keys/verify",
        axum::routing::post(move || {
            let answer = answer.clone();
            async move { axum::Json(answer) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    // An hour of freshness: the measurement never hits a refetch.
    let config = ApiKeyConfig::new(base, "bench", "secret".to_owned().into()).cache_ttl(Duration::from_secs(3600));
    let keys = CognateApiKeys::new(config).unwrap();
    let key = api_key();
    keys.verify(&key).await.unwrap();
    let dyn_keys: Arc<dyn ApiKeyVerifier> = Arc::new(keys.clone());

    let mut rates = Vec::new();
    for via_trait in [false, true] {
        let start = Instant::now();
        let mut n = 0usize;
        while start.elapsed().as_secs_f64() < secs {
            for _ in 0..10_000 {
                let ctx = if via_trait { dyn_keys.verify(&key).await } else { keys.verify(&key).await };
                std::hint::black_box(ctx.unwrap());
            }
            n += 10_000;
        }
        rates.push((per_op(start.elapsed(), n), n as f64 / start.elapsed().as_secs_f64()));
    }
    for ((ns, rate), how) in rates.into_iter().zip(["CognateApiKeys::verify", "dyn ApiKeyVerifier (layer)"]) {
        println!(
            "API key, cached, {how:<27} {ns:>6.0} ns  = {rate:>10.0}/s on one thread = {:.2} x the 1,000,000/s target",
            rate / 1e6
        );
    }
}

/// Serves `/open` and `/protected` on a free loopback port for an external load generator;
/// prints `URL <base>` and `TOKEN <jwt>` and runs until killed.
async fn serve(jwks: Vec<u8>, token: String) {
    let guard = Guard::with_source(
        GuardConfig::new().issuer(Issuer::new(ISS).client_ids(["app"])),
        Arc::new(StaticJwks(jwks.clone())),
    )
    .unwrap();
    guard.hydrate().await.unwrap();
    let jwks_doc = String::from_utf8(jwks.clone()).unwrap();
    let open = axum::Router::new()
        .route("/open", axum::routing::get(|| async { "acme" }))
        // For the FastAPI peer (scripts/bench/fastapi_peer.py), which fetches keys over HTTP.
        .route("/jwks.json", axum::routing::get(move || async move { jwks_doc }));
    let protected = axum::Router::new()
        .route("/protected", axum::routing::get(|ctx: TenantContext| async move { ctx.tenant_id.unwrap_or_default() }))
        .layer(GuardLayer::new(guard));
    let app = open.merge(protected);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("URL http://{}", listener.local_addr().unwrap());
    println!("TOKEN {token}");
    use std::io::Write as _;
    std::io::stdout().flush().unwrap();
    axum::serve(listener, app).await.unwrap();
}
