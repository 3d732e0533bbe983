//! Keys, token forging and a fake JWKS source shared by the tests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use async_trait::async_trait;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use cognate_guard::clock::ManualClock;
use cognate_guard::{FetchError, Guard, GuardConfig, Issuer, JwksSource};
use serde_json::{Value, json};

pub const BASE: &str = "https://auth.test";
pub const ISS_A: &str = "https://auth.test/pool_a";
pub const ISS_B: &str = "https://auth.test/pool_b";
pub const JWKS_A: &str = "https://auth.test/pool_a/.well-known/jwks.json";
pub const JWKS_B: &str = "https://auth.test/pool_b/.well-known/jwks.json";
pub const NOW: i64 = 1_700_000_000;

pub struct TestKey {
    pub kid: String,
    pub pair: KeyPair,
}

fn key(kid: &str) -> TestKey {
    TestKey { kid: kid.to_owned(), pair: KeyPair::generate(KeySize::Rsa2048).unwrap() }
}

pub static KEY_A: LazyLock<TestKey> = LazyLock::new(|| key("kid-a"));
pub static KEY_B: LazyLock<TestKey> = LazyLock::new(|| key("kid-b"));
pub static KEY_A2: LazyLock<TestKey> = LazyLock::new(|| key("kid-a2"));

impl TestKey {
    pub fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
            "n": B64.encode(public.modulus().big_endian_without_leading_zero()),
            "e": B64.encode(public.exponent().big_endian_without_leading_zero()),
        })
    }

    pub fn public_der(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// Signs raw header and payload JSON text (so tests can write duplicate members).
    pub fn sign_raw(&self, header: &str, payload: &str) -> String {
        let input = format!("{}.{}", B64.encode(header), B64.encode(payload));
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(&signature::RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), input.as_bytes(), &mut sig)
            .unwrap();
        format!("{input}.{}", B64.encode(sig))
    }

    pub fn sign(&self, claims: &Value) -> String {
        self.sign_raw(&json!({"alg": "RS256", "kid": self.kid}).to_string(), &claims.to_string())
    }

    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        self.sign_raw(&header.to_string(), &claims.to_string())
    }
}

pub fn jwks(keys: &[&TestKey]) -> Vec<u8> {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}).to_string().into_bytes()
}

/// Access-token claims of user alice in tenant acme, as Cognate issues them.
pub fn access_claims(iss: &str, client: &str) -> Value {
    json!({
        "sub": "user-1", "iss": iss, "client_id": client, "origin_jti": "origin-1",
        "event_id": "e", "token_use": "access", "scope": "aws.cognito.signin.user.admin notes:read",
        "auth_time": NOW, "iat": NOW, "exp": NOW + 3600, "jti": "jti-1", "username": "alice",
        "version": 2, "cognito:groups": ["acme-admin"], "custom:tenantId": "acme",
        "custom:tenantRole": "admin",
    })
}

pub fn id_claims(iss: &str, client: &str) -> Value {
    json!({
        "sub": "user-1", "iss": iss, "aud": client, "token_use": "id", "origin_jti": "origin-1",
        "auth_time": NOW, "iat": NOW, "exp": NOW + 3600, "jti": "jti-2", "cognito:username": "alice",
        "email": "alice@acme.test", "email_verified": true, "custom:tenantId": "acme",
    })
}

/// A JWKS source answering from a map, counting fetches, optionally held until released.
#[derive(Default)]
pub struct FakeSource {
    pub docs: Mutex<HashMap<String, Vec<u8>>>,
    pub fetches: AtomicUsize,
    pub gate: Option<tokio::sync::Semaphore>,
}

impl FakeSource {
    pub fn new(docs: &[(&str, Vec<u8>)]) -> Self {
        Self { docs: Mutex::new(docs.iter().map(|(u, d)| ((*u).to_owned(), d.clone())).collect()), ..Self::default() }
    }

    pub fn gated(docs: &[(&str, Vec<u8>)]) -> Self {
        Self { gate: Some(tokio::sync::Semaphore::new(0)), ..Self::new(docs) }
    }

    pub fn set(&self, url: &str, doc: Vec<u8>) {
        self.docs.lock().unwrap().insert(url.to_owned(), doc);
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl JwksSource for FakeSource {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        let doc = self.docs.lock().unwrap().get(url).cloned();
        doc.ok_or_else(|| FetchError::Status { url: url.to_owned(), status: 404 })
    }
}

/// Two Cognate pools, A (client-a) and B (client-b), each publishing its own key.
pub fn two_pools() -> GuardConfig {
    GuardConfig::new()
        .issuer(Issuer::cognate(BASE, "pool_a").client_ids(["client-a"]))
        .issuer(Issuer::cognate(BASE, "pool_b").client_ids(["client-b"]))
}

pub struct Setup {
    pub guard: Guard,
    pub source: Arc<FakeSource>,
    pub clock: Arc<ManualClock>,
}

pub fn setup_with(config: GuardConfig, source: FakeSource) -> Setup {
    let clock = Arc::new(ManualClock::new(NOW));
    let source = Arc::new(source);
    let guard = Guard::with_source(config.clock(clock.clone()), source.clone()).unwrap();
    Setup { guard, source, clock }
}

pub fn default_source() -> FakeSource {
    FakeSource::new(&[(JWKS_A, jwks(&[&KEY_A])), (JWKS_B, jwks(&[&KEY_B]))])
}

pub async fn setup() -> Setup {
    let s = setup_with(two_pools(), default_source());
    s.guard.hydrate().await.unwrap();
    s
}
