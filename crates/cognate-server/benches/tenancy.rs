//! Sign-in and discovery latency in the shared pool at two scales: a small installation
//! (10 tenants, 1,000 users) and a large one (10,000 tenants, 1,000,000 users). The figure
//! of merit is the ratio large / small, which should stay near 1.
//!
//! `cargo bench -p cognate-server --bench tenancy -- [--backend postgres|sqlite|both]
//! [--users 1000000] [--tenants 10000] [--discovery 2000] [--sign-ins 300]
//! [--cheap-sign-ins 2000] [--rounds 100] [--tasks 16] [--no-analyze] [--keep]`
//!
//! PostgreSQL (the default backend) comes from COGNATE_TEST_DATABASE_URL (default
//! postgres://postgres@127.0.0.1:5432/postgres); each scale gets a fresh database that is
//! dropped at the end, also after a panic (`--keep` keeps it, to EXPLAIN queries against it
//! afterwards). SQLite uses a temp dir.
//!
//! Each scale is seeded through the store (no HTTP): tenants `tenant-{t}` (basic/standard,
//! shared placement) with one verified domain `t{t}.example.com` each (`add_domain`, then
//! `set_domain_verified`), users `u{n}@t{t}.example.com` (username = sub, email verified,
//! `custom:tenantId/Name/Tier` of their tenant) through `import_users` in batches of 5,000,
//! and one active `member` membership per user through `upsert_membership`, from `--tasks`
//! concurrent tasks on PostgreSQL (one on SQLite). Only the membership row is written: token
//! issuance adds the active tenant's role group itself, so role-group rows are not needed.
//! PostgreSQL then gets `VACUUM (ANALYZE)` (statistics, as autovacuum would give a real
//! installation; `--no-analyze` skips it). Users are split in two halves: even-numbered users
//! carry an argon2id hash at OWASP settings (the production default), odd-numbered ones a
//! hash at m = 64 KiB, t = 1 ("cheap"), so cheap sign-ins show the database and token work
//! without the argon2 cost. Each half shares one hash, computed once.
//!
//! Measured in-process through the whole router (`tower::ServiceExt::oneshot`), one request
//! at a time, for uniformly random users: `GET /v1/discovery?email=…` and `InitiateAuth`
//! USER_PASSWORD_AUTH with the shared pool's default client, signing in by email (the
//! alias), which picks the active tenant, touches the membership and starts a token family;
//! and, for reference, one argon2id verification alone at each setting. Both installations
//! are seeded first, then measured in `--rounds` alternating rounds (small, large, large,
//! small, …), each a share of every operation, so that noise from other work on the machine
//! falls on both scales alike.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: failing loudly is the point

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use base64::Engine as _;
use cognate_core::crypto::MasterKey;
use cognate_core::password::{Argon2Settings, PasswordHasher};
use cognate_core::repo::Store;
use cognate_core::tenant::{
    DomainName, EmailDomain, Membership, MembershipStatus, MfaRequirement, Role, Tenant, TenantId, TenantStatus, Tier,
};
use cognate_core::user::{User, UserStatus};
use cognate_core::{Clock, Rng, SystemClock, SystemRng};
use cognate_server::state::Passwords;
use cognate_server::{AppState, ServerSettings, bootstrap, tenancy};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use sqlx::Connection as _;
use sqlx::Executor as _;
use tower::ServiceExt as _;

const PASSWORD: &str = "Bench-passw0rd!";
/// The cheap argon2id setting: the sign-in then costs its database and token work.
const CHEAP: Argon2Settings = Argon2Settings { memory_kib: 64, iterations: 1, parallelism: 1 };
/// The small installation every large one is compared with.
const SMALL_TENANTS: usize = 10;
const SMALL_USERS: usize = 1_000;
/// Users per `import_users` call.
const USER_BATCH: usize = 5_000;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.into())
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// splitmix64: a fixed, reproducible sequence of random picks.
struct Picks(u64);

impl Picks {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Any user, at random.
    fn any(&mut self, users: usize) -> usize {
        (self.next() % users as u64) as usize
    }

    /// A random user with the OWASP hash (even `n`) or the cheap one (odd `n`).
    fn user(&mut self, users: usize, cheap: bool) -> usize {
        let half = (users / 2) as u64;
        (self.next() % half) as usize * 2 + usize::from(cheap)
    }
}

/// Latencies of one operation at one scale, collected over all rounds.
#[derive(Default)]
struct Latencies(Vec<Duration>);

impl Latencies {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort();
        sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
    }

    fn rate(&self) -> f64 {
        self.0.len() as f64 / self.0.iter().sum::<Duration>().as_secs_f64()
    }
}

#[derive(Debug, Clone, Copy)]
struct Scale {
    tenants: usize,
    users: usize,
}

impl Scale {
    /// The tenant of user `n`: consecutive users fill tenants evenly.
    fn tenant_of(self, n: usize) -> usize {
        (n as u128 * self.tenants as u128 / self.users as u128) as usize
    }

    fn email(self, n: usize) -> String {
        format!("u{n}@t{}.example.com", self.tenant_of(n))
    }
}

#[derive(Debug, Clone, Copy)]
struct Samples {
    discovery: usize,
    sign_ins: usize,
    cheap_sign_ins: usize,
    rounds: usize,
    tasks: usize,
}

/// The measured operations, in the order each round runs them.
const OPS: [&str; 5] = [
    "GET /v1/discovery",
    "InitiateAuth (cheap argon2)",
    "InitiateAuth (OWASP argon2)",
    "argon2id verify, cheap",
    "argon2id verify, OWASP",
];

/// One seeded installation, ready to measure.
struct Installation {
    scale: Scale,
    state: AppState,
    app: axum::Router,
    client: String,
    picks: Picks,
    times: [Latencies; 5],
    _cleanup: Cleanup,
}

fn tenant_id(t: usize) -> TenantId {
    TenantId::parse(&format!("tenant-{t}")).unwrap()
}

fn tier(t: usize) -> Tier {
    if t.is_multiple_of(2) { Tier::Basic } else { Tier::Standard }
}

/// Runs `work(i)` for every `i` in `0..n` from `tasks` concurrent tasks.
async fn concurrently<F, Fut>(n: usize, tasks: usize, work: F)
where
    F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut set = tokio::task::JoinSet::new();
    for task in 0..tasks.min(n).max(1) {
        let work = work.clone();
        set.spawn(async move {
            let mut i = task;
            while i < n {
                work(i).await;
                i += tasks;
            }
        });
    }
    while let Some(done) = set.join_next().await {
        done.unwrap();
    }
}

async fn seed_tenants(store: &Arc<dyn Store>, pool: &cognate_core::ids::PoolId, scale: Scale, tasks: usize) {
    let now = SystemClock.now_millis();
    let (store, pool) = (store.clone(), pool.clone());
    concurrently(scale.tenants, tasks, move |t| {
        let (store, pool) = (store.clone(), pool.clone());
        async move {
            let id = tenant_id(t);
            let tenant = Tenant {
                id: id.clone(),
                name: format!("Tenant {t}"),
                tier: tier(t),
                status: TenantStatus::Active,
                pool_id: pool,
                mfa: MfaRequirement::Off,
                created_at: now,
                updated_at: now,
                version: 1,
            };
            store.create_tenant(&tenant).await.unwrap();
            let domain = DomainName::parse(&format!("t{t}.example.com")).unwrap();
            let claim = EmailDomain {
                tenant_id: id.clone(),
                domain: domain.clone(),
                verified: false,
                auto_join: false,
                verification_token_hash: Some(hex::encode([t as u8; 32])),
                created_at: now,
            };
            store.add_domain(&claim).await.unwrap();
            store.set_domain_verified(&id, &domain, true).await.unwrap();
        }
    })
    .await;
}

/// Seeds users and their memberships in batches; returns (users, memberships) time.
async fn seed_users(
    store: &Arc<dyn Store>,
    pool: &cognate_core::pool::UserPool,
    scale: Scale,
    hashes: &[String; 2],
    tasks: usize,
) -> (Duration, Duration) {
    let now = SystemClock.now_millis();
    let (mut users_time, mut members_time) = (Duration::ZERO, Duration::ZERO);
    let mut start = 0;
    let progress = Instant::now();
    while start < scale.users {
        let end = (start + USER_BATCH).min(scale.users);
        let batch: Vec<_> = (start..end)
            .map(|n| {
                let t = scale.tenant_of(n);
                let mut attributes = BTreeMap::new();
                attributes.insert("email".to_owned(), scale.email(n));
                attributes.insert("email_verified".to_owned(), "true".to_owned());
                attributes.insert(tenancy::TENANT_ID_ATTR.to_owned(), tenant_id(t).to_string());
                attributes.insert(tenancy::TENANT_NAME_ATTR.to_owned(), format!("Tenant {t}"));
                attributes.insert(tenancy::TENANT_TIER_ATTR.to_owned(), tier(t).as_str().to_owned());
                let sub = uuid::Uuid::new_v4().to_string();
                let user = User {
                    pool_id: pool.id.clone(),
                    username: sub.clone(),
                    sub,
                    status: UserStatus::Confirmed,
                    enabled: true,
                    password_hash: Some(hashes[n % 2].clone()),
                    temp_password_expires_at: None,
                    attributes,
                    created_at: now,
                    updated_at: now,
                    srp_verifier: None,
                    tokens_valid_after: 0,
                };
                let keys = user.keys(&pool.settings);
                (user, keys)
            })
            .collect();
        let t = Instant::now();
        store.import_users(&batch).await.unwrap();
        users_time += t.elapsed();

        let memberships: Arc<Vec<Membership>> = Arc::new(
            batch
                .iter()
                .enumerate()
                .map(|(i, (u, _))| Membership {
                    tenant_id: tenant_id(scale.tenant_of(start + i)),
                    pool_id: pool.id.clone(),
                    sub: u.sub.clone(),
                    role: Role::Member,
                    status: MembershipStatus::Active,
                    created_at: now,
                    last_used_at: None,
                })
                .collect(),
        );
        let t = Instant::now();
        let st = store.clone();
        concurrently(memberships.len(), tasks, move |i| {
            let (st, memberships) = (st.clone(), memberships.clone());
            async move { st.upsert_membership(&memberships[i]).await.unwrap() }
        })
        .await;
        members_time += t.elapsed();
        start = end;
        if start.is_multiple_of(100_000) || start == scale.users {
            let rate = start as f64 / progress.elapsed().as_secs_f64();
            eprintln!("  seeded {start} users ({rate:.0} users+memberships/s)");
        }
    }
    (users_time, members_time)
}

/// Drops a bench database or directory when the run ends, also when it panics.
struct Cleanup {
    /// (admin URL, database name) on PostgreSQL.
    database: Option<(String, String)>,
    dir: Option<std::path::PathBuf>,
    keep: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.keep {
            println!("kept {:?} {:?}", self.database.as_ref().map(|(_, name)| name), self.dir);
            return;
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin, name)) = self.database.take() {
            // Drop may run inside the runtime (or while unwinding): use a thread of its own.
            let dropped = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    let mut conn = sqlx::PgConnection::connect(&admin).await?;
                    conn.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str()).await.map(drop)
                })
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                eprintln!("could not drop the bench database: {dropped:?}");
            }
        }
    }
}

async fn call(app: &axum::Router, req: Request<Body>) -> Value {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {v}");
    v
}

fn discovery_request(email: &str) -> Request<Body> {
    Request::get(format!("/v1/discovery?email={}", email.replace('@', "%40"))).body(Body::empty()).unwrap()
}

fn sign_in_request(client: &str, email: &str) -> Request<Body> {
    let body = json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client,
                      "AuthParameters": {"USERNAME": email, "PASSWORD": PASSWORD}});
    Request::post("/")
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "AWSCognitoIdentityProviderService.InitiateAuth")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn id_token_claims(v: &Value) -> Value {
    let token = v["AuthenticationResult"]["IdToken"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Connects to `url`, seeds `scale` and warms the installation up.
async fn prepare(
    backend: &str,
    url: &str,
    admin_url: Option<&str>,
    scale: Scale,
    samples: Samples,
    hashes: &[String; 2],
    cleanup: Cleanup,
) -> Installation {
    let store = cognate_store::connect(url, &cognate_store::PgOptions::default()).await.unwrap();
    let rng: Arc<dyn Rng> = Arc::new(SystemRng);
    let master = MasterKey::from_base64(&MasterKey::generate_base64(&SystemRng)).unwrap();
    let state = AppState::new(
        store.clone(),
        master,
        Arc::new(SystemClock),
        rng.clone(),
        Passwords::new(PasswordHasher::new(Argon2Settings::default()).unwrap(), rng, 2),
        ServerSettings::default(),
    );
    let shared = bootstrap::ensure_shared_pool(&state).await.unwrap();
    let client = tenancy::default_client(&state, &shared).await.unwrap().to_string();
    let pool = store.get_pool(&shared).await.unwrap().unwrap();

    let seeding = Instant::now();
    let t = Instant::now();
    seed_tenants(&store, &shared, scale, samples.tasks).await;
    let tenants_time = t.elapsed();
    let (users_time, members_time) = seed_users(&store, &pool, scale, hashes, samples.tasks).await;
    let mut analyze_time = Duration::ZERO;
    if let Some(admin) = admin_url {
        // Bulk-loaded tables get statistics and a visibility map, as autovacuum would give them.
        let t = Instant::now();
        let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
        conn.execute("VACUUM (ANALYZE)").await.unwrap();
        analyze_time = t.elapsed();
    }
    println!(
        "seeded {backend} tenants={} users={} in {:.1?}: tenants+domains {:.1?}, users {:.1?}, memberships {:.1?} \
         ({} tasks), vacuum analyze {:.1?}",
        scale.tenants,
        scale.users,
        seeding.elapsed(),
        tenants_time,
        users_time,
        members_time,
        samples.tasks,
        analyze_time,
    );

    let app = cognate_server::build_router(state.clone());
    // Warm-up (signing keys, connections, caches) and a check of what is measured.
    let mut picks = Picks(0x5EED ^ scale.users as u64);
    for cheap in [false, true] {
        let n = picks.user(scale.users, cheap);
        let email = scale.email(n);
        let tenant = tenant_id(scale.tenant_of(n)).to_string();
        let found = call(&app, discovery_request(&email)).await;
        assert_eq!((found["tenantId"].as_str(), found["clientId"].as_str()), (Some(tenant.as_str()), Some(&*client)));
        let claims = id_token_claims(&call(&app, sign_in_request(&client, &email)).await);
        assert_eq!((claims["email"].as_str(), claims["custom:tenantId"].as_str()), (Some(&*email), Some(&*tenant)));
        assert_eq!(claims["cognito:groups"], json!([format!("{tenant}-member")]));
    }
    for _ in 0..50 {
        let email = scale.email(picks.user(scale.users, true));
        call(&app, discovery_request(&email)).await;
        call(&app, sign_in_request(&client, &email)).await;
    }
    Installation { scale, state, app, client, picks, times: Default::default(), _cleanup: cleanup }
}

/// One round at one installation: its share of every operation, one request at a time.
async fn round(inst: &mut Installation, samples: Samples, hashes: &[String; 2]) {
    let share = |n: usize| n.div_ceil(samples.rounds);
    let users = inst.scale.users;
    for _ in 0..share(samples.discovery) {
        let n = inst.picks.any(users);
        let (email, tenant) = (inst.scale.email(n), tenant_id(inst.scale.tenant_of(n)).to_string());
        let t = Instant::now();
        let v = call(&inst.app, discovery_request(&email)).await;
        inst.times[0].0.push(t.elapsed());
        assert_eq!(v["tenantId"].as_str(), Some(tenant.as_str()));
    }
    for (op, cheap, n) in [(1, true, samples.cheap_sign_ins), (2, false, samples.sign_ins)] {
        for _ in 0..share(n) {
            let email = inst.scale.email(inst.picks.user(users, cheap));
            let t = Instant::now();
            let v = call(&inst.app, sign_in_request(&inst.client, &email)).await;
            inst.times[op].0.push(t.elapsed());
            assert!(v["AuthenticationResult"]["AccessToken"].is_string());
        }
    }
    // The argon2 part alone, run the way sign-in runs it (`Passwords`: a blocking-pool
    // thread under the hashing semaphore).
    for (op, hash, n) in [(3, &hashes[1], samples.cheap_sign_ins), (4, &hashes[0], samples.sign_ins)] {
        for _ in 0..share(n / 10).max(1) {
            let t = Instant::now();
            assert!(inst.state.passwords.verify(PASSWORD.into(), hash.clone()).await.unwrap());
            inst.times[op].0.push(t.elapsed());
        }
    }
}

/// A fresh PostgreSQL database for one scale, dropped when the installation is (unless `keep`).
async fn postgres_database(keep: bool) -> (String, String, Cleanup) {
    let admin = std::env::var("COGNATE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("cognate_bench_tenancy_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    conn.close().await.unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
    let cleanup = Cleanup { database: Some((admin, name.clone())), dir: None, keep };
    (format!("{base}/{name}"), name, cleanup)
}

fn sqlite_file(keep: bool) -> (String, Cleanup) {
    let dir = std::env::temp_dir().join(format!("cognate_bench_tenancy_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/bench.db", dir.display());
    (url, Cleanup { database: None, dir: Some(dir), keep })
}

fn main() {
    let backend = arg("--backend", "postgres");
    let large = Scale {
        users: arg("--users", "1000000").parse().unwrap(),
        tenants: arg("--tenants", "10000").parse().unwrap(),
    };
    let small = Scale { users: SMALL_USERS, tenants: SMALL_TENANTS };
    assert!(large.users >= 2 * large.tenants && large.tenants >= 1, "need at least two users per tenant");
    let samples = Samples {
        discovery: arg("--discovery", "2000").parse().unwrap(),
        sign_ins: arg("--sign-ins", "300").parse().unwrap(),
        cheap_sign_ins: arg("--cheap-sign-ins", "2000").parse().unwrap(),
        rounds: arg("--rounds", "100").parse::<usize>().unwrap().max(1),
        tasks: arg("--tasks", "16").parse().unwrap(),
    };
    let (keep, analyze) = (flag("--keep"), !flag("--no-analyze"));
    // One hash per half of the users, computed once: OWASP settings (production) and cheap.
    let hashes = [
        PasswordHasher::new(Argon2Settings::default()).unwrap().hash(&SystemRng, PASSWORD).unwrap(),
        PasswordHasher::new(CHEAP).unwrap().hash(&SystemRng, PASSWORD).unwrap(),
    ];
    println!(
        "argon2id: even users m=19456 KiB t=2 p=1 (OWASP, production default), odd users m=64 KiB t=1 p=1 (cheap)"
    );
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        for name in ["sqlite", "postgres"] {
            if backend != name && backend != "both" {
                continue;
            }
            println!("== {name} ==");
            let mut installations = Vec::new();
            for scale in [small, large] {
                installations.push(if name == "sqlite" {
                    let (url, cleanup) = sqlite_file(keep);
                    // One writer at a time: concurrent seeding tasks would only contend.
                    let samples = Samples { tasks: 1, ..samples };
                    prepare(name, &url, None, scale, samples, &hashes, cleanup).await
                } else {
                    let (url, db, cleanup) = postgres_database(keep).await;
                    println!("database {db}");
                    prepare(name, &url, analyze.then_some(url.as_str()), scale, samples, &hashes, cleanup).await
                });
            }
            // Rounds alternate the scales (small, large, large, small, …) so that noise on a
            // shared machine falls on both alike.
            let load = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_owned();
            println!("measuring in {} rounds; load average {}", samples.rounds, load());
            for r in 0..samples.rounds {
                for i in 0..2 {
                    let inst = &mut installations[if r % 2 == 0 { i } else { 1 - i }];
                    round(inst, samples, &hashes).await;
                }
            }
            println!("load average after: {}", load());
            for inst in &installations {
                for (op, times) in OPS.iter().zip(&inst.times) {
                    println!(
                        "{op:<28} tenants={:<6} users={:<8} n={:<5} {:>7.0} req/s  p50={:>8.1?}  p99={:>8.1?}",
                        inst.scale.tenants,
                        inst.scale.users,
                        times.0.len(),
                        times.rate(),
                        times.percentile(0.5),
                        times.percentile(0.99),
                    );
                }
            }
            let (s, l) = (&installations[0].times, &installations[1].times);
            println!(
                "{name}: large / small ({} tenants, {} users vs {} tenants, {} users):",
                large.tenants, large.users, small.tenants, small.users
            );
            for (op, (s, l)) in OPS.iter().zip(s.iter().zip(l)).take(3) {
                let (s50, l50, s99, l99) =
                    (s.percentile(0.5), l.percentile(0.5), s.percentile(0.99), l.percentile(0.99));
                println!(
                    "  {op:<28} p50 {s50:>8.1?} -> {l50:>8.1?} = {:.2}   p99 {s99:>8.1?} -> {l99:>8.1?} = {:.2}",
                    l50.as_secs_f64() / s50.as_secs_f64(),
                    l99.as_secs_f64() / s99.as_secs_f64(),
                );
            }
            drop(installations);
        }
    });
}
