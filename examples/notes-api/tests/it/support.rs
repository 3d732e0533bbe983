//! Fresh databases, a fake JWKS server on port 0 and token minting.

use std::sync::LazyLock;

use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use sqlx::Connection as _;
use sqlx::Executor as _;
use tower::ServiceExt as _;

const POOL: &str = "pool_test";
const CLIENT: &str = "notes-client";

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

    fn url(&self) -> String {
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

/// Serves the JWKS at `http://ADDR/pool_test/.well-known/jwks.json`; returns `http://ADDR`.
async fn jwks_server() -> String {
    let public = KEY.public_key();
    let jwks = json!({"keys": [{
        "kty": "RSA", "alg": "RS256", "use": "sig", "kid": "test-key",
        "n": B64.encode(public.modulus().big_endian_without_leading_zero()),
        "e": B64.encode(public.exponent().big_endian_without_leading_zero()),
    }]});
    let app = Router::new()
        .route(&format!("/{POOL}/.well-known/jwks.json"), axum::routing::get(move || async move { axum::Json(jwks) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Builds the app the way `main` does, from `NOTES_*` values.
pub async fn build_with(db: &Db, service_url: Option<String>) -> anyhow::Result<(Router, String)> {
    let base = jwks_server().await;
    let env = |name: &str| match name {
        "NOTES_DATABASE_URL" => Some(db.url()),
        "NOTES_SERVICE_DATABASE_URL" => service_url.clone(),
        "NOTES_ISSUERS" => Some(format!("cognate|{base}|{POOL}|{CLIENT},other-client")),
        _ => None,
    };
    let config = notes_api::Config::from_lookup(env)?;
    Ok((notes_api::build_router(&config).await?, format!("{base}/{POOL}")))
}

pub struct Harness {
    pub db: Db,
    app: Router,
    issuer: String,
}

impl Harness {
    pub async fn start(db: Db) -> Self {
        let (app, issuer) = build_with(&db, None).await.unwrap();
        Self { db, app, issuer }
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

    /// Sends a request (no `Authorization` when `token` is empty); returns status and JSON.
    pub async fn call(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if !token.is_empty() {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let req = match body {
            Some(body) => req.header("content-type", "application/json").body(Body::from(body.to_string())),
            None => req.body(Body::empty()),
        };
        let res = self.app.clone().oneshot(req.unwrap()).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        (status, value)
    }
}
