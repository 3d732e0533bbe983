//! What shared limits on Redis cost a request, against this process's own counters and
//! against the work a sign-in does anyway.
//!
//! `cargo bench -p cognate-server --bench limits -- [--seconds 3] [--tasks 16]`
//!
//! Drives the two implementations `cognate serve` chooses between — [`RedisLimits`] (with
//! `COGNATE_REDIS_URL`; here `COGNATE_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`) and
//! the in-process [`MemoryLimiter`] / [`WindowLimiter`] — through the calls requests make:
//! - a window admission (`RateLimiter::admit`: the per-IP auth window and the per-tenant
//!   `/v1` window, one per request),
//! - a lock check of two keys (`Limiter::check`: a sign-in's first step),
//! - a failure counted on three keys (`Limiter::fail`: a wrong password),
//!
//! one caller at a time (latency: mean, p50, p99) and from `--tasks` concurrent callers
//! (throughput), over 1,000 distinct keys. The reference is one argon2id verification at
//! the configured parameters, measured in the same run: every sign-in pays one, so
//! "share of a sign-in" = (check + fail) / argon2 says what limits add to a failed one.
//! Then `MEMORY USAGE` of the keys it made, and it deletes them (its own key prefix only).
//!
//! Loopback only, bounded by `--seconds` per measurement.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: failing loudly is the point

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cognate_core::crypto::MasterKey;
use cognate_core::password::{Argon2Settings, PasswordHasher};
use cognate_core::{Clock, SystemClock, SystemRng};
use cognate_server::metrics::Metrics;
use cognate_server::throttle::shared::{RedisLimits, RedisSettings};
use cognate_server::throttle::{Limiter, MemoryLimiter, RateLimiter, WindowLimiter};
use secrecy::SecretString;

/// Distinct keys the calls cycle through.
const KEYS: usize = 1_000;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.to_owned())
}

fn redis_url() -> String {
    std::env::var("COGNATE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The two limiters of one kind of store.
struct Pair {
    name: &'static str,
    windows: Arc<dyn RateLimiter>,
    failures: Arc<dyn Limiter>,
}

/// One caller's latencies, and the calls made.
struct Timing {
    calls: u64,
    secs: f64,
    mean_us: f64,
    p50_us: f64,
    p99_us: f64,
}

/// Calls `op(i)` one at a time for `secs`, timing each.
async fn one_at_a_time<F, Fut>(secs: f64, op: F) -> Timing
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut took = Vec::new();
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed().as_secs_f64() < secs {
        let t = Instant::now();
        op(i % KEYS).await;
        took.push(t.elapsed().as_secs_f64() * 1e6);
        i += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let mean_us = took.iter().sum::<f64>() / took.len() as f64;
    took.sort_by(f64::total_cmp);
    let at = |q: f64| took[((took.len() as f64 * q) as usize).min(took.len() - 1)];
    Timing { calls: took.len() as u64, secs, mean_us, p50_us: at(0.50), p99_us: at(0.99) }
}

/// Calls `op(i)` from `tasks` concurrent tasks for `secs`; calls per second.
async fn concurrently<F, Fut>(tasks: usize, secs: f64, op: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (op, done) = (op.clone(), done.clone());
        handles.push(tokio::spawn(async move {
            let mut i = t;
            while Instant::now() < deadline {
                op(i % KEYS).await;
                done.fetch_add(1, Ordering::Relaxed);
                i += tasks;
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// Keys named as the server names them (a kind, then the value; the Redis limiter hashes
/// them under the master key).
fn key(kind: &str, i: usize) -> String {
    format!("{kind}:bench-{i}")
}

async fn measure(pair: &Pair, secs: f64, tasks: usize, now: &Arc<dyn Clock>) -> [(String, Timing, f64); 3] {
    let (windows, failures) = (pair.windows.clone(), pair.failures.clone());
    let clock = now.clone();
    let admit = move |i: usize| {
        let (windows, now) = (windows.clone(), clock.now_millis());
        async move {
            // A window no bench call can fill: every call is admitted and counted.
            windows.admit(&key("ip", i), u32::MAX, 60, now).await.unwrap();
        }
    };
    let f = failures.clone();
    let check = move |i: usize| {
        let f = f.clone();
        async move {
            let (pair_key, user) = (key("pair", i), key("user", i));
            // Answers either way (a key may be locked by the failures below): both are work.
            let _ = f.check(&[&pair_key, &user]).await;
        }
    };
    let f = failures.clone();
    let fail = move |i: usize| {
        let f = f.clone();
        async move {
            let (pair_key, user, ip) = (key("pair", i), key("user", i), key("ip", i));
            f.fail(&[(&pair_key, 5), (&user, 20), (&ip, 100)]).await;
        }
    };
    [
        ("window admission".to_owned(), one_at_a_time(secs, &admit).await, concurrently(tasks, secs, admit).await),
        ("lock check, 2 keys".to_owned(), one_at_a_time(secs, &check).await, concurrently(tasks, secs, check).await),
        ("failure on 3 keys".to_owned(), one_at_a_time(secs, &fail).await, concurrently(tasks, secs, fail).await),
    ]
}

/// One argon2id verification at the configured parameters, in microseconds.
fn argon2_us(secs: f64) -> f64 {
    let hasher = PasswordHasher::new(Argon2Settings::default()).unwrap();
    let hash = hasher.hash(&SystemRng, "correct horse battery staple").unwrap();
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed().as_secs_f64() < secs || n == 0 {
        assert!(hasher.verify("correct horse battery staple", &hash));
        n += 1;
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

/// The keys under `prefix`, with their `MEMORY USAGE` in bytes; then deletes them.
async fn sizes_and_cleanup(prefix: &str) -> Vec<i64> {
    let mut conn = redis::Client::open(redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*")).query_async(&mut conn).await.unwrap();
    let mut sizes = Vec::new();
    for key in &keys {
        let bytes: Option<i64> = redis::cmd("MEMORY").arg("USAGE").arg(key).query_async(&mut conn).await.unwrap();
        sizes.extend(bytes);
        let _: i64 = redis::cmd("DEL").arg(key).query_async(&mut conn).await.unwrap();
    }
    sizes
}

fn main() {
    let secs: f64 = arg("--seconds", "3").parse().unwrap();
    let tasks: usize = arg("--tasks", "16").parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    runtime.block_on(async move {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let prefix = format!("cognate-bench-{}", uuid::Uuid::new_v4().simple());
        let master = MasterKey::from_base64(&MasterKey::generate_base64(&SystemRng)).unwrap();
        let metrics = Arc::new(Metrics::new());
        let settings = RedisSettings {
            url: SecretString::from(redis_url()),
            prefix: prefix.clone(),
            timeout: Duration::from_millis(250),
        };
        let redis = Arc::new(RedisLimits::new(&settings, &master, clock.clone(), 900, metrics.clone()).unwrap());
        redis.ping().await.unwrap_or_else(|e| panic!("Redis at {} does not answer: {e}", redis_url()));
        let pairs = [
            Pair {
                name: "in-process",
                windows: Arc::new(WindowLimiter::default()),
                failures: Arc::new(MemoryLimiter::new(clock.clone(), 900)),
            },
            Pair { name: "Redis", windows: redis.clone(), failures: redis },
        ];
        let argon = argon2_us(secs);
        println!("one worker thread; {KEYS} keys; {secs} s per measurement; {tasks} concurrent callers for throughput");
        println!("argon2id verification (every sign-in pays one): {argon:.0} µs");
        for pair in &pairs {
            println!("== {} ==", pair.name);
            let results = measure(pair, secs, tasks, &clock).await;
            for (name, t, rate) in &results {
                println!(
                    "  {name:<20} mean {:>7.1} µs  p50 {:>7.1} µs  p99 {:>7.1} µs  [{} calls in {:.1} s]   {tasks} callers: {rate:>9.0}/s",
                    t.mean_us, t.p50_us, t.p99_us, t.calls, t.secs
                );
            }
            let failed_sign_in = results[1].1.mean_us + results[2].1.mean_us;
            println!(
                "  a failed sign-in's limits (check + failure): {failed_sign_in:.1} µs = {:.3} % of one argon2 verification",
                100.0 * failed_sign_in / argon
            );
        }
        assert_eq!(metrics.limits_fallbacks(), 0, "some Redis answers came from the local counters");
        let sizes = sizes_and_cleanup(&prefix).await;
        if !sizes.is_empty() {
            let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            let mean = sizes.iter().sum::<i64>() as f64 / sizes.len() as f64;
            println!("Redis MEMORY USAGE: {} keys, {min}–{max} bytes each (mean {mean:.0}); deleted", sizes.len());
        }
    });
}
