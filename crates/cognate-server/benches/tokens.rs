//! Token issuance throughput against the machine's own limits, and what the audit trail
//! costs it.
//!
//! `cargo bench -p cognate-server --bench tokens -- [--seconds 5] [--backend sqlite|postgres|both]
//! [--audit on|off|both] [--rounds 1] [--threads 1,2] [--tasks N]
//! [--ops password,refresh,client_credentials,browser,srp]`
//!
//! Measures, through the whole surface in-process, on SQLite in a temp dir (default) and/or
//! PostgreSQL (COGNATE_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres;
//! a fresh database is created and dropped):
//! - password sign-ins/s (InitiateAuth USER_PASSWORD_AUTH: argon2id verify + two RS256
//!   signatures + a token family write),
//! - refresh grants/s (InitiateAuth REFRESH_TOKEN_AUTH: two signatures),
//! - client_credentials grants/s (`POST /oauth2/token`: one signature),
//! - browser sign-ins/s (the hosted login's whole flow: `GET /oauth2/authorize`, `GET /login`,
//!   `POST /login` with the CSRF token and the password, then the code + PKCE exchange at
//!   `POST /oauth2/token`: argon2id verify + two signatures), also as a ratio to the password
//!   sign-ins of the same run (target >= 0.9),
//! - SRP sign-ins/s (InitiateAuth USER_SRP_AUTH, then RespondToAuthChallenge
//!   PASSWORD_VERIFIER: three 3072-bit modular exponentiations on the server, no argon2, two
//!   signatures, a token family write; the client's side — two more exponentiations — runs in
//!   this process too, as the in-process callers do for every flow), also as a ratio to the
//!   password sign-ins of the same run,
//!
//! each with 1 and 2 worker threads, next to the raw limits measured in the same process:
//! RSA-2048 signatures/s (aws-lc) and argon2id hashes/s at the configured parameters.
//! Ratios = measured / limit, where a sign-in's limit is the argon2 rate and a grant's limit
//! is the RSA rate divided by the signatures it needs. Each operation's limit is measured
//! again right before each of its rounds, and the ratio is to the mean of those (the limits
//! printed first, and "at start" beside each ratio, are from the run's start): this
//! machine's speed can drift by a fifth within minutes.
//!
//! `--audit` runs each measurement with the audit trail on (the server's default log, with
//! its writer task flushing every [`AUDIT_FLUSH_INTERVAL`]; a run's time includes the final
//! flush) and/or off ([`AuditLog::disabled`]), over the same store and data, and prints the
//! ratio on/off. `--rounds N` repeats each pair, alternating which mode goes first, and
//! sums. With the trail on, the bench then checks that the platform chain (where this
//! pool's events land: it belongs to no tenant) holds exactly one `auth.sign_in` and one
//! `auth.refresh` event per call made, and that it verifies. client_credentials is not an
//! audited operation: its on/off ratio shows the measurement's noise.
//!
//! `--ops` measures only the operations named (all by default), e.g. to profile one of them:
//! `perf record -F 999 target/release/deps/tokens-* --ops refresh --audit on --threads 1`.
//!
//! The per-username and per-IP request rate limits are lifted: the bench signs one user in
//! hundreds of times a minute on purpose.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: failing loudly is the point

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request};
use base64::Engine as _;
use cognate_core::audit::PLATFORM_CHAIN;
use cognate_core::crypto::MasterKey;
use cognate_core::password::{Argon2Settings, PasswordHasher};
use cognate_core::srp;
use cognate_core::{Clock, Rng, SystemClock, SystemRng};
use cognate_server::audit::{AUDIT_FLUSH_INTERVAL, AuditLog, spawn_audit_writer};
use cognate_server::cognito::sigv4;
use cognate_server::state::Passwords;
use cognate_server::throttle::Limits;
use cognate_server::{AppState, ServerSettings, bootstrap};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use sqlx::{Connection as _, Executor as _};
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

    /// A request answered with its status, headers and body text.
    async fn raw(&self, req: Request<Body>) -> (u16, HeaderMap, String) {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (parts.status.as_u16(), parts.headers, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The hosted login's whole flow for the bench user: authorize, the login page, the
    /// login form, the code exchange.
    async fn browser_sign_in(&self, client: &str, query: &str) {
        let get = |uri: String| Request::get(uri).body(Body::empty()).unwrap();
        let (status, headers, _) = self.raw(get(format!("/oauth2/authorize?{query}"))).await;
        assert_eq!(status, 302);
        let login = headers["location"].to_str().unwrap().to_owned();
        let (status, headers, page) = self.raw(get(login.clone())).await;
        assert_eq!(status, 200, "{page}");
        let cookie = headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let csrf = page.split("name=\"_csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap();
        let form = format!("_csrf={}&username=bench&password=Bench-passw0rd%21", csrf.replace('=', "%3D"));
        let post = Request::post(login)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookie)
            .body(Body::from(form))
            .unwrap();
        let (status, headers, page) = self.raw(post).await;
        assert_eq!(status, 302, "{page}");
        let location = headers["location"].to_str().unwrap();
        let code = location.split("code=").nth(1).unwrap().split('&').next().unwrap();
        let exchange = format!(
            "grant_type=authorization_code&client_id={client}&code={code}&code_verifier={VERIFIER}\
             &redirect_uri=https%3A%2F%2Fapp.bench%2Fcb"
        );
        let req = Request::post("/oauth2/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(exchange))
            .unwrap();
        let (status, v) = self.send(req).await;
        assert_eq!(status, 200, "code exchange: {v}");
    }

    /// An SRP sign-in of the bench user as Cognito's clients run it (one client value A
    /// for all of them: the server's work is what is measured).
    async fn srp_sign_in(&self, client: &str, pool: &str, hello: &srp::client::ClientHello) {
        let b64 = base64::engine::general_purpose::STANDARD;
        let challenge = self
            .cognito(
                "InitiateAuth",
                &json!({"AuthFlow": "USER_SRP_AUTH", "ClientId": client,
                        "AuthParameters": {"USERNAME": "bench", "SRP_A": srp::to_hex(&hello.big_a)}}),
                false,
            )
            .await;
        let p = &challenge["ChallengeParameters"];
        let text = |name: &str| p[name].as_str().unwrap().to_owned();
        let user_id = text("USER_ID_FOR_SRP");
        let key = srp::client::key(hello, pool, &user_id, "Bench-passw0rd!", &text("SALT"), &text("SRP_B")).unwrap();
        let timestamp = srp::format_timestamp(SystemClock.now_secs()).unwrap();
        let block = b64.decode(text("SECRET_BLOCK")).unwrap();
        let signature = b64.encode(srp::claim(&key, pool, &user_id, &block, &timestamp));
        let done = self
            .cognito(
                "RespondToAuthChallenge",
                &json!({"ChallengeName": "PASSWORD_VERIFIER", "ClientId": client,
                        "ChallengeResponses": {"USERNAME": user_id, "PASSWORD_CLAIM_SECRET_BLOCK": text("SECRET_BLOCK"),
                                               "PASSWORD_CLAIM_SIGNATURE": signature, "TIMESTAMP": timestamp}}),
                false,
            )
            .await;
        assert!(done["AuthenticationResult"]["AccessToken"].is_string(), "{done}");
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

/// The PKCE verifier of the browser sign-ins (its S256 challenge is in [`Bench::query`]).
const VERIFIER: &str = "bench-verifier-bench-verifier-bench-verifier-0123";

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.into())
}

/// Runs `op` from `tasks` concurrent tasks for `secs` seconds; returns how many completed.
async fn run_for<F, Fut>(tasks: usize, secs: f64, op: F) -> u64
where
    F: Fn(u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
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
    done.load(Ordering::Relaxed)
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

/// Whether the audit trail is recorded during a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audit {
    Off,
    On,
}

impl Audit {
    fn label(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::On => "on",
        }
    }
}

/// One store and its data, served by two routers: one over the default audit log, one over
/// a disabled log.
struct Bench {
    on: App,
    off: App,
    /// The state behind `on` (its log is the one the writer flushes).
    state: AppState,
    /// Worker threads serving (and threads measuring the limits).
    threads: usize,
    pool: String,
    client: String,
    refresh: String,
    basic: String,
    /// The browser client and its authorization request's query.
    web: String,
    query: String,
}

impl Bench {
    fn app(&self, audit: Audit) -> App {
        match audit {
            Audit::Off => self.off.clone(),
            Audit::On => self.on.clone(),
        }
    }

    /// Runs `op` for `secs` with the trail `audit`; returns (calls made, seconds). With the
    /// trail on, the writer runs throughout and its final flush is inside the time.
    async fn measure<F, Fut>(&self, audit: Audit, tasks: usize, secs: f64, op: F) -> (u64, f64)
    where
        F: Fn(App) -> Fut + Send + Sync + Clone + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let app = self.app(audit);
        let start = Instant::now();
        let writer = (audit == Audit::On).then(|| {
            let (stop, stop_rx) = tokio::sync::watch::channel(false);
            (stop, spawn_audit_writer(self.state.clone(), AUDIT_FLUSH_INTERVAL, stop_rx))
        });
        let calls = run_for(tasks, secs, move |_| op(app.clone())).await;
        if let Some((stop, handle)) = writer {
            stop.send(true).unwrap();
            handle.await.unwrap();
        }
        (calls, start.elapsed().as_secs_f64())
    }
}

async fn setup(url: &str, threads: usize) -> Bench {
    let store = cognate_store::connect(url, &cognate_store::PgOptions::default()).await.unwrap();
    let rng: Arc<dyn Rng> = Arc::new(SystemRng);
    let master = MasterKey::from_base64(&MasterKey::generate_base64(&SystemRng)).unwrap();
    let hasher = PasswordHasher::new(Argon2Settings::default()).unwrap();
    let mut state = AppState::new(
        store,
        master,
        Arc::new(SystemClock),
        rng.clone(),
        Passwords::new(hasher, rng, threads),
        ServerSettings::default(),
    );
    state.limits = Limits { auth_per_ip_per_minute: u32::MAX, auth_per_user_per_minute: u32::MAX, ..Limits::default() };
    let mut quiet = state.clone();
    quiet.audit = Arc::new(AuditLog::disabled());
    let cred = bootstrap::create_admin_credential(&state, "bench").await.unwrap();
    let (key_id, secret) = (cred.access_key_id, cred.secret_access_key);
    let on =
        App { router: cognate_server::build_router(state.clone()), key_id: key_id.clone(), secret: secret.clone() };
    // Set up through the router without a trail, so the chain holds only measured calls.
    let app = App { router: cognate_server::build_router(quiet), key_id, secret };
    let pool = app.cognito("CreateUserPool", &json!({"PoolName": "bench"}), true).await["UserPool"]["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = app
        .cognito(
            "CreateUserPoolClient",
            &json!({"UserPoolId": pool, "ClientName": "web",
                    "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]}),
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
    let web = app
        .cognito(
            "CreateUserPoolClient",
            &json!({"UserPoolId": pool, "ClientName": "browser", "AllowedOAuthFlows": ["code"],
                    "AllowedOAuthFlowsUserPoolClient": true, "AllowedOAuthScopes": ["openid", "email"],
                    "CallbackURLs": ["https://app.bench/cb"]}),
            true,
        )
        .await["UserPoolClient"]["ClientId"]
        .as_str()
        .unwrap()
        .to_owned();
    let challenge = cognate_core::login::pkce_challenge(VERIFIER);
    let query = format!(
        "response_type=code&client_id={web}&redirect_uri=https%3A%2F%2Fapp.bench%2Fcb&scope=openid&state=s\
         &code_challenge={challenge}&code_challenge_method=S256"
    );
    Bench { on, off: app, state, threads, pool, client, refresh, basic, web, query }
}

/// Calls made and seconds taken, per audit mode.
#[derive(Default, Clone, Copy)]
struct Tally {
    calls: [u64; 2],
    secs: [f64; 2],
    /// The operation's limit (RSA signatures/s or argon2 verifications/s) measured right
    /// before each round, summed, and how many rounds.
    limits: f64,
    limit_rounds: u32,
}

impl Tally {
    fn add(&mut self, audit: Audit, (calls, secs): (u64, f64)) {
        self.calls[audit as usize] += calls;
        self.secs[audit as usize] += secs;
    }

    /// The limit measured next to the rounds (their mean), if any was.
    fn limit(&self) -> Option<f64> {
        (self.limit_rounds > 0).then(|| self.limits / f64::from(self.limit_rounds))
    }

    fn rate(&self, audit: Audit) -> f64 {
        self.calls[audit as usize] as f64 / self.secs[audit as usize]
    }
}

/// The operations `--ops` names by default: all of them.
const OPS: &str = "password,refresh,client_credentials,browser,srp";

/// Measures one operation in every mode, `rounds` times, alternating which mode goes first
/// (nothing when `--ops` leaves it out). Before each round, the operation's limit is
/// measured again for `secs`: on a virtual machine whose speed drifts by a fifth within
/// minutes, a ratio is only as good as the limit's nearness in time.
async fn compare<F, Fut>(b: &Bench, name: &str, modes: &[Audit], rounds: usize, tasks: usize, secs: f64, op: F) -> Tally
where
    F: Fn(App) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut tally = Tally::default();
    if !arg("--ops", OPS).split(',').any(|o| o.trim() == name) {
        return tally;
    }
    for round in 0..rounds {
        tally.limits += match name {
            "refresh" | "client_credentials" => raw_rsa_rate(b.threads, secs),
            _ => raw_argon2_rate(b.threads, secs),
        };
        tally.limit_rounds += 1;
        let mut order = modes.to_vec();
        if round % 2 == 1 {
            order.reverse();
        }
        for audit in order {
            tally.add(audit, b.measure(audit, tasks, secs, op.clone()).await);
        }
    }
    tally
}

/// Checks the platform chain: it verifies, and holds one event per audited call made.
async fn check_trail(b: &Bench, sign_ins: u64, refreshes: u64, browser: u64, srp: u64) {
    let (mut after, mut events) = (0, Vec::new());
    loop {
        let page = b.state.store.audit_chain_page(PLATFORM_CHAIN, after, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        events.extend(page);
    }
    let verified = cognate_core::audit::verify_chain(&events, None).unwrap();
    let count = |action: &str| events.iter().filter(|e| e.event.action == action).count() as u64;
    assert_eq!(count("auth.sign_in"), sign_ins + browser + srp, "auth.sign_in events stored vs sign-ins made");
    assert_eq!(count("auth.challenge"), srp, "auth.challenge events stored vs SRP answers made");
    assert_eq!(count("auth.refresh"), refreshes, "auth.refresh events stored vs refreshes made");
    assert_eq!(count("auth.code_exchange"), browser, "auth.code_exchange events stored vs browser sign-ins");
    assert_eq!(verified, sign_ins + refreshes + 2 * browser + 2 * srp, "the chain holds only the measured calls");
    println!(
        "  trail: {verified} events in {PLATFORM_CHAIN}, chain verifies; auth.sign_in = {} sign-ins made \
         (API, browser and SRP), auth.refresh = {refreshes} refreshes made, auth.code_exchange = {browser}, \
         auth.challenge = {srp} SRP answers",
        sign_ins + browser + srp
    );
}

/// Prints the operation's rate as a ratio to its limit (`at_start`, or as measured next to
/// the rounds) divided by what one call needs of it (`per_call`: two signatures, say).
fn report(label: &str, tally: &Tally, modes: &[Audit], at_start: f64, per_call: f64, limit_label: &str) {
    let limit = tally.limit().unwrap_or(at_start) / per_call;
    for &audit in modes.iter().filter(|&&a| tally.calls[a as usize] > 0) {
        let rate = tally.rate(audit);
        println!(
            "  {label:<22} audit {:<3} {rate:>8.1}/s  = {:.2} x {limit_label} ({limit:.1}/s next to the rounds, \
             {:.1}/s at start)  [{} calls]",
            audit.label(),
            rate / limit,
            at_start / per_call,
            tally.calls[audit as usize]
        );
    }
    if modes.len() == 2 && tally.calls.iter().all(|&c| c > 0) {
        println!("  {label:<22} on/off    {:>8.3}", tally.rate(Audit::On) / tally.rate(Audit::Off));
    }
}

/// Measures every operation on the store at `url`.
async fn run(url: &str, threads: usize, modes: &[Audit], rounds: usize, secs: f64, (rsa, argon): (f64, f64)) {
    let b = setup(url, threads).await;
    let tasks: usize = arg("--tasks", &(threads * 4).to_string()).parse().unwrap();

    let c = b.client.clone();
    let sign_ins = compare(&b, "password", modes, rounds, tasks, secs, move |a| {
        let c = c.clone();
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

    let (c, r) = (b.client.clone(), b.refresh.clone());
    let refreshes = compare(&b, "refresh", modes, rounds, tasks, secs, move |a| {
        let (c, r) = (c.clone(), r.clone());
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

    let basic = b.basic.clone();
    let m2m = compare(&b, "client_credentials", modes, rounds, tasks, secs, move |a| {
        let basic = basic.clone();
        async move {
            let req = Request::post("/oauth2/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", format!("Basic {basic}"))
                .body(Body::from("grant_type=client_credentials"))
                .unwrap();
            let (status, v) = a.send(req).await;
            assert_eq!(status, 200, "client_credentials: {v}");
        }
    })
    .await;

    let (web, query) = (b.web.clone(), b.query.clone());
    let browser = compare(&b, "browser", modes, rounds, tasks, secs, move |a| {
        let (web, query) = (web.clone(), query.clone());
        async move { a.browser_sign_in(&web, &query).await }
    })
    .await;

    let (c, pool) = (b.client.clone(), b.pool.clone());
    let hello = Arc::new(srp::client::hello(&SystemRng));
    let srp_sign_ins = compare(&b, "srp", modes, rounds, tasks, secs, move |a| {
        let (c, pool, hello) = (c.clone(), pool.clone(), hello.clone());
        async move { a.srp_sign_in(&c, &pool, &hello).await }
    })
    .await;

    println!("{threads} worker thread(s), {tasks} concurrent callers, {rounds} round(s) of {secs} s per mode:");
    report("password sign-ins", &sign_ins, modes, argon, 1.0, "argon2 limit");
    report("refresh grants", &refreshes, modes, rsa, 2.0, "RSA limit / 2");
    report("client_credentials", &m2m, modes, rsa, 1.0, "RSA limit");
    report("browser sign-ins", &browser, modes, argon, 1.0, "argon2 limit");
    report("SRP sign-ins", &srp_sign_ins, modes, argon, 1.0, "argon2 limit");
    for &audit in modes.iter().filter(|&&a| sign_ins.calls[a as usize] > 0) {
        println!(
            "  browser / InitiateAuth audit {:<3} {:>8.2}  (target >= 0.90)",
            audit.label(),
            browser.rate(audit) / sign_ins.rate(audit)
        );
        println!(
            "  SRP / InitiateAuth     audit {:<3} {:>8.2}  (SRP sign-ins per password sign-in)",
            audit.label(),
            srp_sign_ins.rate(audit) / sign_ins.rate(audit)
        );
    }
    if modes.contains(&Audit::On) {
        let on = Audit::On as usize;
        check_trail(&b, sign_ins.calls[on], refreshes.calls[on], browser.calls[on], srp_sign_ins.calls[on]).await;
    }
}

fn main() {
    let secs: f64 = arg("--seconds", "5").parse().unwrap();
    let rounds: usize = arg("--rounds", "1").parse().unwrap();
    let modes = match arg("--audit", "both").as_str() {
        "on" => vec![Audit::On],
        "off" => vec![Audit::Off],
        "both" => vec![Audit::Off, Audit::On],
        other => panic!("--audit is on, off or both, not {other}"),
    };
    let backends = match arg("--backend", "sqlite").as_str() {
        "sqlite" => vec!["sqlite"],
        "postgres" => vec!["postgres"],
        "both" => vec!["sqlite", "postgres"],
        other => panic!("--backend is sqlite, postgres or both, not {other}"),
    };
    let threads: Vec<usize> = arg("--threads", "1,2").split(',').map(|t| t.trim().parse().unwrap()).collect();
    println!("limits measured in this process ({secs} s each):");
    let rsa1 = raw_rsa_rate(1, secs);
    let rsa2 = raw_rsa_rate(2, secs);
    let argon1 = raw_argon2_rate(1, secs);
    let argon2 = raw_argon2_rate(2, secs);
    println!("  RSA-2048 signatures/s:   1 thread {rsa1:>8.0}   2 threads {rsa2:>8.0}");
    println!("  argon2id verifications/s: 1 thread {argon1:>8.1}   2 threads {argon2:>8.1}");
    for backend in backends {
        for &n in &threads {
            let limits = if n == 1 { (rsa1, argon1) } else { (rsa2, argon2) };
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build().unwrap();
            println!("== {backend} ==");
            rt.block_on(async {
                if backend == "sqlite" {
                    let dir = std::env::temp_dir().join(format!("cognate_tokens_{}", uuid::Uuid::new_v4().simple()));
                    std::fs::create_dir_all(&dir).unwrap();
                    run(&format!("sqlite://{}/bench.db", dir.display()), n, &modes, rounds, secs, limits).await;
                    let _ = std::fs::remove_dir_all(&dir);
                } else {
                    let admin = std::env::var("COGNATE_TEST_DATABASE_URL")
                        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
                    let name = format!("cognate_tokens_{}", uuid::Uuid::new_v4().simple());
                    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
                    conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
                    let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
                    run(&format!("{base}/{name}"), n, &modes, rounds, secs, limits).await;
                    conn.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str()).await.unwrap();
                }
            });
        }
    }
}
