//! A fresh application per test: its own SQLite file in a temporary directory, a master
//! key, and an admin credential.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use cognate_core::crypto::MasterKey;
use cognate_core::password::{Argon2Settings, PasswordHasher};
use cognate_core::{Clock, Rng, SystemClock, SystemRng};
use cognate_server::state::Passwords;
use cognate_server::{AppState, ServerSettings, bootstrap};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

pub struct TestApp {
    pub app: axum::Router,
    pub state: AppState,
    pub key_id: String,
    pub secret: String,
    dir: PathBuf,
    /// The database URL.
    url: String,
    /// The master key (base64), so a restarted app reads what this one sealed.
    master: String,
    /// Whether dropping this app removes the data directory (the first app does).
    owns_dir: bool,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A response's status, `WWW-Authenticate` header and JSON body (`Null` when empty).
pub struct Answer {
    pub status: StatusCode,
    pub challenge: Option<String>,
    pub body: Value,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock)).await
    }

    /// A fresh application whose clock the test controls.
    pub async fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self::on(None, clock).await
    }

    /// A fresh application on the database `url` (`None`: a SQLite file of its own).
    pub async fn on(url: Option<&str>, clock: Arc<dyn Clock>) -> Self {
        let dir = std::env::temp_dir().join(format!("cognate-it-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let master = MasterKey::generate_base64(&SystemRng);
        let url = url.map_or_else(|| format!("sqlite://{}/cognate.db", dir.display()), str::to_owned);
        let state = Self::state(&url, &master, clock).await;
        let cred = bootstrap::create_admin_credential(&state, "it").await.unwrap();
        Self {
            app: cognate_server::build_router(state.clone()),
            state,
            key_id: cred.access_key_id,
            secret: cred.secret_access_key,
            dir,
            url,
            master,
            owns_dir: true,
        }
    }

    /// A second process on the same database (same master key, clock and credential),
    /// as after a restart. The data directory lives as long as the first app.
    pub async fn restart(&self) -> Self {
        let state = Self::state(&self.url, &self.master, self.state.clock.clone()).await;
        Self {
            app: cognate_server::build_router(state.clone()),
            state,
            key_id: self.key_id.clone(),
            secret: self.secret.clone(),
            dir: self.dir.clone(),
            url: self.url.clone(),
            master: self.master.clone(),
            owns_dir: false,
        }
    }

    async fn state(url: &str, master: &str, clock: Arc<dyn Clock>) -> AppState {
        let store = cognate_store::connect(url, &cognate_store::PgOptions::default()).await.unwrap();
        let rng: Arc<dyn Rng> = Arc::new(SystemRng);
        let master = MasterKey::from_base64(master).unwrap();
        // Cheap hashing: these tests never check password cost.
        let hasher = PasswordHasher::new(Argon2Settings { memory_kib: 64, iterations: 1, parallelism: 1 }).unwrap();
        // Test identity providers and webhook receivers listen on 127.0.0.1: allow loopback
        // (the default refuses it, see cognate_server::outbound).
        let settings = ServerSettings {
            outbound_allow: cognate_server::net::parse_networks("127.0.0.0/8,::1/128").unwrap(),
            ..ServerSettings::default()
        };
        AppState::new(store, master, clock, rng.clone(), Passwords::new(hasher, rng, 2), settings)
    }

    /// The admin's `Authorization` header value.
    pub fn admin_auth(&self) -> String {
        format!("Bearer {}:{}", self.key_id, self.secret)
    }

    /// Sends a request with an optional `Authorization` value and raw JSON body.
    pub async fn send(&self, method: &str, uri: &str, auth: Option<&str>, body: Option<&str>) -> Answer {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let req = match body {
            Some(body) => req.header("content-type", "application/json").body(Body::from(body.to_owned())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let resp: Response = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let challenge = resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        // NDJSON (the audit export) and other non-JSON answers come back as a string.
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Answer { status, challenge, body }
    }

    /// Sends a request with extra headers and a raw body; answers the status, headers and
    /// JSON body.
    pub async fn send_with(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned()))).unwrap();
        let resp: Response = self.app.clone().oneshot(req).await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        (status, headers, body)
    }

    /// Sends a request as the platform admin.
    pub async fn admin(&self, method: &str, uri: &str, body: Option<&Value>) -> Answer {
        let body = body.map(Value::to_string);
        self.send(method, uri, Some(&self.admin_auth()), body.as_deref()).await
    }
}

/// Asserts an error answer's status and code, and that it has a message.
#[track_caller]
pub fn assert_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], code, "{}", answer.body);
    assert!(answer.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", answer.body);
}

/// A new, empty PostgreSQL database for one test, dropped by [`PgDb::drop_db`].
pub struct PgDb {
    pub url: String,
    name: String,
}

fn admin_url() -> String {
    std::env::var("COGNATE_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

impl PgDb {
    pub async fn create() -> Self {
        use sqlx::{Connection as _, Executor as _};
        let admin = admin_url();
        let name = format!("cognate_srv_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is unreachable (set COGNATE_TEST_DATABASE_URL): {e}"));
        conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_owned();
        Self { url: format!("{base}/{name}"), name }
    }

    pub async fn drop_db(self) {
        use sqlx::{Connection as _, Executor as _};
        let mut conn = sqlx::PgConnection::connect(&admin_url()).await.unwrap();
        conn.execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str()).await.unwrap();
    }
}

/// Runs `test` on a fresh app on SQLite, then on a fresh app on PostgreSQL, each with a
/// manual clock starting at `start` (ms) that the test may move.
pub async fn on_both<F, Fut>(start: i64, test: F)
where
    F: Fn(TestApp, Arc<cognate_core::ManualClock>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let clock = Arc::new(cognate_core::ManualClock::new(start));
    test(TestApp::on(None, clock.clone()).await, clock).await;
    let db = PgDb::create().await;
    let clock = Arc::new(cognate_core::ManualClock::new(start));
    let app = TestApp::on(Some(&db.url), clock.clone()).await;
    assert_eq!(app.state.store.backend(), "postgres");
    test(app, clock).await;
    db.drop_db().await;
}
